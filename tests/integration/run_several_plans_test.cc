// `gameday run PLAN PLAN...`: the real binary runs the experiments of several plan files as one
// run (one result.json, in the order given; a dry run here, so nothing is touched), and an
// experiment name used in two files is a plan error (exit 2) naming both files.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/json_report.h"
#include "tests/integration/child_process.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::ChildProcess;
using testing::OnPath;
using testing::ReadFileText;
using testing::TempDir;

std::string ExperimentFields(const std::string& name, const std::string& process) {
  return "name: " + name +
         "\n"
         "warmup: 0s\n"
         "verify:\n"
         "  - {name: web, kind: http, interval: 50ms, spec: {url: \"http://127.0.0.1:9/\"}}\n"
         "method:\n"
         "  - inject: process\n"
         "    duration: 1s\n"
         "    spec: {match: {name: " +
         process +
         "}, action: freeze}\n"
         "objectives:\n"
         "  - {verifier: web, recover_within: 5s}\n";
}

class RunSeveralPlansTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string sleep = OnPath("sleep");
    ASSERT_FALSE(sleep.empty()) << "no sleep on PATH";
    // A process with a name nobody else uses, for the plans to select (and, dry, not touch).
    process_ = "gdm" + std::to_string(::getpid() % 1000000);
    const std::string copy = dir_ / process_;
    fs::copy_file(sleep, copy);
    fs::permissions(copy, fs::perms::owner_all);
    target_ =
        std::make_unique<ChildProcess>(std::vector<std::string>{copy, "120"}, dir_ / "target.log");
    fs::create_directories(dir_ / "a");
    fs::create_directories(dir_ / "b");
  }

  void Write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }

  // Runs gameday with `args`; returns its exit code (-1 when it did not exit in time).
  int Gameday(std::vector<std::string> args, const std::string& log) {
    args.insert(args.begin(), std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday");
    ChildProcess run(args, log);
    std::optional<int> status = run.Wait(milliseconds(60000));
    if (!status || !WIFEXITED(*status)) return -1;
    return WEXITSTATUS(*status);
  }

  TempDir dir_{"gameday-several-plans"};
  std::string process_;
  std::unique_ptr<ChildProcess> target_;
};

TEST_F(RunSeveralPlansTest, DryRunOfTwoPlansIsOneRunInOrder) {
  Write(
      "a/first.yaml", "name: first\nexperiments:\n  - " + [&] {
        std::string e = ExperimentFields("one", process_);
        std::string indented;
        std::stringstream lines(e);
        bool first = true;
        for (std::string line; std::getline(lines, line);) {
          indented += (first ? "" : "    ") + line + "\n";
          first = false;
        }
        return indented;
      }());
  Write("b/second.yaml", ExperimentFields("two", process_));
  const std::string reports = dir_ / "reports";
  const int code =
      Gameday({"run", dir_ / "a/first.yaml", dir_ / "b/second.yaml", "--dry-run", "--report-dir",
               reports, "--journal-dir", dir_ / "journal", "--no-history"},
              dir_ / "run.log");
  const std::string log = ReadFileText(dir_ / "run.log");
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("plans " + (dir_ / "a/first.yaml") + ", " + (dir_ / "b/second.yaml")),
            std::string::npos)
      << log;

  Result<RunResult> run = ParseJsonResult(ReadFileText(reports + "/result.json"));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_TRUE(run->dry_run);
  EXPECT_EQ(run->plan_name, "first+two");  // a single experiment is named by it
  EXPECT_EQ(run->plan_file, (dir_ / "a/first.yaml") + ", " + (dir_ / "b/second.yaml"));
  ASSERT_EQ(run->experiments.size(), 2u);
  EXPECT_EQ(run->experiments[0].name, "one");
  EXPECT_EQ(run->experiments[1].name, "two");
  for (const ExperimentResult& e : run->experiments) {
    bool listed = false;
    for (const TimelineEvent& ev : e.events) {
      listed = listed || (ev.source == "fault" && ev.message.find(process_) != std::string::npos);
    }
    EXPECT_TRUE(listed) << e.name << ": the dry run names the process it would freeze";
    EXPECT_TRUE(e.faults.empty()) << e.name;
  }
  EXPECT_TRUE(fs::exists(reports + "/report.html"));
  EXPECT_TRUE(fs::exists(reports + "/junit.xml"));
  // Nothing was touched: the target runs on (not stopped).
  const std::string stat = ReadFileText("/proc/" + std::to_string(target_->pid()) + "/stat");
  const size_t paren = stat.rfind(')');
  ASSERT_NE(paren, std::string::npos);
  EXPECT_NE(stat.substr(paren + 2, 1), "T");
}

TEST_F(RunSeveralPlansTest, DuplicateExperimentNamesAcrossFilesAreAPlanError) {
  Write("a/first.yaml", ExperimentFields("same", process_));
  Write("b/second.yaml", ExperimentFields("same", process_));
  const int code =
      Gameday({"run", dir_ / "a/first.yaml", dir_ / "b/second.yaml", "--dry-run", "--report-dir",
               dir_ / "reports", "--journal-dir", dir_ / "journal", "--no-history"},
              dir_ / "run.log");
  const std::string log = ReadFileText(dir_ / "run.log");
  EXPECT_EQ(code, 2) << log;
  EXPECT_NE(log.find((dir_ / "b/second.yaml") +
                     ":1:7: name: duplicate experiment name 'same' "
                     "across plans; also used in " +
                     (dir_ / "a/first.yaml") + ":1:7 (name)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("nothing was injected"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "reports/result.json"));
}

}  // namespace
}  // namespace gameday
