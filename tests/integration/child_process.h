#pragma once

// Helpers for tests that start real programs (Prometheus, the Pushgateway, Chromium): each child
// runs in its own process group, so everything it forks is killed with it, and the RAII owner
// kills and reaps the group on every path out of the test, failures included.

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/wait_until.h"

extern char** environ;

namespace gameday::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "gameday-test") {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// "" when it cannot be read. A /proc file of a process that exits mid-read fails with ESRCH,
// which libstdc++'s stream buffer throws as an exception.
inline std::string ReadFileText(const std::string& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {
    return "";
  }
}

// A child process in its own process group.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with stdin from /dev/null and stdout+stderr appended to `log`, or
  // stdout alone to `out` when given.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log,
               const std::string& out = "")
      : log_(log) {
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out.empty()) {
      posix_spawn_file_actions_adddup2(&fa, 2, 1);
    } else {
      posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0].c_str(), &fa, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    // Never keep a bogus pid: killpg on it could hit unrelated processes.
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
  }
  ~ChildProcess() { Stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log() const { return log_; }
  std::string LogText() const { return ReadFileText(log_); }

  // The exit status once the leader has exited (waitpid status), nullopt while it runs.
  std::optional<int> Poll() {
    if (exited_) return status_;
    if (pid_ <= 0) return std::nullopt;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
      return status_;
    }
    return std::nullopt;
  }

  // Waits up to `timeout` for the leader to exit.
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto s = Poll()) return s;
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // SIGTERM to the whole group, up to `grace` for the leader to exit, then SIGKILL to the group
  // (always, so no grandchild survives), and the leader is reaped. Safe to call twice.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000)) {
    if (pid_ <= 0 || stopped_) return;
    stopped_ = true;
    if (!exited_) ::killpg(pid_, SIGTERM);
    Wait(grace);
    ::killpg(pid_, SIGKILL);
    if (!exited_) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exited_ = true;
      status_ = status;
    }
  }

  // Kills the group at once (a crash, as far as the child's peers can tell).
  void Kill() {
    if (pid_ <= 0) return;
    ::killpg(pid_, SIGKILL);
    Wait(std::chrono::milliseconds(10000));
  }

 private:
  pid_t pid_ = -1;
  std::string log_;
  bool exited_ = false;
  bool stopped_ = false;
  int status_ = 0;
};

// A loopback port that was free a moment ago (bound and released).
// `name` found on $PATH ("" if not).
inline std::string OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::filesystem::path p = std::filesystem::path(dir) / name;
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

inline int FreeLoopbackPort() {
  Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
  const int port = s.address().port();
  s.close();
  return port;
}

// GET http://127.0.0.1:port/path; the status and body, or status 0 when nothing answered.
inline std::pair<int, std::string> HttpGet(
    int port, const std::string& path,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(static_cast<long>(timeout.count() / 1000),
                                      static_cast<long>(timeout.count() % 1000) * 1000));
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::ostringstream body;
    body << in.rdbuf();
    return {static_cast<int>(response.getStatus()), body.str()};
  } catch (const Poco::Exception&) {
    return {0, ""};
  } catch (const std::exception&) {
    return {0, ""};
  }
}

// Processes whose command line contains `needle` (for checking that nothing was left running).
inline std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadFileText(entry.path().string() + "/cmdline");
    if (cmdline.find(needle) != std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace gameday::testing
