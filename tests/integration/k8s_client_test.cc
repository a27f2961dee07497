// The Kubernetes client against a real kube-apiserver: every kind of kubeconfig user, TLS and
// RBAC errors, pagination and selectors, concurrency, and an API server that stops answering.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "clients/kubernetes/client.h"
#include "tests/integration/k8s_plane.h"
#include "tests/integration/k8s_test_util.h"

namespace gameday {
namespace {

using gameday::testing::K8sPlane;
using gameday::testing::ReadFileOrEmpty;
using gameday::testing::RunShell;
using gameday::testing::ShellQuote;

class K8sClientTest : public gameday::testing::K8sPlaneTest {
 protected:
  K8sClientTest() : K8sPlaneTest("k8s-client") {}

  void Write(const std::string& path, const std::string& text, mode_t mode = 0600) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
  }

  std::string Kubeconfig(const std::string& ca_line, const std::string& user_lines) {
    return "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " +
           plane_->server + "\n    " + ca_line + "\nusers:\n- name: u\n  user:\n" + user_lines +
           "contexts:\n- name: ctx\n  context: {cluster: c, user: u, namespace: default}\n"
           "current-context: ctx\n";
  }

  // Lists namespaces (needs list rights) and returns their names.
  static Result<std::set<std::string>> Namespaces(KubeClient& client) {
    std::set<std::string> names;
    auto rv = client.List(ResourceRef::Core("namespaces"), {}, [&](const rapidjson::Value& ns) {
      names.insert(JsonPathString(ns, {"metadata", "name"}));
      return Status::Ok();
    });
    if (!rv.ok()) return rv.status();
    return names;
  }
};

TEST_F(K8sClientTest, TokenUserWorks) {
  auto client = KubeClient::FromKubeconfig(plane_->kubeconfig_token, "");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->config().user.Kind(), "token");
  auto names = Namespaces(**client);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_TRUE(names->count("kube-system"));
}

TEST_F(K8sClientTest, TokenFileUserWorks) {
  const std::string token_file = tmp_ + "/token";
  Write(token_file, ReadFileOrEmpty(plane_->dir + "/pki/admin.token"));
  Write(tmp_ + "/config", Kubeconfig("certificate-authority: " + plane_->ca_file,
                                     "    tokenFile: token\n"));  // relative to the kubeconfig
  auto client = KubeClient::FromKubeconfig(tmp_ + "/config", "");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->config().user.Kind(), "token file");
  auto names = Namespaces(**client);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_TRUE(names->count("default"));
}

TEST_F(K8sClientTest, ClientCertificateUserWorksFromFilesAndFromData) {
  auto from_files = KubeClient::FromKubeconfig(plane_->kubeconfig, "");
  ASSERT_TRUE(from_files.ok()) << from_files.status().ToString();
  EXPECT_EQ((*from_files)->config().user.Kind(), "client certificate");
  ASSERT_TRUE(Namespaces(**from_files).ok());

  // The same identity inline as base64 data, and the CA inline too.
  std::string cert64, key64, ca64;
  RunShell("base64 -w0 " + ShellQuote(plane_->dir + "/pki/admin.crt"), &cert64);
  RunShell("base64 -w0 " + ShellQuote(plane_->dir + "/pki/admin.key"), &key64);
  RunShell("base64 -w0 " + ShellQuote(plane_->ca_file), &ca64);
  Write(tmp_ + "/config", Kubeconfig("certificate-authority-data: " + ca64,
                                     "    client-certificate-data: " + cert64 +
                                         "\n    client-key-data: " + key64 + "\n"));
  auto from_data = KubeClient::FromKubeconfig(tmp_ + "/config", "");
  ASSERT_TRUE(from_data.ok()) << from_data.status().ToString();
  auto names = Namespaces(**from_data);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_TRUE(names->count("kube-public"));
}

TEST_F(K8sClientTest, ExecPluginUserWorksAndIsCachedUntilExpiry) {
  // The plugin checks that it got its args and env, counts its runs and prints a credential
  // that expires in an hour.
  const std::string token = ReadFileOrEmpty(plane_->dir + "/pki/admin.token");
  const std::string counter = tmp_ + "/runs";
  Write(
      tmp_ + "/plugin.sh",
      "#!/bin/sh\n"
      "[ \"$1\" = get-token ] || { echo \"bad arg $1\" >&2; exit 3; }\n"
      "[ \"$GAMEDAY_PLUGIN_MODE\" = test ] || { echo 'env not passed' >&2; exit 4; }\n"
      "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) echo 'no exec info' >&2; "
      "exit 5;; esac\n"
      "echo run >> " +
          ShellQuote(counter) +
          "\n"
          "exp=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\n"
          "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
          "\"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}' " +
          ShellQuote(token.substr(0, token.find('\n'))) + " \"$exp\"\n",
      0700);
  Write(tmp_ + "/config",
        Kubeconfig("certificate-authority: " + plane_->ca_file,
                   "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                   "      command: ./plugin.sh\n      args: [get-token]\n"
                   "      env: [{name: GAMEDAY_PLUGIN_MODE, value: test}]\n"
                   "      interactiveMode: Never\n"));
  auto client = KubeClient::FromKubeconfig(tmp_ + "/config", "");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->config().user.Kind(), "exec plugin");
  for (int i = 0; i < 3; ++i) {
    auto names = Namespaces(**client);
    ASSERT_TRUE(names.ok()) << names.status().ToString();
    EXPECT_TRUE(names->count("default"));
  }
  EXPECT_EQ(ReadFileOrEmpty(counter), "run\n") << "the credential should have been cached";
}

TEST_F(K8sClientTest, ExecPluginFailureIsReportedWithItsStderr) {
  Write(tmp_ + "/plugin.sh", "#!/bin/sh\necho 'login required: run sso-login' >&2\nexit 1\n", 0700);
  Write(tmp_ + "/config",
        Kubeconfig("certificate-authority: " + plane_->ca_file,
                   "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                   "      command: ./plugin.sh\n"));
  auto client = KubeClient::FromKubeconfig(tmp_ + "/config", "");
  ASSERT_TRUE(client.ok());
  auto names = Namespaces(**client);
  ASSERT_FALSE(names.ok());
  EXPECT_NE(names.status().message().find("login required: run sso-login"), std::string::npos)
      << names.status().message();
  EXPECT_NE(names.status().message().find("users[u].user.exec"), std::string::npos)
      << names.status().message();
}

TEST_F(K8sClientTest, WrongCaFailsWithAClearTlsError) {
  ASSERT_EQ(RunShell("cd " + ShellQuote(tmp_) +
                     " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                     "-keyout other.key -subj /CN=other-ca -days 1 -out other.crt 2>/dev/null"),
            0);
  Write(tmp_ + "/config",
        Kubeconfig("certificate-authority: other.crt",
                   "    token: " + ReadFileOrEmpty(plane_->dir + "/pki/admin.token")));
  auto client = KubeClient::FromKubeconfig(tmp_ + "/config", "");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const auto t0 = std::chrono::steady_clock::now();
  auto names = Namespaces(**client);
  ASSERT_FALSE(names.ok());
  const std::string msg = names.status().message();
  EXPECT_EQ(msg.rfind("TLS verification of " + plane_->server + " failed: ", 0), 0u) << msg;
  EXPECT_EQ(names.status().code(), Status::Code::kFailedPrecondition);
  // Not retried: a wrong CA never fixes itself.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST_F(K8sClientTest, UserWithoutRightsGetsTheForbiddenMessage) {
  auto admin = gameday::testing::AdminClient();
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin, "shop").ok());
  auto client = KubeClient::FromKubeconfig(plane_->kubeconfig_nobody, "");
  ASSERT_TRUE(client.ok());
  KubeRequest req;
  req.verb = "delete";
  req.ref = ResourceRef::Core("pods", "shop", "web-1");
  auto r = (*client)->Call(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(r.status().message(), "forbidden: user nobody cannot delete pods in namespace shop");

  KubeRequest list;
  list.verb = "list";
  list.ref = ResourceRef::Core("nodes");
  auto r2 = (*client)->Call(list);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().message(), "forbidden: user nobody cannot list nodes");
}

TEST_F(K8sClientTest, BadTokenIsUnauthorizedAndNamesTheUser) {
  Write(tmp_ + "/config",
        Kubeconfig("certificate-authority: " + plane_->ca_file, "    token: not-a-valid-token\n"));
  auto client = KubeClient::FromKubeconfig(tmp_ + "/config", "");
  ASSERT_TRUE(client.ok());
  auto names = Namespaces(**client);
  ASSERT_FALSE(names.ok());
  const std::string msg = names.status().message();
  EXPECT_EQ(msg.rfind("unauthorized: " + plane_->server, 0), 0u) << msg;
  EXPECT_NE(msg.find("kubeconfig user 'u'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("list namespaces"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("not-a-valid-token"), std::string::npos) << "a token leaked: " << msg;
}

TEST_F(K8sClientTest, PaginatedListsAndSelectors) {
  auto admin = gameday::testing::AdminClient();
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin, "paging").ok());
  std::vector<KubeRequest> creates;
  for (int i = 0; i < 25; ++i) {
    KubeRequest req;
    req.verb = "create";
    req.ref = ResourceRef::Core("configmaps", "paging");
    req.body = R"({"metadata":{"name":"cm-)" + std::to_string(i) + R"(","labels":{"parity":")" +
               (i % 2 ? "odd" : "even") + R"("}},"data":{"i":")" + std::to_string(i) + R"("}})";
    creates.push_back(req);
  }
  for (const auto& r : admin->CallMany(creates, 8)) ASSERT_TRUE(r.ok()) << r.status().ToString();

  std::set<std::string> all;
  ListOptions opts;
  opts.limit = 7;  // 4 pages
  auto rv =
      admin->List(ResourceRef::Core("configmaps", "paging"), opts, [&](const rapidjson::Value& cm) {
        all.insert(JsonPathString(cm, {"metadata", "name"}));
        return Status::Ok();
      });
  ASSERT_TRUE(rv.ok()) << rv.status().ToString();
  EXPECT_FALSE(rv->empty());
  size_t cms = 0;
  for (const auto& n : all) cms += n.rfind("cm-", 0) == 0;
  EXPECT_EQ(cms, 25u);

  size_t odd = 0;
  opts.label_selector = "parity=odd";
  ASSERT_TRUE(admin
                  ->List(ResourceRef::Core("configmaps", "paging"), opts,
                         [&](const rapidjson::Value&) {
                           ++odd;
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(odd, 12u);

  size_t named = 0;
  opts = ListOptions();
  opts.field_selector = "metadata.name=cm-3";
  ASSERT_TRUE(admin
                  ->List(ResourceRef::Core("configmaps", "paging"), opts,
                         [&](const rapidjson::Value& cm) {
                           named += JsonPathString(cm, {"metadata", "name"}) == "cm-3";
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(named, 1u);

  // Many concurrent deletes; a second round finds them gone (404 = kNotFound).
  std::vector<KubeRequest> deletes;
  for (int i = 0; i < 25; ++i) {
    KubeRequest req;
    req.verb = "delete";
    req.ref = ResourceRef::Core("configmaps", "paging", "cm-" + std::to_string(i));
    deletes.push_back(req);
  }
  for (const auto& r : admin->CallMany(deletes, 32)) EXPECT_TRUE(r.ok()) << r.status().ToString();
  for (const auto& r : admin->CallMany(deletes, 32)) {
    EXPECT_EQ(r.status().code(), Status::Code::kNotFound) << r.status().ToString();
  }
}

TEST_F(K8sClientTest, ManyThreadsShareOneClient) {
  auto admin = gameday::testing::AdminClient();
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        KubeRequest req;
        req.ref = ResourceRef::Core("namespaces", "", "default");
        auto r = admin->CallJson(req);
        (r.ok() && JsonPathString(*r, {"metadata", "name"}) == "default" ? ok : failed)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
  EXPECT_EQ(failed.load(), 0);
}

TEST_F(K8sClientTest, SurvivesTheApiServerGoingAwayAndComingBack) {
  KubeClientOptions options;
  options.timeout = std::chrono::milliseconds(800);
  options.max_attempts = 3;
  options.initial_backoff = std::chrono::milliseconds(100);
  auto client = KubeClient::FromKubeconfig(plane_->kubeconfig, "", options);
  ASSERT_TRUE(client.ok());
  KubeRequest req;
  req.ref = ResourceRef::Core("namespaces", "", "default");
  ASSERT_TRUE((*client)->Call(req).ok());

  ASSERT_TRUE(plane_->Signal("kube-apiserver", SIGSTOP));
  // SIGCONT on every path out, so a failing assertion cannot leave the plane frozen.
  struct Resume {
    const K8sPlane* p;
    ~Resume() { p->Signal("kube-apiserver", SIGCONT); }
  } resume{plane_};
  ASSERT_TRUE(gameday::testing::WaitUntil([&] { return plane_->Stopped("kube-apiserver"); },
                                          std::chrono::seconds(5)));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = (*client)->Call(req);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsTransient()) << r.status().ToString();
  // 3 attempts of 0.8 s plus backoff: bounded, no hang.
  EXPECT_LT(took, 5.0);
  EXPECT_GT(took, 2.0);

  ASSERT_TRUE(plane_->Signal("kube-apiserver", SIGCONT));
  // The stale connections are dropped and new ones made.
  EXPECT_TRUE(gameday::testing::WaitUntil([&] { return (*client)->Call(req).ok(); },
                                          std::chrono::seconds(20)));
}

}  // namespace
}  // namespace gameday
