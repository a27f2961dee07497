// Run ids are random on every run; --seed replays every random choice, including the ones an
// injector makes itself ("random N of GROUP" over SSH), and nothing else feeds those choices.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "clients/inventory/inventory.h"
#include "experiments/engine.h"
#include "experiments/run_id.h"
#include "tests/unit/engine_fixture.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;

TEST(RunIdTest, RandomOnEveryCallSortableAndUsableAsALabel) {
  const WallTime now = std::chrono::system_clock::now();
  std::set<std::string> ids;
  // A label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends.
  const std::regex label("[0-9]{8}T[0-9]{6}Z-[0-9a-f]{32}");
  for (int i = 0; i < 10000; ++i) {
    const std::string id = NewRunId(now);
    EXPECT_TRUE(std::regex_match(id, label)) << id;
    EXPECT_LE(id.size(), 63u);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 10000u) << "the same second never gives the same id";
  // The time prefix sorts: a later second sorts after.
  EXPECT_LT(NewRunId(now), NewRunId(now + std::chrono::seconds(1)));
  EXPECT_EQ(NewRunId(WallTime{} + std::chrono::seconds(1742031012)).substr(0, 17),
            "20250315T093012Z-");
}

// An engine run with a pinned seed and no run id gets a fresh one every time (it used to be a
// function of the seed).
class RunSeedTest : public gameday::testing::EngineFixture {
 protected:
  RunSeedTest() : EngineFixture("gameday-run-seed") {}
};

// Records the seed each Discover sees, per step.
class SeedRecorder : public Injector {
 public:
  explicit SeedRecorder(std::vector<std::pair<std::string, uint64_t>>* seen, std::string step)
      : seen_(seen), step_(std::move(step)) {}
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv& env) override {
    static std::mutex mu;
    std::lock_guard lock(mu);
    seen_->emplace_back(step_, env.seed);
    return std::vector<FaultTarget>{{"t0", "target 0", {}}};
  }
  Result<std::string> RevertRecord(const FaultTarget&, const InjectorEnv&) override {
    return std::string("{}");
  }
  Status Inject(const FaultTarget&, const InjectorEnv&) override { return Status::Ok(); }
  bool Reversible() const override { return false; }
  std::string DescribeAction(const FaultTarget&) const override { return "nothing"; }

 private:
  std::vector<std::pair<std::string, uint64_t>>* seen_;
  std::string step_;
};

class NothingKind : public InjectorKind {
 public:
  std::string Name() const override { return "nothing"; }
  std::unique_ptr<Injector> Parse(SpecNode&, const TargetSpec&) const override { return nullptr; }
  Status Revert(const std::string&, const InjectorEnv&) const override { return Status::Ok(); }
};

struct Outcome {
  std::string run_id;
  std::vector<std::pair<std::string, uint64_t>> seeds;  // (step, InjectorEnv::seed)
};

Outcome RunWithSeed(Registries& registries, const std::string& dir, uint64_t seed, bool dry_run) {
  Outcome out;
  ExperimentSpec e;
  e.name = "exp";
  e.path = "experiments[0]";
  VerifierSpec v;
  v.name = "svc";
  v.kind = "nothing";
  v.interval = milliseconds(10);
  v.slo.success_ratio = 0.5;
  v.verifier = std::make_shared<gameday::testing::NamedVerifier>("synthetic");
  e.verifiers.push_back(v);
  for (const char* name : {"first", "second"}) {
    InjectStep inject;
    inject.name = name;
    inject.kind = "nothing";
    inject.select.mode = SelectMode::kAll;
    inject.injector = std::make_shared<SeedRecorder>(&out.seeds, name);
    e.method.push_back(
        Step{"experiments[0].method[" + std::to_string(e.method.size()) + "]", inject});
  }
  e.warmup = milliseconds(30);
  e.stable_for = milliseconds(10);
  e.recovery_timeout = milliseconds(50);
  e.cooldown = milliseconds(10);
  Plan plan;
  plan.file = "seed.yaml";
  plan.experiments.push_back(std::move(e));
  EngineOptions o;
  o.seed = seed;  // and no run id: the engine makes one
  o.dry_run = dry_run;
  o.journal_dir = dir;
  Engine engine(
      registries,
      [](const std::vector<VerifierSpec>& vs, Clock&) {
        return std::make_unique<gameday::testing::SyntheticSampling>(
            vs.at(0).interval, [] { return std::chrono::steady_clock::now(); },
            [](MonoTime, double) { return Health::kHealthy; });
      },
      Clock::Real(), o);
  RunResult r = engine.Run(plan);
  out.run_id = r.run_id;
  return out;
}

TEST_F(RunSeedTest, SameSeedDifferentRunIdsSameInjectorSeeds) {
  ASSERT_TRUE(registries_.injectors.Register(std::make_unique<NothingKind>()).ok());
  const Outcome a = RunWithSeed(registries_, dir_.string(), 42, false);
  const Outcome b = RunWithSeed(registries_, dir_.string(), 42, false);
  const Outcome dry = RunWithSeed(registries_, dir_.string(), 42, true);
  const Outcome other = RunWithSeed(registries_, dir_.string(), 43, false);
  EXPECT_NE(a.run_id, b.run_id) << "a pinned seed must not pin the run id";
  ASSERT_EQ(a.seeds.size(), 2u);
  EXPECT_EQ(a.seeds, b.seeds) << "the same --seed gives every injector the same seed";
  EXPECT_EQ(a.seeds, dry.seeds) << "a dry run shows what the real run will choose";
  EXPECT_NE(a.seeds[0].second, a.seeds[1].second) << "each step draws its own stream";
  ASSERT_EQ(other.seeds.size(), 2u);
  EXPECT_NE(a.seeds[0].second, other.seeds[0].second);
  EXPECT_NE(a.seeds[1].second, other.seeds[1].second);
}

// "random 2 of GROUP" over SSH draws from the step's seed: the same seed picks the same hosts,
// from an inventory read from a file as a run reads it.
TEST(SeededHostSelectionTest, SameSeedSameHostsDifferentSeedsDiffer) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("gameday-seed-inventory-" + std::to_string(getpid()));
  {
    std::ofstream out(file);
    out << "hosts:\n";
    for (int i = 1; i <= 6; ++i) {
      out << "  - {name: m" << i << ", address: 127.0.0." << i + 10 << ", groups: [masters]}\n";
    }
  }
  Result<Inventory> inv = LoadInventory(file.string());
  std::filesystem::remove(file);
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  auto names = [&](uint64_t seed) {
    Result<std::vector<InventoryHost>> hosts = SelectHosts(*inv, "random 2 of masters", seed);
    std::vector<std::string> out;
    if (hosts.ok()) {
      for (const InventoryHost& h : *hosts) out.push_back(h.name);
    }
    return out;
  };
  std::set<std::vector<std::string>> picks;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const std::vector<std::string> pick = names(seed);
    ASSERT_EQ(pick.size(), 2u);
    EXPECT_EQ(names(seed), pick) << "seed " << seed;
    picks.insert(pick);
  }
  EXPECT_GT(picks.size(), 5u) << "different seeds pick different hosts";
  // Pinned: a recorded seed replays on any build (no std::sample, no std:: distributions).
  EXPECT_EQ(names(12345), (std::vector<std::string>{"m1", "m3"}));
}

}  // namespace
}  // namespace gameday
