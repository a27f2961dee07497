// PushMetrics against a real Pushgateway (Debian's /usr/bin/prometheus-pushgateway) on a free
// loopback port: push a run, read GET /metrics back and check every value and label; a second
// push of the same run replaces the group; a job name with a '/' goes base64-encoded; a gateway
// that is down is Unavailable.

#include "reports/pushgateway.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "tests/integration/child_process.h"
#include "tests/unit/report_fixture.h"

namespace gameday {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TempDir;

constexpr char kPushgateway[] = "/usr/bin/prometheus-pushgateway";

// "name{labels}" -> value, for the lines of `metrics` whose name starts with `prefix`.
std::map<std::string, double> Samples(const std::string& metrics, const std::string& prefix) {
  std::map<std::string, double> out;
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// The Pushgateway sorts labels by name and adds instance="" and the grouping key.
std::string Key(const std::string& name, const std::string& experiment, const std::string& job,
                const std::string& run_id, const std::string& verifier = "") {
  std::string k = name + "{experiment=\"" + experiment + "\",instance=\"\",job=\"" + job +
                  "\",run_id=\"" + run_id + "\"";
  if (!verifier.empty()) k += ",verifier=\"" + verifier + "\"";
  return k + "}";
}

class PushgatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kPushgateway, X_OK) != 0) GTEST_SKIP() << kPushgateway << " is not installed";
    port_ = testing::FreeLoopbackPort();
    gateway_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{
            kPushgateway, "--web.listen-address=127.0.0.1:" + std::to_string(port_),
            // Debian's default persists to /var/lib/prometheus: keep
            // everything in this test's folder.
            "--persistence.file=" + (dir_ / "pushgateway.data"), "--log.level=warn"},
        dir_ / "pushgateway.log");
    const bool up = testing::WaitUntil(
        [&] { return gateway_->Poll() || testing::HttpGet(port_, "/-/ready").first == 200; }, 60s);
    ASSERT_TRUE(up && !gateway_->Poll()) << gateway_->LogText();
  }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Metrics() {
    auto [status, body] = testing::HttpGet(port_, "/metrics");
    EXPECT_EQ(status, 200);
    return body;
  }

  TempDir dir_{"gameday-pushgateway"};
  int port_ = 0;
  std::unique_ptr<ChildProcess> gateway_;
};

TEST_F(PushgatewayTest, PushedValuesAreWhatTheGatewayServes) {
  RunResult run = testing::RichRun(50);
  run.run_id = "20240501T123456Z-7f3a";
  run.experiments[0].name = "checkout-pod-kill";
  run.experiments[0].verifiers[1].name = "error-rate";
  Status st = PushMetrics(run, Url(), "gameday-ci");
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << gateway_->LogText();

  const std::string metrics = Metrics();
  const std::string job = "gameday-ci", id = run.run_id;
  auto recovery = Samples(metrics, "gameday_recovery_seconds{");
  EXPECT_EQ(recovery.size(), 1u) << metrics;  // only the frontend recovered
  EXPECT_DOUBLE_EQ(
      recovery[Key("gameday_recovery_seconds", "checkout-pod-kill", job, id, "frontend")], 12.4);
  auto detect = Samples(metrics, "gameday_detect_seconds{");
  EXPECT_DOUBLE_EQ(detect[Key("gameday_detect_seconds", "checkout-pod-kill", job, id, "frontend")],
                   0.42);
  EXPECT_DOUBLE_EQ(detect[Key("gameday_detect_seconds", "master-stop", job, id, "apiserver")],
                   0.25);
  auto downtime = Samples(metrics, "gameday_downtime_seconds{");
  EXPECT_EQ(downtime.size(), 3u);
  EXPECT_DOUBLE_EQ(
      downtime[Key("gameday_downtime_seconds", "checkout-pod-kill", job, id, "frontend")], 11.98);
  EXPECT_DOUBLE_EQ(downtime[Key("gameday_downtime_seconds", "master-stop", job, id, "apiserver")],
                   29.5);
  auto availability = Samples(metrics, "gameday_availability{");
  EXPECT_DOUBLE_EQ(
      availability[Key("gameday_availability", "checkout-pod-kill", job, id, "frontend")],
      0.9466666666666667);
  EXPECT_DOUBLE_EQ(
      availability[Key("gameday_availability", "checkout-pod-kill", job, id, "error-rate")], 1);
  auto recovered = Samples(metrics, "gameday_recovered{");
  EXPECT_DOUBLE_EQ(recovered[Key("gameday_recovered", "master-stop", job, id, "apiserver")], 0);
  EXPECT_DOUBLE_EQ(recovered[Key("gameday_recovered", "checkout-pod-kill", job, id, "error-rate")],
                   1);
  auto passed = Samples(metrics, "gameday_experiment_passed{");
  EXPECT_EQ(passed.size(), 3u);
  EXPECT_DOUBLE_EQ(passed[Key("gameday_experiment_passed", "checkout-pod-kill", job, id)], 0);
  EXPECT_DOUBLE_EQ(passed[Key("gameday_experiment_passed", "empty", job, id)], 0);
  auto run_passed = Samples(metrics, "gameday_run_passed{");
  EXPECT_DOUBLE_EQ(
      run_passed["gameday_run_passed{instance=\"\",job=\"" + job + "\",run_id=\"" + id + "\"}"], 0);
  EXPECT_NE(metrics.find("# TYPE gameday_recovery_seconds gauge"), std::string::npos);

  // The same run pushed again replaces its group: a passing run now.
  for (auto& e : run.experiments) e.status = ExperimentStatus::kPassed;
  ASSERT_TRUE(PushMetrics(run, Url() + "/", "gameday-ci").ok());
  passed = Samples(Metrics(), "gameday_experiment_passed{");
  EXPECT_EQ(passed.size(), 3u);
  EXPECT_DOUBLE_EQ(passed[Key("gameday_experiment_passed", "checkout-pod-kill", job, id)], 1);
}

TEST_F(PushgatewayTest, OddNamesAreEncodedAndErrorsAreClear) {
  RunResult run = testing::RichRun(10);
  run.run_id = "run/with slash";
  run.experiments.resize(1);
  run.experiments[0].name = "quote \" back\\slash\nnewline";
  ASSERT_TRUE(PushMetrics(run, Url(), "team/ci job").ok());
  const std::string metrics = Metrics();
  auto passed = Samples(metrics, "gameday_experiment_passed{");
  ASSERT_EQ(passed.size(), 1u) << metrics;
  EXPECT_EQ(passed.begin()->first,
            "gameday_experiment_passed{experiment=\"quote \\\" back\\\\slash\\nnewline\","
            "instance=\"\",job=\"team/ci job\",run_id=\"run/with slash\"}");

  EXPECT_EQ(PushMetrics(run, "ftp://127.0.0.1:1", "x").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(PushMetrics(run, Url(), "").code(), Status::Code::kInvalidArgument);
  // A path the gateway does not serve is rejected by it, with its answer in the message.
  Status rejected = PushMetrics(run, Url() + "/no/such/prefix", "x");
  EXPECT_FALSE(rejected.ok());
  EXPECT_NE(rejected.message().find("answered HTTP"), std::string::npos) << rejected.message();

  gateway_->Stop();
  Status down = PushMetrics(run, Url(), "gameday-ci");
  EXPECT_EQ(down.code(), Status::Code::kUnavailable) << down.ToString();
  EXPECT_NE(down.message().find("cannot push to http://127.0.0.1:"), std::string::npos)
      << down.message();
}

// A gateway URL with user:password@ works (the password goes to libcurl), but no message shows
// the password: not the refusal of a bad scheme, not the gateway's answer, not a failed push.
TEST_F(PushgatewayTest, APasswordInTheUrlIsNeverInAMessage) {
  RunResult run = testing::RichRun(10);
  run.run_id = "run-with-password";
  const std::string with_password = "http://ci:hunter2@127.0.0.1:" + std::to_string(port_);
  ASSERT_TRUE(PushMetrics(run, with_password, "gameday-ci").ok());
  EXPECT_NE(Metrics().find("run-with-password"), std::string::npos);

  const Status bad_scheme = PushMetrics(run, "ftp://ci:hunter2@127.0.0.1:1", "x");
  EXPECT_EQ(bad_scheme.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad_scheme.message().find("ftp://ci:***@"), std::string::npos) << bad_scheme.message();
  const Status rejected = PushMetrics(run, with_password + "/no/such/prefix", "x");
  EXPECT_NE(rejected.message().find("answered HTTP"), std::string::npos) << rejected.message();
  gateway_->Stop();
  const Status down = PushMetrics(run, with_password, "gameday-ci");
  EXPECT_EQ(down.code(), Status::Code::kUnavailable);
  EXPECT_NE(down.message().find("http://ci:***@127.0.0.1:"), std::string::npos) << down.message();
  for (const Status& s : {bad_scheme, rejected, down}) {
    EXPECT_EQ(s.message().find("hunter2"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace gameday
