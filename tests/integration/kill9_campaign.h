#pragma once

// The kill -9 campaign shared by tests/integration/kill9_*_test.cc: for one fault kind, many
// trials that start `gameday run`, kill it with SIGKILL at a seeded random moment between its
// start and the end of the fault's revert, run `gameday recover`, and check - without asking
// gameday - that no fault and no journal entry is left and that `recover` exited 0.
//
// Kill moments come from three strategies taken in turn, so every window is hit in a few trials,
// whatever the fault's timing: "uniform" (anywhere from the start to the revert's end, as learnt
// from one complete calibration run), "journal" (just after the journal record appears, before
// or while the fault goes in) and "revert" (around the end of the fault's duration, before,
// during or just after its revert). Each trial is then classified by what was found after the
// kill: nothing journaled yet (before-journal), journaled but not (yet) in effect, in effect
// (mid-fault, during-revert), reverted but still journaled (reverted-not-cleared), cleared.
// GAMEDAY_KILL9_TRIALS overrides the trial count of every kind and GAMEDAY_KILL9_SEED replays a
// campaign.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "experiments/journal.h"
#include "tests/integration/child_process.h"

namespace gameday::testing {

// One fault kind under test.
struct Kill9Kind {
  std::string name;  // as printed: "kill9 NAME: N trials, L leaks"
  std::string plan;  // a plan with one inject step whose fault lasts `duration`
  std::chrono::milliseconds duration{0};
  // What of the fault is in place now, read without gameday ("" = nothing).
  std::function<std::string()> fault;
  // Puts the target back to its baseline after a leak, so later trials start clean.
  std::function<void()> heal;
};

// Seconds from the run's start, as seen by polling one complete run; -1 = never seen.
struct Kill9Timing {
  double journal = -1;  // the journal holds an inject record
  double seen = -1;     // the fault is in effect
  double gone = -1;     // ... and no longer
  double exit = -1;     // the run exited
};

struct Kill9Summary {
  int trials = 0;
  int leaks = 0;
  std::map<std::string, int> moments;  // how many trials were killed in each window
  std::map<std::string, int> strategies;
};

class Kill9Campaign {
 public:
  // Trials of each kind go to folders under `scratch` (which must exist and be 0700).
  explicit Kill9Campaign(std::string scratch) : scratch_(std::move(scratch)) {}

  // GAMEDAY_KILL9_SEED, else a random one; printed once so a failing campaign can be replayed.
  static uint64_t Seed() {
    static const uint64_t seed = [] {
      const char* env = std::getenv("GAMEDAY_KILL9_SEED");
      const uint64_t s = env != nullptr && *env != '\0'
                             ? std::strtoull(env, nullptr, 10)
                             : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
      std::printf("kill9 seed %llu (replay with GAMEDAY_KILL9_SEED=%llu)\n",
                  static_cast<unsigned long long>(s), static_cast<unsigned long long>(s));
      std::fflush(stdout);
      return s;
    }();
    return seed;
  }

  // GAMEDAY_KILL9_TRIALS, else `fallback`.
  static int Trials(int fallback) {
    const char* env = std::getenv("GAMEDAY_KILL9_TRIALS");
    const int n = env != nullptr ? std::atoi(env) : 0;
    return n > 0 ? n : fallback;
  }

  // One complete run of `kind`, not killed: learns when its journal record, its fault and the
  // fault's end show, and checks that the fault is seen at all (else the campaign's checks would
  // prove nothing) and that the run leaves nothing behind.
  ::testing::AssertionResult Calibrate(const Kill9Kind& kind, Kill9Timing* t) {
    const std::string dir = TrialDir(kind.name + "-calibration", kind.plan);
    if (dir.empty()) return ::testing::AssertionFailure() << "cannot create a trial folder";
    if (!kind.fault().empty()) kind.heal();
    ChildProcess run(RunArgs(dir), dir + "/run.log");
    const auto t0 = std::chrono::steady_clock::now();
    const auto since = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const double limit = 120;
    while (since() < limit) {
      if (t->journal < 0 && JournalCounts(dir).first > 0) t->journal = since();
      const bool in = !kind.fault().empty();
      if (in && t->seen < 0) t->seen = since();
      if (!in && t->seen >= 0 && t->gone < 0) t->gone = since();
      if (run.Poll()) {
        t->exit = since();
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    const std::string log = run.LogText();
    const std::optional<int> status = run.Poll();
    const std::string left = kind.fault();
    RemoveAll(dir);
    std::printf("kill9 %s calibration: journal %.3f s, fault %.3f s, gone %.3f s, exit %.3f s\n",
                kind.name.c_str(), t->journal, t->seen, t->gone, t->exit);
    std::fflush(stdout);
    // 1 (an SLO failed) is fine here; 2 (the plan) and 3 (a revert failed) are not.
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) > 1) {
      return ::testing::AssertionFailure() << "the calibration run failed:\n" << log;
    }
    if (t->journal < 0 || t->seen < 0 || t->gone < 0) {
      return ::testing::AssertionFailure()
             << "the calibration run's fault was not observed (journal " << t->journal << ", seen "
             << t->seen << ", gone " << t->gone << "):\n"
             << log;
    }
    if (!left.empty()) return ::testing::AssertionFailure() << "the run left " << left;
    return ::testing::AssertionSuccess();
  }

  // `trials` kill -9 trials of `kind`; every leak is an ADD_FAILURE with its details. Prints the
  // summary line "kill9 NAME: N trials, L leaks" and the windows the kills fell in.
  Kill9Summary Run(const Kill9Kind& kind, const Kill9Timing& cal, int trials) {
    std::seed_seq seq{Seed(), static_cast<uint64_t>(std::hash<std::string>{}(kind.name))};
    std::mt19937_64 rng(seq);
    Kill9Summary summary;
    for (int i = 0; i < trials; ++i) {
      ++summary.trials;
      if (!Trial(kind, cal, i, rng, &summary)) ++summary.leaks;
    }
    std::string moments, strategies;
    for (const auto& [m, n] : summary.moments) {
      moments += (moments.empty() ? "" : ", ") + m + " " + std::to_string(n);
    }
    for (const auto& [s, n] : summary.strategies) {
      strategies += (strategies.empty() ? "" : ", ") + s + " " + std::to_string(n);
    }
    std::printf("kill9 %s: %d trials, %d leaks\n", kind.name.c_str(), summary.trials,
                summary.leaks);
    std::printf("kill9 %s: killed %s (strategies: %s)\n", kind.name.c_str(), moments.c_str(),
                strategies.c_str());
    std::fflush(stdout);
    return summary;
  }

 private:
  static std::string Bin() { return std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday"; }

  std::vector<std::string> RunArgs(const std::string& dir) const {
    return {Bin(),          "run",           dir + "/plan.yaml", "--journal-dir", dir + "/journal",
            "--report-dir", dir + "/report", "--no-history"};
  }

  // A fresh 0700 folder with a 0700 journal folder in it (`recover` refuses journal folders
  // that others can write), holding the kind's plan; "" on error.
  std::string TrialDir(const std::string& name, const std::string& plan) {
    const std::string dir = scratch_ + "/" + name;
    RemoveAll(dir);
    if (::mkdir(dir.c_str(), 0700) != 0 || ::mkdir((dir + "/journal").c_str(), 0700) != 0) {
      return "";
    }
    std::ofstream(dir + "/plan.yaml") << plan;
    return dir;
  }

  static void RemoveAll(const std::string& dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // (inject lines, clear lines) in every file of the trial's journal folder, read as raw text.
  static std::pair<int, int> JournalCounts(const std::string& dir) {
    int injects = 0, clears = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir + "/journal", ec)) {
      const std::string text = ReadFileText(e.path().string());
      for (size_t p = 0; (p = text.find("\"op\":\"inject\"", p)) != std::string::npos; ++p) {
        ++injects;
      }
      for (size_t p = 0; (p = text.find("\"op\":\"clear\"", p)) != std::string::npos; ++p) {
        ++clears;
      }
    }
    return {injects, clears};
  }

  // Files left in the journal folder ("" = none), with their content.
  static std::string JournalFiles(const std::string& dir) {
    std::string out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir + "/journal", ec)) {
      out += e.path().filename().string() + ": " + ReadFileText(e.path().string()) + "\n";
    }
    return out;
  }

  static std::string Tail(const std::string& text, size_t n = 3000) {
    return text.size() <= n ? text : "..." + text.substr(text.size() - n);
  }

  // One trial; false on a leak (after an ADD_FAILURE saying what leaked and how to replay it).
  bool Trial(const Kill9Kind& kind, const Kill9Timing& cal, int i, std::mt19937_64& rng,
             Kill9Summary* summary) {
    const std::string dir = TrialDir(kind.name + "-" + std::to_string(i), kind.plan);
    if (dir.empty()) {
      ADD_FAILURE() << "cannot create a trial folder under " << scratch_;
      return false;
    }
    if (const std::string before = kind.fault(); !before.empty()) {
      ADD_FAILURE() << "trial " << i << " starts with a fault in place: " << before;
      kind.heal();
    }
    using Seconds = std::chrono::duration<double>;
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    static const char* const kStrategies[] = {"uniform", "journal", "revert"};
    const std::string strategy = kStrategies[i % 3];
    ++summary->strategies[strategy];
    // Drawn up front, so the same seed gives the same moments whatever the timing.
    const double u = unit(rng);
    const double inject_latency = std::max(cal.seen - cal.journal, 0.002);
    const double revert_latency =
        std::max(cal.gone - cal.seen - Seconds(kind.duration).count(), 0.01);
    const double dur = Seconds(kind.duration).count();

    ChildProcess run(RunArgs(dir), dir + "/run.log");
    const auto t0 = std::chrono::steady_clock::now();
    const auto since = [&] { return Seconds(std::chrono::steady_clock::now() - t0).count(); };
    const double give_up = cal.exit + 30;
    // Waits for `ready` (polled every 200 us) or the run's exit; returns false on the latter.
    const auto await = [&](const std::function<bool()>& ready) {
      while (!ready()) {
        if (run.Poll() || since() > give_up) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      return true;
    };
    const auto sleep_until = [&](double at) {
      while (since() < at && !run.Poll()) {
        std::this_thread::sleep_for(std::min(Seconds(at - since()), Seconds(0.0005)));
      }
    };
    double planned = 0;
    double seen = cal.seen;  // when the fault showed: this trial's own sighting where there is one
    if (strategy == "uniform") {
      planned = u * (cal.gone + 0.1 * cal.gone);
      sleep_until(planned);
    } else if (strategy == "journal") {
      if (await([&] { return JournalCounts(dir).first > 0; })) {
        // Skewed to the first moments: for a local fault the window is the journal's fsync.
        planned = since() + u * u * u * 1.5 * inject_latency;
        sleep_until(planned);
      }
    } else if (await([&] { return !kind.fault().empty(); })) {
      seen = since();
      const double lead = std::min(0.2, dur / 4);
      planned = since() + dur - lead + u * (lead + 1.5 * revert_latency + 0.02);
      sleep_until(planned);
    }
    const bool ended = run.Poll().has_value();
    const double kill_at = since();
    ::kill(run.pid(), SIGKILL);  // the one process, as `kill -9 PID` would
    const std::optional<int> status = run.Wait(std::chrono::milliseconds(10000));

    // Where the kill fell, from what it left.
    const auto [injects, clears] = JournalCounts(dir);
    const std::string in_effect = kind.fault();
    std::string moment;
    if (ended) {
      moment = "after-exit";
    } else if (injects == 0) {
      moment = "before-journal";
    } else if (injects > clears) {
      if (in_effect.empty()) {
        moment = kill_at < seen ? "journaled-not-in-effect" : "reverted-not-cleared";
      } else {
        moment = kill_at < seen + dur ? "mid-fault" : "during-revert";
      }
    } else {
      moment = in_effect.empty() ? "after-clear" : "UNJOURNALED-FAULT";
    }
    ++summary->moments[moment];

    ChildProcess recover({Bin(), "recover", "--journal-dir", dir + "/journal"},
                         dir + "/recover.log");
    const std::optional<int> rc = recover.Wait(std::chrono::milliseconds(120000));
    // Reverts are synchronous; the grace only absorbs the checks' own view lagging behind.
    std::string left;
    const auto clean_by = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while ((left = kind.fault()) != "" && std::chrono::steady_clock::now() < clean_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // And still clean a moment later: a revert that took a dying process for a live one
    // looked clean at first (see ProcessInjectorTest.RevertOfAStopKilledMidExit...).
    if (left.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      left = kind.fault();
    }
    const std::string journal_left = JournalFiles(dir);
    size_t live = 0;
    if (auto files = ReadJournals(dir + "/journal"); files.ok()) {
      for (const JournalFile& f : *files) live += f.live.size();
    }
    const bool rc_ok = rc && WIFEXITED(*rc) && WEXITSTATUS(*rc) == 0;
    const bool leaked = !left.empty() || !journal_left.empty() || live != 0 || !rc_ok;
    if (leaked) {
      char when[160];
      std::snprintf(when, sizeof when, "killed at %.4f s (planned %.4f s, strategy %s, u=%.6f)",
                    kill_at, planned, strategy.c_str(), u);
      ADD_FAILURE() << "kill9 " << kind.name << " trial " << i << " (seed " << Seed() << ") "
                    << when << ", window " << moment << ", fault after the kill: '" << in_effect
                    << "'\nrecover exit: "
                    << (rc ? (WIFEXITED(*rc) ? WEXITSTATUS(*rc) : 128 + WTERMSIG(*rc)) : -1)
                    << "\nfault left: " << left << "\njournal left: " << journal_left
                    << "(live records: " << live << ")\nrun log:\n"
                    << Tail(run.LogText()) << "\nrecover log:\n"
                    << Tail(recover.LogText());
      if (!left.empty()) kind.heal();
    }
    (void)status;
    RemoveAll(dir);
    return !leaked;
  }

  std::string scratch_;
};

}  // namespace gameday::testing
