#pragma once

// The fixture of the Kubernetes integration tests that run plans through the engine (on top of
// the test plane fixture of tests/integration/k8s_test_util.h).

#include <memory>
#include <string>

#include "experiments/engine.h"
#include "experiments/plan.h"
#include "injectors/registry.h"
#include "tests/integration/k8s_test_util.h"
#include "verifiers/probe/probe_loop.h"
#include "verifiers/registry.h"

namespace gameday::testing {

// K8sPlaneTest plus what running plans through the engine takes: registries with the built-in
// injectors and verifiers, and an admin client for setting up and checking the cluster.
class K8sEngineTest : public K8sPlaneTest {
 protected:
  using K8sPlaneTest::K8sPlaneTest;

  void SetUp() override {
    K8sPlaneTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    RegisterBuiltinInjectors(registries_.injectors);
    RegisterBuiltinVerifiers(registries_.verifiers);
    admin_ = AdminClient();
    ASSERT_NE(admin_, nullptr);
  }

  // Parses a plan that must have no diagnostics.
  Plan Parse(const std::string& yaml) {
    Diagnostics diags;
    Plan plan = ParsePlan(yaml, "plan.yaml", registries_, &diags);
    EXPECT_TRUE(diags.empty()) << diags.ToString();
    return plan;
  }

  // Options of a run with the journal in the scratch folder.
  EngineOptions Options(const std::string& run_id) const {
    EngineOptions options;
    options.run_id = run_id;
    options.journal_dir = tmp_ + "/journal";
    return options;
  }

  RunResult RunPlan(const Plan& plan, const EngineOptions& options) {
    Engine engine(registries_, MakeProbeLoopFactory(), Clock::Real(), options);
    return engine.Run(plan);
  }

  Registries registries_;
  std::shared_ptr<KubeClient> admin_;
};

}  // namespace gameday::testing
