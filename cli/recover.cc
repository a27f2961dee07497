#include <iostream>

#include "cli/commands.h"
#include "experiments/guarded.h"
#include "experiments/journal.h"

namespace gameday {

// Reverts whatever a crashed or killed run left in its journal.
void AddRecoverCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "recover", "Revert every fault that a crashed or killed run left in the journal");
  auto dir = std::make_shared<std::string>(DefaultStateDir() + "/journal");
  cmd->add_option("--journal-dir", *dir, "where run journals live")->capture_default_str();
  cmd->callback([dir, exit_code] {
    Registries registries;
    BuildRegistries(&registries);
    auto files = ReadJournals(*dir);
    if (!files.ok()) {
      std::cerr << "recover: " << files.status().message() << "\n";
      *exit_code = kExitAborted;
      return;
    }
    size_t reverted = 0, failed = 0, live_runs = 0;
    for (const JournalFile& file : *files) {
      if (file.locked) {
        ++live_runs;
        std::cout << "run " << file.run_id << " is still running (its journal is locked); "
                  << "left alone\n";
        continue;
      }
      auto journal = AdoptJournal(file.path);
      if (!journal.ok()) {
        std::cerr << "recover: " << file.path << ": " << journal.status().message() << "\n";
        ++failed;
        continue;
      }
      for (const JournalRecord& record : (*journal)->Live()) {
        const InjectorKind* kind = registries.injectors.Find(record.kind);
        Status st =
            kind ? Status::Ok() : Status::NotFound("unknown injector kind '" + record.kind + "'");
        if (kind) {
          InjectorEnv env;
          env.run_id = record.run_id;
          // One record that makes its kind throw must not keep the others from being reverted.
          st = Guarded("reverting", [&] { return kind->Revert(record.revert, env); });
        }
        if (st.ok()) st = (*journal)->Clear(record.fault_id);
        if (st.ok()) {
          ++reverted;
          std::cout << "reverted " << record.kind << " on " << record.target_display << " (run "
                    << record.run_id << ", fault " << record.fault_id << ")\n";
        } else {
          ++failed;
          std::cerr << "FAILED to revert " << record.kind << " on " << record.target_display
                    << " (run " << record.run_id << "): " << st.message() << "\n";
        }
      }
      Status closed = (*journal)->Close();
      if (!closed.ok()) std::cerr << "recover: " << closed.message() << "\n";
    }
    std::cout << "recover: " << reverted << " fault(s) reverted, " << failed << " failed";
    if (live_runs) std::cout << ", " << live_runs << " live run(s) left alone";
    std::cout << "\n";
    *exit_code = failed ? kExitAborted : kExitPassed;
  });
}

}  // namespace gameday
