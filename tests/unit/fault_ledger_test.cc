// The fault ledger: journal before inject (a round's records with one fsync), revert with retries
// (many at once), revert on every path out.
#include "experiments/fault_ledger.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace gameday {
namespace {

struct World {
  std::string journal_dir;
  bool journaled_at_inject = false;
  bool fail_record = false;
  std::set<std::string> fail_record_of;  // targets without a revert record
  bool fail_inject = false;
  std::atomic<int> revert_failures{0};  // Revert fails this many times, then works
  std::set<std::string> never_revert;   // targets whose revert always fails
  std::atomic<int> reverts{0};
  std::atomic<int> injects{0};
  bool reversible = true;
  // What the journal held at each inject: target ids journaled, per injected target.
  std::mutex mu;
  std::vector<size_t> journaled_at_each_inject;
  std::chrono::milliseconds revert_takes{0};
  std::atomic<int> reverting{0};
  std::atomic<int> most_reverting{0};
};

class Injected : public Injector {
 public:
  explicit Injected(World* w) : w_(w) {}
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    return std::vector<FaultTarget>{};
  }
  Result<std::string> RevertRecord(const FaultTarget& t, const InjectorEnv&) override {
    if (w_->fail_record || w_->fail_record_of.count(t.id)) {
      return Status::Internal("no record for you");
    }
    return std::string("{\"target\":\"" + t.id + "\"}");
  }
  Status Inject(const FaultTarget& t, const InjectorEnv&) override {
    ++w_->injects;
    auto files = ReadJournals(w_->journal_dir);
    size_t journaled = 0;
    if (files.ok()) {
      for (const auto& f : *files) {
        journaled += f.live.size();
        for (const auto& r : f.live) w_->journaled_at_inject |= r.target_id == t.id;
      }
    }
    {
      std::lock_guard lock(w_->mu);
      w_->journaled_at_each_inject.push_back(journaled);
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
  Status Revert(const std::string& record, const InjectorEnv&) const override {
    ++w_->reverts;
    const int now = ++w_->reverting;
    for (int most = w_->most_reverting; now > most;) {
      if (w_->most_reverting.compare_exchange_weak(most, now)) break;
    }
    std::this_thread::sleep_for(w_->revert_takes);
    --w_->reverting;
    for (const std::string& id : w_->never_revert) {
      if (record.find("\"" + id + "\"") != std::string::npos) {
        return Status::Unavailable("host unreachable");
      }
    }
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
  // `n` targets t0, t1, ... planned as one round.
  std::vector<size_t> PlanMany(size_t n) {
    many_.clear();
    for (size_t i = 0; i < n; ++i) {
      many_.push_back(FaultTarget{"t" + std::to_string(i), "target " + std::to_string(i), {}});
    }
    std::vector<const FaultTarget*> targets;
    for (const FaultTarget& t : many_) targets.push_back(&t);
    return ledger_->Plan(inject_, &kind_, targets, InjectorEnv{}, 0, world_.reversible);
  }
  // One fault the whole way in, as a round of one target: prepare, commit, inject.
  Status Put(size_t index, const FaultTarget& target) {
    if (Status s = ledger_->Prepare(index, inject_, injector_, target); !s.ok()) return s;
    if (Status s = ledger_->Commit({index}, inject_); !s.ok()) return s;
    return ledger_->Inject(index, inject_, injector_, target);
  }
  uint64_t Syncs() const { return journal_->Stats().syncs; }

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
  std::deque<FaultTarget> many_;
  std::vector<std::string> events_;
  std::atomic<double> actions_{0};  // the action clock: 1, 2, 3 ... per fault action
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
  ASSERT_TRUE(Put(idx[0], a_).ok());
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
  Status st = Put(idx[0], a_);
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
  Status st = Put(idx[0], a_);
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
  ASSERT_TRUE(Put(idx[0], a_).ok());
  EXPECT_TRUE(ledger_->RevertAll().empty());
  EXPECT_EQ(world_.reverts, 3);
  EXPECT_EQ(ledger_->Results()[0].revert, RevertState::kReverted);
  EXPECT_FALSE(ledger_->RevertFailed());
}

TEST_F(FaultLedgerTest, ARevertThatNeverWorksStaysInTheJournal) {
  world_.revert_failures = 100;
  const std::vector<size_t> idx = PlanTwo();
  ASSERT_TRUE(Put(idx[0], a_).ok());
  const std::vector<std::string> failures = ledger_->RevertAll();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].find("stays in the journal for `gameday recover`"), std::string::npos);
  EXPECT_EQ(world_.reverts, 3);
  EXPECT_TRUE(ledger_->RevertFailed());
  EXPECT_EQ(ledger_->Results()[0].revert, RevertState::kFailed);
  EXPECT_FALSE(ledger_->Results()[0].t_revert.has_value());
  EXPECT_EQ(Live(), 1u);
  EXPECT_EQ(actions_.load(), 1.0);  // a failed revert is no fault action
}

TEST_F(FaultLedgerTest, OneShotFaultsNeedNoRevert) {
  world_.reversible = false;
  const std::vector<size_t> idx = PlanTwo();
  ASSERT_TRUE(Put(idx[0], a_).ok());
  EXPECT_EQ(ledger_->Results()[0].revert, RevertState::kNotNeeded);
  EXPECT_EQ(Live(), 1u);  // its clear waits for the round's batch
  ledger_->Settle(idx);
  EXPECT_EQ(Live(), 0u);
  EXPECT_TRUE(ledger_->RevertAll().empty());
  EXPECT_EQ(world_.reverts, 0);
}

TEST_F(FaultLedgerTest, TheGuardRevertsOnEveryPathOut) {
  const std::vector<size_t> idx = PlanTwo();
  try {
    FaultLedger::Guard guard(*ledger_);
    ASSERT_TRUE(Put(idx[0], a_).ok());
    ASSERT_TRUE(Put(idx[1], b_).ok());
    throw std::runtime_error("the method broke");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(world_.reverts, 2);
  EXPECT_EQ(Live(), 0u);
  for (const FaultResult& f : ledger_->Results()) EXPECT_EQ(f.revert, RevertState::kReverted);
}

TEST_F(FaultLedgerTest, ARoundIsJournaledWithOneFsyncBeforeAnyOfItGoesIn) {
  const std::vector<size_t> idx = PlanMany(20);
  for (size_t k = 0; k < idx.size(); ++k) {
    ASSERT_TRUE(ledger_->Prepare(idx[k], inject_, injector_, many_[k]).ok());
  }
  EXPECT_EQ(Live(), 0u);  // preparing journals nothing
  const uint64_t before = Syncs();
  ASSERT_TRUE(ledger_->Commit(idx, inject_).ok());
  EXPECT_EQ(Syncs() - before, 1u);
  EXPECT_EQ(Live(), 20u);
  EXPECT_EQ(world_.injects, 0);
  for (size_t k = 0; k < idx.size(); ++k) {
    ASSERT_TRUE(ledger_->Inject(idx[k], inject_, injector_, many_[k]).ok());
  }
  // Every inject, the first one too, found the whole round durable.
  ASSERT_EQ(world_.journaled_at_each_inject.size(), 20u);
  for (size_t n : world_.journaled_at_each_inject) EXPECT_EQ(n, 20u);
  EXPECT_EQ(Syncs() - before, 1u);  // injecting a reversible fault writes nothing
  EXPECT_TRUE(ledger_->Revert(idx).empty());
  EXPECT_EQ(Syncs() - before, 2u);  // the reverted round is cleared in one write
  EXPECT_EQ(Live(), 0u);
  EXPECT_EQ(world_.reverts, 20);
}

TEST_F(FaultLedgerTest, ATargetWithoutARevertRecordIsNeitherJournaledNorInjected) {
  world_.fail_record_of = {"t1"};
  const std::vector<size_t> idx = PlanMany(3);
  EXPECT_TRUE(ledger_->Prepare(idx[0], inject_, injector_, many_[0]).ok());
  const Status failed = ledger_->Prepare(idx[1], inject_, injector_, many_[1]);
  EXPECT_NE(failed.message().find("cannot prepare the revert of target 1, so it was not injected"),
            std::string::npos)
      << failed.message();
  EXPECT_TRUE(ledger_->Prepare(idx[2], inject_, injector_, many_[2]).ok());
  ASSERT_TRUE(ledger_->Commit(idx, inject_).ok());
  auto files = ReadJournals(dir_.string());
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  std::vector<std::string> journaled;
  for (const JournalRecord& r : (*files)[0].live) journaled.push_back(r.target_id);
  EXPECT_EQ(journaled, (std::vector<std::string>{"t0", "t2"}));
  const Status refused = ledger_->Inject(idx[1], inject_, injector_, many_[1]);
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(world_.injects, 0);
  EXPECT_EQ(ledger_->Results()[1].error, "no record for you");
  EXPECT_EQ(ledger_->Results()[1].revert, RevertState::kNotInjected);
}

TEST_F(FaultLedgerTest, ACommitThatCannotWriteInjectsNothing) {
  const std::vector<size_t> idx = PlanMany(3);
  for (size_t k = 0; k < idx.size(); ++k) {
    ASSERT_TRUE(ledger_->Prepare(idx[k], inject_, injector_, many_[k]).ok());
  }
  ASSERT_TRUE(journal_->Close().ok());  // every append fails from here on
  const Status st = ledger_->Commit(idx, inject_);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot write the journal, so none of the 3 target(s) of break"),
            std::string::npos)
      << st.message();
  for (size_t k = 0; k < idx.size(); ++k) {
    EXPECT_FALSE(ledger_->Inject(idx[k], inject_, injector_, many_[k]).ok());
    EXPECT_NE(ledger_->Results()[k].error.find("cannot write the journal"), std::string::npos);
  }
  EXPECT_EQ(world_.injects, 0);
  EXPECT_FALSE(ledger_->AnyInjected());
  EXPECT_TRUE(ledger_->RevertAll().empty());
  EXPECT_EQ(world_.reverts, 0);
}

TEST_F(FaultLedgerTest, CommittedButNeverInjectedIsClearedWithoutItsRevert) {
  const std::vector<size_t> idx = PlanMany(4);
  for (size_t k = 0; k < idx.size(); ++k) {
    ASSERT_TRUE(ledger_->Prepare(idx[k], inject_, injector_, many_[k]).ok());
  }
  ASSERT_TRUE(ledger_->Commit(idx, inject_).ok());
  ASSERT_TRUE(ledger_->Inject(idx[0], inject_, injector_, many_[0]).ok());
  // Halted here: until the round is settled, a crash leaves all four for `recover`.
  EXPECT_EQ(Live(), 4u);
  const uint64_t before = Syncs();
  ledger_->Settle(idx);
  EXPECT_EQ(Syncs() - before, 1u);
  EXPECT_EQ(Live(), 1u);  // only the one that went in
  EXPECT_EQ(world_.reverts, 0);
  // Withdrawn: never injected after all, not even by a late worker.
  const Status late = ledger_->Inject(idx[2], inject_, injector_, many_[2]);
  EXPECT_EQ(late.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(late.message().find("settled"), std::string::npos) << late.message();
  EXPECT_EQ(world_.injects, 1);
  EXPECT_TRUE(ledger_->RevertAll().empty());
  EXPECT_EQ(world_.reverts, 1);
  EXPECT_EQ(Live(), 0u);
  const std::vector<FaultResult> r = ledger_->Results();
  EXPECT_EQ(r[0].revert, RevertState::kReverted);
  for (size_t k = 1; k < r.size(); ++k) EXPECT_EQ(r[k].revert, RevertState::kNotInjected);
}

TEST_F(FaultLedgerTest, RevertAllWithdrawsWhatAHaltLeftUninjected) {
  const std::vector<size_t> idx = PlanMany(3);
  for (size_t k = 0; k < idx.size(); ++k) {
    ASSERT_TRUE(ledger_->Prepare(idx[k], inject_, injector_, many_[k]).ok());
  }
  ASSERT_TRUE(ledger_->Commit(idx, inject_).ok());
  {
    FaultLedger::Guard guard(*ledger_);  // the method threw before the round was settled
  }
  EXPECT_EQ(world_.reverts, 0);
  EXPECT_EQ(Live(), 0u);
  EXPECT_FALSE(ledger_->AnyInjected());
}

TEST_F(FaultLedgerTest, OneShotClearsAreBatched) {
  world_.reversible = false;
  const size_t n = FaultLedger::kClearBatch + 10;
  const std::vector<size_t> idx = PlanMany(n);
  for (size_t k = 0; k < n; ++k) {
    ASSERT_TRUE(ledger_->Prepare(idx[k], inject_, injector_, many_[k]).ok());
  }
  const uint64_t before = Syncs();
  ASSERT_TRUE(ledger_->Commit(idx, inject_).ok());
  for (size_t k = 0; k < n; ++k) {
    ASSERT_TRUE(ledger_->Inject(idx[k], inject_, injector_, many_[k]).ok());
  }
  // One commit, one full batch of clears on the way; the rest at Settle.
  EXPECT_EQ(Syncs() - before, 2u);
  EXPECT_EQ(Live(), 10u);
  ledger_->Settle(idx);
  EXPECT_EQ(Syncs() - before, 3u);
  EXPECT_EQ(Live(), 0u);
  EXPECT_EQ(world_.reverts, 0);
  for (const FaultResult& f : ledger_->Results()) EXPECT_EQ(f.revert, RevertState::kNotNeeded);
}

TEST_F(FaultLedgerTest, RevertsRunConcurrentlyWithinTheBound) {
  world_.revert_takes = std::chrono::milliseconds(20);
  world_.never_revert = {"t7"};
  const size_t n = 80;
  const std::vector<size_t> idx = PlanMany(n);
  for (size_t k = 0; k < n; ++k) ASSERT_TRUE(Put(idx[k], many_[k]).ok());
  const uint64_t before = Syncs();
  const std::vector<std::string> failures = ledger_->Revert(idx);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].find("reverting target 7 failed (it stays in the journal"),
            std::string::npos)
      << failures[0];
  EXPECT_GT(world_.most_reverting, 1);
  EXPECT_LE(world_.most_reverting, static_cast<int>(FaultLedger::kMaxParallelReverts));
  // 79 reverted once each, the failing one retried: kRevertAttempts (3) calls.
  EXPECT_EQ(world_.reverts, 79 + 3);
  EXPECT_EQ(Syncs() - before, 1u);  // the 79 cleared in one write
  auto files = ReadJournals(dir_.string());
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  ASSERT_EQ((*files)[0].live.size(), 1u);
  EXPECT_EQ((*files)[0].live[0].target_id, "t7");
  EXPECT_TRUE(ledger_->RevertFailed());
  const std::vector<FaultResult> r = ledger_->Results();
  for (size_t k = 0; k < n; ++k) {
    EXPECT_EQ(r[k].revert, k == 7 ? RevertState::kFailed : RevertState::kReverted) << k;
    EXPECT_EQ(r[k].t_revert.has_value(), k != 7) << k;
  }
}

TEST_F(FaultLedgerTest, TimingsSayWhatTheMeasurementNeeds) {
  inject_.duration = std::chrono::seconds(5);
  const std::vector<size_t> idx =
      ledger_->Plan(inject_, &kind_, {&a_, &b_}, InjectorEnv{}, 2, true);
  ASSERT_TRUE(Put(idx[0], a_).ok());
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
