#include "sandbox/local_layout.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "sandbox/cluster_sandbox.h"  // ResolveDemoBinary
#include "sandbox/file_text.h"

namespace gameday::local_sandbox {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

bool ParsePort(const std::string& s, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 0 || v > 65535) return false;
  *out = static_cast<int>(v);
  return true;
}

}  // namespace

std::string JoinPorts(const std::vector<int>& ports) {
  std::string out;
  for (int p : ports) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

std::string ResolveDir(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir.empty() ? DefaultLocalSandboxDir() : dir, ec);
  fs::path canonical = fs::weakly_canonical(p, ec);
  if (!ec) p = canonical;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<Layout> ReadLayout(const std::string& state_dir) {
  Layout l;
  l.state_dir = state_dir;
  auto text = ReadFile(l.StatePath());
  if (!text) return Status::NotFound("no state file " + l.StatePath());
  std::map<std::string, std::string> kv;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  int pid = 0;
  bool ok = ParsePort(kv["frontend_port"], &l.frontend_port) &&
            ParsePort(kv["stats_port"], &l.stats_port) && !kv["demo_binary"].empty() &&
            std::sscanf(kv["runsvdir_pid"].c_str(), "%d", &pid) == 1 &&
            std::sscanf(kv["warmup_ms"].c_str(), "%d", &l.warmup_ms) == 1;
  l.demo_binary = kv["demo_binary"];
  l.runsvdir_pid = pid;
  std::istringstream ports(kv["replica_ports"]);
  for (std::string p; std::getline(ports, p, ',');) {
    int port = 0;
    ok = ok && ParsePort(p, &port);
    l.replica_ports.push_back(port);
  }
  if (!ok || l.replica_ports.empty()) {
    return Status::Internal("state file " + l.StatePath() + " is damaged");
  }
  return l;
}

Result<Layout> MakeLayout(const SandboxOptions& o) {
  Layout l;
  l.state_dir = ResolveDir(o.state_dir);
  if (l.state_dir == "/") return Status::InvalidArgument("the sandbox state dir cannot be /");
  auto bad_port = [](int p) { return p < 1 || p > 65535; };
  if (bad_port(o.frontend_port)) {
    return Status::InvalidArgument("frontend port must be 1..65535, got " +
                                   std::to_string(o.frontend_port));
  }
  l.frontend_port = o.frontend_port;
  l.stats_port = o.stats_port != 0 ? o.stats_port : o.frontend_port + 100;
  if (bad_port(l.stats_port)) {
    return Status::InvalidArgument("stats port must be 1..65535, got " +
                                   std::to_string(l.stats_port));
  }
  if (o.replicas < 1 || o.replicas > kMaxReplicas) {
    return Status::InvalidArgument("replicas must be 1.." + std::to_string(kMaxReplicas) +
                                   ", got " + std::to_string(o.replicas));
  }
  if (!o.replica_ports.empty() && static_cast<int>(o.replica_ports.size()) != o.replicas) {
    return Status::InvalidArgument("replica ports name " + std::to_string(o.replica_ports.size()) +
                                   " ports for " + std::to_string(o.replicas) + " replicas");
  }
  for (int i = 0; i < o.replicas; ++i) {
    const int p = o.replica_ports.empty() ? o.frontend_port + 1 + i : o.replica_ports[i];
    if (bad_port(p)) {
      return Status::InvalidArgument("replica port must be 1..65535, got " + std::to_string(p));
    }
    l.replica_ports.push_back(p);
  }
  std::set<int> all(l.replica_ports.begin(), l.replica_ports.end());
  all.insert(l.frontend_port);
  all.insert(l.stats_port);
  if (all.size() != l.replica_ports.size() + 2) {
    return Status::InvalidArgument("sandbox ports must all differ: " + l.Describe());
  }
  const auto warmup = std::chrono::duration_cast<milliseconds>(o.replica_warmup);
  if (warmup.count() < 0 || warmup > std::chrono::minutes(10)) {
    return Status::InvalidArgument("replica warm-up must be 0..10 min");
  }
  l.warmup_ms = static_cast<int>(warmup.count());
  l.demo_binary = ResolveDemoBinary(o.demo_binary);
  return l;
}

}  // namespace gameday::local_sandbox
