#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "experiments/result.h"
#include "experiments/status.h"
#include "reports/trends.h"

namespace gameday {

// The run history: a local SQLite database (through Poco::Data) holding one row per run, per
// experiment and per verifier metric, so that runs can be listed, compared with a baseline and
// drawn as trends. Schema (version 1, PRAGMA user_version):
//
//   runs        (run_id PK, plan, started, status, seed, plan_file, ended, gameday_version)
//   experiments (run_id, name, status, duration)                 PK (run_id, name)
//   metrics     (run_id, experiment, verifier, kind, time_to_detect, time_to_recover,
//                recover_lo, recover_hi, downtime, availability, impact, recovered)
//                                                                PK (run_id, experiment, verifier)
//
// Times are seconds; `started`/`ended` are RFC 3339 UTC with milliseconds (so they sort as text);
// time_to_detect / time_to_recover / recover_lo / recover_hi are NULL when not measured.

// DefaultStateDir() + "/history.db".
std::string DefaultHistoryPath();

struct HistoryRun {
  std::string run_id;
  std::string plan;
  std::string started;  // RFC 3339
  std::string status;
  std::string seed;
};

struct HistoryExperiment {
  std::string run_id;
  std::string name;
  std::string status;
  double duration_s = 0;
};

struct HistoryMetric {
  std::string run_id;
  std::string experiment;
  std::string verifier;
  std::string kind;
  std::optional<double> time_to_detect_s;
  std::optional<double> time_to_recover_s;
  std::optional<std::pair<double, double>> recover_bound_s;
  double downtime_s = 0;
  double availability = 1;
  bool impact = false;
  bool recovered = false;
};

class HistoryStore {
 public:
  // Opens (creating the file, its folder and the schema when needed) the database at `path`.
  static Result<std::unique_ptr<HistoryStore>> Open(const std::string& path);
  ~HistoryStore();
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  // Stores `run` in one transaction, replacing a run with the same id. Dry runs measured nothing
  // and are not stored (Ok).
  Status Record(const RunResult& run);

  // Runs, newest first, at most `limit` (0 = all); with `experiment` set, only runs that hold it.
  Result<std::vector<HistoryRun>> Runs(const std::string& experiment, size_t limit);
  // The run `run_id`, or the newest one for "latest". NotFound when there is none.
  Result<HistoryRun> FindRun(const std::string& run_id);
  // The newest run of the same plan that started before `run` did. NotFound when there is none.
  Result<HistoryRun> PreviousRun(const HistoryRun& run);
  Result<std::vector<HistoryExperiment>> Experiments(const std::string& run_id);
  Result<std::vector<HistoryMetric>> Metrics(const std::string& run_id);
  // Recovery per verifier of each named experiment over its newest `limit` runs (oldest first).
  Result<RunHistory> Trends(const std::vector<std::string>& experiments, size_t limit);

 private:
  struct Impl;
  explicit HistoryStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Records `run` in the history database at `db_path`. What `gameday run` calls after every run.
Status RecordRun(const RunResult& run, const std::string& db_path);

// The trends the HTML report draws for `run`'s experiments: the newest `limit` recorded runs of
// each. A database that does not exist yet is an empty history, not an error.
Result<RunHistory> LoadRunHistory(const std::string& db_path, const RunResult& run,
                                  size_t limit = 20);

// Compares run `run_id` ("latest" allowed) with `baseline`: a run id, or "previous" (the run of
// the same plan before it). One line per measured change, e.g. "recovery of checkout-pod-kill/
// frontend went from 4.10 s to 9.80 s (+139%)", after a first line naming both runs.
Result<std::vector<std::string>> CompareRuns(HistoryStore& store, const std::string& run_id,
                                             const std::string& baseline);

}  // namespace gameday
