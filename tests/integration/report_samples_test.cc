// `gameday report samples RESULT.json`: the samples of a result whose verifiers keep theirs
// inline and of one whose samples are in the run's sample store next to result.json, as CSV and
// JSONL, filtered; a damaged store prints what it could and fails with the store's error.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "experiments/files.h"
#include "experiments/sample_store.h"
#include "reports/json_report.h"
#include "tests/integration/child_process.h"

namespace gameday {
namespace {

using testing::ChildProcess;
using testing::ReadFileText;
using testing::TempDir;

const std::string kBin = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday";

Sample At(double t, Health h, std::string detail = "") {
  Sample s;
  s.t_send = t;
  s.t_done = t + 0.002;
  s.health = h;
  s.latency_ms = 2;
  s.detail = std::move(detail);
  return s;
}

class ReportSamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Experiment "short" keeps its samples inline; "long" has them in the store (stream 4).
    RunResult run;
    run.experiments.resize(2);
    run.experiments[0].name = "short";
    run.experiments[0].verifiers.resize(1);
    run.experiments[0].verifiers[0].name = "tcp";
    run.experiments[0].verifiers[0].samples = {At(0, Health::kHealthy),
                                               At(0.1, Health::kUnhealthy, "refused, \"twice\"")};
    run.experiments[1].name = "long";
    run.experiments[1].verifiers.resize(1);
    VerifierResult& v = run.experiments[1].verifiers[0];
    v.name = "http";
    v.sample_count = 5000;
    v.store = SampleStoreRef{kSampleStoreFileName, 4};
    auto w = SampleWriter::Create(results_ + "/" + kSampleStoreFileName, 0600);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Declare({4, "long", "http", 0.01}).ok());
    for (int i = 0; i < 5000; ++i) {
      const bool down = i >= 1000 && i < 1010;
      ASSERT_TRUE((*w)->Append(4, At(i * 0.01, down ? Health::kUnhealthy : Health::kHealthy,
                                     down ? "HTTP 503" : ""))
                      .ok());
    }
    ASSERT_TRUE((*w)->Close().ok());
    ASSERT_TRUE(WriteFileAtomically(results_ + "/result.json", RenderJson(run)).ok());
  }

  // Runs `gameday report samples ARGS` in the results folder's parent; stdout and stderr apart.
  int Samples(const std::vector<std::string>& args, std::string* out, std::string* err) {
    std::string cmd = "exec '" + kBin + "' report samples";
    for (const std::string& a : args) cmd += " '" + a + "'";
    cmd += " >'" + dir_.path() + "/out' 2>'" + dir_.path() + "/err'";
    ChildProcess child({"/bin/sh", "-c", cmd}, dir_.path() + "/sh.log");
    const std::optional<int> status = child.Wait(std::chrono::seconds(60));
    *out = ReadFileText(dir_.path() + "/out");
    *err = ReadFileText(dir_.path() + "/err");
    if (!status) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  }

  TempDir dir_{"gameday-report-samples"};
  std::string results_ = dir_.path();
};

size_t Lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

TEST_F(ReportSamplesTest, PrintsInlineAndStoredSamplesAsCsv) {
  std::string out, err;
  ASSERT_EQ(Samples({results_ + "/result.json"}, &out, &err), 0) << err;
  EXPECT_EQ(Lines(out), 1u + 2 + 5000);
  EXPECT_EQ(out.substr(0, out.find('\n')),
            "experiment,verifier,t_send_s,t_done_s,health,latency_ms,value,detail");
  EXPECT_NE(out.find("short,tcp,0.100000,0.102000,unhealthy,2.000,,\"refused, \"\"twice\"\"\"\n"),
            std::string::npos)
      << out.substr(0, 400);
  EXPECT_NE(out.find("long,http,10.000000,10.002000,unhealthy,2.000,,HTTP 503\n"),
            std::string::npos);
  EXPECT_NE(out.find("long,http,49.990000,49.992000,healthy,2.000,,\n"), std::string::npos);
}

TEST_F(ReportSamplesTest, FiltersAndJsonl) {
  std::string out, err;
  ASSERT_EQ(Samples({results_ + "/result.json", "--experiment", "long", "--verifier", "http",
                     "--format", "jsonl"},
                    &out, &err),
            0)
      << err;
  EXPECT_EQ(Lines(out), 5000u);
  EXPECT_EQ(out.substr(0, out.find('\n')),
            "{\"experiment\":\"long\",\"verifier\":\"http\",\"t_send_s\":0,\"t_done_s\":0.002,"
            "\"health\":\"healthy\",\"latency_ms\":2,\"value\":null,\"detail\":\"\"}");
  EXPECT_EQ(Samples({results_ + "/result.json", "--verifier", "nope"}, &out, &err), 2);
  EXPECT_EQ(err, "samples: no verifier named \"nope\" in the result\n");
  EXPECT_EQ(Samples({results_ + "/result.json", "--format", "xml"}, &out, &err), 2);
}

TEST_F(ReportSamplesTest, ADamagedStoreFailsAfterTheSamplesBeforeTheDamage) {
  const std::string store = results_ + "/" + kSampleStoreFileName;
  std::string bytes = ReadFileText(store);
  ASSERT_GT(bytes.size(), 100u);
  bytes.resize(bytes.size() - 10);
  std::ofstream(store, std::ios::binary | std::ios::trunc) << bytes;
  std::string out, err;
  EXPECT_EQ(Samples({results_ + "/result.json"}, &out, &err), 2);
  EXPECT_EQ(Lines(out), 1u + 2 + 4096);  // the two full blocks of 2048
  EXPECT_EQ(err.rfind("samples: " + store + ": byte ", 0), 0u) << err;
  EXPECT_NE(err.find(": truncated record: expected "), std::string::npos) << err;
}

}  // namespace
}  // namespace gameday
