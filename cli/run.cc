#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "clients/kubernetes/cluster.h"
#include "clients/kubernetes/cluster_journal.h"
#include "clients/kubernetes/run_lock.h"
#include "experiments/engine.h"
#include "experiments/files.h"
#include "experiments/journal.h"
#include "experiments/rbac.h"
#include "experiments/redact.h"
#include "experiments/run_id.h"
#include "experiments/sample_store.h"
#include "reports/history.h"
#include "reports/html_report.h"
#include "reports/json_report.h"
#include "reports/junit_report.h"
#include "reports/pushgateway.h"
#include "reports/report_text.h"
#include "reports/termination_message.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

// Progress for people. On a terminal, one live line per verifier is redrawn in place below the
// event log; otherwise every event and every verifier health change is one plain line.
class ConsoleObserver : public EngineObserver {
 public:
  explicit ConsoleObserver(bool terminal) : terminal_(terminal) {}

  void OnEvent(const std::string& experiment, const TimelineEvent& e) override {
    std::lock_guard lock(mu_);
    ClearLive();
    // Messages can echo what the outside world said (URLs, command lines): no secret on screen.
    std::printf("[%8.3fs] %s %s: %s\n", e.t, experiment.c_str(), e.source.c_str(),
                RedactSecrets(e.message).c_str());
    DrawLive();
    std::fflush(stdout);
  }

  void OnTick(const std::string& experiment, double t,
              const std::vector<VerifierLive>& verifiers) override {
    std::lock_guard lock(mu_);
    if (terminal_) {
      ClearLive();
      live_.clear();
      for (const VerifierLive& v : verifiers) {
        char line[512];
        std::snprintf(line, sizeof line, "  %-20s %s  %6zu samples  %5zu failing  %8.2f ms  %s",
                      v.name.c_str(), Mark(v.last), v.samples, v.failing, v.last_latency_ms,
                      RedactSecrets(v.last_detail).substr(0, 60).c_str());
        live_.push_back(line);
      }
      DrawLive();
      std::fflush(stdout);
      return;
    }
    for (const VerifierLive& v : verifiers) {
      Health& before = last_[experiment + "/" + v.name];
      if (v.samples && v.last != before) {
        std::printf("[%8.3fs] %s verifier %s: %s%s%s\n", t, experiment.c_str(), v.name.c_str(),
                    HealthName(v.last), v.last_detail.empty() ? "" : " — ",
                    RedactSecrets(v.last_detail).c_str());
        before = v.last;
      }
    }
    std::fflush(stdout);
  }

  void Finish() {
    std::lock_guard lock(mu_);
    ClearLive();
    live_.clear();
  }

 private:
  static const char* Mark(Health h) {
    switch (h) {
      case Health::kHealthy:
        return "\033[32mPASS\033[0m";
      case Health::kUnhealthy:
        return "\033[31mFAIL\033[0m";
      case Health::kUnknown:
        return "\033[33m ?? \033[0m";
    }
    return "";
  }
  void ClearLive() {
    if (!terminal_) return;
    for (size_t i = 0; i < drawn_; ++i) std::printf("\033[1A\033[2K");
    drawn_ = 0;
  }
  void DrawLive() {
    if (!terminal_) return;
    for (const std::string& l : live_) std::printf("%s\n", l.c_str());
    drawn_ = live_.size();
  }

  bool terminal_;
  std::mutex mu_;
  std::vector<std::string> live_;
  size_t drawn_ = 0;
  std::map<std::string, Health> last_;
};

// Every signal whose default action ends the process and that a process can catch. Each one
// (a dropped SSH session to the bastion sends SIGHUP, a CI runner's timeout SIGTERM, a stray
// `kill -USR1`, a CPU or file-size limit SIGXCPU/SIGXFSZ) must revert the faults first. Left out:
// SIGKILL and SIGSTOP (cannot be caught; `gameday recover` and the on-host expiries cover
// SIGKILL), the synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT:
// blocking those does not stop the kernel from killing the thread that caused them, and the
// process state is suspect), and SIGPIPE, which main() ignores so that a closed pipe is a
// write error, never death.
sigset_t TerminatingSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
                  SIGXCPU, SIGXFSZ, SIGIO, SIGSTKFLT, SIGPWR}) {
    sigaddset(&set, sig);
  }
  // Realtime signals end the process too by default (glibc keeps the first two for itself).
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) sigaddset(&set, sig);
  return set;
}

// "SIGHUP", "SIGRTMIN+3".
std::string SignalName(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
    return sig == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  }
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

Status WriteFile(const std::filesystem::path& path, const std::string& content, mode_t mode) {
  return WriteFileAtomically(path.string(), content, mode);
}

struct RunOptions {
  std::vector<std::string> plans;
  bool dry_run = false;
  std::string report_dir;
  std::string journal_dir = DefaultStateDir() + "/journal";
  std::optional<uint64_t> seed;
  std::string history_db = DefaultHistoryPath();
  bool no_history = false;
  std::string pushgateway;
  std::string push_job = "gameday";
  std::string report_mode = "0600";
  // The cluster that keeps the journal's copy and the locks (--cluster-kubeconfig/-context).
  std::string cluster_kubeconfig;
  std::string cluster_context;
  // The journal's copy in the cluster (--cluster-journal): namespace, heartbeat ttl.
  std::string cluster_journal;
  double cluster_journal_ttl_s = 30;
  // The run's locks (--lock-namespace): where the Leases live, how long to wait, their ttl.
  std::string lock_namespace;
  double lock_wait_s = 0;
  double lock_ttl_s = 30;
  std::string termination_log;
};

// The verdict for Kubernetes' termination message (--termination-log), written last so that it
// carries the final exit code. Not writing it is said, but leaves the exit code as it is: that
// code, the logs and the reports still carry the verdict.
void TellVerdict(const RunOptions& opts, const RunResult& result, int code,
                 const std::vector<std::string>& notes) {
  if (opts.termination_log.empty()) return;
  Status told = OverwriteFileInPlace(opts.termination_log,
                                     RenderTerminationMessage(result, code, notes), 0644);
  if (!told.ok()) std::cerr << "termination log: " << told.message() << "\n";
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Takes the locks of every namespace the plan changes (RunLock), printing what it waits for.
Result<std::unique_ptr<RunLock>> LockRun(const RunOptions& opts, const Plan& plan,
                                         const std::string& run_id, std::stop_token stop) {
  std::vector<ApiAccess> accesses;
  for (auto& [cluster, list] : PlanApiAccesses(plan)) {
    accesses.insert(accesses.end(), list.begin(), list.end());
  }
  const std::vector<std::string> scopes = LockScopes(accesses);
  if (scopes.empty()) return std::unique_ptr<RunLock>();  // it changes nothing in Kubernetes
  auto client = SharedKubeClient(opts.cluster_kubeconfig, opts.cluster_context);
  if (!client.ok()) return client.status();
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  RunLockOptions lock_options;
  lock_options.ns = opts.lock_namespace;
  lock_options.identity = run_id + "@" + host;
  lock_options.ttl = Millis(opts.lock_ttl_s);
  lock_options.wait = Millis(opts.lock_wait_s);
  lock_options.stop = std::move(stop);
  std::string names;
  for (const std::string& s : scopes) names += (names.empty() ? "" : ", ") + s;
  std::cout << "locking " << names << " (leases in namespace " << opts.lock_namespace << ")\n";
  return RunLock::Acquire(*client, scopes, lock_options);
}

int RunPlan(const RunOptions& opts) {
  const std::optional<mode_t> report_mode = ParseFileMode(opts.report_mode);
  if (!report_mode) {
    std::cerr << "--report-mode: expected an octal file mode such as 0600 or 0644, got '"
              << opts.report_mode << "'\n";
    return kExitUsage;
  }
  Registries registries;
  BuildRegistries(&registries);
  Diagnostics diags;
  // Several plans make one run: their experiments in the order given, one result and report.
  Plan plan = LoadPlans(opts.plans, registries, &diags);
  if (!diags.empty()) {
    std::cerr << diags.ToString() << plan.file << ": " << diags.size()
              << " problem(s); nothing was injected\n";
    return kExitUsage;
  }

  // Terminating signals are taken by a dedicated thread (blocked everywhere else, including the
  // engine's threads, which inherit this mask, before any of them exists) and turned into a stop
  // request: the engine reverts everything, then the run exits 3. The revert itself is never cut
  // short: a later signal (a second Ctrl-C, a SIGTERM after the SIGHUP) only says so. The
  // injectors spawn with an empty mask and default dispositions, so none of this reaches a
  // restarted process.
  const sigset_t signals = TerminatingSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::stop_source stop;
  std::atomic<int> stop_signal{0};
  std::jthread signal_thread([&signals, &stop, &stop_signal](std::stop_token st) {
    while (!st.stop_requested()) {
      timespec timeout{0, 100'000'000};
      const int sig = sigtimedwait(&signals, nullptr, &timeout);
      if (sig <= 0) continue;
      const std::string name = SignalName(sig);
      if (stop_signal.exchange(sig) == 0) {
        std::fprintf(stderr, "\n%s received: reverting every live fault before exiting\n",
                     name.c_str());
        stop.request_stop();
      } else {
        std::fprintf(stderr,
                     "\n%s received while reverting: the revert goes on and is not interrupted "
                     "(SIGKILL stops at once and leaves the faults to `gameday recover`)\n",
                     name.c_str());
      }
    }
  });

  // The run id is random on every run; the seed decides only the plan's random choices.
  uint64_t seed = 0;
  if (opts.seed) {
    seed = *opts.seed;
  } else if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
    seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  }
  EngineOptions engine_options;
  engine_options.run_id = NewRunId(Clock::Real().WallNow());
  engine_options.seed = seed;
  engine_options.stop_reason = [&stop_signal] {
    return "interrupted by " + SignalName(stop_signal.load());
  };
  engine_options.dry_run = opts.dry_run;
  engine_options.journal_dir = opts.journal_dir;
  if (!opts.cluster_journal.empty()) {
    engine_options.journal_mirror =
        [&opts](const std::string& run_id) -> Result<std::unique_ptr<JournalMirror>> {
      auto client = SharedKubeClient(opts.cluster_kubeconfig, opts.cluster_context);
      if (!client.ok()) return client.status();
      auto journal = ClusterJournal::Open(*client, opts.cluster_journal, run_id,
                                          Millis(opts.cluster_journal_ttl_s));
      if (!journal.ok()) return journal.status();
      return std::unique_ptr<JournalMirror>(std::move(journal.value()));
    };
  }
  engine_options.stop = stop.get_token();
  engine_options.plan_file = plan.file;
  engine_options.version = GAMEDAY_VERSION;
  ConsoleObserver observer(isatty(STDOUT_FILENO));
  engine_options.observer = &observer;

  std::cout << "gameday " << GAMEDAY_VERSION << ": run " << engine_options.run_id
            << (opts.plans.size() == 1 ? ", plan " : ", plans ") << plan.file << ", seed " << seed
            << " (replay the same choices with --seed " << seed << ")"
            << (opts.dry_run ? ", DRY RUN: nothing is touched" : "") << "\n";
  // The report folder is checked before anything is injected: a run whose report cannot be
  // written safely is refused, not discovered at the end.
  const std::filesystem::path dir =
      opts.report_dir.empty() ? std::filesystem::path("gameday-reports") / engine_options.run_id
                              : std::filesystem::path(opts.report_dir);
  if (Status ready = EnsureTrustedDir(dir.string(), DirModeFor(*report_mode)); !ready.ok()) {
    std::cerr << "report: " << ready.message() << "; nothing was injected\n";
    signal_thread.request_stop();
    return kExitUsage;
  }
  // Samples stream to a file next to result.json; a short run's end up inline and the file goes.
  // A store left by an earlier run in this folder belongs to the result.json this run replaces.
  if (!opts.dry_run) {
    engine_options.samples_file = (dir / kSampleStoreFile).string();
    ::unlink(engine_options.samples_file.c_str());
  }
  engine_options.samples_mode = *report_mode;
  std::unique_ptr<RunLock> lock;
  if (!opts.lock_namespace.empty() && !opts.dry_run) {
    auto locked = LockRun(opts, plan, engine_options.run_id, stop.get_token());
    if (!locked.ok()) {
      const std::string why = "lock: " + locked.status().message() + "; nothing was injected";
      std::cerr << why << "\n";
      // A scheduled game day that another run kept out says so where people look for it.
      RunResult refused;
      refused.run_id = engine_options.run_id;
      refused.plan_file = plan.file;
      refused.plan_name = plan.name;
      TellVerdict(opts, refused, kExitAborted, {why});
      signal_thread.request_stop();
      return kExitAborted;
    }
    lock = std::move(locked.value());
  }
  Engine engine(registries, MakeProbeLoopFactory(), Clock::Real(), engine_options);
  RunResult result = engine.Run(plan);
  lock.reset();  // the namespaces are free again once everything is reverted
  // Events are posted in the background; the few left go out now (bounded, never a hang).
  FlushSharedEventRecorders(std::chrono::seconds(5));
  result.dir = dir.string();
  observer.Finish();

  std::cout << RenderTextSummary(result);

  // Checked again: the folder may have changed during the run. Each write opens it afresh and
  // checks the handle it writes through.
  Status written = EnsureTrustedDir(dir.string(), DirModeFor(*report_mode));
  if (written.ok()) written = WriteFile(dir / "result.json", RenderJson(result), *report_mode);
  if (written.ok()) written = WriteFile(dir / "junit.xml", RenderJunit(result), *report_mode);
  // Dry runs measure nothing, so they stay out of the history and its trends.
  const bool keep = !opts.no_history && !opts.dry_run;
  if (keep) {
    Status recorded = RecordRun(result, opts.history_db);
    if (!recorded.ok()) std::cerr << "history: " << recorded.message() << "\n";
  }
  auto history = keep ? LoadRunHistory(opts.history_db, result)
                      : Result<RunHistory>(Status::NotFound("no history"));
  if (written.ok()) {
    written = WriteFile(dir / "report.html", RenderHtml(result, history.ok() ? &*history : nullptr),
                        *report_mode);
  }
  // What changed the exit code after the run goes into the termination message too.
  std::vector<std::string> notes;
  if (!written.ok()) {
    std::cerr << "report: " << written.message() << "\n";
    notes.push_back("report: " + written.message());
  } else {
    std::cout << "report: " << std::filesystem::absolute(dir / "report.html").string() << "\n";
  }
  int code = ExitCodeFor(result);
  // A gate whose report could not be written must not look green.
  if (!written.ok() && code == kExitPassed) code = kExitFailed;
  if (!opts.pushgateway.empty() && !opts.dry_run) {
    Status pushed = PushMetrics(result, opts.pushgateway, opts.push_job);
    if (!pushed.ok()) {
      // A gate that cannot publish its verdict must not look green.
      std::cerr << "pushgateway: " << pushed.message() << "\n";
      notes.push_back("pushgateway: " + pushed.message());
      if (code == kExitPassed) code = kExitFailed;
    } else {
      std::cout << "pushed metrics to " << RedactSecrets(opts.pushgateway) << "\n";
    }
  }
  if (stop.stop_requested()) {
    code = kExitAborted;
    notes.push_back("interrupted by " + SignalName(stop_signal.load()));
  }
  TellVerdict(opts, result, code, notes);
  signal_thread.request_stop();
  return code;
}

}  // namespace

void AddRunCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("run", "Run a plan: inject, observe, revert, report");
  auto opts = std::make_shared<RunOptions>();
  cmd->add_option("PLAN", opts->plans,
                  "plan file(s) (YAML or JSON); several run as one, in the order given")
      ->required();
  cmd->add_flag("--dry-run", opts->dry_run, "print exactly what would be done; touch nothing");
  cmd->add_option("--report-dir", opts->report_dir,
                  "where result.json, junit.xml and report.html go "
                  "(default gameday-reports/RUN_ID)");
  cmd->add_option("--journal-dir", opts->journal_dir, "where the fault journal lives")
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "seed for random choices (printed and recorded)");
  cmd->add_option("--history-db", opts->history_db, "run history (SQLite) for trends")
      ->capture_default_str();
  cmd->add_flag("--no-history", opts->no_history, "do not record this run in the history");
  cmd->add_option("--pushgateway", opts->pushgateway,
                  "push gameday_* metrics to this Prometheus Pushgateway URL");
  cmd->add_option("--push-job", opts->push_job, "the Pushgateway job name")->capture_default_str();
  cmd->add_option("--report-mode", opts->report_mode,
                  "file mode of result.json, junit.xml and report.html (octal, e.g. 0644)")
      ->capture_default_str();
  cmd->add_option("--cluster-journal", opts->cluster_journal,
                  "also journal every fault in this namespace of the cluster (a ConfigMap per "
                  "run, with a heartbeat), so `recover --cluster` reverts it if this run dies");
  cmd->add_option("--cluster-kubeconfig", opts->cluster_kubeconfig,
                  "the cluster of --cluster-journal and --lock-namespace (default: $KUBECONFIG, "
                  "in-cluster, ~/.kube/config)");
  cmd->add_option("--cluster-context", opts->cluster_context,
                  "the kubeconfig context of --cluster-journal and --lock-namespace");
  cmd->add_option("--cluster-journal-ttl", opts->cluster_journal_ttl_s,
                  "seconds the run's heartbeat stays valid (renewed every third of it); a run "
                  "silent that long counts as gone")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  cmd->add_option("--lock-namespace", opts->lock_namespace,
                  "lock every namespace the plans change with a Lease in this namespace, so two "
                  "game days never break the same namespace at once");
  cmd->add_option("--lock-wait", opts->lock_wait_s,
                  "seconds to wait for a namespace another run holds (0: refuse at once, naming "
                  "the holder)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  cmd->add_option("--lock-ttl", opts->lock_ttl_s,
                  "seconds a lock outlives its run's last renewal (renewed every third of it)")
      ->check(CLI::Range(3.0, 3600.0))
      ->capture_default_str();
  cmd->add_option("--termination-log", opts->termination_log,
                  "after the run, write the verdict (first line passed, failed or aborted; then "
                  "one line per experiment; at most 4096 bytes) to this file, e.g. Kubernetes' "
                  "/dev/termination-log");
  cmd->callback([opts, exit_code] { *exit_code = RunPlan(*opts); });
}

}  // namespace gameday
