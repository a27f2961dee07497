#include "injectors/host_partition/host_partition_injector.h"

#include <algorithm>
#include <random>

#include "clients/inventory/inventory.h"
#include "clients/ssh/remote_shell.h"
#include "injectors/ssh_fault/ssh_fault.h"

namespace gameday {
namespace {

using std::chrono::seconds;

constexpr char kKind[] = "host-partition";

struct Spec {
  std::string hosts;
  std::string from;  // empty = every other inventory host
  std::string direction = "both";
  Duration expiry_margin = seconds(30);
  Duration command_timeout = seconds(30);
};

std::string Q(const std::string& s) { return ShellQuote(s); }

// Installs the chain. `peers` are the other side's addresses. The first two rules let the
// tool's SSH traffic (its address, the sshd port; taken from $SSH_CONNECTION as the host sees
// it, and checked by ParseSshConnection) through whatever follows, so a revert can always get in.
std::string InstallScript(const std::string& chain, const std::vector<std::string>& peers,
                          const std::string& direction, const std::string& tool_address,
                          int ssh_port_number) {
  const std::string ssh_port = Q(std::to_string(ssh_port_number));
  std::vector<std::string> rules;
  if (!tool_address.empty()) {
    rules.push_back("-s " + Q(tool_address) + " -p tcp --dport " + ssh_port + " -j RETURN");
    rules.push_back("-d " + Q(tool_address) + " -p tcp --sport " + ssh_port + " -j RETURN");
  } else {
    rules.push_back("-p tcp --dport " + ssh_port + " -j RETURN");
    rules.push_back("-p tcp --sport " + ssh_port + " -j RETURN");
  }
  for (const std::string& p : peers) {
    if (direction != "egress") rules.push_back("-s " + Q(p) + " -j DROP");
    if (direction != "ingress") rules.push_back("-d " + Q(p) + " -j DROP");
  }
  return InstallChainScript(chain, rules);
}

std::string DirectionText(const std::string& d) {
  if (d == "ingress") return "incoming traffic only";
  if (d == "egress") return "outgoing traffic only";
  return "both directions";
}

class HostPartitionInjector : public Injector {
 public:
  HostPartitionInjector(Spec spec, Inventory inventory, std::shared_ptr<SshClient> ssh)
      : spec_(std::move(spec)),
        inventory_(std::move(inventory)),
        ssh_(std::move(ssh)),
        token_(RandomFaultToken()) {}

  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    return DiscoverHostTargets(*ssh_, inventory_, spec_.hosts, env.seed);
  }

  Result<std::string> RevertRecord(const FaultTarget& target, const InjectorEnv& env) override {
    Result<InventoryHost> host = FindTargetHost(inventory_, target);
    if (!host.ok()) return host.status();
    return HostRevertRecord(host->ssh, [&](JsonWriter& w) {
      w.Key("chain");
      w.String(Chain(*host, env).c_str());
      Expiry(*host, env).Write(w);
    });
  }

  Status Inject(const FaultTarget& target, const InjectorEnv& env) override {
    Result<InventoryHost> host = FindTargetHost(inventory_, target);
    if (!host.ok()) return host.status();
    Result<std::vector<std::string>> peers = Peers(*host, env);
    if (!peers.ok()) return peers.status();

    // How the host sees the tool's connection. Asked without sudo, which would drop the
    // variable from the environment.
    SshEndpoint plain = host->ssh;
    plain.sudo = false;
    Result<CommandResult> conn =
        ssh_->Run(plain, "echo \"$SSH_CONNECTION\"", spec_.command_timeout);
    if (!conn.ok()) return conn.status();
    // The host (a login script, a patched sshd) decides what this says, and it goes into a root
    // script: only two IP addresses and two port numbers are taken. Without the variable the
    // exemption covers the inventory's port from any address.
    std::string tool_address;
    int server_port = host->ssh.port;
    if (conn->out.find_first_not_of(" \t\r\n") != std::string::npos) {
      Result<SshConnection> c = ParseSshConnection(conn->out);
      if (!c.ok()) {
        return Status::FailedPrecondition(std::string(kKind) + " on " + target.display + ": " +
                                          c.status().message() +
                                          "; no rule installed (the SSH exemption needs them)");
      }
      tool_address = c->client_address;
      server_port = c->server_port;
    }

    const std::string chain = Chain(*host, env);
    const std::string script =
        "set -e\ncommand -v iptables >/dev/null || { echo 'iptables is not installed' >&2; "
        "exit 3; }\n" +
        // The timer goes in first: no rule ever exists without its expiry.
        StartExpiryScript(Expiry(*host, env), env.duration + spec_.expiry_margin,
                          TeardownChainScript(chain)) +
        InstallScript(chain, *peers, spec_.direction, tool_address, server_port);
    return RunFaultScript(
        *ssh_, host->ssh, script, spec_.command_timeout,
        std::string(kKind) + " on " + target.display + ": installing iptables chain " + chain);
  }

  bool Reversible() const override { return true; }

  std::string DescribeAction(const FaultTarget& target) const override {
    const std::string other =
        spec_.from.empty() ? "every other inventory host" : "the hosts of '" + spec_.from + "'";
    return "cut " + target.display + " off from " + other + " (" + DirectionText(spec_.direction) +
           ") with iptables over SSH, the tool's SSH exempted; on-host expiry after the fault's "
           "duration + " +
           FormatDuration(spec_.expiry_margin);
  }

 private:
  std::string Id(const InventoryHost& host, const InjectorEnv& env) const {
    return ShortHash(env.run_id + "/" + token_ + "/" + host.name);
  }
  std::string Chain(const InventoryHost& host, const InjectorEnv& env) const {
    return IptablesChain(Id(host, env));
  }
  OnHostExpiry Expiry(const InventoryHost& host, const InjectorEnv& env) const {
    return MakeExpiry(host, Id(host, env));
  }

  // The other side's addresses: `from` (resolved now, so roles such as etcd-leader are
  // current) or every other host, never the host itself.
  Result<std::vector<std::string>> Peers(const InventoryHost& host, const InjectorEnv& env) const {
    std::vector<InventoryHost> side;
    if (spec_.from.empty()) {
      side = inventory_.hosts;
    } else {
      // Its own stream of the step's seed: `hosts` and `from` draw independently.
      Result<std::vector<InventoryHost>> sel =
          SelectHosts(inventory_, spec_.from, env.seed ^ 0x66726f6d2d736964ull);
      if (!sel.ok()) return sel.status();
      side = std::move(*sel);
    }
    std::vector<std::string> peers;
    for (const InventoryHost& h : side) {
      if (h.name == host.name || h.ssh.address == host.ssh.address) continue;
      // Each peer becomes `-s ADDRESS -j DROP`: a range there would cut far more than the host.
      if (std::string problem = HostAddressProblem(h.ssh.address); !problem.empty()) {
        return Status::FailedPrecondition(std::string(kKind) + ": inventory host " + h.name + ": " +
                                          problem + "; no rule installed");
      }
      if (std::find(peers.begin(), peers.end(), h.ssh.address) == peers.end()) {
        peers.push_back(h.ssh.address);
      }
    }
    if (peers.empty()) {
      return Status::FailedPrecondition(
          std::string(kKind) + ": nothing to cut " + host.name + " off from: the other side ('" +
          (spec_.from.empty() ? "all" : spec_.from) + "') holds no other host");
    }
    return peers;
  }

  const Spec spec_;
  const Inventory inventory_;
  std::shared_ptr<SshClient> ssh_;
  std::string token_;
};

class HostPartitionInjectorKind : public SshInjectorKind {
 public:
  explicit HostPartitionInjectorKind(std::shared_ptr<SshClient> ssh)
      : SshInjectorKind(kKind, std::move(ssh)) {}

  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    return ParseHostsSpec<HostPartitionInjector, Spec>(
        spec, target,
        [&](Spec& s) {
          s.from = spec.String("from", "");
          s.direction = spec.Enum("direction", {"both", "ingress", "egress"}, "both");
          s.expiry_margin = spec.DurationField("expiry_margin", s.expiry_margin, seconds(1),
                                               std::chrono::hours(24));
          s.command_timeout = spec.DurationField("command_timeout", s.command_timeout, seconds(1),
                                                 std::chrono::minutes(10));
        },
        {{"from", &Spec::from}});
  }

  Status Revert(const std::string& record, const InjectorEnv& env) const override {
    Result<HostRevert> revert = ReadHostRevert(record, kKind);
    if (!revert.ok()) return revert.status();
    auto it = revert->record.FindMember("chain");
    const std::string chain = it != revert->record.MemberEnd() && it->value.IsString()
                                  ? std::string(it->value.GetString(), it->value.GetStringLength())
                                  : "";
    // Never touch a chain that is not ours, whatever the record says: only the exact form
    // Chain() makes gets into the teardown script.
    if (!ValidIptablesChain(chain)) {
      return Status::InvalidArgument(std::string(kKind) + ": invalid revert record: chain '" +
                                     chain.substr(0, 40) +
                                     "' is not a gameday chain (GAMEDAY- and 12 hex digits)");
    }
    return RunRevertScript(*ssh_, *revert, TeardownChainScript(chain), seconds(30), kKind,
                           "removing iptables chain " + chain);
  }
};

}  // namespace

std::unique_ptr<InjectorKind> MakeHostPartitionInjectorKind() {
  return MakeHostPartitionInjectorKind(std::make_shared<SshClient>());
}

std::unique_ptr<InjectorKind> MakeHostPartitionInjectorKind(std::shared_ptr<SshClient> ssh) {
  return std::make_unique<HostPartitionInjectorKind>(std::move(ssh));
}

}  // namespace gameday
