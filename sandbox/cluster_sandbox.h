#pragma once

#include <string>

#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

// The HA sandbox (sandbox/cluster/sandbox.sh, compiled into the binary): three masters with
// etcd (and with Kubernetes binaries a kube-apiserver, controller-manager and scheduler each),
// two workers with demo replicas, HAProxy, Prometheus and KWOK. Needs root.
struct ClusterSandboxOptions {
  std::string dir;  // empty = DefaultSandboxDir()
  // The demo service binary; empty = $GAMEDAY_DEMO_BIN, else the gameday-demo next to this
  // executable.
  std::string demo_binary;
  // Folder with kube-apiserver, kube-controller-manager, kube-scheduler, kwok and etcd; empty =
  // no Kubernetes (masters run Debian's etcd only).
  std::string kubernetes_bin;
  Duration timeout = std::chrono::seconds(180);  // bound on `up`
};

// DefaultStateDir() + "/sandbox": where `gameday sandbox up` keeps the HA sandbox and writes
// inventory.yaml, known_hosts and kubeconfig. The clients look there when a plan names neither
// (DefaultSandboxInventory in clients/inventory, DefaultSandboxKubeconfig in clients/kubernetes).
std::string DefaultSandboxDir();

// Runs `sandbox.sh up|status|down` with the scripts written to a private temporary folder, its
// output going to this process's stdout/stderr. Returns the script's exit code, or an error when
// it could not be run at all. `up` and `down` refuse without root (FailedPrecondition).
Result<int> RunClusterSandbox(const std::string& command, const ClusterSandboxOptions& options);

// The gameday-demo binary: `option` if set, else $GAMEDAY_DEMO_BIN, else next to this executable.
std::string ResolveDemoBinary(const std::string& option);

}  // namespace gameday
