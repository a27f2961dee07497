// A process `pattern` meets a command line of ~200 KB: `gameday run --dry-run` must match it and
// list it, not crash. std::regex, which the injector used before RE2, recursed once per character
// for `0+` and `.*` and overflowed the stack on such a line, killing even a dry run (and, in a
// real run, gameday with a fault in place).
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

TEST(LongCmdlinePatternTest, DryRunMatchesAndListsAProcessWithA200KBCommandLine) {
  TempDir dir("gameday-long-cmdline");
  const std::string sleep = OnPath("sleep");
  ASSERT_FALSE(sleep.empty()) << "no sleep on PATH";
  // A name nobody else uses; `sleep 30 000...0 000...0` sleeps 30 s (one argument may hold at
  // most 128 KiB, so the 200 KB are two of them).
  const std::string name = "gdl" + std::to_string(::getpid() % 1000000);
  const std::string program = dir / name;
  fs::copy_file(sleep, program);
  fs::permissions(program, fs::perms::owner_all);
  const std::string zeros(100000, '0');
  ChildProcess target({program, "30", zeros, zeros}, dir / "target.log");
  // Until exec has happened, /proc still shows this test's own command line.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return ReadFileText("/proc/" + std::to_string(target.pid()) + "/cmdline").size() > 200000;
      },
      milliseconds(5000)));

  std::ofstream(dir / "plan.yaml")
      << "name: long-cmdline\n"
         "warmup: 0s\n"
         "verify:\n"
         "  - {name: web, kind: http, interval: 50ms, spec: {url: \"http://127.0.0.1:9/\",\n"
         "     body_regex: \"ok.*\"}}\n"
         "method:\n"
         "  - inject: process\n"
         "    duration: 1s\n"
         "    spec: {match: {pattern: '"
      << name
      << " 30 0+ 0+$'}, action: freeze}\n"
         "objectives:\n"
         "  - {verifier: web, recover_within: 5s}\n";
  const std::string reports = dir / "reports";
  ChildProcess run(
      {std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday", "run", dir / "plan.yaml", "--dry-run",
       "--report-dir", reports, "--journal-dir", dir / "journal", "--no-history"},
      dir / "run.log");
  std::optional<int> status = run.Wait(milliseconds(60000));
  const std::string log = ReadFileText(dir / "run.log");
  ASSERT_TRUE(status.has_value()) << log;
  ASSERT_TRUE(WIFEXITED(*status)) << "gameday died of signal " << WTERMSIG(*status) << "\n" << log;
  ASSERT_EQ(WEXITSTATUS(*status), 0) << log;

  Result<RunResult> result = ParseJsonResult(ReadFileText(reports + "/result.json"));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->experiments.size(), 1u);
  bool listed = false;
  for (const TimelineEvent& ev : result->experiments[0].events) {
    listed =
        listed || (ev.source == "fault" &&
                   ev.message.find("pid " + std::to_string(target.pid())) != std::string::npos);
  }
  EXPECT_TRUE(listed) << "the dry run names the process it would freeze\n" << log;
  EXPECT_TRUE(result->experiments[0].faults.empty());
}

}  // namespace
}  // namespace gameday
