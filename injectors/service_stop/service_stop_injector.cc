#include "injectors/service_stop/service_stop_injector.h"

#include "clients/inventory/inventory.h"
#include "injectors/host_service/host_service.h"
#include "injectors/ssh_fault/ssh_fault.h"

namespace gameday {
namespace {

constexpr char kKind[] = "service-stop";

struct Spec {
  std::string hosts;
  ServiceFault fault;
};

class ServiceStopInjector : public Injector {
 public:
  ServiceStopInjector(Spec spec, Inventory inventory, std::shared_ptr<SshClient> ssh)
      : spec_(std::move(spec)),
        inventory_(std::move(inventory)),
        ssh_(std::move(ssh)),
        token_(RandomFaultToken()) {}

  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    // Every chosen host's templates must resolve before anything is injected.
    return DiscoverHostTargets(*ssh_, inventory_, spec_.hosts, env.seed,
                               [&](const InventoryHost& h) {
                                 Result<HostService> s = ResolveHostService(spec_.fault.service, h);
                                 return s.ok() ? Status::Ok() : s.status();
                               });
  }

  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    Result<InventoryHost> host = FindTargetHost(inventory_, target);
    if (!host.ok()) return host.status();
    Result<HostService> s = ResolveHostService(spec_.fault.service, *host);
    if (!s.ok()) return s.status();
    return HostRevertRecord(host->ssh, [&](JsonWriter& w) {
      WriteServiceRevert(w, spec_.fault, *s, Expiry(*host, env));
    });
  }

  Status Inject(const FaultTarget& target, const InjectorEnv& env) override {
    Result<InventoryHost> host = FindTargetHost(inventory_, target);
    if (!host.ok()) return host.status();
    Result<HostService> s = ResolveHostService(spec_.fault.service, *host);
    if (!s.ok()) return s.status();
    return RunFaultScript(
        *ssh_, host->ssh, StopServiceScript(spec_.fault, *s, Expiry(*host, env), env.duration),
        StopServiceTimeout(spec_.fault),
        std::string(kKind) + " on " + target.display + ": stopping " + DescribeService(*s));
  }

  bool Reversible() const override { return true; }

  std::string DescribeAction(const FaultTarget& target) const override {
    HostService what = spec_.fault.service;
    if (const InventoryHost* h = inventory_.Find(target.id)) {
      Result<HostService> s = ResolveHostService(spec_.fault.service, *h);
      if (s.ok()) what = *s;
    }
    return DescribeServiceFault(spec_.fault, what, target.display);
  }

 private:
  OnHostExpiry Expiry(const InventoryHost& host, const InjectorEnv& env) const {
    return MakeExpiry(host, ShortHash(env.run_id + "/" + token_ + "/" + host.name));
  }

  const Spec spec_;
  const Inventory inventory_;
  std::shared_ptr<SshClient> ssh_;
  std::string token_;
};

class ServiceStopInjectorKind : public SshInjectorKind {
 public:
  explicit ServiceStopInjectorKind(std::shared_ptr<SshClient> ssh)
      : SshInjectorKind(kKind, std::move(ssh)) {}

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    return ParseHostsSpec<ServiceStopInjector, Spec>(
        spec, target, [&](Spec& s) { ParseServiceFault(spec, &s.fault); });
  }

  Status Revert(const std::string& record, const InjectorEnv& env) const override {
    Result<HostRevert> revert = ReadHostRevert(record, kKind);
    if (!revert.ok()) return revert.status();
    Result<ServiceRevert> s = ReadServiceRevert(revert->record, kKind);
    if (!s.ok()) return s.status();
    // Start first; the timer is cancelled only once that worked.
    return RunRevertScript(*ssh_, *revert, s->script, s->timeout, kKind,
                           "starting " + DescribeService(s->service));
  }
};

}  // namespace

std::unique_ptr<InjectorKind> MakeServiceStopInjectorKind() {
  return MakeServiceStopInjectorKind(std::make_shared<SshClient>());
}

std::unique_ptr<InjectorKind> MakeServiceStopInjectorKind(std::shared_ptr<SshClient> ssh) {
  return std::make_unique<ServiceStopInjectorKind>(std::move(ssh));
}

}  // namespace gameday
