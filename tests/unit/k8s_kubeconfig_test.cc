// Kubeconfig loading (merge rules of $KUBECONFIG, contexts, relative paths, errors that name the
// file and the field), in-cluster configuration, ExecCredential parsing, RFC 3339, and the
// event wording of the resource watch. No cluster needed.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/credentials.h"
#include "clients/kubernetes/kubeconfig.h"
#include "clients/kubernetes/watch.h"
#include "tests/unit/scoped_env.h"

namespace gameday {
namespace {

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/gameday-kubeconfig-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

constexpr char kA[] = R"(apiVersion: v1
kind: Config
clusters:
- name: shared
  cluster: {server: "https://a.example:6443/", insecure-skip-tls-verify: true}
- name: only-a
  cluster: {server: "https://only-a.example"}
users:
- name: alice
  user: {token: token-a}
contexts:
- name: ctx-a
  context: {cluster: shared, user: alice, namespace: team-a}
- name: ctx-b-from-a
  context: {cluster: only-b, user: bob}
current-context: ctx-a
)";

constexpr char kB[] = R"(apiVersion: v1
kind: Config
clusters:
- name: shared
  cluster: {server: "https://b.example:6443"}
- name: only-b
  cluster: {server: "https://only-b.example", certificate-authority: certs/ca.pem}
users:
- name: alice
  user: {token: token-b}
- name: bob
  user: {tokenFile: secrets/bob.token}
contexts:
- name: ctx-a
  context: {cluster: only-b, user: bob}
current-context: ctx-b
)";

TEST_F(KubeconfigTest, KubeconfigListMergesLikeKubectlFirstFileWins) {
  const std::string a = Write("a/config", kA);
  const std::string b = Write("b/config", kB);
  Write("b/certs/ca.pem", "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n");
  Write("b/secrets/bob.token", "bob-token\n");
  ScopedEnv env("KUBECONFIG", (a + ":" + dir_ + "/missing:" + b).c_str());

  // current-context from the first file that sets it; "shared" and "alice" from file a.
  auto c = LoadKubeConfig({});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->context_name, "ctx-a");
  EXPECT_EQ(c->cluster.server, "https://a.example:6443");
  EXPECT_TRUE(c->cluster.insecure_skip_tls_verify);
  EXPECT_EQ(c->user.token, "token-a");
  EXPECT_EQ(c->default_namespace, "team-a");
  EXPECT_EQ(c->source, a + ":" + b);

  // A context of file a that names a cluster and a user of file b; relative paths resolve
  // against file b's folder.
  auto d = LoadKubeConfig({"", "ctx-b-from-a"});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->cluster.server, "https://only-b.example");
  EXPECT_EQ(d->cluster.ca_file, dir_ + "/b/certs/ca.pem");
  EXPECT_NE(d->cluster.ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_FALSE(d->cluster.insecure_skip_tls_verify) << "only when explicitly set";
  EXPECT_EQ(d->user.token_file, dir_ + "/b/secrets/bob.token");
  EXPECT_EQ(d->user.Kind(), "token file");
  EXPECT_EQ(d->default_namespace, "default");

  // The recorded file list works as a path too (what journal records keep).
  auto e = LoadKubeConfig({c->source, "ctx-a"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->cluster.server, "https://a.example:6443");
}

TEST_F(KubeconfigTest, ExplicitPathBeatsEnvironmentAndHome) {
  const std::string b = Write("b/config", kB);
  Write("b/secrets/bob.token", "x");
  Write("b/certs/ca.pem", "x");
  ScopedEnv env("KUBECONFIG", (dir_ + "/nothing-here").c_str());
  auto c = LoadKubeConfig({b, "ctx-a"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cluster.server, "https://only-b.example");
}

TEST_F(KubeconfigTest, HomeConfigIsTheDefault) {
  const std::string home = dir_ + "/home";
  Write("home/.kube/config", kA);
  ScopedEnv k("KUBECONFIG", nullptr);
  ScopedEnv h("HOME", home.c_str());
  auto c = LoadKubeConfig({});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->source, home + "/.kube/config");
}

TEST_F(KubeconfigTest, ErrorsNameTheFileAndTheField) {
  const std::string path = Write("config", R"(apiVersion: v1
clusters:
- name: c
  cluster:
    server: "https://x:6443"
    certificate-authority: /nonexistent/ca.pem
users:
- name: u
  user:
    client-certificate-data: "!!!not base64"
    client-key: key.pem
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
)");
  auto c = LoadKubeConfig({path, ""});
  ASSERT_FALSE(c.ok());
  const std::string msg = c.status().message();
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(msg.find(path + ":6:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("clusters[c].cluster.certificate-authority: cannot read /nonexistent/ca.pem"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("users[u].user.client-certificate-data: is not valid base64"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("users[u].user.client-key: cannot read " + dir_ + "/key.pem"),
            std::string::npos)
      << msg;
}

TEST_F(KubeconfigTest, MissingContextListsTheKnownOnes) {
  const std::string a = Write("config", kA);
  auto c = LoadKubeConfig({a, "nope"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("context 'nope' not found (contexts: ctx-a, ctx-b-from-a)"),
            std::string::npos)
      << c.status().message();
}

TEST_F(KubeconfigTest, SyntaxErrorsAndUnsupportedAuth) {
  auto bad = ParseKubeConfigText("clusters: [", dir_ + "/k", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(dir_ + "/k:"), std::string::npos);

  auto basic = ParseKubeConfigText(R"(clusters: [{name: c, cluster: {server: "https://x"}}]
users: [{name: u, user: {username: admin, password: secret}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
)",
                                   dir_ + "/k", "");
  ASSERT_FALSE(basic.ok());
  EXPECT_NE(basic.status().message().find("users[u].user.username: is not supported"),
            std::string::npos)
      << basic.status().message();
  EXPECT_EQ(basic.status().message().find("secret"), std::string::npos) << "no secret in errors";

  auto both = ParseKubeConfigText(
      R"(clusters: [{name: c, cluster: {server: "https://x", certificate-authority-data: Zm9v, insecure-skip-tls-verify: true}}]
contexts: [{name: x, context: {cluster: c}}]
current-context: x
)",
      dir_ + "/k", "");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("insecure-skip-tls-verify"), std::string::npos);
}

TEST_F(KubeconfigTest, ExecPluginConfig) {
  auto c = ParseKubeConfigText(R"(clusters: [{name: c, cluster: {server: "https://x"}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token
      args: [--cluster, prod]
      env: [{name: MODE, value: ci}]
      installHint: install get-token
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
)",
                               dir_ + "/kubeconfig", "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->user.exec.has_value());
  EXPECT_EQ(c->user.exec->command, dir_ + "/bin/get-token");
  EXPECT_EQ(c->user.exec->args, (std::vector<std::string>{"--cluster", "prod"}));
  ASSERT_EQ(c->user.exec->env.size(), 1u);
  EXPECT_EQ(c->user.exec->env[0].first, "MODE");
  EXPECT_EQ(c->user.Kind(), "exec plugin");

  // A bare command name is looked up on PATH, not resolved against the file.
  auto d = ParseKubeConfigText(R"(clusters: [{name: c, cluster: {server: "https://x"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
)",
                               dir_ + "/kubeconfig", "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->user.exec->command, "aws");
}

TEST_F(KubeconfigTest, InClusterConfigFromServiceAccountFiles) {
  Write("sa/token", "sa-token\n");
  Write("sa/ca.crt", "CA");
  Write("sa/namespace", "shop\n");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "198.19.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  auto c = InClusterConfig(dir_ + "/sa");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cluster.server, "https://198.19.0.1:443");
  EXPECT_EQ(c->cluster.ca_pem, "CA");
  EXPECT_EQ(c->user.token_file, dir_ + "/sa/token");
  EXPECT_EQ(c->default_namespace, "shop");

  // The fallback when there is no kubeconfig anywhere (unless this runs in a pod).
  if (std::filesystem::exists("/var/run/secrets/kubernetes.io/serviceaccount")) return;
  ScopedEnv k("KUBECONFIG", nullptr);
  ScopedEnv h("HOME", (dir_ + "/empty-home").c_str());
  auto fallback = LoadKubeConfig({});
  ASSERT_FALSE(fallback.ok());  // the default sa dir does not exist here...
  EXPECT_NE(fallback.status().message().find("/var/run/secrets/kubernetes.io/serviceaccount"),
            std::string::npos)
      << fallback.status().message();  // ...but it was the one tried
}

TEST(ExecCredentialTest, ParsesTokenCertificateAndExpiry) {
  auto t = ParseExecCredential(R"({"apiVersion":"client.authentication.k8s.io/v1",
    "kind":"ExecCredential","status":{"token":"abc","expirationTimestamp":"2030-01-02T03:04:05Z"}})",
                               "client.authentication.k8s.io/v1");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->credentials.bearer_token, "abc");
  ASSERT_TRUE(t->expires.has_value());
  EXPECT_EQ(FormatKubeTime(*t->expires), "2030-01-02T03:04:05Z");

  auto wrong_version = ParseExecCredential(
      R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"x"}})",
      "client.authentication.k8s.io/v1");
  EXPECT_FALSE(wrong_version.ok());
  auto half_cert = ParseExecCredential(
      R"({"apiVersion":"v","kind":"ExecCredential","status":{"clientCertificateData":"C"}})", "v");
  EXPECT_FALSE(half_cert.ok());
  EXPECT_FALSE(ParseExecCredential("token: x", "v").ok());
}

TEST(Rfc3339Test, ParsesFractionsAndOffsets) {
  auto a = ParseKubeTime("2026-11-26T15:00:00Z");
  auto b = ParseKubeTime("2026-11-26T17:00:00.500+02:00");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*b - *a).count(), 500);
  EXPECT_FALSE(ParseKubeTime("2026-11-26 15:00:00"));
  // Found by tests/fuzz/kubernetes_fuzz: year 4026 overflowed the nanosecond clock.
  EXPECT_FALSE(ParseKubeTime("4026-11-26T15:00:00Z"));
  EXPECT_FALSE(ParseKubeTime("2261-99-26T15:00:00Z"));
  EXPECT_TRUE(ParseKubeTime("2261-12-31T23:59:59Z"));
  EXPECT_FALSE(ParseKubeTime("2026-11-26T15:00:00"));
  EXPECT_EQ(FormatKubeTime(*b, true), "2026-11-26T15:00:00.500000Z");
}

TEST(Base64Test, DecodesAndRejects) {
  EXPECT_EQ(DecodeBase64("aGVsbG8="), "hello");
  EXPECT_EQ(DecodeBase64("aGVs\nbG8="), "hello");
  EXPECT_EQ(DecodeBase64("aGVsbA"), "hell");
  EXPECT_FALSE(DecodeBase64("a!b"));
  EXPECT_FALSE(DecodeBase64("aGVsbG8=x"));
}

TEST(ResourceRefTest, PathsAndUrlEncoding) {
  EXPECT_EQ(ResourceRef::Core("pods", "shop", "web-1").Path(),
            "/api/v1/namespaces/shop/pods/web-1");
  ResourceRef ev = ResourceRef::Core("pods", "shop", "web-1");
  ev.subresource = "eviction";
  EXPECT_EQ(ev.Path(), "/api/v1/namespaces/shop/pods/web-1/eviction");
  EXPECT_EQ(ev.ResourceName(), "pods/eviction");
  EXPECT_EQ(ResourceRef::Group("apps", "v1", "deployments").Path(), "/apis/apps/v1/deployments");
  EXPECT_EQ(UrlEncode("app in (a,b),tier!=x"), "app%20in%20%28a%2Cb%29%2Ctier%21%3Dx");
}

TEST(ResourceWatchTest, DescribesTransitions) {
  using S = ResourceWatch::ObjectState;
  S pending{"u1", "", "", false, false, {}, {}};
  S scheduled{"u1", "n1", "False", false, false, {}, {}};
  S ready{"u1", "n1", "True", false, false, {}, {}};
  S terminating{"u1", "n1", "True", true, false, {}, {}};
  auto d = [](const std::string& kind, const S* a, const S* b) {
    return ResourceWatch::Describe(kind, kind + " x", a, b);
  };
  EXPECT_EQ(d("pod", nullptr, &pending), (std::vector<std::string>{"pod x created"}));
  EXPECT_EQ(d("pod", &pending, &scheduled), (std::vector<std::string>{"pod x scheduled to n1"}));
  EXPECT_EQ(d("pod", &scheduled, &ready), (std::vector<std::string>{"pod x Ready"}));
  EXPECT_EQ(d("pod", &ready, &terminating), (std::vector<std::string>{"pod x terminating"}));
  EXPECT_EQ(d("pod", &terminating, nullptr), (std::vector<std::string>{"pod x deleted"}));
  EXPECT_TRUE(d("pod", &ready, &ready).empty());
  S other_uid = ready;
  other_uid.uid = "u2";
  EXPECT_EQ(d("pod", &ready, &other_uid),
            (std::vector<std::string>{"pod x deleted", "pod x created", "pod x scheduled to n1",
                                      "pod x Ready"}));

  S node_ready{"n", "", "True", false, false, {}, {}};
  S node_lost{"n", "", "Unknown", false, false, {}, {}};
  S node_cordoned{"n", "", "True", false, true, {}, {}};
  EXPECT_EQ(d("node", &node_ready, &node_lost), (std::vector<std::string>{"node x Ready=Unknown"}));
  EXPECT_EQ(d("node", &node_lost, &node_ready), (std::vector<std::string>{"node x Ready"}));
  EXPECT_EQ(d("node", &node_ready, &node_cordoned), (std::vector<std::string>{"node x cordoned"}));
  EXPECT_EQ(d("node", &node_cordoned, &node_ready),
            (std::vector<std::string>{"node x uncordoned"}));
  S node_not_ready{"n", "", "False", false, false, {}, {}};
  EXPECT_EQ(d("node", &node_ready, &node_not_ready), (std::vector<std::string>{"node x NotReady"}));
}

// A kubeconfig may name any path. A file that never ends or is huge must be an error naming it,
// not a read until memory runs out (found by tests/fuzz/kubeconfig_fuzz's review).
TEST_F(KubeconfigTest, RefusesFilesThatAreNotSmallRegularFiles) {
  const std::string big = Write("big.pem", std::string((size_t{1} << 20) + 1, 'x'));
  for (const std::string& ca : {big, std::string("/dev/zero")}) {
    const std::string path = Write(
        "config", R"(clusters: [{name: c, cluster: {server: "https://x", certificate-authority: )" +
                      ca + R"(}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
)");
    auto c = LoadKubeConfig({path, ""});
    ASSERT_FALSE(c.ok()) << ca;
    EXPECT_NE(c.status().message().find("cannot read " + ca + ": "), std::string::npos)
        << c.status().message();
  }
}

}  // namespace
}  // namespace gameday
