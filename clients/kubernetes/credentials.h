#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "clients/kubernetes/kubeconfig.h"
#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

// What one request authenticates with. Never logged and never put into a message.
struct Credentials {
  std::string bearer_token;  // empty = none
  std::string cert_pem;      // client certificate (PEM); empty = none
  std::string key_pem;
};

// The output of an exec credential plugin.
struct ExecCredential {
  Credentials credentials;
  std::optional<WallTime> expires;  // none = valid until the API server rejects it
};

// Runs an exec plugin (client.authentication.k8s.io ExecCredential): its own environment plus
// `plugin.env` and KUBERNETES_EXEC_INFO, stdin from /dev/null, killed after `timeout`. Errors
// name the plugin's kubeconfig entry and include the start of its stderr (never its stdout,
// which carries the secret).
Result<ExecCredential> RunExecPlugin(const ExecPluginConfig& plugin, Duration timeout);

// Parses an ExecCredential document (exposed for unit tests).
Result<ExecCredential> ParseExecCredential(const std::string& json, const std::string& api_version);

// Parses an RFC 3339 timestamp ("2026-01-02T03:04:05Z", fractions and offsets allowed).
std::optional<WallTime> ParseKubeTime(const std::string& text);
// Formats wall time as RFC 3339 in UTC with microseconds ("2026-01-02T03:04:05.123456Z").
std::string FormatKubeTime(WallTime t, bool micros = false);

// The credentials of one kubeconfig user, refreshed as needed: a token file is re-read at most
// once a minute (service-account tokens rotate), an exec plugin's output is cached until shortly
// before its expirationTimestamp. Thread-safe; only one thread runs the plugin at a time.
class CredentialSource {
 public:
  CredentialSource(KubeUser user, Clock* clock) : user_(std::move(user)), clock_(clock) {}
  Result<Credentials> Get();
  // Drops cached exec or token-file credentials (after a 401), so the next Get refreshes them.
  void Invalidate();
  bool Refreshable() const { return user_.exec.has_value() || !user_.token_file.empty(); }

 private:
  const KubeUser user_;
  Clock* clock_;
  std::mutex mu_;
  std::optional<Credentials> cached_;
  std::optional<WallTime> expires_;
  MonoTime read_at_{};
};

}  // namespace gameday
