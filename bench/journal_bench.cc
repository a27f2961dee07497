// Journal group commit: N faults (default 1,000) journaled and cleared one at a time (a write and
// an fsync per record and per clear, as gameday did before issue 13) against one batch for the
// records and one for the clears, and the fault ledger's whole round of one-shot faults (prepare,
// commit, inject with a no-op injector, settle), on a real file on disk. Prints one markdown table
// with the wall time, the fsyncs and write(2) calls the journal counted, and the time per fault.
// fsync is what is measured, so the folder must be on a real disk: not a tmpfs.
// Usage: journal_bench [FAULTS] [DIR]   (default 1000, $TMPDIR or /var/tmp)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_util.h"
#include "experiments/fault_ledger.h"
#include "experiments/journal.h"

namespace {

using gameday::bench::Since;

using gameday::FaultLedger;
using gameday::FaultTarget;
using gameday::InjectorEnv;
using gameday::Journal;
using gameday::JournalRecord;
using gameday::JournalStats;
using gameday::Result;
using gameday::Status;
using Steady = std::chrono::steady_clock;

// A record the size of a pod-kill's: the pod's namespace, name and uid.
JournalRecord PodRecord(size_t i) {
  JournalRecord r;
  r.fault_id = "pod-kill/kill/" + std::to_string(i + 1);
  r.run_id = "bench";
  r.kind = "pod-kill";
  r.target_id = "4a1c2f7e-0000-4000-8000-" + std::to_string(100000000000 + i);
  r.target_display = "default/frontend-7d9c-" + std::to_string(i);
  r.revert = R"({"namespace":"default","name":"frontend-7d9c-)" + std::to_string(i) + R"("})";
  r.injected_unix_ms = 1700000000000;
  return r;
}

// A pod-kill-like injector: nothing to undo, nothing done.
class NoopInjector : public gameday::Injector {
 public:
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    return std::vector<FaultTarget>{};
  }
  Result<std::string> RevertRecord(const FaultTarget& t, const InjectorEnv&) override {
    return R"({"name":")" + t.id + R"("})";
  }
  Status Inject(const FaultTarget&, const InjectorEnv&) override { return Status::Ok(); }
  bool Reversible() const override { return false; }
  std::string DescribeAction(const FaultTarget& t) const override { return "kill " + t.display; }
};

class NoopKind : public gameday::InjectorKind {
 public:
  std::string Name() const override { return "pod-kill"; }
  std::unique_ptr<gameday::Injector> Parse(gameday::SpecNode&,
                                           const gameday::TargetSpec&) const override {
    return nullptr;
  }
  Status Revert(const std::string&, const InjectorEnv&) const override { return Status::Ok(); }
};

struct Row {
  std::string how;
  double seconds = 0;
  JournalStats stats;
};

bool Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "journal_bench: %s: %s\n", what.c_str(), s.message().c_str());
  return false;
}

// Each fault's record, then each fault's clear, one write and fsync each.
bool OneAtATime(const std::string& dir, size_t n, Row* row) {
  auto journal = Journal::Open(dir, "one-at-a-time");
  if (!journal.ok()) return Fail("open", journal.status());
  std::vector<JournalRecord> records;
  for (size_t i = 0; i < n; ++i) records.push_back(PodRecord(i));
  const auto t0 = Steady::now();
  for (const JournalRecord& r : records) {
    if (Status s = (*journal)->Record(r); !s.ok()) return Fail("record", s);
  }
  for (const JournalRecord& r : records) {
    if (Status s = (*journal)->Clear(r.fault_id); !s.ok()) return Fail("clear", s);
  }
  row->seconds = Since(t0);
  row->stats = (*journal)->Stats();
  return (*journal)->Close().ok();
}

// Every record in one batch, every clear in another.
bool Batched(const std::string& dir, size_t n, Row* row) {
  auto journal = Journal::Open(dir, "batched");
  if (!journal.ok()) return Fail("open", journal.status());
  std::vector<JournalRecord> records;
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) {
    records.push_back(PodRecord(i));
    ids.push_back(records.back().fault_id);
  }
  const auto t0 = Steady::now();
  if (Status s = (*journal)->Record(records); !s.ok()) return Fail("record", s);
  if (Status s = (*journal)->Clear(ids); !s.ok()) return Fail("clear", s);
  row->seconds = Since(t0);
  row->stats = (*journal)->Stats();
  return (*journal)->Close().ok();
}

// A round of one-shot faults through the ledger, on this one thread: the engine's workers only
// add parallelism to the injector's own work, which here is none.
bool LedgerRound(const std::string& dir, size_t n, Row* row) {
  auto journal = Journal::Open(dir, "ledger");
  if (!journal.ok()) return Fail("open", journal.status());
  gameday::FakeClock clock;
  double t = 0;
  FaultLedger ledger("bench", "ledger", journal->get(), clock,
                     FaultLedger::Hooks{[](const std::string&, const std::string&) {},
                                        [&t] { return t += 0.001; }});
  NoopKind kind;
  NoopInjector injector;
  gameday::InjectStep step;
  step.name = "kill";
  step.kind = "pod-kill";
  std::deque<FaultTarget> targets;
  std::vector<const FaultTarget*> chosen;
  for (size_t i = 0; i < n; ++i) {
    targets.push_back(
        FaultTarget{"pod-" + std::to_string(i), "default/frontend-" + std::to_string(i), {}});
    chosen.push_back(&targets.back());
  }
  const auto t0 = Steady::now();
  const std::vector<size_t> idx = ledger.Plan(step, &kind, chosen, InjectorEnv{}, 0, false);
  for (size_t k = 0; k < n; ++k) {
    if (Status s = ledger.Prepare(idx[k], step, injector, targets[k]); !s.ok()) {
      return Fail("prepare", s);
    }
  }
  if (Status s = ledger.Commit(idx, step); !s.ok()) return Fail("commit", s);
  for (size_t k = 0; k < n; ++k) {
    if (Status s = ledger.Inject(idx[k], step, injector, targets[k]); !s.ok()) {
      return Fail("inject", s);
    }
  }
  ledger.Settle(idx);
  row->seconds = Since(t0);
  row->stats = (*journal)->Stats();
  return (*journal)->Close().ok();
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
  const char* tmp = std::getenv("TMPDIR");
  std::string base = argc > 2 ? argv[2] : (tmp && *tmp ? tmp : "/var/tmp");
  std::string dir = base + "/journal_bench-XXXXXX";
  if (n == 0 || !::mkdtemp(dir.data())) {
    std::fprintf(stderr, "usage: journal_bench [FAULTS] [DIR]\n");
    return 2;
  }
  std::vector<Row> rows(3);
  rows[0].how = "one at a time (before)";
  rows[1].how = "one batch for the records, one for the clears";
  rows[2].how = "ledger round, one-shot faults (prepare, commit, inject, settle)";
  const bool ok =
      OneAtATime(dir, n, &rows[0]) && Batched(dir, n, &rows[1]) && LedgerRound(dir, n, &rows[2]);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!ok) return 1;

  std::printf("Journal of %zu faults (a record and a clear each) in %s, fsync on every write\n\n",
              n, base.c_str());
  std::printf("| how | wall time | fsyncs | write(2) calls | lines | per fault |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Row& r : rows) {
    std::printf("| %s | %.3f s | %llu | %llu | %llu | %.1f us |\n", r.how.c_str(), r.seconds,
                static_cast<unsigned long long>(r.stats.syncs),
                static_cast<unsigned long long>(r.stats.writes),
                static_cast<unsigned long long>(r.stats.lines), r.seconds / n * 1e6);
  }
  return 0;
}
