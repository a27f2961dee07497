#pragma once

// The fixture of the Kubernetes tests that run the gameday binary itself against the test plane
// with a network-partition plan (the cluster journal, the run lock): a namespace with a
// Deployment of KWOK pods to partition, a plan for them, gameday runs as child processes, and
// what a test looks at through the admin client. Whatever a failed test leaves (gameday's
// policies, objects a test names) is removed at TearDown.

#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "clients/kubernetes/client.h"
#include "tests/integration/child_process.h"
#include "tests/integration/k8s_engine_test.h"

namespace gameday::testing {

class K8sPartitionCliTest : public K8sEngineTest {
 protected:
  // `ns` holds the Deployment `api` (2 pods) the plans partition.
  K8sPartitionCliTest(std::string tmp_prefix, std::string ns)
      : K8sEngineTest(std::move(tmp_prefix)), ns_(std::move(ns)) {}

  void SetUp() override {
    K8sEngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(CreateNamespace(*admin_, ns_).ok());
    const Status created = CreateDeployment(*admin_, ns_, "api", 2);
    // The plane (and so the Deployment) is shared by the tests of this process.
    ASSERT_TRUE(created.ok() || created.code() == Status::Code::kFailedPrecondition)
        << created.ToString();
    ASSERT_TRUE(DeploymentReady(*admin_, ns_, "api", 2, std::chrono::seconds(60)));
  }

  void TearDown() override {
    if (admin_) {
      for (const std::string& n : Names(Policies(), kManagedByGameday)) {
        Delete(ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", ns_, n));
      }
      if (cleanup_) cleanup_();
    }
    K8sEngineTest::TearDown();
  }

  static constexpr const char* kManagedByGameday = "app.kubernetes.io/managed-by=gameday";

  static std::string Bin() { return std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday"; }

  ResourceRef Policies() const {
    return ResourceRef::Group("networking.k8s.io", "v1", "networkpolicies", ns_);
  }

  // The names of `collection`'s objects matching `selector` (or the value of their `label`).
  std::vector<std::string> Names(const ResourceRef& collection, const std::string& selector,
                                 const char* label = nullptr) {
    std::vector<std::string> out;
    ListOptions opts;
    opts.label_selector = selector;
    auto rv = admin_->List(collection, opts, [&](const rapidjson::Value& o) {
      out.push_back(label ? JsonPathString(o, {"metadata", "labels", label})
                          : JsonPathString(o, {"metadata", "name"}));
      return Status::Ok();
    });
    if (!rv.ok()) out.push_back("(list failed: " + rv.status().ToString() + ")");
    return out;
  }
  std::vector<std::string> PartitionPolicies() { return Names(Policies(), kManagedByGameday); }

  void Delete(const ResourceRef& ref) {
    KubeRequest req;
    req.verb = "delete";
    req.ref = ref;
    (void)admin_->Send(req);
  }

  // A plan that partitions every pod of `api` for `duration`, probing the API server's port.
  std::string WritePlan(const std::string& duration) {
    std::string path = tmp_ + "/plan-" + duration + ".yaml";
    std::ofstream(path) << "name: " << ns_ << "-partition\ntarget: {kind: kubernetes, kubeconfig: "
                        << plane_->kubeconfig << "}\nwarmup: 200ms\nstable_for: 100ms\n"
                        << "cooldown: 200ms\nverify:\n  - name: apiserver\n    kind: tcp\n"
                        << "    interval: 100ms\n    spec: {host: 127.0.0.1, port: "
                        << plane_->api_port << ", timeout: 500ms}\n"
                        << "method:\n  - inject: network-partition\n    name: partition\n"
                        << "    select: {mode: all}\n    duration: " << duration << "\n"
                        << "    spec: {namespace: " << ns_
                        << ", label_selector: app=api, direction: both}\n";
    return path;
  }

  // `gameday run PLAN` with its journal and a report folder of its own in the scratch folder,
  // then `extra`.
  std::vector<std::string> RunArgs(const std::string& plan, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {Bin(),
                                     "run",
                                     plan,
                                     "--journal-dir",
                                     tmp_ + "/journal",
                                     "--no-history",
                                     "--report-dir",
                                     tmp_ + "/reports-" + std::to_string(++runs_)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // Waits for `child` (at most `timeout`); its exit code (128 + signal) and output.
  static std::pair<int, std::string> Finish(ChildProcess& child,
                                            std::chrono::milliseconds timeout) {
    const auto status = child.Wait(timeout);
    if (!status) {
      child.Stop();
      return {-1, "timed out: " + child.LogText()};
    }
    return {WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status), child.LogText()};
  }

  // Runs gameday with `argv` to the end (at most `timeout`).
  std::pair<int, std::string> Gameday(
      const std::vector<std::string>& argv,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(60000)) {
    ChildProcess child(argv, tmp_ + "/gameday-" + std::to_string(++runs_) + ".log");
    return Finish(child, timeout);
  }

  const std::string ns_;
  std::function<void()> cleanup_;  // a test's own leftovers, removed at TearDown
  int runs_ = 0;
};

}  // namespace gameday::testing
