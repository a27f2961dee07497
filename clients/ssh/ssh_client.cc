#include "clients/ssh/ssh_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <stop_token>
#include <thread>

namespace gameday {
namespace {

using std::chrono::milliseconds;

void EnsureLibssh2Init() {
  static std::once_flag once;
  std::call_once(once, [] { libssh2_init(0); });
}

const char* HostKeyTypeName(int type) {
  switch (type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA:
      return "ssh-rsa";
    case LIBSSH2_HOSTKEY_TYPE_DSS:
      return "ssh-dss";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
      return "ecdsa-sha2-nistp256";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
      return "ecdsa-sha2-nistp384";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
      return "ecdsa-sha2-nistp521";
    case LIBSSH2_HOSTKEY_TYPE_ED25519:
      return "ssh-ed25519";
    default:
      return "unknown-key-type";
  }
}

int KnownHostKeyBit(int type) {
  switch (type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA:
      return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case LIBSSH2_HOSTKEY_TYPE_DSS:
      return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case LIBSSH2_HOSTKEY_TYPE_ED25519:
      return LIBSSH2_KNOWNHOST_KEY_ED25519;
    default:
      return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
  }
}

std::string LastError(LIBSSH2_SESSION* session) {
  char* msg = nullptr;
  int len = 0;
  libssh2_session_last_error(session, &msg, &len, 0);
  if (msg == nullptr || len <= 0) return "unknown libssh2 error";
  return std::string(msg, static_cast<size_t>(len));
}

std::string FormatSeconds(Duration d) {
  const long long ms = std::chrono::duration_cast<milliseconds>(d).count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string FirstLine(const std::string& s, size_t max = 200) {
  std::string line = s.substr(0, s.find('\n'));
  if (line.size() > max) line = line.substr(0, max) + "...";
  return line;
}

// Zeroes a secret before its memory is released.
void Wipe(std::string& s) {
  volatile char* p = s.data();
  for (size_t i = 0; i < s.size(); ++i) p[i] = 0;
  s.clear();
}

}  // namespace

std::string SshEndpoint::Label() const {
  std::string where = user + "@" + address + ":" + std::to_string(port);
  if (name.empty() || name == address) return where;
  return name + " (" + where + ")";
}

std::string SshEndpoint::PoolKey() const {
  std::string key;
  for (const std::string* part : {&user, &address, &key_file, &known_hosts}) key += *part + '\n';
  key += std::to_string(port) + (insecure_ignore_host_key ? "\ni" : "\nk");
  return key;
}

std::string CommandResult::Summary() const {
  std::string s = exit_signal.empty() ? "exit status " + std::to_string(exit_status)
                                      : "killed by signal " + exit_signal;
  const std::string line = FirstLine(err.empty() ? out : err);
  if (!line.empty()) s += ": " + line;
  return s;
}

std::string WrapCommand(const SshEndpoint& host, const std::string& command) {
  if (!host.sudo) return command;
  // -n: never prompt (there is no terminal to answer on); a missing sudo rule fails at once.
  return "sudo -n sh -c " + ShellQuote(command);
}

std::string FormatSha256Fingerprint(const unsigned char* digest, size_t size) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "SHA256:";
  size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const unsigned v = (digest[i] << 16) | (digest[i + 1] << 8) | digest[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  // OpenSSH prints the digest without '=' padding.
  if (size - i == 1) {
    const unsigned v = digest[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (size - i == 2) {
    const unsigned v = (digest[i] << 16) | (digest[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string ExpandHome(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home != nullptr && *home != '\0') return std::string(home) + path.substr(1);
  }
  return path;
}

// One SSH session to one endpoint. `mu` is held by whoever runs a command on it.
class SshClient::Connection {
 public:
  Connection(SshEndpoint ep, Clock* clock, size_t max_output)
      : ep_(std::move(ep)), clock_(clock), max_output_(max_output) {}
  ~Connection() { Close(); }

  std::mutex mu;

  bool open() const { return session_ != nullptr; }

  // Opens the session within connect_timeout, which covers the wait for a handshake slot, every
  // try and the pauses between them. A handshake the server cut off before its banner (sshd past
  // its MaxStartups) is tried again after a jittered pause while tries and time are left; any
  // other failure is final at once.
  Status Open(HandshakeLimiter& limiter, const SshClientOptions& options) {
    Close();
    EnsureLibssh2Init();
    const MonoTime deadline = clock_->Now() + ep_.connect_timeout;
    for (int attempt = 1;; ++attempt) {
      // The limiter waits on the steady clock; the deadline is ours, on clock_.
      HandshakeLimiter::Slot slot =
          limiter.Acquire(std::chrono::steady_clock::now() + (deadline - clock_->Now()));
      if (!slot) {
        return Error(
            Status::Code::kDeadlineExceeded,
            "no SSH handshake slot came free within " + FormatSeconds(ep_.connect_timeout) +
                " (all " + std::to_string(limiter.limit()) +
                " of this process's concurrent handshakes were busy with other hosts" +
                (attempt > 1 ? "; the host had cut off the " + std::to_string(attempt - 1) +
                                   " earlier tries before its banner"
                             : std::string()) +
                "); nothing was run");
      }
      bool throttled = false;
      Status s = OpenOnce(deadline, &throttled);
      slot.Release();
      if (s.ok()) return s;
      const std::string tries = std::to_string(attempt) + (attempt == 1 ? " try" : " tries");
      if (!throttled) {
        // A later try that failed otherwise (often the deadline, the earlier ones having used
        // most of it) says what came before.
        if (attempt == 1) return s;
        return Status(s.code(), s.message() + " (try " + std::to_string(attempt) +
                                    "; the earlier ones were cut off before the banner)");
      }
      if (attempt > options.handshake_retries) {
        return Status(s.code(), s.message() + " (" + tries + ")");
      }
      const Duration pause = HandshakeBackoff(attempt, options.handshake_retry_base,
                                              options.handshake_retry_cap, Rng());
      // Another try needs time of its own after the pause, or it would only time out.
      if (clock_->Now() + pause + options.handshake_retry_base >= deadline) {
        return Status(s.code(), s.message() + " (" + tries + "; no time left for another within " +
                                    FormatSeconds(ep_.connect_timeout) + ")");
      }
      limiter.NoteThrottledRetry();
      clock_->SleepFor(pause, std::stop_token());
    }
  }

  Result<CommandResult> Exec(const std::string& command, MonoTime deadline, Duration timeout,
                             bool* sent) {
    *sent = false;
    const MonoTime start = clock_->Now();
    LIBSSH2_CHANNEL* channel = nullptr;
    while ((channel = libssh2_channel_open_session(session_)) == nullptr) {
      if (libssh2_session_last_errno(session_) != LIBSSH2_ERROR_EAGAIN) {
        return Error(Status::Code::kUnavailable, "cannot open a channel: " + LastError(session_));
      }
      if (Status w = Wait(deadline, "opening a channel", timeout); !w.ok()) return w;
    }
    // Frees the channel on every path out.
    struct Guard {
      LIBSSH2_CHANNEL* c;
      ~Guard() { libssh2_channel_free(c); }
    } guard{channel};

    *sent = true;
    int rc;
    while ((rc = libssh2_channel_exec(channel, command.c_str())) == LIBSSH2_ERROR_EAGAIN) {
      if (Status w = Wait(deadline, "starting the command", timeout); !w.ok()) return w;
    }
    if (rc != 0) {
      return Error(Status::Code::kUnavailable,
                   "the host refused to start the command: " + LastError(session_));
    }

    CommandResult result;
    char buf[16384];
    for (;;) {
      bool progress = false;
      for (int stream : {0, SSH_EXTENDED_DATA_STDERR}) {
        std::string& sink = stream == 0 ? result.out : result.err;
        for (;;) {
          const ssize_t n = libssh2_channel_read_ex(channel, stream, buf, sizeof(buf));
          if (n > 0) {
            progress = true;
            if (sink.size() < max_output_) {
              sink.append(buf, std::min(static_cast<size_t>(n), max_output_ - sink.size()));
            }
            continue;
          }
          if (n == 0 || n == LIBSSH2_ERROR_EAGAIN) break;
          return Error(Status::Code::kUnavailable,
                       "lost the session while the command ran (it may or may not have "
                       "completed): " +
                           LastError(session_));
        }
      }
      if (libssh2_channel_eof(channel)) break;
      if (!progress) {
        if (Status w = Wait(deadline, "the command", timeout, &result); !w.ok()) return w;
      }
    }
    while ((rc = libssh2_channel_close(channel)) == LIBSSH2_ERROR_EAGAIN) {
      if (Status w = Wait(deadline, "closing the channel", timeout); !w.ok()) return w;
    }
    while ((rc = libssh2_channel_wait_closed(channel)) == LIBSSH2_ERROR_EAGAIN) {
      if (Status w = Wait(deadline, "closing the channel", timeout); !w.ok()) return w;
    }
    result.exit_status = libssh2_channel_get_exit_status(channel);
    char* signal = nullptr;
    size_t signal_len = 0;
    libssh2_channel_get_exit_signal(channel, &signal, &signal_len, nullptr, nullptr, nullptr,
                                    nullptr);
    if (signal != nullptr) {
      result.exit_signal.assign(signal, signal_len);
      libssh2_free(session_, signal);
    }
    result.elapsed = clock_->Now() - start;
    return result;
  }

  void Close() {
    if (session_ != nullptr) {
      // A polite goodbye only if it goes out at once; a dead peer must not block us.
      libssh2_session_disconnect(session_, "gameday: done");
      libssh2_session_free(session_);
      session_ = nullptr;
    }
    if (sock_ >= 0) {
      ::close(sock_);
      sock_ = -1;
    }
  }

 private:
  // One try: TCP connect, SSH handshake, host key check, login. `throttled` tells whether it
  // failed the way sshd's MaxStartups throttling looks (LooksThrottled).
  Status OpenOnce(MonoTime deadline, bool* throttled) {
    *throttled = false;
    if (Status s = ConnectSocket(deadline); !s.ok()) return s;
    session_ = libssh2_session_init();
    if (session_ == nullptr) {
      Close();
      return Error(Status::Code::kInternal, "cannot create a libssh2 session");
    }
    libssh2_session_set_blocking(session_, 0);
    Status s = Handshake(deadline, throttled);
    if (s.ok()) s = CheckHostKey();
    if (s.ok()) s = Authenticate(deadline);
    if (!s.ok()) Close();
    return s;
  }

  static std::mt19937_64& Rng() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng;
  }

  Status Error(Status::Code code, const std::string& message) const {
    return Status(code, "ssh " + ep_.Label() + ": " + message);
  }

  // Waits until the socket is ready in the direction libssh2 is blocked on. After `deadline`
  // it returns kDeadlineExceeded naming `what`.
  Status Wait(MonoTime deadline, const std::string& what, Duration budget,
              const CommandResult* partial = nullptr) {
    const Duration left = deadline - clock_->Now();
    if (left <= Duration::zero()) {
      std::string m = what + " did not finish within " + FormatSeconds(budget);
      if (partial != nullptr) {
        m += " (it may still be running on the host)";
        const std::string seen = FirstLine(partial->err.empty() ? partial->out : partial->err);
        if (!seen.empty()) m += "; output so far: " + seen;
      }
      return Error(Status::Code::kDeadlineExceeded, m);
    }
    pollfd p{sock_, 0, 0};
    const int dirs = libssh2_session_block_directions(session_);
    if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND) p.events |= POLLIN;
    if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND) p.events |= POLLOUT;
    long long ms = std::chrono::duration_cast<milliseconds>(left).count() + 1;
    if (p.events == 0) {
      // Not blocked on the socket: try again soon rather than spin.
      p.events = POLLIN;
      ms = std::min(ms, 10LL);
    }
    ::poll(&p, 1, static_cast<int>(std::min<long long>(ms, INT_MAX)));
    return Status::Ok();
  }

  Status ConnectSocket(MonoTime deadline) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* list = nullptr;
    const std::string port = std::to_string(ep_.port);
    const int gai = ::getaddrinfo(ep_.address.c_str(), port.c_str(), &hints, &list);
    if (gai != 0) {
      return Error(Status::Code::kUnavailable,
                   "cannot resolve '" + ep_.address + "': " + gai_strerror(gai));
    }
    std::string last = "no address";
    Status::Code code = Status::Code::kUnavailable;
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
      const int fd =
          ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        last = std::string("socket: ") + std::strerror(errno);
        continue;
      }
      int err = 0;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
          err = ETIMEDOUT;
          for (;;) {
            const Duration left = deadline - clock_->Now();
            if (left <= Duration::zero()) break;
            pollfd p{fd, POLLOUT, 0};
            const long long ms = std::chrono::duration_cast<milliseconds>(left).count() + 1;
            const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(ms, INT_MAX)));
            if (n > 0) {
              socklen_t len = sizeof(err);
              ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
              break;
            }
            if (n < 0 && errno != EINTR) {
              err = errno;
              break;
            }
          }
        }
      }
      if (err == 0) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        sock_ = fd;
        ::freeaddrinfo(list);
        return Status::Ok();
      }
      ::close(fd);
      if (err == ETIMEDOUT) {
        code = Status::Code::kDeadlineExceeded;
        last = "no answer within " + FormatSeconds(ep_.connect_timeout);
      } else {
        code = Status::Code::kUnavailable;
        last = std::strerror(err);
      }
    }
    ::freeaddrinfo(list);
    return Error(code, "cannot connect: " + last);
  }

  Status Handshake(MonoTime deadline, bool* throttled) {
    int rc;
    while ((rc = libssh2_session_handshake(session_, sock_)) == LIBSSH2_ERROR_EAGAIN) {
      if (Status w = Wait(deadline, "the SSH handshake", ep_.connect_timeout); !w.ok()) return w;
    }
    if (rc == 0) return Status::Ok();
    const char* banner = libssh2_session_banner_get(session_);
    *throttled = LooksThrottled(rc, banner);
    if (*throttled) {
      // What the host said instead of a banner ("Exceeded MaxStartups" from sshd 8 on) is the
      // host's text: printable ASCII only, and short.
      std::string said;
      for (const char* p = banner; p != nullptr && *p != '\0' && said.size() < 80; ++p) {
        said += *p >= 0x20 && *p < 0x7f ? *p : '?';
      }
      return Error(Status::Code::kUnavailable,
                   "SSH handshake failed: the host closed the connection before sending its SSH "
                   "banner" +
                       (said.empty() ? std::string() : " (it said \"" + said + "\")") +
                       "; sshd does this to connections past its MaxStartups limit "
                       "(kex_exchange_identification: connection closed): " +
                       LastError(session_));
    }
    return Error(Status::Code::kUnavailable, "SSH handshake failed: " + LastError(session_));
  }

  Status CheckHostKey() {
    size_t len = 0;
    int type = 0;
    const char* key = libssh2_session_hostkey(session_, &len, &type);
    if (key == nullptr) {
      return Error(Status::Code::kInternal, "the host presented no host key");
    }
    const char* hash = libssh2_hostkey_hash(session_, LIBSSH2_HOSTKEY_HASH_SHA256);
    const std::string fingerprint =
        hash != nullptr ? FormatSha256Fingerprint(reinterpret_cast<const unsigned char*>(hash), 32)
                        : "(no SHA256 fingerprint)";
    const std::string presented = std::string(HostKeyTypeName(type)) + " key " + fingerprint;
    if (ep_.insecure_ignore_host_key) return Status::Ok();

    std::string file = ExpandHome(ep_.known_hosts);
    if (file.empty()) {
      const char* home = std::getenv("HOME");
      if (home == nullptr || *home == '\0') {
        return Error(Status::Code::kFailedPrecondition,
                     "no known_hosts file configured and $HOME is not set; the host presented " +
                         presented + "; nothing was run");
      }
      file = std::string(home) + "/.ssh/known_hosts";
    }
    const std::string refuse =
        "; nothing was run. Check the fingerprint out of band and add the key to " + file +
        " (ssh-keyscan), or set insecure_ignore_host_key: true explicitly";
    struct stat st;
    if (::stat(file.c_str(), &st) != 0) {
      return Error(Status::Code::kFailedPrecondition, "unknown host: known_hosts file " + file +
                                                          " does not exist; the host presented " +
                                                          presented + refuse);
    }
    LIBSSH2_KNOWNHOSTS* known = libssh2_knownhost_init(session_);
    if (known == nullptr) return Error(Status::Code::kInternal, "libssh2_knownhost_init failed");
    if (libssh2_knownhost_readfile(known, file.c_str(), LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
      const std::string why = LastError(session_);
      libssh2_knownhost_free(known);
      return Error(Status::Code::kFailedPrecondition,
                   "cannot read known_hosts file " + file + ": " + why + "; nothing was run");
    }
    libssh2_knownhost* found = nullptr;
    const int check = libssh2_knownhost_checkp(
        known, ep_.address.c_str(), ep_.port, key, len,
        LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | KnownHostKeyBit(type),
        &found);
    libssh2_knownhost_free(known);
    switch (check) {
      case LIBSSH2_KNOWNHOST_CHECK_MATCH:
        return Status::Ok();
      case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
        return Error(Status::Code::kFailedPrecondition,
                     "HOST KEY CHANGED: " + file + " holds a different " + HostKeyTypeName(type) +
                         " key for " + ep_.address + " than the " + presented +
                         " the host presented (a reinstalled host, or someone in between); "
                         "nothing was run. If the change is expected, replace the entry after "
                         "checking the new fingerprint");
      case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        return Error(Status::Code::kFailedPrecondition,
                     "unknown host: no " + std::string(HostKeyTypeName(type)) + " key for " +
                         ep_.address + " in " + file + "; the host presented " + presented +
                         refuse);
      default:
        return Error(Status::Code::kInternal,
                     "host key check failed: " + LastError(session_) + "; nothing was run");
    }
  }

  Status Authenticate(MonoTime deadline) {
    if (!ep_.key_file.empty()) return AuthenticateWithKey(deadline);
    return AuthenticateWithAgent(deadline);
  }

  Status AuthenticateWithKey(MonoTime deadline) {
    const std::string key = ExpandHome(ep_.key_file);
    if (::access(key.c_str(), R_OK) != 0) {
      return Error(Status::Code::kFailedPrecondition,
                   "cannot read key file " + key + ": " + std::strerror(errno));
    }
    std::string passphrase;
    if (!ep_.key_passphrase_env.empty()) {
      const char* value = std::getenv(ep_.key_passphrase_env.c_str());
      if (value == nullptr) {
        return Error(Status::Code::kFailedPrecondition,
                     "key_passphrase_env names $" + ep_.key_passphrase_env +
                         ", which is not set (needed to unlock " + key + ")");
      }
      passphrase = value;
    }
    int rc;
    while ((rc = libssh2_userauth_publickey_fromfile_ex(
                session_, ep_.user.c_str(), static_cast<unsigned>(ep_.user.size()), nullptr,
                key.c_str(), passphrase.c_str())) == LIBSSH2_ERROR_EAGAIN) {
      if (Status w = Wait(deadline, "authentication", ep_.connect_timeout); !w.ok()) {
        Wipe(passphrase);
        return w;
      }
    }
    Wipe(passphrase);
    if (rc == 0) return Status::Ok();
    if (rc == LIBSSH2_ERROR_FILE) {
      return Error(Status::Code::kFailedPrecondition,
                   "cannot use key file " + key + " (wrong or missing passphrase, or a format " +
                       "libssh2 cannot read): " + LastError(session_));
    }
    return Error(Status::Code::kPermissionDenied, "the host refused key " + key + " for user " +
                                                      ep_.user + ": " + LastError(session_));
  }

  Status AuthenticateWithAgent(MonoTime deadline) {
    const char* sock = std::getenv("SSH_AUTH_SOCK");
    if (sock == nullptr || *sock == '\0') {
      return Error(Status::Code::kFailedPrecondition,
                   "no key_file configured and SSH_AUTH_SOCK is not set (no ssh-agent to ask)");
    }
    // The agent's own socket is local and quick; blocking mode with a session timeout keeps
    // libssh2's agent code on its well-trodden path.
    const long long left = std::max<long long>(
        1, std::chrono::duration_cast<milliseconds>(deadline - clock_->Now()).count());
    libssh2_session_set_timeout(session_, static_cast<long>(left));
    libssh2_session_set_blocking(session_, 1);
    LIBSSH2_AGENT* agent = libssh2_agent_init(session_);
    Status result = Error(Status::Code::kInternal, "libssh2_agent_init failed");
    if (agent != nullptr) {
      if (libssh2_agent_connect(agent) != 0) {
        result = Error(Status::Code::kUnavailable,
                       std::string("cannot connect to the ssh-agent at ") + sock);
      } else if (libssh2_agent_list_identities(agent) != 0) {
        result = Error(Status::Code::kUnavailable,
                       "cannot list the ssh-agent's keys: " + LastError(session_));
      } else {
        libssh2_agent_publickey* identity = nullptr;
        libssh2_agent_publickey* prev = nullptr;
        int tried = 0;
        result = Status::Ok();
        bool authed = false;
        while (libssh2_agent_get_identity(agent, &identity, prev) == 0) {
          ++tried;
          if (libssh2_agent_userauth(agent, ep_.user.c_str(), identity) == 0) {
            authed = true;
            break;
          }
          prev = identity;
        }
        if (!authed) {
          result = Error(Status::Code::kPermissionDenied,
                         "the host refused every key of the ssh-agent (" + std::to_string(tried) +
                             " tried) for user " + ep_.user);
        }
      }
      libssh2_agent_disconnect(agent);
      libssh2_agent_free(agent);
    }
    libssh2_session_set_timeout(session_, 0);
    libssh2_session_set_blocking(session_, 0);
    return result;
  }

  const SshEndpoint ep_;
  Clock* clock_;
  const size_t max_output_;
  int sock_ = -1;
  LIBSSH2_SESSION* session_ = nullptr;
};

SshClient::SshClient(Clock* clock, SshClientOptions options)
    : clock_(clock),
      options_(std::move(options)),
      limiter_(options_.handshake_limiter ? options_.handshake_limiter
                                          : HandshakeLimiter::Process()) {
  EnsureLibssh2Init();
}

SshClient::~SshClient() = default;

std::shared_ptr<SshClient::Connection> SshClient::Get(const SshEndpoint& host) {
  std::lock_guard lock(mu_);
  std::shared_ptr<Connection>& c = pool_[host.PoolKey()];
  if (!c) c = std::make_shared<Connection>(host, clock_, options_.max_output);
  return c;
}

Result<CommandResult> SshClient::Run(const SshEndpoint& host, const std::string& command,
                                     Duration timeout) {
  std::shared_ptr<Connection> conn = Get(host);
  std::lock_guard lock(conn->mu);
  const std::string wrapped = WrapCommand(host, command);
  for (int attempt = 0;; ++attempt) {
    bool fresh = false;
    if (!conn->open()) {
      if (Status s = conn->Open(*limiter_, options_); !s.ok()) return s;
      fresh = true;
    }
    bool sent = false;
    Result<CommandResult> r = conn->Exec(wrapped, clock_->Now() + timeout, timeout, &sent);
    if (r.ok()) return r;
    // Any failure leaves the session in an unknown state.
    conn->Close();
    // A pooled session that had died (sshd restarted, the peer timed us out) fails before the
    // command leaves; only then is a second try on a new session safe.
    if (sent || fresh || attempt > 0) return r.status();
  }
}

void SshClient::ForEachParallel(size_t n, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  // What `fn` throws on a worker goes to the caller's thread (after every worker is joined),
  // where the engine's guard around the plugin call turns it into an error; on the worker it
  // would std::terminate the run with its faults in place.
  std::mutex mu;
  std::exception_ptr thrown;
  auto worker = [&] {
    try {
      for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
    } catch (...) {
      std::lock_guard lock(mu);
      if (!thrown) thrown = std::current_exception();
      next = n;  // the others stop taking work
    }
  };
  const size_t threads_wanted = std::min(std::max<size_t>(options_.max_parallel, 1), n);
  std::vector<std::thread> threads;
  for (size_t i = 1; i < threads_wanted; ++i) {
    try {
      threads.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // fewer threads; the ones we have take the rest
    }
  }
  worker();
  for (std::thread& t : threads) t.join();
  if (thrown) std::rethrow_exception(thrown);
}

std::vector<Result<CommandResult>> SshClient::RunOnMany(const std::vector<SshEndpoint>& hosts,
                                                        const std::string& command,
                                                        Duration timeout) {
  std::vector<Result<CommandResult>> results(hosts.size(),
                                             Result<CommandResult>(Status::Internal("not run")));
  ForEachParallel(hosts.size(), [&](size_t i) { results[i] = Run(hosts[i], command, timeout); });
  return results;
}

std::vector<Status> SshClient::ConnectAll(const std::vector<SshEndpoint>& hosts) {
  std::vector<Status> results(hosts.size());
  ForEachParallel(hosts.size(), [&](size_t i) { results[i] = Connect(hosts[i]); });
  return results;
}

Status SshClient::Connect(const SshEndpoint& host) {
  std::shared_ptr<Connection> conn = Get(host);
  std::lock_guard lock(conn->mu);
  if (conn->open()) return Status::Ok();
  return conn->Open(*limiter_, options_);
}

void SshClient::Disconnect(const SshEndpoint& host) {
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard lock(mu_);
    auto it = pool_.find(host.PoolKey());
    if (it == pool_.end()) return;
    conn = it->second;
    pool_.erase(it);
  }
  std::lock_guard lock(conn->mu);
  conn->Close();
}

void SshClient::DisconnectAll() {
  std::map<std::string, std::shared_ptr<Connection>> pool;
  {
    std::lock_guard lock(mu_);
    pool.swap(pool_);
  }
  for (auto& [key, conn] : pool) {
    std::lock_guard lock(conn->mu);
    conn->Close();
  }
}

size_t SshClient::SessionCount() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, conn] : pool_) {
    // A connection busy with a command is open; try_lock only to read the flag safely.
    std::unique_lock l(conn->mu, std::try_to_lock);
    if (!l.owns_lock() || conn->open()) ++n;
  }
  return n;
}

}  // namespace gameday
