#pragma once

// A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok) for one integration test binary: started once, before the first test,
// by tests/harness/k8s-plane.sh, and stopped after the last one even when tests fail. A watchdog
// in the script stops it as well if this binary dies without tearing down (SIGKILL, crash).
//
// Tests call GAMEDAY_REQUIRE_K8S_PLANE() first. It skips the test, with the reason, only when the
// Kubernetes binaries cannot be built on this machine; under CI ($CI set) that is a failure too.
// A plane that was built but does not start is always a failure.

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/wait_until.h"

namespace gameday::testing {

// Single-quotes `s` for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `command` with /bin/sh; returns its exit status (-1 if it did not exit) and its stdout.
// Calls below pass `out` explicitly, so this header can follow tests/integration/testbed.h, whose
// one-argument RunShell would otherwise make them ambiguous.
inline int RunShell(const std::string& command, std::string* out = nullptr) {
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return -1;
  std::array<char, 4096> buf;
  size_t n;
  std::string text;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  const int status = ::pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct K8sPlane {
  std::string dir;                // everything of the plane lives here
  std::string bin;                // the Kubernetes binaries
  std::string kubeconfig;         // admin, client certificate
  std::string kubeconfig_token;   // admin, bearer token
  std::string kubeconfig_nobody;  // a token user without RBAC rights
  std::string server;             // https://127.0.0.1:PORT
  std::string ca_file;
  std::string harness;  // tests/harness
  int api_port = 0;

  // The pid (= process group) of a component: etcd, kube-apiserver, kube-controller-manager,
  // kube-scheduler, kwok. 0 if unknown.
  pid_t Pid(const std::string& component) const {
    const std::string text = ReadFileOrEmpty(dir + "/run/" + component + ".pid");
    return text.empty() ? 0 : static_cast<pid_t>(std::atol(text.c_str()));
  }
  // Sends `sig` to a component's whole process group.
  bool Signal(const std::string& component, int sig) const {
    const pid_t pid = Pid(component);
    return pid > 0 && ::kill(-pid, sig) == 0;
  }
  // Whether every thread of a component is stopped (SIGSTOP takes effect asynchronously: a thread
  // busy on a CPU may still answer a request right after kill() returned).
  bool Stopped(const std::string& component) const {
    const pid_t pid = Pid(component);
    if (pid <= 0) return false;
    std::error_code ec;
    bool any = false;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      const std::string stat = ReadFileOrEmpty(task.path().string() + "/stat");
      const size_t paren = stat.rfind(')');
      if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
      if (stat[paren + 2] != 'T' && stat[paren + 2] != 't') return false;
      any = true;
    }
    return any;
  }
  // Tail of a component's log, for failure messages.
  std::string LogTail(const std::string& component, int lines = 30) const {
    std::string out;
    RunShell(
        "tail -n " + std::to_string(lines) + " " + ShellQuote(dir + "/logs/" + component + ".log"),
        &out);
    return out;
  }

  // The plane of this test binary; null when it is unavailable (see SkipReason).
  static const K8sPlane* Get() { return State().plane.get(); }
  static const std::string& SkipReason() { return State().skip_reason; }
  static bool Failed() { return State().failed; }

  struct StateT {
    std::unique_ptr<K8sPlane> plane;
    std::string skip_reason;
    bool failed = false;
  };
  static StateT& State() {
    static StateT state;
    return state;
  }
};

class K8sPlaneEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto& state = K8sPlane::State();
    const std::string harness = std::string(GAMEDAY_SOURCE_DIR) + "/tests/harness";
    std::string bin;
    if (const char* env = std::getenv("GAMEDAY_K8S_BIN"); env != nullptr && *env != '\0') {
      bin = env;
    } else {
      // Progress of a build goes to stderr (the test log); stdout is the folder.
      const int rc = RunShell(ShellQuote(harness + "/build-k8s.sh") + " | tail -n 1", &bin);
      while (!bin.empty() && (bin.back() == '\n' || bin.back() == ' ')) bin.pop_back();
      if (rc != 0 || bin.empty() || !std::filesystem::exists(bin + "/kube-apiserver")) {
        state.skip_reason =
            "the Kubernetes binaries cannot be built on this machine (tests/harness/build-k8s.sh "
            "failed; see its output above)";
        if (std::getenv("CI") != nullptr) {
          state.failed = true;
          ADD_FAILURE() << state.skip_reason << " - required under CI";
        }
        return;
      }
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/gameday-k8s-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      state.failed = true;
      ADD_FAILURE() << "mkdtemp failed";
      return;
    }
    dir_ = templ;
    const std::string cmd = "GAMEDAY_K8S_BIN=" + ShellQuote(bin) +
                            " GAMEDAY_PLANE_OWNER=" + std::to_string(::getpid()) + " " +
                            ShellQuote(harness + "/k8s-plane.sh") + " up " + ShellQuote(dir_) +
                            " </dev/null";
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = RunShell(cmd, nullptr);
    if (rc != 0) {
      state.failed = true;
      ADD_FAILURE() << "the Kubernetes test plane did not start (k8s-plane.sh up exited " << rc
                    << "); logs in " << dir_ << "/logs";
      keep_ = true;
      RunShell(ShellQuote(harness + "/k8s-plane.sh") + " down " + ShellQuote(dir_), nullptr);
      return;
    }
    auto plane = std::make_unique<K8sPlane>();
    plane->dir = dir_;
    plane->bin = bin;
    plane->harness = harness;
    plane->kubeconfig = dir_ + "/kubeconfig";
    plane->kubeconfig_token = dir_ + "/kubeconfig-token";
    plane->kubeconfig_nobody = dir_ + "/kubeconfig-nobody";
    plane->ca_file = dir_ + "/pki/ca.crt";
    std::ifstream env(dir_ + "/plane.env");
    std::string line;
    while (std::getline(env, line)) {
      if (line.rfind("API_PORT=", 0) == 0) plane->api_port = std::atoi(line.c_str() + 9);
    }
    plane->server = "https://127.0.0.1:" + std::to_string(plane->api_port);
    std::fprintf(stderr, "[k8s-plane] up in %.1f s at %s (%s)\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                 plane->server.c_str(), dir_.c_str());
    state.plane = std::move(plane);
  }

  void TearDown() override {
    if (dir_.empty()) return;
    const std::string harness = std::string(GAMEDAY_SOURCE_DIR) + "/tests/harness";
    RunShell(ShellQuote(harness + "/k8s-plane.sh") + " down " + ShellQuote(dir_), nullptr);
    K8sPlane::State().plane.reset();
    const char* keep = std::getenv("GAMEDAY_KEEP_K8S_PLANE");
    if (keep_ || (keep != nullptr && *keep == '1')) {
      std::fprintf(stderr, "[k8s-plane] kept %s\n", dir_.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
    dir_.clear();
  }

 private:
  std::string dir_;
  bool keep_ = false;
};

inline ::testing::Environment* const kK8sPlaneEnvironment =
    ::testing::AddGlobalTestEnvironment(new K8sPlaneEnvironment);

}  // namespace gameday::testing

// First statement of every test that needs the plane.
#define GAMEDAY_REQUIRE_K8S_PLANE()                                                     \
  do {                                                                                  \
    if (::gameday::testing::K8sPlane::Get() == nullptr) {                               \
      if (::gameday::testing::K8sPlane::Failed()) {                                     \
        FAIL() << "the Kubernetes test plane is not available (see the first failure)"; \
      }                                                                                 \
      GTEST_SKIP() << ::gameday::testing::K8sPlane::SkipReason();                       \
    }                                                                                   \
  } while (0)
