// `gameday run` as root against a real process whose command line carries secrets, writing its
// reports into folders a less trusted user may have prepared:
// - "hunter2" (a --password=, a --token value, a PASSWORD= word, a Pushgateway URL password)
//   appears in none of result.json, report.html, junit.xml and the console;
// - result files are 0600 by default and as asked with --report-mode (run and report render);
// - a symlink planted at DIR/report.html is replaced, and the file it pointed at is untouched;
// - a report folder of another user (uid 65534) is refused before anything is injected.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/child_process.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::ChildProcess;
using testing::ReadFileText;
using testing::TempDir;

const std::string kBin = std::string(GAMEDAY_BINARY_DIR) + "/bin/";

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class ReportSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = testing::FreeLoopbackPort();
    demo_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kBin + "gameday-demo", "--port", std::to_string(port_)},
        dir_ / "demo.log");
    ASSERT_TRUE(testing::WaitUntil([&] { return testing::HttpGet(port_, "/").first == 200; },
                                   milliseconds(5000)));
    // The fault's target: a shell whose positional parameters look like a service's secrets.
    needle_ = "gd-secret-" + std::to_string(::getpid());
    victim_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c", "sleep 60; :", needle_, "--password=hunter2",
                                 "--token", "hunter2", "DB_PASSWORD=hunter2"},
        dir_ / "victim.log");
    ASSERT_TRUE(testing::WaitUntil([&] { return !testing::ProcessesMentioning(needle_).empty(); },
                                   milliseconds(3000)));
    std::ofstream(dir_ / "plan.yaml") << R"(name: secrets
target: {kind: local}
warmup: 200ms
stable_for: 100ms
cooldown: 100ms
verify:
  - name: demo
    kind: tcp
    interval: 50ms
    spec: {host: 127.0.0.1, port: )" << port_
                                      << R"(, timeout: 200ms}
method:
  - inject: process
    name: freeze-secret-holder
    select: {mode: all}
    duration: 300ms
    spec:
      match: {pattern: ")" << needle_ << R"("}
      action: freeze
)";
  }

  // Runs gameday with `args` after the subcommand; its exit code, the console in *console.
  int Gameday(const std::vector<std::string>& args, std::string* console) {
    std::vector<std::string> argv{kBin + "gameday"};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = dir_ / ("gameday-" + std::to_string(++runs_) + ".log");
    ChildProcess run(argv, log);
    const std::optional<int> status = run.Wait(std::chrono::seconds(60));
    *console = ReadFileText(log);
    if (!status) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  }

  std::vector<std::string> RunArgs(const std::string& report_dir) {
    return {"run",          dir_ / "plan.yaml", "--report-dir",  report_dir,
            "--no-history", "--journal-dir",    dir_ / "journal"};
  }

  TempDir dir_{"gameday-report-safety"};
  int port_ = 0;
  int runs_ = 0;
  std::string needle_;
  std::unique_ptr<ChildProcess> demo_, victim_;
};

TEST_F(ReportSafetyTest, NoSecretInAnyReportOrOnTheConsoleAndFilesArePrivate) {
  const std::string reports = dir_ / "reports";
  // A Pushgateway that is not there, reached with a password: the failure is printed.
  const int closed_port = testing::FreeLoopbackPort();
  std::vector<std::string> args = RunArgs(reports);
  args.push_back("--pushgateway");
  args.push_back("http://ci:hunter2@127.0.0.1:" + std::to_string(closed_port));
  std::string console;
  const int code = Gameday(args, &console);
  EXPECT_EQ(code, 1) << console;  // the experiment passed; the push failed, so not green
  EXPECT_NE(console.find("pushgateway"), std::string::npos) << console;
  EXPECT_NE(console.find("ci:***@127.0.0.1"), std::string::npos) << console;

  const std::string json = ReadFileText(reports + "/result.json");
  ASSERT_NE(json.find("freeze-secret-holder"), std::string::npos) << json;
  EXPECT_NE(json.find(needle_ + " --password=*** --token ***"), std::string::npos) << json;
  for (const char* file : {"result.json", "report.html", "junit.xml"}) {
    const std::string text = ReadFileText(reports + "/" + file);
    EXPECT_FALSE(text.empty()) << file;
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << file;
    EXPECT_EQ(ModeOf(reports + "/" + file), 0600u) << file;
  }
  EXPECT_EQ(console.find("hunter2"), std::string::npos) << console;
  EXPECT_EQ(ModeOf(reports), 0700u);

  // Re-rendered later, as asked: the mode applies, and the secrets stay out.
  std::string rendered;
  EXPECT_EQ(Gameday({"report", "render", reports + "/result.json", "-o", reports + "/again.html",
                     "--junit", reports + "/again.xml", "--report-mode", "0640"},
                    &rendered),
            0)
      << rendered;
  EXPECT_EQ(ModeOf(reports + "/again.html"), 0640u);
  EXPECT_EQ(ModeOf(reports + "/again.xml"), 0640u);
  EXPECT_EQ(ReadFileText(reports + "/again.html").find("hunter2"), std::string::npos);
}

TEST_F(ReportSafetyTest, ASymlinkInTheReportFolderIsReplacedAndItsTargetUntouched) {
  const std::string reports = dir_ / "planted";
  ASSERT_EQ(::mkdir(reports.c_str(), 0700), 0);
  const std::string victim_file = dir_ / "precious.conf";
  std::ofstream(victim_file) << "do not overwrite\n";
  ::chmod(victim_file.c_str(), 0644);
  ASSERT_EQ(::symlink(victim_file.c_str(), (reports + "/report.html").c_str()), 0);
  ASSERT_EQ(::symlink(victim_file.c_str(), (reports + "/result.json").c_str()), 0);

  std::vector<std::string> args = RunArgs(reports);
  args.push_back("--report-mode");
  args.push_back("0644");
  std::string console;
  EXPECT_EQ(Gameday(args, &console), 0) << console;
  EXPECT_EQ(ReadFileText(victim_file), "do not overwrite\n");
  EXPECT_EQ(ModeOf(victim_file), 0644u);
  for (const char* file : {"result.json", "report.html", "junit.xml"}) {
    const std::string path = reports + "/" + file;
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(path))) << file;
    EXPECT_EQ(ModeOf(path), 0644u) << file;
  }
  EXPECT_NE(ReadFileText(reports + "/report.html").find("<html"), std::string::npos);

  std::string bad;
  EXPECT_EQ(Gameday({"run", dir_ / "plan.yaml", "--report-mode", "4755", "--no-history"}, &bad), 2);
  EXPECT_NE(bad.find("--report-mode"), std::string::npos) << bad;
}

TEST_F(ReportSafetyTest, AReportFolderOfAnotherUserIsRefusedBeforeAnyFault) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a folder to uid 65534";
  const std::string theirs = dir_ / "theirs";
  ASSERT_EQ(::mkdir(theirs.c_str(), 0755), 0);
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  std::string console;
  EXPECT_EQ(Gameday(RunArgs(theirs), &console), 2) << console;
  EXPECT_NE(console.find("uid 65534"), std::string::npos) << console;
  EXPECT_NE(console.find("nothing was injected"), std::string::npos) << console;
  EXPECT_EQ(console.find("injected freeze"), std::string::npos) << console;
  EXPECT_TRUE(fs::is_empty(theirs));

  // Group-writable without the sticky bit: refused too.
  const std::string shared = dir_ / "shared";
  ASSERT_EQ(::mkdir(shared.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 0775), 0);
  EXPECT_EQ(Gameday(RunArgs(shared), &console), 2) << console;
  EXPECT_NE(console.find("0775"), std::string::npos) << console;
}

// End to end: a process stop whose restart could not carry a secret-looking variable is
// "reverted" with a note in result.json, report.html, junit.xml and on the console, and the note
// survives `report render`.
TEST_F(ReportSafetyTest, ARestartWithoutSomeEnvironmentSaysSoInEveryReport) {
  const std::string needle = "gd-envnote-" + std::to_string(::getpid());
  auto victim = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/env", "DB_PASSWORD=hunter2", "/bin/sh", "-c",
                               "sleep 60; :", needle},
      dir_ / "envnote.log");
  ASSERT_TRUE(testing::WaitUntil([&] { return !testing::ProcessesMentioning(needle).empty(); },
                                 milliseconds(3000)));
  std::ofstream(dir_ / "stop.yaml") << R"(name: envnote
target: {kind: local}
warmup: 200ms
stable_for: 100ms
cooldown: 100ms
verify:
  - name: demo
    kind: tcp
    interval: 50ms
    spec: {host: 127.0.0.1, port: )" << port_
                                    << R"(, timeout: 200ms}
method:
  - inject: process
    name: stop-and-restart
    select: {mode: all}
    duration: 300ms
    spec:
      match: {pattern: ")" << needle << R"("}
      action: stop
)";
  const std::string reports = dir_ / "envnote";
  std::string console;
  const int code = Gameday({"run", dir_ / "stop.yaml", "--report-dir", reports, "--no-history",
                            "--journal-dir", dir_ / "journal"},
                           &console);
  // The restarted shell runs in its own session, outside the ChildProcess's group.
  const std::vector<pid_t> restarted = testing::ProcessesMentioning(needle);
  for (pid_t pid : restarted) ::kill(-pid, SIGKILL);  // its session and group: sleep too
  EXPECT_EQ(code, 0) << console;
  EXPECT_EQ(restarted.size(), 1u);

  const std::string note = "restarted without some of its environment variables: DB_PASSWORD";
  EXPECT_NE(console.find("(NOTE: " + note), std::string::npos) << console;
  const std::string json = ReadFileText(reports + "/result.json");
  EXPECT_NE(json.find("\"revert_status\": \"reverted\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"revert_note\": \"" + note), std::string::npos) << json;
  EXPECT_NE(ReadFileText(reports + "/report.html").find("<span class=\"revert-note\">" + note),
            std::string::npos);
  EXPECT_NE(ReadFileText(reports + "/junit.xml").find("reverted (NOTE: " + note),
            std::string::npos);
  std::string rendered;
  ASSERT_EQ(Gameday({"report", "render", reports + "/result.json", "-o", reports + "/again.html"},
                    &rendered),
            0)
      << rendered;
  EXPECT_NE(ReadFileText(reports + "/again.html").find("<span class=\"revert-note\">" + note),
            std::string::npos);
  for (const char* file : {"result.json", "report.html", "junit.xml", "again.html"}) {
    EXPECT_EQ(ReadFileText(reports + "/" + file).find("hunter2"), std::string::npos) << file;
  }
}

}  // namespace
}  // namespace gameday
