// pod-kill and the kubernetes verifier through the whole engine, on a real control plane: a
// Deployment of 6 replicas on 3 KWOK nodes loses half of its pods; the verifier sees the loss and
// measures the recovery to 6/6 ready; the killed pods are gone and replaced.

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "experiments/engine.h"
#include "experiments/plan.h"
#include "injectors/registry.h"
#include "tests/integration/k8s_engine_test.h"
#include "tests/integration/k8s_plane.h"
#include "verifiers/probe/probe_loop.h"
#include "verifiers/registry.h"

namespace gameday {
namespace {

using gameday::testing::K8sPlane;
using std::chrono::seconds;

class K8sPodKillTest : public gameday::testing::K8sEngineTest {
 protected:
  K8sPodKillTest() : K8sEngineTest("podkill") {}

  RunResult Run(const Plan& plan, bool dry_run = false) {
    EngineOptions options = Options("k8s-pod-kill");
    options.seed = 7;
    options.dry_run = dry_run;
    return RunPlan(plan, options);
  }

  std::string PlanYaml(const std::string& ns, const std::string& selector = "app=web",
                       int replicas = 6) const {
    return R"(
name: kill-half-of-web
target:
  kind: kubernetes
  kubeconfig: )" +
           plane_->kubeconfig + R"(
warmup: 1s
stable_for: 1s
cooldown: 1s
recovery_timeout: 60s
verify:
  - name: web-replicas
    kind: kubernetes
    interval: 50ms
    spec:
      workload: {kind: Deployment, namespace: )" +
           ns + R"(, name: web}
  - name: web-pods
    kind: kubernetes
    interval: 10ms
    spec:
      pods: {namespace: )" +
           ns + R"(, label_selector: app=web, min_ready: )" + std::to_string(replicas) + R"(}
method:
  - inject: pod-kill
    name: kill-half
    select: {mode: fixed-percent, value: 50}
    spec:
      namespace: )" +
           ns + R"(
      label_selector: )" +
           selector + R"(
      grace_period: 0s
objectives:
  - verifier: web-replicas
    recover_within: 30s
  - verifier: web-pods
    must_detect: true
    recover_within: 30s
)";
  }
};

TEST_F(K8sPodKillTest, KillHalfOfADeploymentAndMeasureRecovery) {
  const std::string ns = "shop";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "web", 6).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "web", 6, seconds(60)))
      << "ready: " << gameday::testing::ReadyReplicas(*admin_, ns, "web");
  std::set<std::string> nodes;
  for (const auto& p : gameday::testing::ListPods(*admin_, ns, "app=web")) nodes.insert(p.node);
  EXPECT_EQ(nodes.size(), 3u) << "the scheduler should spread 6 replicas over 3 KWOK nodes";

  const Plan plan = Parse(PlanYaml(ns));
  ASSERT_EQ(plan.experiments.size(), 1u);
  const RunResult run = Run(plan);
  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  std::string reasons;
  for (const auto& r : e.reasons) reasons += r + "\n";
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << reasons;

  // Three pods, each journaled with its UID, each deleted.
  ASSERT_EQ(e.faults.size(), 3u);
  std::set<std::string> killed_uids;
  for (const FaultResult& f : e.faults) {
    EXPECT_EQ(f.kind, "pod-kill");
    EXPECT_EQ(f.revert, RevertState::kNotNeeded);
    EXPECT_TRUE(f.error.empty()) << f.error;
    EXPECT_EQ(f.target_id.rfind(ns + "/web-", 0), 0u) << f.target_id;
    killed_uids.insert(f.target_id.substr(f.target_id.rfind('/') + 1));
  }
  EXPECT_EQ(killed_uids.size(), 3u);

  // The pods verifier saw the loss (fewer than 6 ready) and the recovery to 6/6. (The
  // Deployment's status, written by its controller in batches, can skip a dip this short.)
  ASSERT_EQ(e.verifiers.size(), 2u);
  const VerifierResult& v = e.verifiers[1];
  double min_ready = 6;
  for (const Sample& s : v.samples) {
    if (s.value) min_ready = std::min(min_ready, *s.value);
  }
  EXPECT_LT(min_ready, 6) << "no sample saw the loss";
  EXPECT_GE(min_ready, 0);
  ASSERT_TRUE(v.overall.impact);
  ASSERT_TRUE(v.overall.recovered);
  ASSERT_TRUE(v.overall.time_to_recover_s.has_value());
  EXPECT_GT(*v.overall.time_to_recover_s, 0);
  EXPECT_LT(*v.overall.time_to_recover_s, 30);
  ASSERT_FALSE(v.samples.empty());
  EXPECT_EQ(v.samples.back().value.value_or(-1), 6) << v.samples.back().detail;
  std::printf("[measure] pod-kill 3/6: detect %.3f s, recover %.3f s (bound %.3f-%.3f s)\n",
              v.overall.time_to_detect_s.value_or(-1), *v.overall.time_to_recover_s,
              v.overall.recover_bound_s ? v.overall.recover_bound_s->first : -1,
              v.overall.recover_bound_s ? v.overall.recover_bound_s->second : -1);

  // The killed pods are gone, and replacements run in their place.
  const auto pods = gameday::testing::ListPods(*admin_, ns, "app=web");
  size_t running = 0;
  for (const auto& p : pods) {
    EXPECT_FALSE(killed_uids.count(p.uid)) << "killed pod " << p.name << " still exists";
    running += p.phase == "Running" && !p.terminating;
  }
  EXPECT_EQ(running, 6u);
  EXPECT_EQ(gameday::testing::ReadyReplicas(*admin_, ns, "web"), 6);

  // Each kill left a ChaosInjected Event on its pod (posted in the background; the run's end
  // flushes them).
  EXPECT_TRUE(FlushSharedEventRecorders(seconds(5)));
  size_t events = 0;
  ListOptions opts;
  opts.field_selector = "reason=ChaosInjected";
  ASSERT_TRUE(
      admin_
          ->List(ResourceRef::Core("events", ns), opts,
                 [&](const rapidjson::Value& ev) {
                   events += killed_uids.count(JsonPathString(ev, {"involvedObject", "uid"}));
                   EXPECT_EQ(JsonPathString(ev, {"source", "component"}), "gameday");
                   return Status::Ok();
                 })
          .ok());
  EXPECT_EQ(events, 3u);
}

TEST_F(K8sPodKillTest, DryRunListsTheExactPodsAndTouchesNothing) {
  const std::string ns = "dry";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "web", 4).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "web", 4, seconds(60)));
  const auto before = gameday::testing::ListPods(*admin_, ns, "app=web");
  const RunResult run = Run(Parse(PlanYaml(ns)), /*dry_run=*/true);
  ASSERT_EQ(run.experiments.size(), 1u);
  size_t would = 0;
  for (const TimelineEvent& ev : run.experiments[0].events) {
    if (ev.message.rfind("would delete pod " + ns + "/web-", 0) == 0) ++would;
  }
  EXPECT_EQ(would, 2u);
  const auto after = gameday::testing::ListPods(*admin_, ns, "app=web");
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].uid, before[i].uid);
}

TEST_F(K8sPodKillTest, EmptySelectionFailsAndProtectedNamespaceIsRefused) {
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, "empty").ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, "empty", "web", 2).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, "empty", "web", 2, seconds(60)));
  const RunResult run = Run(Parse(PlanYaml("empty", "app=nothing-matches", 2)));
  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  EXPECT_EQ(e.status, ExperimentStatus::kFailed);
  EXPECT_TRUE(e.faults.empty());
  std::string reasons;
  for (const auto& r : e.reasons) reasons += r + "\n";
  EXPECT_NE(reasons.find("the selection is empty"), std::string::npos) << reasons;

  Diagnostics diags;
  std::string protected_yaml = PlanYaml("kube-system");
  ParsePlan(protected_yaml, "plan.yaml", registries_, &diags);
  EXPECT_NE(diags.ToString().find("namespace kube-system is protected"), std::string::npos)
      << diags.ToString();
}

TEST_F(K8sPodKillTest, RepeatKillsOnePodEveryIntervalForTheDuration) {
  const std::string ns = "repeat";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "web", 4).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "web", 4, seconds(60)));
  // Rounds at +0, +1.5 and +3 s (before 4 s has elapsed): three kills, each of a pod that is
  // there at that moment, so round 2 or 3 may well take a replacement made after round 1.
  const Plan plan = Parse(R"(
name: kill-one-web-pod-repeatedly
target: {kind: kubernetes, kubeconfig: )" +
                          plane_->kubeconfig + R"(}
warmup: 500ms
stable_for: 1s
cooldown: 500ms
recovery_timeout: 60s
verify:
  - name: web-pods
    kind: kubernetes
    interval: 20ms
    spec:
      pods: {namespace: )" +
                          ns + R"(, label_selector: app=web, min_ready: 4}
method:
  - inject: pod-kill
    name: kill-one
    select: {mode: one}
    repeat: {every: 1500ms, for: 4s}
    spec: {namespace: )" + ns +
                          R"(, label_selector: app=web, grace_period: 0s}
objectives:
  - verifier: web-pods
    recover_within: 30s
)");
  const RunResult run = Run(plan);
  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  std::string reasons;
  for (const auto& r : e.reasons) reasons += r + "\n";
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << reasons;

  // One fault per round, rounds 1..3 about 1.5 s apart, three different pods, all gone now.
  ASSERT_EQ(e.faults.size(), 3u);
  std::set<std::string> uids;
  for (size_t i = 0; i < e.faults.size(); ++i) {
    const FaultResult& f = e.faults[i];
    EXPECT_EQ(f.round, static_cast<int>(i) + 1);
    EXPECT_TRUE(f.error.empty()) << f.error;
    uids.insert(f.target_id.substr(f.target_id.rfind('/') + 1));
    if (i > 0) {
      const double gap = f.t_inject - e.faults[i - 1].t_inject;
      EXPECT_GT(gap, 1.2) << "round " << f.round;
      EXPECT_LT(gap, 2.5) << "round " << f.round;
    }
  }
  EXPECT_EQ(uids.size(), 3u);
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "web", 4, seconds(60)));
  for (const auto& p : gameday::testing::ListPods(*admin_, ns, "app=web")) {
    EXPECT_FALSE(uids.count(p.uid)) << "killed pod " << p.name << " still exists";
  }
}

// Many kills at once: the Events do not cost a POST per pod and do not hold up the deletes; the
// first 10 are posted one by one, the rest combined into one Event with the count.
TEST_F(K8sPodKillTest, ManyKillsPostTenEventsAndOneCombinedEventWithoutHoldingUpTheDeletes) {
  const std::string ns = "many";
  constexpr int kPods = 150;
  constexpr int kKill = 120;
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  std::vector<std::string> nodes;
  ASSERT_TRUE(admin_
                  ->List(ResourceRef::Core("nodes"), ListOptions{"type=kwok", "", 500, {}},
                         [&](const rapidjson::Value& n) {
                           nodes.push_back(JsonPathString(n, {"metadata", "name"}));
                           return Status::Ok();
                         })
                  .ok());
  ASSERT_FALSE(nodes.empty());
  // Bare pods bound to the KWOK nodes: no controller replaces them, so the count is exact.
  std::vector<KubeRequest> creates;
  for (int i = 0; i < kPods; ++i) {
    KubeRequest req;
    req.verb = "create";
    req.ref = ResourceRef::Core("pods", ns);
    req.body =
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"many-)" + std::to_string(i) +
        R"(","labels":{"app":"many"}},"spec":{"nodeName":")" + nodes[i % nodes.size()] +
        R"(","tolerations":[{"operator":"Exists"}],"terminationGracePeriodSeconds":0,)"
        R"("automountServiceAccountToken":false,"containers":[{"name":"app","image":"x"}]}})";
    creates.push_back(std::move(req));
  }
  for (const auto& r : admin_->CallMany(creates, 32)) ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(gameday::testing::WaitUntil(
      [&] {
        size_t running = 0;
        for (const auto& p : gameday::testing::ListPods(*admin_, ns, "app=many")) {
          running += p.phase == "Running";
        }
        return running == static_cast<size_t>(kPods);
      },
      std::chrono::milliseconds(120000), std::chrono::milliseconds(500)));

  auto shared = SharedKubeClient(plane_->kubeconfig, "");
  ASSERT_TRUE(shared.ok());
  const KubeClientStats before = (*shared)->Stats();
  const Plan plan = Parse(R"(
name: kill-many
target:
  kind: kubernetes
  kubeconfig: )" + plane_->kubeconfig +
                          R"(
warmup: 1s
stable_for: 1s
cooldown: 1s
recovery_timeout: 10s
verify:
  - {name: api, kind: apiserver, interval: 200ms}
method:
  - inject: pod-kill
    name: kill-many
    select: {mode: fixed, value: )" +
                          std::to_string(kKill) + R"(}
    spec:
      namespace: )" + ns + R"(
      label_selector: app=many
      grace_period: 0s
)");
  const RunResult run = Run(plan);
  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  ASSERT_EQ(e.faults.size(), static_cast<size_t>(kKill));
  for (const FaultResult& f : e.faults) EXPECT_TRUE(f.error.empty()) << f.error;
  // By the end of the run the deletes are all answered; what Events are still queued go out now.
  const KubeClientStats after_run = (*shared)->Stats();
  EXPECT_TRUE(FlushSharedEventRecorders(seconds(5)));
  const KubeClientStats after = (*shared)->Stats();
  auto delta = [](const KubeClientStats& a, const KubeClientStats& b, const char* verb) {
    auto count = [&](const KubeClientStats& s) {
      auto it = s.requests_by_verb.find(verb);
      return it == s.requests_by_verb.end() ? uint64_t{0} : it->second;
    };
    return count(b) - count(a);
  };
  EXPECT_GE(delta(before, after_run, "delete"), static_cast<uint64_t>(kKill));
  // 10 single Events, plus the combined one's create and a few updates: not one per pod.
  EXPECT_LE(delta(before, after, "create"), 12u);
  EXPECT_LE(delta(before, after, "patch"), 5u);
  std::printf(
      "[measure] pod-kill %d/%d: %llu deletes, %llu event creates, %llu patches; limit %.1f\n",
      kKill, kPods, static_cast<unsigned long long>(delta(before, after, "delete")),
      static_cast<unsigned long long>(delta(before, after, "create")),
      static_cast<unsigned long long>(delta(before, after, "patch")), after.limit.limit);

  size_t single = 0, combined = 0;
  std::string combined_message;
  long long combined_count = 0;
  ListOptions opts;
  opts.field_selector = "reason=ChaosInjected";
  ASSERT_TRUE(admin_
                  ->List(ResourceRef::Core("events", ns), opts,
                         [&](const rapidjson::Value& ev) {
                           const std::string kind = JsonPathString(ev, {"involvedObject", "kind"});
                           if (kind == "Pod") ++single;
                           if (kind == "Namespace") {
                             ++combined;
                             combined_message = JsonString(ev, "message");
                             const rapidjson::Value* c = JsonPath(ev, {"count"});
                             combined_count = c && c->IsInt64() ? c->GetInt64() : -1;
                           }
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(single, 10u);
  EXPECT_EQ(combined, 1u);
  EXPECT_EQ(combined_count, kKill - 10);
  EXPECT_EQ(combined_message, "gameday run k8s-pod-kill: deleted " + std::to_string(kKill - 10) +
                                  " more pods (combined from similar events)");
}

}  // namespace
}  // namespace gameday
