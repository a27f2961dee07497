// The test kube-apiserver stops answering (SIGSTOP) for a few seconds during an experiment: the
// tool keeps going, the apiserver (/readyz) verifier records the outage and the recovery, the
// kubernetes verifier reports unknown (its monitoring path is down, not the workload), and the
// fault is still reverted afterwards.

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/watch.h"
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
using gameday::testing::WaitUntil;
using std::chrono::milliseconds;
using std::chrono::seconds;

class K8sApiserverOutageTest : public gameday::testing::K8sEngineTest {
 protected:
  K8sApiserverOutageTest() : K8sEngineTest("outage") {}
};

TEST_F(K8sApiserverOutageTest, VerifierRecordsOutageAndRecoveryAndNothingCrashes) {
  const std::string ns = "outage", node = "kwok-node-3";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin_, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin_, ns, "web", 3).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin_, ns, "web", 3, seconds(60)));

  const std::string yaml = R"(
name: apiserver-outage
target: {kind: kubernetes, kubeconfig: )" +
                           plane_->kubeconfig + R"(}
warmup: 1s
stable_for: 1s
cooldown: 1s
recovery_timeout: 30s
verify:
  - name: readyz
    kind: apiserver
    interval: 100ms
    spec: {endpoint: readyz, timeout: 500ms}
  - name: web
    kind: kubernetes
    interval: 100ms
    spec:
      workload: {kind: Deployment, namespace: )" +
                           ns + R"(, name: web}
      timeout: 500ms
method:
  - inject: node-cordon
    name: cordon
    select: {mode: one}
    duration: 7s
    spec: {nodes: [)" + node +
                           R"(]}
objectives:
  - verifier: readyz
    must_detect: true
    recover_within: 20s
  - verifier: web
    expect_no_impact: true
)";
  const Plan plan = Parse(yaml);
  ASSERT_FALSE(HasFailure());
  Engine engine(registries_, MakeProbeLoopFactory(), Clock::Real(), Options("apiserver-outage"));

  // The watch of the same run, as the engine would keep it for the timeline.
  ResourceWatchOptions wopts;
  wopts.namespaces = {ns};
  ResourceWatch watch(admin_, wopts);
  const MonoTime epoch = Clock::Real().Now();
  watch.Start(epoch);

  RunResult run;
  std::thread runner([&] { run = engine.Run(plan); });
  // Once the node is cordoned (the fault is in), freeze the API server for 3 s.
  const bool cordoned = WaitUntil(
      [&] {
        KubeRequest req;
        req.ref = ResourceRef::Core("nodes", "", node);
        auto n = admin_->CallJson(req);
        const rapidjson::Value* u = n.ok() ? JsonPath(*n, {"spec", "unschedulable"}) : nullptr;
        return u && u->IsBool() && u->GetBool();
      },
      seconds(30), milliseconds(50));
  std::this_thread::sleep_for(milliseconds(500));
  const double t_stop = ToSeconds(Clock::Real().Now() - epoch);
  const bool stopped = plane_->Signal("kube-apiserver", SIGSTOP);
  std::this_thread::sleep_for(seconds(3));
  const bool resumed = plane_->Signal("kube-apiserver", SIGCONT);
  const double t_cont = ToSeconds(Clock::Real().Now() - epoch);
  runner.join();
  watch.Stop();
  ASSERT_TRUE(cordoned);
  ASSERT_TRUE(stopped);
  ASSERT_TRUE(resumed);

  ASSERT_EQ(run.experiments.size(), 1u);
  const ExperimentResult& e = run.experiments[0];
  std::string reasons;
  for (const auto& r : e.reasons) reasons += r + "\n";
  EXPECT_EQ(e.status, ExperimentStatus::kPassed) << reasons;
  ASSERT_EQ(e.faults.size(), 1u);
  EXPECT_EQ(e.faults[0].revert, RevertState::kReverted) << e.faults[0].error;

  ASSERT_EQ(e.verifiers.size(), 2u);
  const VerifierResult& readyz = e.verifiers[0];
  ASSERT_TRUE(readyz.overall.impact);
  ASSERT_TRUE(readyz.overall.recovered);
  // Failing for roughly the 3 s the server was frozen (timeouts blur the edges).
  EXPECT_GT(readyz.overall.downtime_s, 2.0);
  EXPECT_LT(readyz.overall.downtime_s, 5.5);
  std::printf(
      "[measure] apiserver frozen %.2f s: readyz detect %.3f s after inject, downtime "
      "%.2f s, %zu failing samples\n",
      t_cont - t_stop, readyz.overall.time_to_detect_s.value_or(-1), readyz.overall.downtime_s,
      readyz.overall.failing);

  // The kubernetes verifier could not see the workload: unknown, never unhealthy.
  const VerifierResult& web = e.verifiers[1];
  EXPECT_FALSE(web.overall.impact);
  EXPECT_GT(web.overall.unknown, 10u);
  size_t unknown_with_reason = 0;
  for (const Sample& s : web.samples) {
    EXPECT_NE(s.health, Health::kUnhealthy) << s.detail;
    if (s.health == Health::kUnknown &&
        s.detail.find("API server unreachable") != std::string::npos) {
      ++unknown_with_reason;
    }
  }
  EXPECT_GT(unknown_with_reason, 10u);

  // The watch kept going: it saw the cordon before the outage and the uncordon after it.
  bool saw_cordon = false, saw_uncordon = false;
  for (const TimelineEvent& ev : watch.Events()) {
    EXPECT_EQ(ev.source, "kubernetes");
    saw_cordon = saw_cordon || ev.message == "node " + node + " cordoned";
    if (ev.message == "node " + node + " uncordoned") {
      saw_uncordon = true;
      EXPECT_GT(ev.t, t_cont);
    }
  }
  EXPECT_TRUE(saw_cordon);
  EXPECT_TRUE(saw_uncordon);
}

}  // namespace
}  // namespace gameday
