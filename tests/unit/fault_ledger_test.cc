// The fault ledger: journal before inject, revert with retries, revert on every path out.
#include "experiments/fault_ledger.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace gameday {
namespace {

struct World {
  std::string journal_dir;
  bool journaled_at_inject = false;
  bool fail_record = false;
  bool fail_inject = false;
  int revert_failures = 0;  // Revert fails this many times, then works
  int reverts = 0;
  bool reversible = true;
};

class Injected : public Injector {
 public:
  explicit Injected(World* w) : w_(w) {}
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    return std::vector<FaultTarget>{};
  }
  Result<std::string> RevertRecord(const FaultTarget& t, const InjectorEnv&) override {
    if (w_->fail_record) return Status::Internal("no record for you");
    return std::string("{\"target\":\"" + t.id + "\"}");
  }
  Status Inject(const FaultTarget& t, const InjectorEnv&) override {
    auto files = ReadJournals(w_->journal_dir);
    if (files.ok()) {
      for (const auto& f : *files) {
        for (const auto& r : f.live) w_->journaled_at_inject |= r.target_id == t.id;
      }
    }
    return w_->fail_inject ? Status::Internal("boom") : Status::Ok();
  }
  bool Reversible() const override { return w_->reversible; }
  std::string DescribeAction(const FaultTarget& t) const override { return "break " + t.display; }

 private:
  World* w_;
};

class Kind : public InjectorKind {
 public:
  explicit Kind(World* w) : w_(w) {}
  std::string Name() const override { return "fake"; }
  std::unique_ptr<Injector> Parse(SpecNode&, const TargetSpec&) const override { return nullptr; }
  Status Revert(const std::string&, const InjectorEnv&) const override {
    ++w_->reverts;
    if (w_->revert_failures-- > 0) return Status::Unavailable("host unreachable");
    return Status::Ok();
  }

 private:
  World* w_;
};

class FaultLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gameday-ledger-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    world_.journal_dir = dir_.string();
    auto journal = Journal::Open(dir_.string(), "run-1");
    ASSERT_TRUE(journal.ok()) << journal.status().message();
    journal_ = std::move(journal.value());
    inject_.name = "break";
    inject_.kind = "fake";
    ledger_ = std::make_unique<FaultLedger>(
        "exp", "run-1", journal_.get(), clock_,
        FaultLedger::Hooks{[this](const std::string& source, const std::string& message) {
                             events_.push_back(source + ": " + message);
                           },
                           [this] { return actions_ += 1; }});
  }
  void TearDown() override {
    ledger_.reset();
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }
  size_t Live() {
    size_t n = 0;
    auto files = ReadJournals(dir_.string());
    if (files.ok()) {
      for (const auto& f : *files) n += f.live.size();
    }
    return n;
  }
  std::vector<size_t> PlanTwo() {
    return ledger_->Plan(inject_, &kind_, {&a_, &b_}, InjectorEnv{}, 0, world_.reversible);
  }

  std::filesystem::path dir_;
  World world_;
  Kind kind_{&world_};
  Injected injector_{&world_};
  FakeClock clock_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<FaultLedger> ledger_;
  InjectStep inject_;
  FaultTarget a_{"a", "target a", {}};
  FaultTarget b_{"b", "target b", {}};
  std::vector<std::string> events_;
  double actions_ = 0;  // the action clock: 1, 2, 3 ... per fault action
};

TEST_F(FaultLedgerTest, PlannedFaultsAreNamedPerStepAndNotInjected) {
  const std::vector<size_t> idx = PlanTwo();
  ASSERT_EQ(idx.size(), 2u);
  const std::vector<FaultResult> r = ledger_->Results();
  EXPECT_EQ(r[0].id, "exp/break/1");
  EXPECT_EQ(r[1].id, "exp/break/2");
  EXPECT_EQ(r[1].target, "target b");
  EXPECT_EQ(r[0].revert, RevertState::kNotInjected);
  EXPECT_FALSE(ledger_->AnyInjected());
}

TEST_F(FaultLedgerTest, JournalsBeforeInjectingAndClearsAfterTheRevert) {
  const std::vector<size_t> idx = PlanTwo();
  ASSERT_TRUE(ledger_->Inject(idx[0], inject_, injector_, a_).ok());
  EXPECT_TRUE(world_.journaled_at_inject);
  EXPECT_EQ(Live(), 1u);
  EXPECT_TRUE(ledger_->AnyInjected());
  EXPECT_EQ(ledger_->FirstInjected(idx), 1.0);
  EXPECT_TRUE(ledger_->Revert(idx).empty());
  EXPECT_EQ(Live(), 0u);
  const std::vector<FaultResult> r = ledger_->Results();
  EXPECT_EQ(r[0].revert, RevertState::kReverted);
  EXPECT_EQ(r[0].t_inject, 1.0);
  EXPECT_EQ(r[0].t_revert, 2.0);
  EXPECT_EQ(r[1].revert, RevertState::kNotInjected);  // never injected, never reverted
  EXPECT_EQ(world_.reverts, 1);
}

TEST_F(FaultLedgerTest, NoRecordMeansNoInjection) {
  world_.fail_record = true;
  const std::vector<size_t> idx = PlanTwo();
  Status st = ledger_->Inject(idx[0], inject_, injector_, a_);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot prepare the revert of target a, so it was not injected"),
            std::string::npos)
      << st.message();
  EXPECT_FALSE(world_.journaled_at_inject);
  EXPECT_EQ(Live(), 0u);
  EXPECT_EQ(ledger_->Results()[0].revert, RevertState::kNotInjected);
  EXPECT_EQ(ledger_->Results()[0].error, "no record for you");
}

TEST_F(FaultLedgerTest, AFailedInjectIsStillReverted) {
  world_.fail_inject = true;
  const std::vector<size_t> idx = PlanTwo();
  Status st = ledger_->Inject(idx[0], inject_, injector_, a_);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("injecting into target a failed: "), std::string::npos);
  EXPECT_EQ(Live(), 1u);
  EXPECT_TRUE(ledger_->RevertAll().empty());
  EXPECT_EQ(ledger_->Results()[0].revert, RevertState::kReverted);
  EXPECT_EQ(Live(), 0u);
}

TEST_F(FaultLedgerTest, RevertIsRetried) {
  world_.revert_failures = 2;
  const std::vector<size_t> idx = PlanTwo();
  ASSERT_TRUE(ledger_->Inject(idx[0], inject_, injector_, a_).ok());
  EXPECT_TRUE(ledger_->RevertAll().empty());
  EXPECT_EQ(world_.reverts, 3);
  EXPECT_EQ(ledger_->Results()[0].revert, RevertState::kReverted);
  EXPECT_FALSE(ledger_->RevertFailed());
}

TEST_F(FaultLedgerTest, ARevertThatNeverWorksStaysInTheJournal) {
  world_.revert_failures = 100;
  const std::vector<size_t> idx = PlanTwo();
  ASSERT_TRUE(ledger_->Inject(idx[0], inject_, injector_, a_).ok());
  const std::vector<std::string> failures = ledger_->RevertAll();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].find("stays in the journal for `gameday recover`"), std::string::npos);
  EXPECT_EQ(world_.reverts, 3);
  EXPECT_TRUE(ledger_->RevertFailed());
  EXPECT_EQ(ledger_->Results()[0].revert, RevertState::kFailed);
  EXPECT_FALSE(ledger_->Results()[0].t_revert.has_value());
  EXPECT_EQ(Live(), 1u);
  EXPECT_EQ(actions_, 1.0);  // a failed revert is no fault action
}

TEST_F(FaultLedgerTest, OneShotFaultsNeedNoRevert) {
  world_.reversible = false;
  const std::vector<size_t> idx = PlanTwo();
  ASSERT_TRUE(ledger_->Inject(idx[0], inject_, injector_, a_).ok());
  EXPECT_EQ(ledger_->Results()[0].revert, RevertState::kNotNeeded);
  EXPECT_EQ(Live(), 0u);
  EXPECT_TRUE(ledger_->RevertAll().empty());
  EXPECT_EQ(world_.reverts, 0);
}

TEST_F(FaultLedgerTest, TheGuardRevertsOnEveryPathOut) {
  const std::vector<size_t> idx = PlanTwo();
  try {
    FaultLedger::Guard guard(*ledger_);
    ASSERT_TRUE(ledger_->Inject(idx[0], inject_, injector_, a_).ok());
    ASSERT_TRUE(ledger_->Inject(idx[1], inject_, injector_, b_).ok());
    throw std::runtime_error("the method broke");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(world_.reverts, 2);
  EXPECT_EQ(Live(), 0u);
  for (const FaultResult& f : ledger_->Results()) EXPECT_EQ(f.revert, RevertState::kReverted);
}

TEST_F(FaultLedgerTest, TimingsSayWhatTheMeasurementNeeds) {
  inject_.duration = std::chrono::seconds(5);
  const std::vector<size_t> idx =
      ledger_->Plan(inject_, &kind_, {&a_, &b_}, InjectorEnv{}, 2, true);
  ASSERT_TRUE(ledger_->Inject(idx[0], inject_, injector_, a_).ok());
  ledger_->Revert({idx[0]});
  const std::vector<FaultTiming> t = ledger_->Timings();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].step, "break");
  EXPECT_EQ(t[0].round, 2);
  EXPECT_TRUE(t[0].injected);
  EXPECT_TRUE(t[0].has_duration);
  EXPECT_EQ(t[0].t_inject, 1.0);
  EXPECT_EQ(t[0].t_revert, 2.0);
  EXPECT_FALSE(t[1].injected);
}

}  // namespace
}  // namespace gameday
