#include "reports/sample_export.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

namespace gameday {
namespace {

Sample Make(double t, Health h, double latency, std::optional<double> value, std::string detail) {
  Sample s;
  s.t_send = t;
  s.t_done = t + 0.0012345;
  s.health = h;
  s.latency_ms = latency;
  s.value = value;
  s.detail = std::move(detail);
  return s;
}

RunResult ThreeVerifierRun() {
  RunResult run;
  run.experiments.resize(2);
  run.experiments[0].name = "pod-kill, \"frontend\"";
  run.experiments[0].verifiers.resize(2);
  run.experiments[0].verifiers[0].name = "http";
  run.experiments[0].verifiers[0].samples = {
      Make(0, Health::kHealthy, 1.2344, std::nullopt, ""),
      Make(0.5, Health::kUnhealthy, 20, std::nullopt, "HTTP 503 \"Service\nUnavailable\", retry"),
  };
  run.experiments[0].verifiers[1].name = "prom";
  run.experiments[0].verifiers[1].samples = {
      Make(1.0000004, Health::kUnknown, 0.5, 0.1 + 1.0 / 3.0, "query timed out"),
  };
  run.experiments[1].name = "etcd";
  run.experiments[1].verifiers.resize(1);
  run.experiments[1].verifiers[0].name = "http";
  run.experiments[1].verifiers[0].samples = {
      Make(2, Health::kHealthy, 3, std::nullopt, "token=hunter2secret Authorization: Bearer abc"),
  };
  return run;
}

std::string Export(const RunResult& run, SampleExportFilter filter, SampleExportFormat format,
                   Status* status = nullptr) {
  std::ostringstream out;
  Status s = ExportSamples(run, filter, format, out);
  if (status) {
    *status = s;
  } else {
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return out.str();
}

TEST(SampleExportTest, CsvHasTheHeaderAndQuotesWhatNeedsIt) {
  const std::string csv =
      Export(ThreeVerifierRun(), {"pod-kill, \"frontend\"", ""}, SampleExportFormat::kCsv);
  EXPECT_EQ(csv,
            "experiment,verifier,t_send_s,t_done_s,health,latency_ms,value,detail\n"
            "\"pod-kill, \"\"frontend\"\"\",http,0.000000,0.001235,healthy,1.234,,\n"
            "\"pod-kill, \"\"frontend\"\"\",http,0.500000,0.501235,unhealthy,20.000,,"
            "\"HTTP 503 \"\"Service\nUnavailable\"\", retry\"\n"
            "\"pod-kill, \"\"frontend\"\"\",prom,1.000000,1.001235,unknown,0.500,"
            "0.43333333333333335,query timed out\n");
}

TEST(SampleExportTest, JsonlIsOneObjectPerSample) {
  const std::string jsonl = Export(ThreeVerifierRun(), {"", "prom"}, SampleExportFormat::kJsonl);
  EXPECT_EQ(jsonl,
            "{\"experiment\":\"pod-kill, \\\"frontend\\\"\",\"verifier\":\"prom\",\"t_send_s\":1,"
            "\"t_done_s\":1.001235,\"health\":\"unknown\",\"latency_ms\":0.5,"
            "\"value\":0.43333333333333335,\"detail\":\"query timed out\"}\n");
  const std::string all = Export(ThreeVerifierRun(), {}, SampleExportFormat::kJsonl);
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 4);
  EXPECT_NE(all.find("\"value\":null"), std::string::npos);
}

TEST(SampleExportTest, SecretsAreRedactedAsInResultJson) {
  const std::string csv = Export(ThreeVerifierRun(), {"etcd", "http"}, SampleExportFormat::kCsv);
  EXPECT_EQ(csv.find("hunter2"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("abc"), std::string::npos) << csv;
  EXPECT_NE(csv.find("etcd,http,2.000000"), std::string::npos) << csv;
}

TEST(SampleExportTest, UnknownNamesAreNotFound) {
  Status s;
  EXPECT_EQ(Export(ThreeVerifierRun(), {"nope", ""}, SampleExportFormat::kCsv, &s), "");
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "no experiment named \"nope\" in the result");
  Export(ThreeVerifierRun(), {"etcd", "prom"}, SampleExportFormat::kCsv, &s);
  EXPECT_EQ(s.message(), "no verifier named \"prom\" in experiment \"etcd\"");
  Export(ThreeVerifierRun(), {"", "tcp"}, SampleExportFormat::kCsv, &s);
  EXPECT_EQ(s.message(), "no verifier named \"tcp\" in the result");
}

TEST(SampleExportTest, AStoreThatCannotBeReadEndsTheOutputWithItsError) {
  RunResult run = ThreeVerifierRun();
  run.dir = "/nonexistent-gameday-test";
  run.experiments[1].verifiers[0].samples.clear();
  run.experiments[1].verifiers[0].store = SampleStoreRef{"samples.gdsamples", 0};
  Status s;
  const std::string csv = Export(run, {}, SampleExportFormat::kCsv, &s);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(),
            "/nonexistent-gameday-test/samples.gdsamples: cannot open: No such file or directory");
  // The header and the inline samples (one detail holds a line break).
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
}

}  // namespace
}  // namespace gameday
