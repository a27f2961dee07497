#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "clients/kubernetes/cluster.h"
#include "clients/kubernetes/cluster_journal.h"
#include "experiments/format.h"
#include "experiments/guarded.h"
#include "experiments/journal.h"

namespace gameday {
namespace {

std::string DirOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// `recover --forget FILE...`: a person has looked at a journal gameday could not fully read (or
// whose reverts keep failing) and takes over what it describes.
int Forget(const std::vector<std::string>& paths) {
  int code = kExitPassed;
  for (const std::string& path : paths) {
    size_t live = 0, unreadable = 0;
    // ReadJournals names each file DIR/NAME.
    const std::string listed = DirOf(path) + "/" + path.substr(path.find_last_of('/') + 1);
    if (auto files = ReadJournals(DirOf(path)); files.ok()) {
      for (const JournalFile& f : *files) {
        if (f.path != listed) continue;
        live = f.live.size();
        unreadable = f.problems.size();
        for (const JournalRecord& r : f.live) {
          std::cout << "forgetting live fault: " << r.kind << " on " << r.target_display << " (run "
                    << r.run_id << ", line " << r.line << ")\n";
        }
      }
    }
    Status st = ForgetJournal(path);
    if (!st.ok()) {
      std::cerr << "recover: cannot forget " << path << ": " << st.message() << "\n";
      code = kExitAborted;
      continue;
    }
    std::cout << "forgot " << path << " (" << live << " live fault(s), " << unreadable
              << " unreadable line(s) in it are now yours to check by hand)\n";
  }
  return code;
}

// What a person must do about a journal that keeps records gameday would not act on.
void TellWhatToDo(const std::string& path, size_t count) {
  std::cerr << "recover: " << path << " keeps " << count
            << " record(s) that were not acted on; a fault they describe may still be in "
               "place. Read those lines, undo what they describe by hand, then remove the file "
               "with: gameday recover --forget "
            << path << "\n";
}

// What became of one journal record.
enum class Outcome { kReverted, kRefused, kFailed };

// Reverts one recorded fault with its injector kind's Revert, then `clear`s it; says what
// happened (`where` names the record: FILE:LINE or the ConfigMap and key).
Outcome RevertRecorded(const Registries& registries, const JournalRecord& record,
                       const std::string& where, const std::function<Status()>& clear) {
  const InjectorKind* kind = registries.injectors.Find(record.kind);
  if (!kind) {
    std::cerr << "recover: " << where << ": unknown injector kind '" << record.kind
              << "' (not acted on): " << JournalExcerpt(record.revert) << "\n";
    return Outcome::kRefused;
  }
  std::string note;
  std::string observed;
  InjectorEnv env;
  env.run_id = record.run_id;
  env.revert_note = &note;
  env.revert_observed = &observed;
  // One record that makes its kind throw must not keep the others from being reverted.
  Status st = Guarded("reverting", [&] { return kind->Revert(record.revert, env); });
  if (st.code() == Status::Code::kInvalidArgument) {
    // Revert refuses a record with an invalid field before doing anything.
    std::cerr << "recover: " << where << ": refused " << record.kind << " record (" << st.message()
              << "), not acted on: " << JournalExcerpt(record.revert) << "\n";
    return Outcome::kRefused;
  }
  if (st.ok()) st = clear();
  if (!st.ok()) {
    std::cerr << "FAILED to revert " << record.kind << " on " << record.target_display << " (run "
              << record.run_id << ", " << where << "): " << st.message() << "\n";
    return Outcome::kFailed;
  }
  std::cout << "reverted " << record.kind << " on " << record.target_display << " (run "
            << record.run_id << ", fault " << record.fault_id << ")"
            << (note.empty() ? "" : "; NOTE: " + note)
            << (observed.empty() ? "" : "; observed: " + observed) << "\n";
  return Outcome::kReverted;
}

// Where `recover --cluster` finds the runs' journals.
struct ClusterOptions {
  std::string ns;
  std::string kubeconfig;
  std::string context;
};

// `recover --cluster`: reverts the faults of every run in the namespace whose heartbeat lapsed
// (its pod, node or process is gone) and every fault past its own expiry, clears them from the
// run's ConfigMap and removes the ConfigMap once nothing is left in it.
int RecoverCluster(const Registries& registries, const ClusterOptions& opts) {
  auto client = SharedKubeClient(opts.kubeconfig, opts.context);
  if (!client.ok()) {
    std::cerr << "recover: " << client.status().message() << "\n";
    return kExitAborted;
  }
  KubeClient& kube = **client;
  auto runs = ReadClusterJournals(kube, opts.ns);
  if (!runs.ok()) {
    std::cerr << "recover: cannot read the journals in namespace " << opts.ns << ": "
              << runs.status().message() << "\n";
    return kExitAborted;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          kube.clock().WallNow().time_since_epoch())
                          .count();
  size_t reverted = 0, failed = 0, unreadable = 0, live_runs = 0;
  for (const ClusterJournalRun& run : *runs) {
    const bool lapsed = run.alive_until_unix_ms <= now;
    if (run.alive_until_unix_ms == 0) {
      std::cout << run.Where() << " has no readable heartbeat; its run counts as gone\n";
    }
    size_t left = 0, run_failed = 0;
    for (const ClusterJournalRun::Fault& fault : run.live) {
      const int64_t expires = fault.record.expires_unix_ms;
      if (!lapsed && (expires == 0 || expires > now)) {
        ++left;
        continue;
      }
      const std::string where = run.Where() + " key " + fault.key;
      switch (RevertRecorded(registries, fault.record, where,
                             [&] { return ClearClusterJournal(kube, run, {fault.key}); })) {
        case Outcome::kReverted:
          ++reverted;
          break;
        case Outcome::kRefused:
          ++unreadable;
          ++left;
          break;
        case Outcome::kFailed:
          ++failed;
          ++run_failed;
          break;
      }
    }
    for (const std::string& problem : run.problems) {
      std::cerr << "recover: " << run.Where() << ": " << problem << " (unreadable, not acted on)\n";
    }
    unreadable += run.problems.size();
    if (!lapsed) {
      ++live_runs;
      std::cout << "run " << run.run_id << " is still running (heartbeat from "
                << (run.holder.empty() ? "?" : run.holder) << " for another "
                << FormatSeconds(static_cast<double>(run.alive_until_unix_ms - now) / 1000.0)
                << "); " << left << " fault(s) left to it\n";
      continue;
    }
    if (left + run_failed + run.problems.size() > 0) {
      if (left + run.problems.size() > 0) {
        std::cerr << "recover: " << run.Where() << " keeps " << left + run.problems.size()
                  << " record(s) that were not acted on; a fault they describe may still be in "
                     "place. Read them (kubectl get configmap -o yaml -n "
                  << run.ns << " " << run.name
                  << "), undo by hand what they describe, then delete the ConfigMap\n";
      }
      continue;
    }
    if (Status st = RemoveClusterJournal(kube, run); !st.ok()) {
      std::cerr << "recover: cannot remove " << run.Where() << ": " << st.message() << "\n";
    }
  }
  std::cout << "recover: " << reverted << " fault(s) reverted, " << failed << " failed, "
            << unreadable << " unreadable or refused";
  if (live_runs) std::cout << ", " << live_runs << " live run(s) left alone";
  std::cout << "\n";
  return failed || unreadable ? kExitAborted : kExitPassed;
}

}  // namespace

// Reverts whatever a crashed or killed run left in its journal. Every line it cannot read, and
// every record it refuses to act on, is named (file:line and what was there) and makes the exit
// code 3; such a journal is never deleted.
void AddRecoverCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "recover", "Revert every fault that a crashed or killed run left in the journal");
  auto dir = std::make_shared<std::string>(DefaultStateDir() + "/journal");
  auto forget = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--journal-dir", *dir, "where run journals live")->capture_default_str();
  cmd->add_option("--forget", *forget,
                  "delete these journal files (after you have read them and undone by hand what "
                  "they describe) instead of recovering");
  auto cluster = std::make_shared<bool>(false);
  auto cluster_opts = std::make_shared<ClusterOptions>();
  cluster_opts->ns = "gameday";
  cmd->add_flag("--cluster", *cluster,
                "revert what runs journaled in the cluster (run --cluster-journal) and left "
                "behind: their heartbeat lapsed, or a fault's expiry passed");
  cmd->add_option("--cluster-journal-namespace", cluster_opts->ns,
                  "with --cluster: the namespace of the runs' journal ConfigMaps")
      ->capture_default_str();
  cmd->add_option("--kubeconfig", cluster_opts->kubeconfig,
                  "with --cluster: kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  cmd->add_option("--context", cluster_opts->context, "with --cluster: kubeconfig context");
  cmd->callback([dir, forget, cluster, cluster_opts, exit_code] {
    if (!forget->empty()) {
      *exit_code = Forget(*forget);
      return;
    }
    Registries registries;
    BuildRegistries(&registries);
    if (*cluster) {
      *exit_code = RecoverCluster(registries, *cluster_opts);
      return;
    }
    auto files = ReadJournals(*dir);
    if (!files.ok()) {
      std::cerr << "recover: " << files.status().message() << "\n";
      *exit_code = kExitAborted;
      return;
    }
    size_t reverted = 0, failed = 0, unreadable = 0, live_runs = 0;
    for (const JournalFile& file : *files) {
      if (file.refused) {
        for (const JournalProblem& p : file.problems) {
          std::cerr << "recover: " << p.ToString(file.path) << "\n";
        }
        std::cerr << "recover: nothing in " << file.path
                  << " was read or acted on; find out who made it, then remove it by hand (or, "
                     "if it is yours, give it your owner and mode 0600)\n";
        ++unreadable;
        continue;
      }
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
      size_t not_acted = 0;
      for (const JournalProblem& p : (*journal)->Problems()) {
        std::cerr << "recover: " << p.ToString(file.path) << " (unreadable, not acted on)\n";
        ++not_acted;
      }
      for (const JournalRecord& record : (*journal)->Live()) {
        const std::string where = file.path + ":" + std::to_string(record.line);
        switch (RevertRecorded(registries, record, where,
                               [&] { return (*journal)->Clear(record.fault_id); })) {
          case Outcome::kReverted:
            ++reverted;
            break;
          case Outcome::kRefused:
            ++not_acted;
            break;
          case Outcome::kFailed:
            ++failed;
            break;
        }
      }
      Status closed = (*journal)->Close();
      if (!closed.ok()) std::cerr << "recover: " << closed.message() << "\n";
      if (not_acted) TellWhatToDo(file.path, not_acted);
      unreadable += not_acted;
    }
    std::cout << "recover: " << reverted << " fault(s) reverted, " << failed << " failed, "
              << unreadable << " unreadable or refused";
    if (live_runs) std::cout << ", " << live_runs << " live run(s) left alone";
    std::cout << "\n";
    *exit_code = failed || unreadable ? kExitAborted : kExitPassed;
  });
}

}  // namespace gameday
