#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "experiments/status.h"

namespace gameday {

// A client.authentication.k8s.io exec credential plugin (kubeconfig `users[].user.exec`).
struct ExecPluginConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or v1beta1
  std::string command;      // relative paths with a slash resolve against the kubeconfig's dir
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;
  std::string source;  // "FILE: users[NAME].user.exec", for messages
};

struct KubeCluster {
  std::string server;                     // https://host:port (no trailing slash)
  std::string ca_pem;                     // certificate-authority-data, or the file's content
  std::string ca_file;                    // where ca_pem came from (empty for -data)
  bool insecure_skip_tls_verify = false;  // only when the kubeconfig says so explicitly
  std::string proxy_url;
};

// Credentials; at most one of token / token_file / exec is used, a client certificate may be
// combined with any of them (as kubectl does).
struct KubeUser {
  std::string token;
  std::string token_file;
  std::string cert_pem;  // client-certificate-data, or the file's content
  std::string key_pem;   // client-key-data, or the file's content
  std::string cert_file;
  std::optional<ExecPluginConfig> exec;
  // "token", "token file", "client certificate", "exec plugin", for messages. Never a secret.
  std::string Kind() const;
};

// One resolved context: everything a client needs to talk to one cluster as one user.
struct KubeConfig {
  std::string source;        // the file(s) it came from, or "in-cluster service account"
  std::string context_name;  // empty for in-cluster
  std::string cluster_name;
  std::string user_name;
  std::string default_namespace = "default";
  KubeCluster cluster;
  KubeUser user;
};

struct KubeConfigOptions {
  // A kubeconfig file (kubectl --kubeconfig), or a colon list merged like $KUBECONFIG. Empty:
  // $KUBECONFIG (a colon list, merged like kubectl: for every map key the first file that sets it
  // wins), else ~/.kube/config, else the in-cluster service account when KUBERNETES_SERVICE_HOST is
  // set.
  std::string path;
  std::string context;  // empty = current-context
};

// Loads and resolves a kubeconfig. Errors name the file and the field ("kubeconfig
// /x/config:7:5: users[admin].user.client-key: cannot read /x/admin.key: No such file").
Result<KubeConfig> LoadKubeConfig(const KubeConfigOptions& options);

// Parses kubeconfig text as if it were the file `file` (relative paths resolve against its
// directory). Exposed for unit tests.
Result<KubeConfig> ParseKubeConfigText(const std::string& text, const std::string& file,
                                       const std::string& context);

// The in-cluster configuration: $KUBERNETES_SERVICE_HOST/_PORT and the service account's token,
// CA and namespace under `sa_dir`.
Result<KubeConfig> InClusterConfig(
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// DefaultStateDir() + "/sandbox/kubeconfig": where `gameday sandbox up` writes the HA sandbox's
// kubeconfig (sandbox/cluster_sandbox.h). With no kubeconfig named, LoadKubeConfig merges it in
// last, so its context gameday-sandbox can be chosen by name.
std::string DefaultSandboxKubeconfig();

// Decodes standard base64 (whitespace ignored). nullopt when malformed.
std::optional<std::string> DecodeBase64(const std::string& text);

}  // namespace gameday
