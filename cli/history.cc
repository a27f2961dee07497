#include "reports/history.h"

#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "reports/report_text.h"

namespace gameday {
namespace {

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

// "frontend 4.10 s", "frontend not recovered", "frontend no impact".
std::string MetricWords(const HistoryMetric& m) {
  if (m.time_to_recover_s) return m.verifier + " " + FormatSeconds(*m.time_to_recover_s);
  if (!m.impact) return m.verifier + " no impact";
  return m.verifier + (m.recovered ? " recovered" : " not recovered");
}

int ListRuns(const std::string& db, const std::string& experiment, size_t limit) {
  auto store = HistoryStore::Open(db);
  if (!store.ok()) {
    std::cerr << store.status().message() << "\n";
    return kExitUsage;
  }
  auto runs = (*store)->Runs(experiment, limit);
  if (!runs.ok()) {
    std::cerr << runs.status().message() << "\n";
    return kExitUsage;
  }
  if (runs->empty()) {
    std::cout << "no runs recorded" << (experiment.empty() ? "" : " of " + experiment) << " in "
              << db << "\n";
    return kExitPassed;
  }
  std::cout << Pad("RUN", 51) << Pad("STARTED", 26) << Pad("STATUS", 9) << "PLAN\n";
  for (const HistoryRun& r : *runs) {
    std::cout << Pad(r.run_id, 51) << Pad(r.started, 26) << Pad(r.status, 9) << r.plan << "\n";
    auto exps = (*store)->Experiments(r.run_id);
    auto metrics = (*store)->Metrics(r.run_id);
    if (!exps.ok() || !metrics.ok()) continue;
    for (const HistoryExperiment& e : *exps) {
      if (!experiment.empty() && e.name != experiment) continue;
      std::string line =
          "  " + Pad(e.name, 32) + Pad(e.status, 9) + Pad(FormatSeconds(e.duration_s), 10);
      std::string sep = "recovery: ";
      for (const HistoryMetric& m : *metrics) {
        if (m.experiment != e.name) continue;
        line += sep + MetricWords(m);
        sep = ", ";
      }
      std::cout << line << "\n";
    }
  }
  return kExitPassed;
}

int Compare(const std::string& db, const std::string& run_id, const std::string& baseline) {
  auto store = HistoryStore::Open(db);
  if (!store.ok()) {
    std::cerr << store.status().message() << "\n";
    return kExitUsage;
  }
  auto lines = CompareRuns(**store, run_id, baseline);
  if (!lines.ok()) {
    std::cerr << lines.status().message() << "\n";
    return kExitUsage;
  }
  for (const std::string& line : *lines) std::cout << line << "\n";
  return kExitPassed;
}

}  // namespace

// `gameday history [--db PATH] [--experiment NAME] [--limit N]` lists recorded runs, newest
// first; `gameday history compare RUN_ID [--baseline RUN_ID|previous]` compares two of them.
void AddHistoryCommand(CLI::App& app, int* exit_code) {
  struct Options {
    std::string db = DefaultHistoryPath();
    std::string experiment;
    size_t limit = 20;
    std::string run_id;
    std::string baseline = "previous";
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("history", "List recorded runs, or compare two of them");
  cmd->fallthrough();  // --db may follow the compare subcommand too
  cmd->add_option("--db", opts->db, "history database")->capture_default_str();
  cmd->add_option("--experiment", opts->experiment, "only runs that hold this experiment");
  cmd->add_option("--limit", opts->limit, "at most this many runs (0 = all)")
      ->capture_default_str();
  auto* compare = cmd->add_subcommand("compare", "Compare a run with a baseline run");
  compare->add_option("RUN_ID", opts->run_id, "the run to compare (or 'latest')")->required();
  compare
      ->add_option("--baseline", opts->baseline,
                   "the run to compare with: a run id, or 'previous' (the run of the same "
                   "plan before it)")
      ->capture_default_str();
  compare->callback(
      [opts, exit_code] { *exit_code = Compare(opts->db, opts->run_id, opts->baseline); });
  cmd->callback([opts, exit_code, compare] {
    if (compare->parsed()) return;
    *exit_code = ListRuns(opts->db, opts->experiment, opts->limit);
  });
}

}  // namespace gameday
