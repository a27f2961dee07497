#include "clients/kubernetes/kubeconfig.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "experiments/journal.h"
#include "experiments/spec_reader.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;

// Kubeconfigs name certificates, keys and tokens of a few kilobytes. A larger file, or one that
// never ends (certificate-authority: /dev/zero, a FIFO), is refused rather than read into memory or
// waited on.
constexpr size_t kMaxReferencedFile = size_t{1} << 20;

Result<std::string> ReadWholeFile(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!ec && fs::exists(st) && !fs::is_regular_file(st)) {
    return Status::InvalidArgument("cannot read " + path + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path + ": " + std::strerror(errno));
  std::string out;
  char buf[65536];
  while (out.size() <= kMaxReferencedFile) {
    in.read(buf, sizeof buf);
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (!in) break;
  }
  if (in.bad()) return Status::Internal("cannot read " + path + ": " + std::strerror(errno));
  if (out.size() > kMaxReferencedFile) {
    return Status::InvalidArgument("cannot read " + path + ": larger than " +
                                   std::to_string(kMaxReferencedFile) + " bytes");
  }
  return out;
}

std::string HomeDir() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
    return pw->pw_dir;
  }
  return "";
}

// One named entry (cluster, user or context) and the file that defined it, so relative paths and
// messages refer to that file.
struct Entry {
  YAML::Node node;         // the entry's inner map (`cluster:`, `user:` or `context:`)
  std::string field_path;  // "users[admin].user"
  std::shared_ptr<const std::string> file;
  std::string dir;
};

struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::string current_context;
  std::string current_context_file;
  std::vector<std::string> files;
};

// Adds the entries of one file; earlier files win per name, like kubectl.
void MergeFile(const YAML::Node& root, const std::string& file, Merged* merged,
               Diagnostics* diags) {
  auto file_ptr = std::make_shared<const std::string>(file);
  SpecNode doc(root, "", file_ptr, diags);
  if (!doc.defined()) return;  // an empty file is an empty config
  if (!doc.ExpectMap()) return;
  const std::string dir = fs::path(file).parent_path().string();
  struct Section {
    const char* list;
    const char* inner;
    std::map<std::string, Entry>* into;
  };
  for (const Section& s :
       {Section{"clusters", "cluster", &merged->clusters}, Section{"users", "user", &merged->users},
        Section{"contexts", "context", &merged->contexts}}) {
    SpecNode list = doc.Child(s.list);
    if (!list.defined()) continue;
    for (SpecNode& item : list.Items()) {
      if (!item.ExpectMap()) continue;
      const std::string name = item.RequiredString("name");
      if (name.empty()) continue;
      SpecNode inner = item.Child(s.inner);
      if (!inner.defined()) {
        item.ErrorAt(s.inner, "missing (expected a map)");
        continue;
      }
      if (!inner.IsMap()) {
        inner.Error("expected a map");
        continue;
      }
      if (s.into->count(name)) continue;  // the first file that names it wins
      (*s.into)[name] =
          Entry{inner.yaml(), std::string(s.list) + "[" + name + "]." + s.inner, file_ptr, dir};
    }
  }
  std::optional<std::string> current = doc.OptString("current-context");
  if (merged->current_context.empty() && current && !current->empty()) {
    merged->current_context = *current;
    merged->current_context_file = file;
  }
  merged->files.push_back(file);
}

std::string Resolve(const std::string& dir, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute() || dir.empty()) return path;
  return (fs::path(dir) / path).lexically_normal().string();
}

// Reads the PEM of `data_key` (base64) or `file_key` (a path) of `node`; empty when neither.
std::string ReadPem(SpecNode& node, const Entry& e, const std::string& data_key,
                    const std::string& file_key, std::string* file_out) {
  std::optional<std::string> data = node.OptString(data_key);
  std::optional<std::string> file = node.OptString(file_key);
  if (data && file && !data->empty() && !file->empty()) {
    node.ErrorAt(file_key, data_key + " and " + file_key + " are both set; use one");
    return "";
  }
  if (data && !data->empty()) {
    std::optional<std::string> decoded = DecodeBase64(*data);
    if (!decoded) {
      node.ErrorAt(data_key, "is not valid base64");
      return "";
    }
    return *decoded;
  }
  if (file && !file->empty()) {
    const std::string path = Resolve(e.dir, *file);
    if (file_out) *file_out = path;
    Result<std::string> content = ReadWholeFile(path);
    if (!content.ok()) {
      node.ErrorAt(file_key, content.status().message());
      return "";
    }
    return *content;
  }
  return "";
}

void ParseCluster(const Entry& e, Diagnostics* diags, KubeCluster* out) {
  SpecNode node(e.node, e.field_path, e.file, diags);
  out->server = node.RequiredString("server");
  while (!out->server.empty() && out->server.back() == '/') out->server.pop_back();
  if (!out->server.empty() && out->server.rfind("https://", 0) != 0 &&
      out->server.rfind("http://", 0) != 0) {
    node.ErrorAt("server", "expected an http:// or https:// URL, got '" + out->server + "'");
  }
  out->ca_pem =
      ReadPem(node, e, "certificate-authority-data", "certificate-authority", &out->ca_file);
  out->insecure_skip_tls_verify = node.Bool("insecure-skip-tls-verify", false);
  if (out->insecure_skip_tls_verify && !out->ca_pem.empty()) {
    node.ErrorAt("insecure-skip-tls-verify",
                 "a certificate authority together with insecure-skip-tls-verify is not allowed");
  }
  out->proxy_url = node.String("proxy-url", "");
  if (node.Has("tls-server-name")) {
    node.ErrorAt("tls-server-name", "is not supported by gameday");
  }
}

void ParseUser(const Entry& e, Diagnostics* diags, KubeUser* out) {
  SpecNode node(e.node, e.field_path, e.file, diags);
  out->token = node.String("token", "");
  std::optional<std::string> token_file = node.OptString("tokenFile");
  if (token_file && !token_file->empty() && out->token.empty()) {
    out->token_file = Resolve(e.dir, *token_file);
    if (::access(out->token_file.c_str(), R_OK) != 0) {
      node.ErrorAt("tokenFile", "cannot read " + out->token_file + ": " + std::strerror(errno));
    }
  }
  out->cert_pem =
      ReadPem(node, e, "client-certificate-data", "client-certificate", &out->cert_file);
  std::string key_file;
  out->key_pem = ReadPem(node, e, "client-key-data", "client-key", &key_file);
  if (!out->cert_pem.empty() && out->key_pem.empty() && !node.Has("client-key") &&
      !node.Has("client-key-data")) {
    node.ErrorAt("client-certificate", "a client certificate needs client-key or client-key-data");
  }
  if (out->cert_pem.empty() && !out->key_pem.empty() && !node.Has("client-certificate") &&
      !node.Has("client-certificate-data")) {
    node.ErrorAt("client-key", "a client key needs client-certificate or client-certificate-data");
  }
  for (const char* unsupported : {"username", "password", "auth-provider"}) {
    if (node.Has(unsupported)) {
      node.ErrorAt(unsupported, std::string("is not supported by gameday (use a token, a client "
                                            "certificate or an exec plugin)"));
    }
  }
  SpecNode exec = node.Child("exec");
  if (exec.defined() && exec.ExpectMap()) {
    ExecPluginConfig x;
    x.source = *e.file + ": " + e.field_path + ".exec";
    x.api_version = exec.RequiredString("apiVersion");
    if (!x.api_version.empty() && x.api_version != "client.authentication.k8s.io/v1" &&
        x.api_version != "client.authentication.k8s.io/v1beta1") {
      exec.ErrorAt("apiVersion", "expected client.authentication.k8s.io/v1 or v1beta1, got '" +
                                     x.api_version + "'");
    }
    x.command = exec.RequiredString("command");
    if (x.command.find('/') != std::string::npos) x.command = Resolve(e.dir, x.command);
    x.args = exec.StringList("args");
    SpecNode env = exec.Child("env");
    if (env.defined()) {
      for (SpecNode& item : env.Items()) {
        if (!item.ExpectMap()) continue;
        std::string name = item.RequiredString("name");
        std::string value = item.String("value", "");
        if (!name.empty()) x.env.emplace_back(std::move(name), std::move(value));
      }
    }
    x.install_hint = exec.String("installHint", "");
    out->exec = std::move(x);
  }
}

std::string JoinFiles(const std::vector<std::string>& files) {
  std::string out;
  for (size_t i = 0; i < files.size(); ++i) out += (i ? ":" : "") + files[i];
  return out;
}

Result<KubeConfig> Resolve(const Merged& m, const std::string& wanted_context, Diagnostics* diags) {
  const std::string source = JoinFiles(m.files);
  const std::string context = wanted_context.empty() ? m.current_context : wanted_context;
  if (context.empty()) {
    return Status::InvalidArgument("kubeconfig " + source +
                                   ": no current-context is set and no context was given");
  }
  auto ctx = m.contexts.find(context);
  if (ctx == m.contexts.end()) {
    std::string known;
    for (const auto& [name, entry] : m.contexts) known += (known.empty() ? "" : ", ") + name;
    return Status::InvalidArgument("kubeconfig " + source + ": context '" + context +
                                   "' not found" +
                                   (known.empty() ? "" : " (contexts: " + known + ")"));
  }
  KubeConfig out;
  out.source = source;
  out.context_name = context;
  SpecNode c(ctx->second.node, ctx->second.field_path, ctx->second.file, diags);
  out.cluster_name = c.RequiredString("cluster");
  out.user_name = c.String("user", "");
  out.default_namespace = c.String("namespace", "default");
  if (!diags->empty()) return Status::InvalidArgument("kubeconfig " + diags->ToString());

  auto cl = m.clusters.find(out.cluster_name);
  if (cl == m.clusters.end()) {
    c.ErrorAt("cluster", "cluster '" + out.cluster_name + "' not found in " + source);
  } else {
    ParseCluster(cl->second, diags, &out.cluster);
  }
  if (!out.user_name.empty()) {
    auto us = m.users.find(out.user_name);
    if (us == m.users.end()) {
      c.ErrorAt("user", "user '" + out.user_name + "' not found in " + source);
    } else {
      ParseUser(us->second, diags, &out.user);
    }
  }
  if (!diags->empty()) {
    std::string text = diags->ToString();
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return Status::InvalidArgument("kubeconfig " + text);
  }
  return out;
}

}  // namespace

std::string KubeUser::Kind() const {
  std::string kind;
  if (exec) {
    kind = "exec plugin";
  } else if (!token.empty()) {
    kind = "token";
  } else if (!token_file.empty()) {
    kind = "token file";
  }
  if (!cert_pem.empty()) kind += kind.empty() ? "client certificate" : " + client certificate";
  return kind.empty() ? "anonymous" : kind;
}

std::optional<std::string> DecodeBase64(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0, pad = 0;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return std::nullopt;  // data after padding
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (pad > 2 || bits >= 6) return std::nullopt;
  return out;
}

Result<KubeConfig> ParseKubeConfigText(const std::string& text, const std::string& file,
                                       const std::string& context) {
  Diagnostics diags;
  Merged merged;
  std::optional<YAML::Node> root = LoadDocument(text, file, &diags, kKubeconfigLimits);
  if (root) MergeFile(*root, file, &merged, &diags);
  if (!diags.empty()) return Status::InvalidArgument("kubeconfig " + diags.ToString());
  return Resolve(merged, context, &diags);
}

std::string DefaultSandboxKubeconfig() { return DefaultStateDir() + "/sandbox/kubeconfig"; }

Result<KubeConfig> LoadKubeConfig(const KubeConfigOptions& options) {
  std::vector<std::string> files;
  bool from_env = false;
  const char* env = std::getenv("KUBECONFIG");
  std::string list_text;
  if (!options.path.empty() && options.path.find(':') == std::string::npos) {
    files.push_back(options.path);
  } else if (!options.path.empty() || (env != nullptr && *env != '\0')) {
    // A colon list, from $KUBECONFIG or recorded from one (see ClusterIdentity).
    from_env = true;
    list_text = options.path.empty() ? env : options.path;
    std::stringstream list(list_text);
    std::string item;
    while (std::getline(list, item, ':')) {
      if (!item.empty()) files.push_back(item);
    }
  } else {
    const std::string home = HomeDir();
    const std::string def = home.empty() ? "" : home + "/.kube/config";
    if (!def.empty() && ::access(def.c_str(), F_OK) == 0) {
      files.push_back(def);
    } else if (::access(DefaultSandboxKubeconfig().c_str(), F_OK) != 0 &&
               std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
      return InClusterConfig();
    }
  }
  // With no kubeconfig named by the plan, the sandbox's (`gameday sandbox up`) comes last in the
  // merge: its context gameday-sandbox can be chosen by name, while the user's own files keep
  // deciding the current context and win on any clashing name.
  if (options.path.empty()) {
    const std::string sandbox = DefaultSandboxKubeconfig();
    if (::access(sandbox.c_str(), F_OK) == 0 &&
        std::find(files.begin(), files.end(), sandbox) == files.end()) {
      files.push_back(sandbox);
      from_env = true;  // a list: files that vanish in between are skipped, as kubectl does
    }
  }
  if (files.empty()) {
    const std::string home = HomeDir();
    return Status::NotFound(
        "no kubeconfig: set the target's kubeconfig, $KUBECONFIG, create " +
        (home.empty() ? std::string("~/.kube/config") : home + "/.kube/config") +
        " or start the sandbox (gameday sandbox up)");
  }

  Diagnostics diags;
  Merged merged;
  for (std::string f : files) {
    // Plans are not read by a shell: "~/" means the home folder there too.
    if (f.rfind("~/", 0) == 0 && !HomeDir().empty()) f = HomeDir() + f.substr(1);
    const std::string path = fs::path(f).is_absolute() ? f : fs::absolute(f).string();
    // kubectl skips missing files of $KUBECONFIG, but not an explicit --kubeconfig.
    if (from_env && ::access(path.c_str(), F_OK) != 0) continue;
    Result<std::string> text = ReadDocumentFile(path, kKubeconfigLimits);
    if (!text.ok()) {
      return Status(text.status().code(), "kubeconfig " + path + ": " + text.status().message());
    }
    std::optional<YAML::Node> root = LoadDocument(*text, path, &diags, kKubeconfigLimits);
    if (root) MergeFile(*root, path, &merged, &diags);
  }
  if (!diags.empty()) {
    std::string t = diags.ToString();
    if (!t.empty() && t.back() == '\n') t.pop_back();
    return Status::InvalidArgument("kubeconfig " + t);
  }
  if (merged.files.empty()) {
    return Status::NotFound("no kubeconfig file of $KUBECONFIG exists");
  }
  return Resolve(merged, options.context, &diags);
}

Result<KubeConfig> InClusterConfig(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0') {
    return Status::NotFound("not running in a cluster: KUBERNETES_SERVICE_HOST is not set");
  }
  KubeConfig out;
  out.source = "in-cluster service account (" + sa_dir + ")";
  out.user_name = "serviceaccount";
  std::string h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";  // IPv6
  out.cluster.server = "https://" + h + ":" + std::string(port && *port ? port : "443");
  // The token rotates; the client re-reads the file.
  out.user.token_file = sa_dir + "/token";
  if (::access(out.user.token_file.c_str(), R_OK) != 0) {
    return Status::NotFound("in-cluster config: cannot read " + out.user.token_file + ": " +
                            std::strerror(errno));
  }
  out.cluster.ca_file = sa_dir + "/ca.crt";
  Result<std::string> ca = ReadWholeFile(out.cluster.ca_file);
  if (!ca.ok()) return Status::NotFound("in-cluster config: " + ca.status().message());
  out.cluster.ca_pem = *ca;
  Result<std::string> ns = ReadWholeFile(sa_dir + "/namespace");
  if (ns.ok()) {
    std::string n = *ns;
    while (!n.empty() && (n.back() == '\n' || n.back() == ' ')) n.pop_back();
    if (!n.empty()) out.default_namespace = n;
  }
  return out;
}

}  // namespace gameday
