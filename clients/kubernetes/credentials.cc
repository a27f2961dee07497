#include "clients/kubernetes/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "experiments/json.h"
#include "experiments/spec_reader.h"

extern char** environ;

namespace gameday {
namespace {

constexpr size_t kMaxPluginOutput = 1 << 20;
constexpr Duration kTokenFileRefresh = std::chrono::minutes(1);
// Exec credentials are refreshed this long before they expire, so a request never carries a
// token that lapses in flight.
constexpr auto kExpirySlack = std::chrono::seconds(10);

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

std::string FirstLines(const std::string& s, size_t max) {
  std::string t = s.substr(0, max);
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  for (char& c : t) {
    if (c == '\n') c = ' ';
  }
  return t + (s.size() > max ? "..." : "");
}

}  // namespace

std::optional<WallTime> ParseKubeTime(const std::string& text) {
  int y, mo, d, h, mi, s, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) !=
          6 ||
      consumed != 19) {
    return std::nullopt;
  }
  // Fields in range, and a year WallTime's 64-bit nanoseconds hold (1677-2262): timegm would
  // carry "month 99" into later years and the conversion below would overflow.
  if (y < 1678 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
      mi > 59 || s < 0 || s > 60) {
    return std::nullopt;
  }
  size_t i = 19;
  double frac = 0;
  if (i < text.size() && text[i] == '.') {
    size_t j = i + 1;
    double scale = 0.1;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) {
      frac += (text[j] - '0') * scale;
      scale /= 10;
      ++j;
    }
    if (j == i + 1) return std::nullopt;
    i = j;
  }
  long offset = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int oh, om;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = (oh * 3600L + om * 60L) * (text[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const time_t t = ::timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t - offset) +
         std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(frac));
}

std::string FormatKubeTime(WallTime t, bool micros) {
  const auto since = t.time_since_epoch();
  const auto secs = std::chrono::floor<std::chrono::seconds>(since);
  const time_t tt = static_cast<time_t>(secs.count());
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (micros) {
    const long us = static_cast<long>(
        std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count());
    std::snprintf(buf, sizeof(buf), ".%06ld", us);
    out += buf;
  }
  return out + "Z";
}

Result<ExecCredential> ParseExecCredential(const std::string& json,
                                           const std::string& api_version) {
  rapidjson::Document doc;
  const Status parsed = ParseJson(json, &doc);
  if (!parsed.ok()) {
    return Status::InvalidArgument("its output is not a JSON ExecCredential object (" +
                                   parsed.message() + ")");
  }
  if (!doc.IsObject()) {
    return Status::InvalidArgument("its output is not a JSON ExecCredential object");
  }
  auto str = [](const rapidjson::Value& obj, const char* key) -> std::string {
    auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
  };
  if (str(doc, "kind") != "ExecCredential") {
    return Status::InvalidArgument("its output has kind '" + str(doc, "kind") +
                                   "', expected ExecCredential");
  }
  if (!api_version.empty() && str(doc, "apiVersion") != api_version) {
    return Status::InvalidArgument("its output has apiVersion '" + str(doc, "apiVersion") +
                                   "', the kubeconfig asks for " + api_version);
  }
  auto status = doc.FindMember("status");
  if (status == doc.MemberEnd() || !status->value.IsObject()) {
    return Status::InvalidArgument("its output has no status");
  }
  ExecCredential out;
  const rapidjson::Value& st = status->value;
  out.credentials.bearer_token = str(st, "token");
  out.credentials.cert_pem = str(st, "clientCertificateData");
  out.credentials.key_pem = str(st, "clientKeyData");
  if (out.credentials.cert_pem.empty() != out.credentials.key_pem.empty()) {
    return Status::InvalidArgument(
        "its output has only one of clientCertificateData and clientKeyData");
  }
  if (out.credentials.bearer_token.empty() && out.credentials.cert_pem.empty()) {
    return Status::InvalidArgument("its output has neither a token nor a client certificate");
  }
  const std::string exp = str(st, "expirationTimestamp");
  if (!exp.empty()) {
    out.expires = ParseKubeTime(exp);
    if (!out.expires) {
      return Status::InvalidArgument("its expirationTimestamp '" + exp + "' is not RFC 3339");
    }
  }
  return out;
}

Result<ExecCredential> RunExecPlugin(const ExecPluginConfig& plugin, Duration timeout) {
  const std::string what =
      "exec credential plugin '" + plugin.command + "' (" + plugin.source + ")";
  // The environment: ours, then the plugin's entries (which win), then the exec info.
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : plugin.env) env[k] = v;
  env["KUBERNETES_EXEC_INFO"] = "{\"apiVersion\":\"" + plugin.api_version +
                                "\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}";
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = {plugin.command};
  argv_strings.insert(argv_strings.end(), plugin.args.begin(), plugin.args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return Status::Internal("pipe: " + std::string(std::strerror(errno)));
  Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    return Status::Internal("pipe: " + std::string(std::strerror(errno)));
  Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::string msg = "cannot run " + what + ": " + std::strerror(rc);
    if (!plugin.install_hint.empty()) msg += " (" + plugin.install_hint + ")";
    return Status::FailedPrecondition(msg);
  }
  out_w.Close();
  err_w.Close();

  std::string out, err;
  const MonoTime deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  pollfd fds[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (pollfd& p : fds) {
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      const ssize_t got = ::read(p.fd, buf, sizeof(buf));
      if (got > 0) {
        std::string& sink = p.fd == out_r.fd ? out : err;
        if (sink.size() < kMaxPluginOutput) sink.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        p.fd = -1;
        --open_fds;
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status::DeadlineExceeded(what + " did not finish within " + FormatDuration(timeout));
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    std::string how = WIFEXITED(wstatus) ? "exit status " + std::to_string(WEXITSTATUS(wstatus))
                                         : "signal " + std::to_string(WTERMSIG(wstatus));
    std::string msg = what + " failed (" + how + ")";
    if (!err.empty()) msg += ": " + FirstLines(err, 300);
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127 && !plugin.install_hint.empty()) {
      msg += " (" + plugin.install_hint + ")";
    }
    return Status::PermissionDenied(msg);
  }
  Result<ExecCredential> cred = ParseExecCredential(out, plugin.api_version);
  if (!cred.ok()) return Status::InvalidArgument(what + ": " + cred.status().message());
  return cred;
}

Result<Credentials> CredentialSource::Get() {
  std::lock_guard lock(mu_);
  if (user_.exec) {
    if (cached_ && (!expires_ || clock_->WallNow() + kExpirySlack < *expires_)) return *cached_;
    Result<ExecCredential> cred = RunExecPlugin(*user_.exec, std::chrono::seconds(30));
    if (!cred.ok()) return cred.status();
    Credentials c = cred->credentials;
    // A client certificate from the kubeconfig is kept when the plugin gives only a token.
    if (c.cert_pem.empty()) {
      c.cert_pem = user_.cert_pem;
      c.key_pem = user_.key_pem;
    }
    cached_ = c;
    expires_ = cred->expires;
    return c;
  }
  Credentials c;
  c.cert_pem = user_.cert_pem;
  c.key_pem = user_.key_pem;
  c.bearer_token = user_.token;
  if (c.bearer_token.empty() && !user_.token_file.empty()) {
    if (cached_ && clock_->Now() - read_at_ < kTokenFileRefresh) return *cached_;
    std::ifstream in(user_.token_file);
    if (!in) {
      return Status::PermissionDenied("cannot read the token file " + user_.token_file + ": " +
                                      std::strerror(errno));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string token = ss.str();
    while (!token.empty() &&
           (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
    if (token.empty())
      return Status::PermissionDenied("the token file " + user_.token_file + " is empty");
    c.bearer_token = token;
    cached_ = c;
    read_at_ = clock_->Now();
  }
  return c;
}

void CredentialSource::Invalidate() {
  std::lock_guard lock(mu_);
  cached_.reset();
  expires_.reset();
}

}  // namespace gameday
