#pragma once

// RAII wrapper of sandbox/cluster/testbed.sh for integration tests: brings a bed of SSH test hosts
// up in the constructor and down in the destructor (pass or fail), and reports anything the
// bed left behind. Header-only; needs root. A bed whose test process died without its
// destructor (a crash, a CTest timeout) is removed by the next `up` (testbed.sh gc).

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace gameday::testing {

struct ShellOutput {
  int status = -1;  // exit status; -1 when the shell could not be run
  std::string out;  // stdout and stderr together
};

// Runs `command` with /bin/sh and collects its output.
inline ShellOutput RunShell(const std::string& command) {
  ShellOutput r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int rc = ::pclose(p);
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return r;
}

inline std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct TestbedHost {
  std::string name;
  std::string address;
  std::string netns;
  std::vector<std::string> groups;
  std::map<std::string, std::string> vars;
};

class Testbed {
 public:
  // Empty when this process can build beds, else why not (tests GTEST_SKIP with it).
  static std::string Unavailable() {
    if (::geteuid() != 0) return "the SSH test bed needs root (network namespaces, iptables)";
    for (const char* bin : {"/usr/sbin/sshd", "/usr/bin/runsvdir", "/usr/bin/ssh-keygen"}) {
      if (::access(bin, X_OK) != 0) return std::string(bin) + " is missing (scripts/setup.sh)";
    }
    if (RunShell("ip netns list").status != 0) return "`ip netns` does not work here";
    return "";
  }

  // `base` (1-6 of [a-z0-9]) plus this process's id make the bed's name, so parallel test runs
  // never share a bed.
  Testbed(const std::string& base, int hosts, int etcd_members = 0) {
    static const char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    unsigned pid = static_cast<unsigned>(::getpid()) % 60466176u;  // 36^5
    std::string suffix;
    for (int i = 0; i < 5; ++i, pid /= 36) suffix = kDigits[pid % 36] + suffix;
    name_ = base.substr(0, 6) + suffix;
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/gameday-bed-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = buf.data();
    ShellOutput up = Script("up " + name_ + " " + std::to_string(hosts) + " --etcd " +
                            std::to_string(etcd_members));
    up_log_ = up.out;
    if (up.status != 0) {
      error_ = "testbed.sh up failed:\n" + up.out;
      return;
    }
    if (!LoadInventory()) return;
    ok_ = true;
  }

  ~Testbed() {
    if (!down_) Down();
  }
  Testbed(const Testbed&) = delete;
  Testbed& operator=(const Testbed&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }
  std::string inventory_path() const { return dir_ + "/inventory.yaml"; }
  std::string known_hosts_path() const { return dir_ + "/known_hosts"; }
  std::string key_file() const { return dir_ + "/id_ed25519"; }
  std::string passphrase_key_file() const { return dir_ + "/id_ed25519_pp"; }
  std::string passphrase() const {
    std::ifstream in(dir_ + "/key_passphrase");
    std::string s;
    std::getline(in, s);
    return s;
  }
  const std::vector<TestbedHost>& hosts() const { return hosts_; }

  // Runs a shell command inside host i's namespace directly (not over SSH), for checks.
  ShellOutput Exec(size_t i, const std::string& command) const {
    return RunShell("ip netns exec " + hosts_.at(i).netns + " sh -c " + Quote(command));
  }

  // iptables rules of host i (iptables -S of every table's chains we touch).
  std::string IptablesRules(size_t i) const { return Exec(i, "iptables -w -S").out; }

  // Pids of every process in the bed's namespaces.
  std::vector<int> Pids() const {
    std::vector<int> pids;
    for (const TestbedHost& h : hosts_) {
      std::istringstream in(RunShell("ip netns pids " + h.netns).out);
      for (int pid; in >> pid;) pids.push_back(pid);
    }
    return pids;
  }

  // Tears the bed down and returns what was left behind ("" = nothing): namespaces, the
  // bridge, root-namespace iptables rules, live processes, the directory.
  std::string Down() {
    down_ = true;
    std::vector<int> pids = Pids();
    ShellOutput down = Script("down " + name_);
    std::string left;
    if (down.status != 0) left += "testbed.sh down failed: " + down.out + "\n";
    const std::string ns = RunShell("ip netns list | grep -E '^gd-" + name_ + "-h' || true").out;
    if (!ns.empty()) left += "namespaces: " + ns;
    if (RunShell("ip link show gd-" + name_).status == 0) left += "bridge gd-" + name_ + "\n";
    const std::string rules =
        RunShell("iptables -w -S | grep -F 'gameday-testbed:" + name_ + "' || true").out;
    if (!rules.empty()) left += "root iptables rules: " + rules;
    for (int pid : pids) {
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string content;
      std::getline(stat, content);
      const size_t paren = content.rfind(')');
      // A zombie is dead; only its parent's reaping is pending.
      if (paren != std::string::npos && paren + 2 < content.size() && content[paren + 2] != 'Z') {
        left += "process " + content.substr(0, paren + 1) + "\n";
      }
    }
    struct stat st;
    if (!dir_.empty() && ::stat(dir_.c_str(), &st) == 0) {
      left += "directory " + dir_ + "\n";
      RunShell("rm -rf " + Quote(dir_));
    }
    return left;
  }

 private:
  ShellOutput Script(const std::string& args) const {
    const std::string script = std::string(GAMEDAY_SOURCE_DIR) + "/sandbox/cluster/testbed.sh";
    return RunShell("GAMEDAY_TESTBED_DIR=" + Quote(dir_) + " GAMEDAY_TESTBED_OWNER=" +
                    std::to_string(::getpid()) + " bash " + Quote(script) + " " + args);
  }

  bool LoadInventory() {
    try {
      YAML::Node doc = YAML::LoadFile(inventory_path());
      for (const YAML::Node& h : doc["hosts"]) {
        TestbedHost host;
        host.name = h["name"].as<std::string>();
        host.address = h["address"].as<std::string>();
        for (const YAML::Node& g : h["groups"]) host.groups.push_back(g.as<std::string>());
        for (const auto& kv : h["vars"]) {
          host.vars[kv.first.as<std::string>()] = kv.second.as<std::string>();
        }
        host.netns = host.vars["netns"];
        hosts_.push_back(std::move(host));
      }
    } catch (const YAML::Exception& e) {
      error_ = std::string("cannot read the bed's inventory: ") + e.what();
      return false;
    }
    return true;
  }

  std::string name_;
  std::string dir_;
  std::string error_;
  std::string up_log_;
  std::vector<TestbedHost> hosts_;
  bool ok_ = false;
  bool down_ = false;
};

}  // namespace gameday::testing
