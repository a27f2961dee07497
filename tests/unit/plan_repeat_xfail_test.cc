// Plan parsing of step `repeat`, experiment `expected_failure`, and several plans in one run
// (LoadPlans): the values read, and every error with its file:line:col and field path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "experiments/plan.h"

namespace gameday {
namespace {

class FakeInjector : public Injector {
 public:
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    return std::vector<FaultTarget>{};
  }
  Result<std::string> RevertRecord(const FaultTarget&, const InjectorEnv&) override {
    return std::string("{}");
  }
  Status Inject(const FaultTarget&, const InjectorEnv&) override { return Status::Ok(); }
  bool Reversible() const override { return false; }
  std::string DescribeAction(const FaultTarget&) const override { return "kill"; }
};

class FakeKillKind : public InjectorKind {
 public:
  std::string Name() const override { return "kill"; }
  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec&) const override {
    spec.Finish();
    return std::make_unique<FakeInjector>();
  }
  Status Revert(const std::string&, const InjectorEnv&) const override { return Status::Ok(); }
};

class FakeVerifier : public Verifier {
 public:
  void Begin(ProbeIo&, std::function<void(ProbeOutcome)> done) override { done({}); }
  std::string Describe() const override { return "probe"; }
};

class FakeProbeKind : public VerifierKind {
 public:
  std::string Name() const override { return "probe"; }
  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec&) const override {
    spec.Finish();
    return std::make_unique<FakeVerifier>();
  }
};

Registries MakeRegistries() {
  Registries r;
  EXPECT_TRUE(r.injectors.Register(std::make_unique<FakeKillKind>()).ok());
  EXPECT_TRUE(r.verifiers.Register(std::make_unique<FakeProbeKind>()).ok());
  return r;
}

// A single experiment whose first method step is `step` (indented as a list item's fields).
std::string Experiment(const std::string& step, const std::string& extra = "") {
  return "name: exp\n" + extra +
         "verify:\n"
         "  - {name: svc, kind: probe}\n"
         "method:\n"
         "  - inject: kill\n" +
         step +
         "objectives:\n"
         "  - {verifier: svc, recover_within: 10s}\n";
}

struct Parsed {
  Plan plan;
  Diagnostics diags;
};

Parsed Parse(const std::string& text, const std::string& file = "plan.yaml") {
  Registries r = MakeRegistries();
  Parsed p;
  p.plan = ParsePlan(text, file, r, &p.diags);
  return p;
}

const InjectStep& FirstInject(const Plan& plan) {
  return std::get<InjectStep>(plan.experiments.at(0).method.at(0).action);
}

TEST(PlanRepeatTest, ReadsEveryAndFor) {
  Parsed p = Parse(Experiment("    repeat: {every: 10s, for: 60s}\n"));
  ASSERT_TRUE(p.diags.empty()) << p.diags.ToString();
  const InjectStep& s = FirstInject(p.plan);
  ASSERT_TRUE(s.repeat.has_value());
  EXPECT_EQ(s.repeat->every, std::chrono::seconds(10));
  EXPECT_EQ(s.repeat->span, std::chrono::seconds(60));
  EXPECT_FALSE(s.duration.has_value());
}

TEST(PlanRepeatTest, WithoutRepeatThereIsOneRound) {
  Parsed p = Parse(Experiment("    name: k\n"));
  ASSERT_TRUE(p.diags.empty()) << p.diags.ToString();
  EXPECT_FALSE(FirstInject(p.plan).repeat.has_value());
}

TEST(PlanRepeatTest, EveryMustBeLongerThanTheDuration) {
  Parsed p = Parse(Experiment("    duration: 10s\n    repeat: {every: 10s, for: 60s}\n"));
  ASSERT_EQ(p.diags.size(), 1u) << p.diags.ToString();
  EXPECT_EQ(p.diags.items()[0].ToString(),
            "plan.yaml:7:21: method[0].repeat.every: every (10s) must be longer than the step's "
            "duration (10s): each round is reverted before the next one starts");

  Parsed ok = Parse(Experiment("    duration: 5s\n    repeat: {every: 10s, for: 60s}\n"));
  EXPECT_TRUE(ok.diags.empty()) << ok.diags.ToString();
}

TEST(PlanRepeatTest, ForMustBeAtLeastEvery) {
  Parsed p = Parse(Experiment("    repeat:\n      every: 10s\n      for: 5s\n"));
  ASSERT_EQ(p.diags.size(), 1u) << p.diags.ToString();
  const Diagnostic& d = p.diags.items()[0];
  EXPECT_EQ(d.file, "plan.yaml");
  EXPECT_EQ(d.line, 8);
  EXPECT_EQ(d.column, 12);
  EXPECT_EQ(d.path, "method[0].repeat.for");
  EXPECT_NE(d.message.find("for (5s) is shorter than every (10s)"), std::string::npos);

  // for == every is one round: allowed.
  EXPECT_TRUE(Parse(Experiment("    repeat: {every: 10s, for: 10s}\n")).diags.empty());
}

TEST(PlanRepeatTest, EveryMustBePositiveAndBothAreRequired) {
  Parsed zero = Parse(Experiment("    repeat: {every: 0s, for: 60s}\n"));
  ASSERT_EQ(zero.diags.size(), 1u) << zero.diags.ToString();
  EXPECT_EQ(zero.diags.items()[0].path, "method[0].repeat.every");
  EXPECT_NE(zero.diags.items()[0].message.find("greater than 0"), std::string::npos);

  Parsed missing = Parse(Experiment("    repeat: {every: 5s}\n"));
  ASSERT_EQ(missing.diags.size(), 1u) << missing.diags.ToString();
  EXPECT_EQ(missing.diags.items()[0].path, "method[0].repeat.for");
  EXPECT_NE(missing.diags.items()[0].message.find("required field is missing"), std::string::npos);
  EXPECT_EQ(missing.diags.items()[0].line, 6);  // at the map that lacks it

  Parsed empty = Parse(Experiment("    repeat:\n"));
  ASSERT_EQ(empty.diags.size(), 1u) << empty.diags.ToString();
  EXPECT_EQ(empty.diags.items()[0].path, "method[0].repeat");
}

TEST(PlanRepeatTest, UnknownKeysAreRejectedWithASuggestion) {
  Parsed p = Parse(Experiment("    repeat: {evry: 5s, every: 5s, for: 20s}\n"));
  ASSERT_EQ(p.diags.size(), 1u) << p.diags.ToString();
  const Diagnostic& d = p.diags.items()[0];
  EXPECT_EQ(d.path, "method[0].repeat.evry");
  EXPECT_EQ(d.line, 6);
  EXPECT_EQ(d.column, 14);
  EXPECT_NE(d.message.find("did you mean 'every'?"), std::string::npos) << d.message;
}

TEST(PlanRepeatTest, TooManyRoundsAreATypo) {
  Parsed p = Parse(Experiment("    repeat: {every: 1ms, for: 1h}\n"));
  ASSERT_EQ(p.diags.size(), 1u) << p.diags.ToString();
  EXPECT_NE(p.diags.items()[0].message.find("3600000 rounds"), std::string::npos);
}

TEST(PlanRepeatTest, AllowedInsideParallel) {
  Parsed p = Parse(
      "name: exp\n"
      "verify: [{name: svc, kind: probe}]\n"
      "method:\n"
      "  - parallel:\n"
      "      - inject: kill\n"
      "        repeat: {every: 1s, for: 3s}\n"
      "      - wait: 2s\n");
  ASSERT_TRUE(p.diags.empty()) << p.diags.ToString();
  const auto& par = std::get<ParallelStep>(p.plan.experiments[0].method[0].action);
  ASSERT_TRUE(std::get<InjectStep>(par.steps[0].action).repeat.has_value());
}

TEST(PlanExpectedFailureTest, ReadsTheReason) {
  Parsed p = Parse(Experiment("", "expected_failure: \"etcd loses quorum with 2 of 3 down\"\n"));
  ASSERT_TRUE(p.diags.empty()) << p.diags.ToString();
  EXPECT_EQ(p.plan.experiments[0].expected_failure, "etcd loses quorum with 2 of 3 down");

  Parsed none = Parse(Experiment(""));
  EXPECT_TRUE(none.plan.experiments[0].expected_failure.empty());
}

TEST(PlanExpectedFailureTest, EmptyReasonIsAnError) {
  Parsed blank = Parse(Experiment("", "expected_failure: \"  \"\n"));
  ASSERT_EQ(blank.diags.size(), 1u) << blank.diags.ToString();
  EXPECT_EQ(blank.diags.items()[0].ToString(),
            "plan.yaml:2:19: expected_failure: expected a non-empty text saying why the "
            "experiment must fail");

  Parsed nothing = Parse(Experiment("", "expected_failure:\n"));
  ASSERT_EQ(nothing.diags.size(), 1u) << nothing.diags.ToString();
  EXPECT_EQ(nothing.diags.items()[0].path, "expected_failure");
  EXPECT_EQ(nothing.diags.items()[0].line, 2);
}

TEST(PlanExpectedFailureTest, NeedsAnObjective) {
  Parsed p = Parse(
      "name: exp\n"
      "expected_failure: it breaks\n"
      "verify: [{name: svc, kind: probe}]\n"
      "method: [{inject: kill}]\n");
  ASSERT_EQ(p.diags.size(), 1u) << p.diags.ToString();
  EXPECT_EQ(p.diags.items()[0].path, "expected_failure");
  EXPECT_NE(p.diags.items()[0].message.find("at least one objective"), std::string::npos);
}

TEST(PlanExpectedFailureTest, InASuite) {
  Parsed p = Parse(
      "name: suite\n"
      "experiments:\n"
      "  - name: a\n"
      "    expected_failure: known bug 123\n"
      "    verify: [{name: svc, kind: probe}]\n"
      "    method: [{inject: kill}]\n"
      "    objectives: [{verifier: svc, max_downtime: 1s}]\n"
      "  - name: b\n"
      "    expected_failure: 7\n"
      "    verify: [{name: svc, kind: probe}]\n"
      "    method: [{inject: kill}]\n"
      "    objectives: [{verifier: svc, max_downtime: 1s}]\n");
  ASSERT_TRUE(p.diags.empty()) << p.diags.ToString();
  EXPECT_EQ(p.plan.experiments[0].expected_failure, "known bug 123");
  EXPECT_EQ(p.plan.experiments[1].expected_failure, "7");
}

// ---------------------------------------------------------------------------------------------
// Several plans in one run

class LoadPlansTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gameday-loadplans-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "a");
    std::filesystem::create_directories(dir_ / "b");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& rel, const std::string& text) {
    const std::string path = (dir_ / rel).string();
    std::ofstream(path) << text;
    return path;
  }

  static std::string Suite(const std::string& name, const std::vector<std::string>& exps) {
    std::string out = "name: " + name + "\nexperiments:\n";
    for (const auto& e : exps) {
      out += "  - name: " + e +
             "\n"
             "    target: {kind: ssh, inventory: hosts.yaml, known_hosts: kh}\n"
             "    verify: [{name: svc, kind: probe}]\n"
             "    method: [{inject: kill}]\n";
    }
    return out;
  }

  std::filesystem::path dir_;
};

TEST_F(LoadPlansTest, ExperimentsRunInOrderWithPathsFromTheirOwnFolder) {
  const std::string a = Write("a/first.yaml", Suite("first", {"one", "two"}));
  const std::string b = Write("b/second.yaml", Suite("second", {"three"}));
  Registries r = MakeRegistries();
  Diagnostics diags;
  Plan plan = LoadPlans({a, b}, r, &diags);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  EXPECT_EQ(plan.name, "first+second");
  EXPECT_EQ(plan.file, a + ", " + b);
  ASSERT_EQ(plan.experiments.size(), 3u);
  EXPECT_EQ(plan.experiments[0].name, "one");
  EXPECT_EQ(plan.experiments[1].name, "two");
  EXPECT_EQ(plan.experiments[2].name, "three");
  EXPECT_EQ(plan.experiments[0].target.known_hosts, (dir_ / "a" / "kh").string());
  EXPECT_EQ(plan.experiments[2].target.known_hosts, (dir_ / "b" / "kh").string());
}

TEST_F(LoadPlansTest, OnePlanIsLoadPlan) {
  const std::string a = Write("a/first.yaml", Suite("first", {"one"}));
  Registries r = MakeRegistries();
  Diagnostics diags;
  Plan plan = LoadPlans({a}, r, &diags);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  EXPECT_EQ(plan.name, "first");
  EXPECT_EQ(plan.file, a);
}

TEST_F(LoadPlansTest, DuplicateNamesAcrossFilesNameBothFiles) {
  const std::string a = Write("a/first.yaml", Suite("first", {"one", "shared"}));
  const std::string b = Write("b/second.yaml", Suite("second", {"shared"}));
  Registries r = MakeRegistries();
  Diagnostics diags;
  LoadPlans({a, b}, r, &diags);
  ASSERT_EQ(diags.size(), 1u) << diags.ToString();
  EXPECT_EQ(diags.items()[0].ToString(),
            b + ":3:11: experiments[0].name: duplicate experiment name 'shared' across plans; " +
                "also used in " + a +
                ":7:11 (experiments[1].name) (experiment names must be unique in one run)");
}

TEST_F(LoadPlansTest, ProblemsInEveryFileAreReported) {
  const std::string a = Write("a/first.yaml", "name: first\nexperiments: []\n");
  const std::string b = Write("b/missing.yaml", "");
  std::filesystem::remove(b);
  Registries r = MakeRegistries();
  Diagnostics diags;
  LoadPlans({a, b}, r, &diags);
  ASSERT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_EQ(diags.items()[0].file, a);
  EXPECT_EQ(diags.items()[1].file, b);
  EXPECT_NE(diags.items()[1].message.find("cannot open plan"), std::string::npos);
}

}  // namespace
}  // namespace gameday
