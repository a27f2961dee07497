#pragma once

// A service on a host that a fault stops over SSH and its revert starts again: a systemd unit, a
// runit service, a process (by pid file or name, or frozen with SIGSTOP) or a kubeadm static pod.
// Shared by the kinds that stop one (service-stop; node-failure, whose kubelet-stop stops the
// kubelet). Its spec fields, the checks of every value that ends up in a root shell script, the
// revert record's fields and the stop and start scripts with their on-host expiry live here, so
// the kinds differ only in how they choose their hosts. See injectors/service_stop/README.md.

#include <rapidjson/document.h>

#include <string>

#include "clients/inventory/inventory.h"
#include "experiments/clock.h"
#include "experiments/spec_reader.h"
#include "experiments/status.h"
#include "injectors/ssh_fault/ssh_fault.h"

namespace gameday {

enum class ServiceManager { kSystemd, kRunit, kProcess, kStaticPod };

// What to stop. String fields may hold {{var}} templates until resolved for one host.
struct HostService {
  ServiceManager manager = ServiceManager::kRunit;
  std::string unit_or_dir;  // systemd unit or runit service directory
  std::string process_name;
  std::string pid_file;
  std::string start;  // process: the command that starts it again after a stop
  bool freeze = false;
  std::string manifest;
  std::string manifest_dir = "/etc/kubernetes/manifests";
  std::string stash_dir;  // empty = <manifest_dir>/../gameday-stash
};

// A service fault's fields besides the hosts: `service`, `signal`, `on_host_expiry`,
// `expiry_margin` and `stop_timeout` of a spec.
struct ServiceFault {
  HostService service;
  std::string signal = "TERM";
  bool on_host_expiry = true;
  Duration expiry_margin = std::chrono::seconds(30);
  Duration stop_timeout = std::chrono::seconds(20);
};

// Reads those fields of `spec` (a map), reporting every problem at its place. Without a
// `service` field, `default_service` is taken when given, else `service` is reported missing.
// Values without {{var}} are checked here; the others once expanded (ResolveHostService).
void ParseServiceFault(SpecNode& spec, ServiceFault* out,
                       const HostService* default_service = nullptr);

// "systemd unit kubelet.service", "process of pid file /run/kubelet.pid", ...
std::string DescribeService(const HostService& s);
// One line for a dry run: "stop systemd unit etcd.service on h1 over SSH; revert starts it; ..."
std::string DescribeServiceFault(const ServiceFault& f, const HostService& resolved,
                                 const std::string& where);

// `t` with the host's vars expanded, each value checked in its final form (InvalidArgument
// naming the field and the host otherwise).
Result<HostService> ResolveHostService(const HostService& t, const InventoryHost& host);

// Writes the revert record's fields of a stop of `resolved` (the service, its stop timeout, where
// a stopped process's pids are recorded, and the expiry when `f.on_host_expiry`).
void WriteServiceRevert(JsonWriter& w, const ServiceFault& f, const HostService& resolved,
                        const OnHostExpiry& expiry);

// The stop, in one script for the host (`set -e`): checks the service runs (exit 3 otherwise),
// starts the on-host expiry when `f.on_host_expiry` (after `duration` + f.expiry_margin), runs
// `before_stop` (a kind's own part of the fault), stops. The expiry runs `before_start` (its
// revert) before it starts the service.
std::string StopServiceScript(const ServiceFault& f, const HostService& resolved,
                              const OnHostExpiry& expiry, Duration duration,
                              const std::string& before_stop = "",
                              const std::string& before_start = "");
// The SSH timeout of that script.
Duration StopServiceTimeout(const ServiceFault& f);

// A service fault's revert, read back from a record and checked field by field (InvalidArgument,
// naming `kind`, for anything WriteServiceRevert could not have written).
struct ServiceRevert {
  HostService service;
  std::string script;   // starts the service again; idempotent
  Duration timeout{0};  // of that script over SSH
};
Result<ServiceRevert> ReadServiceRevert(const rapidjson::Value& record, const std::string& kind);

}  // namespace gameday
