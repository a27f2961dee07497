#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "experiments/status.h"
#include "sandbox/local_sandbox.h"

namespace gameday::local_sandbox {

inline constexpr char kStateFile[] = "sandbox.state";
inline constexpr char kLoopback[] = "127.0.0.1";
inline constexpr char kHaproxyService[] = "haproxy";
inline constexpr char kBackend[] = "replicas";
inline constexpr int kMaxReplicas = 16;

// `dir` (empty = DefaultLocalSandboxDir()) absolute, with symlinks resolved, without a trailing
// slash.
std::string ResolveDir(const std::string& dir);

std::string JoinPorts(const std::vector<int>& ports);

// The layout of one sandbox, as chosen by Up and recorded in its state file.

struct Layout {
  std::string state_dir;  // absolute, symlinks resolved
  int frontend_port = 0;
  int stats_port = 0;
  std::vector<int> replica_ports;
  std::string demo_binary;
  int warmup_ms = 0;
  pid_t runsvdir_pid = 0;

  std::string ServiceDir() const { return state_dir + "/service"; }
  std::string LogDir() const { return state_dir + "/logs"; }
  std::string ConfigPath() const { return state_dir + "/haproxy.cfg"; }
  std::string StatePath() const { return state_dir + "/" + kStateFile; }
  std::string ServicePath(const std::string& name) const { return ServiceDir() + "/" + name; }
  std::string LogPath(const std::string& name) const { return LogDir() + "/" + name + ".log"; }
  static std::string ReplicaName(size_t i) { return "replica-" + std::to_string(i + 1); }
  std::vector<std::string> ServiceNames() const {
    std::vector<std::string> names;
    for (size_t i = 0; i < replica_ports.size(); ++i) names.push_back(ReplicaName(i));
    names.emplace_back(kHaproxyService);
    return names;
  }
  std::string FrontendUrl() const {
    return "http://" + std::string(kLoopback) + ":" + std::to_string(frontend_port) + "/";
  }
  std::string StatsBase() const {
    return "http://" + std::string(kLoopback) + ":" + std::to_string(stats_port);
  }
  bool SameShape(const Layout& o) const {
    return frontend_port == o.frontend_port && stats_port == o.stats_port &&
           replica_ports == o.replica_ports && demo_binary == o.demo_binary &&
           warmup_ms == o.warmup_ms;
  }
  std::string Describe() const {
    return "frontend port " + std::to_string(frontend_port) + ", stats port " +
           std::to_string(stats_port) + ", replica ports " + JoinPorts(replica_ports) +
           ", warm-up " + std::to_string(warmup_ms) + " ms, demo binary " + demo_binary;
  }
  std::string Serialize() const {
    std::ostringstream out;
    out << "# gameday local sandbox: written by `gameday sandbox up`, removed by `down`.\n"
        << "frontend_port=" << frontend_port << "\n"
        << "stats_port=" << stats_port << "\n"
        << "replica_ports=" << JoinPorts(replica_ports) << "\n"
        << "demo_binary=" << demo_binary << "\n"
        << "warmup_ms=" << warmup_ms << "\n"
        << "runsvdir_pid=" << runsvdir_pid << "\n";
    return out.str();
  }
};

// The layout recorded in the state file of `state_dir`. NotFound without a state file, Internal
// when it is damaged.
Result<Layout> ReadLayout(const std::string& state_dir);

// The layout `o` asks for, checked (ports in range and distinct, replica count, warm-up).
Result<Layout> MakeLayout(const SandboxOptions& o);

}  // namespace gameday::local_sandbox
