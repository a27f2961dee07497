#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clients/ssh/handshake_limiter.h"
#include "experiments/clock.h"
#include "experiments/shell_quote.h"  // ShellQuote, used with WrapCommand
#include "experiments/status.h"

namespace gameday {

// Where one host is and how to log in to it. Built from an inventory
// (clients/inventory/inventory.h) or from a journal record, so a later `gameday recover` can reach
// the host again on its own.
struct SshEndpoint {
  std::string name;  // for messages; the address when empty
  std::string address;
  int port = 22;
  std::string user = "root";
  // Private key file; empty = the keys of the ssh-agent at $SSH_AUTH_SOCK.
  std::string key_file;
  // Name of the environment variable that holds the key's passphrase (never the passphrase).
  std::string key_passphrase_env;
  // known_hosts file in OpenSSH format; empty = $HOME/.ssh/known_hosts.
  std::string known_hosts;
  // Skips the host key check. Only ever set from an explicit `insecure_ignore_host_key: true`.
  bool insecure_ignore_host_key = false;
  // Runs every command as `sudo -n sh -c '...'` (for users other than root).
  bool sudo = false;
  // Opening a session: the wait for a handshake slot, the TCP connect, the handshake and the
  // login, with any retries of a throttled handshake, all within this.
  Duration connect_timeout = std::chrono::seconds(10);

  // "h1 (root@198.18.7.11:22)", for messages.
  std::string Label() const;
  // Sessions are shared only between endpoints that log in the same way.
  std::string PoolKey() const;
};

// What a command did. A non-zero exit status is a result, not an error.
struct CommandResult {
  int exit_status = -1;
  std::string exit_signal;  // e.g. "KILL" when the remote command died of a signal
  std::string out;
  std::string err;
  Duration elapsed{0};

  bool ok() const { return exit_status == 0 && exit_signal.empty(); }
  // "exit status 3: <first line of stderr>", for error messages.
  std::string Summary() const;
};

struct SshClientOptions {
  // Upper bound on parallel sessions in RunOnMany.
  size_t max_parallel = 32;
  // Output kept per stream; the rest is read and dropped.
  size_t max_output = 1 << 20;
  // Bounds the handshakes in flight at once (handshake_limiter.h). nullptr = the process-wide
  // limiter (HandshakeLimiter::Process(), 16 slots) that every client shares. A caller waits for
  // a slot within its endpoint's connect_timeout, which covers the wait, every try and the
  // pauses between them.
  std::shared_ptr<HandshakeLimiter> handshake_limiter;
  // Further tries of a handshake the server cut off before its SSH banner, as sshd does past its
  // MaxStartups; each after a jittered pause (HandshakeBackoff) from handshake_retry_base up to
  // handshake_retry_cap. 0 = none.
  int handshake_retries = 6;
  Duration handshake_retry_base = std::chrono::milliseconds(100);
  Duration handshake_retry_cap = std::chrono::seconds(2);
};

// SSH sessions over libssh2, pooled per endpoint (one session per host, reused by every command
// until it breaks). Host keys are checked against known_hosts before anything else happens: an
// unknown host or a changed key is an error that names the host, the key type and its SHA256
// fingerprint, and no command runs. Thread-safe; commands to the same host run one at a time, to
// different hosts in parallel. Opening sessions is bounded by a HandshakeLimiter shared by the
// whole process, and no lock is held across network I/O except the one session's own.
// Nothing here logs, so keys and passphrases never reach a log.
class SshClient {
 public:
  explicit SshClient(Clock* clock = &Clock::Real(), SshClientOptions options = {});
  ~SshClient();
  SshClient(const SshClient&) = delete;
  SshClient& operator=(const SshClient&) = delete;

  // Runs `command` through the remote user's shell and waits for it, at most `timeout` (the
  // connection, if one has to be made, has its own connect_timeout). A Status error means the
  // command did not run or its outcome is unknown: connection, host key, authentication, or
  // kDeadlineExceeded (the session is then dropped; the remote command may still be running).
  Result<CommandResult> Run(const SshEndpoint& host, const std::string& command, Duration timeout);

  // Runs `command` on every host in parallel (at most max_parallel sessions at once); result i
  // belongs to hosts[i].
  std::vector<Result<CommandResult>> RunOnMany(const std::vector<SshEndpoint>& hosts,
                                               const std::string& command, Duration timeout);

  // Opens the session (checking the host key and logging in) without running anything.
  Status Connect(const SshEndpoint& host);
  // Connect for every host in parallel; status i belongs to hosts[i].
  std::vector<Status> ConnectAll(const std::vector<SshEndpoint>& hosts);
  void Disconnect(const SshEndpoint& host);
  void DisconnectAll();
  // Open sessions in the pool.
  size_t SessionCount() const;
  // The handshake limiter this client uses (shared with other clients unless its own was given).
  HandshakeLimiter& handshake_limiter() const { return *limiter_; }

 private:
  class Connection;
  std::shared_ptr<Connection> Get(const SshEndpoint& host);
  // Calls fn(i) for i in [0, n) on at most max_parallel threads.
  void ForEachParallel(size_t n, const std::function<void(size_t)>& fn);

  Clock* clock_;
  const SshClientOptions options_;
  const std::shared_ptr<HandshakeLimiter> limiter_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Connection>> pool_;
};

// The command line sent for `command` on `host`: `sudo -n sh -c '<command>'` when host.sudo.
std::string WrapCommand(const SshEndpoint& host, const std::string& command);
// OpenSSH's fingerprint format: "SHA256:" + unpadded base64 of the digest.
std::string FormatSha256Fingerprint(const unsigned char* digest, size_t size);
// Expands a leading "~/" with $HOME.
std::string ExpandHome(const std::string& path);

}  // namespace gameday
