#include "reports/json_report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "experiments/sample_source.h"
#include "reports/report_text.h"
#include "tests/unit/report_fixture.h"

namespace gameday {
namespace {

using testing::RichRun;

// ---------------------------------------------------------------------------------------------
// Field-by-field equality, so a failure names the field that changed.

void ExpectSameOpt(const std::optional<double>& a, const std::optional<double>& b,
                   const std::string& what) {
  ASSERT_EQ(a.has_value(), b.has_value()) << what;
  if (a) {
    EXPECT_EQ(*a, *b) << what;
  }
}

void ExpectSameBound(const std::optional<std::pair<double, double>>& a,
                     const std::optional<std::pair<double, double>>& b, const std::string& what) {
  ASSERT_EQ(a.has_value(), b.has_value()) << what;
  if (a) {
    EXPECT_EQ(a->first, b->first) << what;
    EXPECT_EQ(a->second, b->second) << what;
  }
}

void ExpectSameMetrics(const RecoveryMetrics& a, const RecoveryMetrics& b, const std::string& w) {
  EXPECT_EQ(a.impact, b.impact) << w;
  ExpectSameOpt(a.time_to_detect_s, b.time_to_detect_s, w + ".time_to_detect_s");
  ExpectSameBound(a.detect_bound_s, b.detect_bound_s, w + ".detect_bound_s");
  EXPECT_EQ(a.recovered, b.recovered) << w;
  ExpectSameOpt(a.time_to_recover_s, b.time_to_recover_s, w + ".time_to_recover_s");
  ExpectSameBound(a.recover_bound_s, b.recover_bound_s, w + ".recover_bound_s");
  ExpectSameOpt(a.time_to_recover_after_revert_s, b.time_to_recover_after_revert_s,
                w + ".time_to_recover_after_revert_s");
  EXPECT_EQ(a.downtime_s, b.downtime_s) << w;
  EXPECT_EQ(a.availability, b.availability) << w;
  EXPECT_EQ(a.samples, b.samples) << w;
  EXPECT_EQ(a.failing, b.failing) << w;
  EXPECT_EQ(a.unknown, b.unknown) << w;
}

void ExpectSameSamples(const std::vector<Sample>& a, const std::vector<Sample>& b,
                       const std::string& w) {
  ASSERT_EQ(a.size(), b.size()) << w;
  for (size_t i = 0; i < a.size(); ++i) {
    const Sample& x = a[i];
    const Sample& y = b[i];
    bool same = x.t_send == y.t_send && x.t_done == y.t_done && x.health == y.health &&
                x.latency_ms == y.latency_ms && x.value == y.value && x.detail == y.detail;
    ASSERT_TRUE(same) << w << "[" << i << "]: t_send " << x.t_send << "/" << y.t_send << " t_done "
                      << x.t_done << "/" << y.t_done << " latency " << x.latency_ms << "/"
                      << y.latency_ms << " detail '" << x.detail << "'/'" << y.detail << "'";
  }
}

void ExpectSameRun(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(a.run_id, b.run_id);
  EXPECT_EQ(a.plan_file, b.plan_file);
  EXPECT_EQ(a.plan_name, b.plan_name);
  EXPECT_EQ(a.gameday_version, b.gameday_version);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.dry_run, b.dry_run);
  EXPECT_EQ(a.start_wall, b.start_wall);
  EXPECT_EQ(a.end_wall, b.end_wall);
  ASSERT_EQ(a.experiments.size(), b.experiments.size());
  for (size_t i = 0; i < a.experiments.size(); ++i) {
    const ExperimentResult& x = a.experiments[i];
    const ExperimentResult& y = b.experiments[i];
    std::string w = "experiments[" + std::to_string(i) + "]";
    EXPECT_EQ(x.name, y.name) << w;
    EXPECT_EQ(x.description, y.description) << w;
    EXPECT_EQ(x.labels, y.labels) << w;
    EXPECT_EQ(x.status, y.status) << w;
    EXPECT_EQ(x.reasons, y.reasons) << w;
    EXPECT_EQ(x.start_wall, y.start_wall) << w;
    EXPECT_EQ(x.end_wall, y.end_wall) << w;
    EXPECT_EQ(x.duration_s, y.duration_s) << w;
    EXPECT_EQ(x.t_first_inject, y.t_first_inject) << w;
    ExpectSameOpt(x.t_last_recovery, y.t_last_recovery, w + ".t_last_recovery");
    ASSERT_EQ(x.faults.size(), y.faults.size()) << w;
    for (size_t k = 0; k < x.faults.size(); ++k) {
      const FaultResult& f = x.faults[k];
      const FaultResult& g = y.faults[k];
      std::string fw = w + ".faults[" + std::to_string(k) + "]";
      EXPECT_EQ(f.id, g.id) << fw;
      EXPECT_EQ(f.step, g.step) << fw;
      EXPECT_EQ(f.kind, g.kind) << fw;
      EXPECT_EQ(f.target, g.target) << fw;
      EXPECT_EQ(f.target_id, g.target_id) << fw;
      EXPECT_EQ(f.t_inject, g.t_inject) << fw;
      ExpectSameOpt(f.t_revert, g.t_revert, fw + ".t_revert");
      EXPECT_EQ(f.reversible, g.reversible) << fw;
      EXPECT_EQ(f.revert, g.revert) << fw;
      EXPECT_EQ(f.error, g.error) << fw;
    }
    ASSERT_EQ(x.injections.size(), y.injections.size()) << w;
    for (size_t k = 0; k < x.injections.size(); ++k) {
      const InjectionResult& i = x.injections[k];
      const InjectionResult& j = y.injections[k];
      std::string iw = w + ".injections[" + std::to_string(k) + "]";
      EXPECT_EQ(i.step, j.step) << iw;
      EXPECT_EQ(i.round, j.round) << iw;
      EXPECT_EQ(i.kind, j.kind) << iw;
      EXPECT_EQ(i.targets, j.targets) << iw;
      EXPECT_EQ(i.injected, j.injected) << iw;
      EXPECT_EQ(i.t_start, j.t_start) << iw;
      EXPECT_EQ(i.inject_span_s, j.inject_span_s) << iw;
      EXPECT_EQ(i.journal_s, j.journal_s) << iw;
    }
    ASSERT_EQ(x.verifiers.size(), y.verifiers.size()) << w;
    for (size_t k = 0; k < x.verifiers.size(); ++k) {
      const VerifierResult& v = x.verifiers[k];
      const VerifierResult& u = y.verifiers[k];
      std::string vw = w + ".verifiers[" + std::to_string(k) + "]";
      EXPECT_EQ(v.name, u.name) << vw;
      EXPECT_EQ(v.kind, u.kind) << vw;
      EXPECT_EQ(v.description, u.description) << vw;
      EXPECT_EQ(v.interval_s, u.interval_s) << vw;
      EXPECT_EQ(v.slo_success_ratio, u.slo_success_ratio) << vw;
      ExpectSameOpt(v.steady_before, u.steady_before, vw + ".steady_before");
      ExpectSameOpt(v.steady_after, u.steady_after, vw + ".steady_after");
      ExpectSameMetrics(v.overall, u.overall, vw + ".overall");
      ASSERT_EQ(v.per_fault.size(), u.per_fault.size()) << vw;
      for (size_t j = 0; j < v.per_fault.size(); ++j) {
        EXPECT_EQ(v.per_fault[j].fault_id, u.per_fault[j].fault_id) << vw;
        ExpectSameMetrics(v.per_fault[j].metrics, u.per_fault[j].metrics,
                          vw + ".per_fault[" + std::to_string(j) + "]");
      }
      ExpectSameSamples(v.samples, u.samples, vw + ".samples");
      EXPECT_EQ(v.sample_count, u.sample_count) << vw;
      ASSERT_EQ(v.last_error.has_value(), u.last_error.has_value()) << vw;
      if (v.last_error) {
        EXPECT_EQ(v.last_error->t_send, u.last_error->t_send) << vw;
        EXPECT_EQ(v.last_error->health, u.last_error->health) << vw;
        EXPECT_EQ(v.last_error->detail, u.last_error->detail) << vw;
      }
      ASSERT_EQ(v.store.has_value(), u.store.has_value()) << vw;
      if (v.store) {
        EXPECT_EQ(v.store->file, u.store->file) << vw;
        EXPECT_EQ(v.store->stream, u.store->stream) << vw;
      }
    }
    ASSERT_EQ(x.objectives.size(), y.objectives.size()) << w;
    for (size_t k = 0; k < x.objectives.size(); ++k) {
      const ObjectiveResult& o = x.objectives[k];
      const ObjectiveResult& p = y.objectives[k];
      EXPECT_EQ(o.name, p.name) << w;
      EXPECT_EQ(o.verifier, p.verifier) << w;
      EXPECT_EQ(o.type, p.type) << w;
      EXPECT_EQ(o.passed, p.passed) << w;
      ExpectSameOpt(o.measured, p.measured, w + ".objective.measured");
      ExpectSameOpt(o.limit, p.limit, w + ".objective.limit");
      EXPECT_EQ(o.message, p.message) << w;
    }
    ASSERT_EQ(x.events.size(), y.events.size()) << w;
    for (size_t k = 0; k < x.events.size(); ++k) {
      EXPECT_EQ(x.events[k].t, y.events[k].t) << w;
      EXPECT_EQ(x.events[k].source, y.events[k].source) << w;
      EXPECT_EQ(x.events[k].message, y.events[k].message) << w;
    }
  }
}

// ---------------------------------------------------------------------------------------------

TEST(JsonReportTest, RoundTripIsExact) {
  RunResult run = RichRun();
  // What the engine fills for inline samples: the count and the last sample that did not pass.
  for (auto& e : run.experiments) {
    for (auto& v : e.verifiers) {
      v.sample_count = v.samples.size();
      v.last_error = LastErrorOf(v.samples);
    }
  }
  std::string json = RenderJson(run);
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSameRun(run, *parsed);
  // And the text is a fixed point: regenerating from a parsed result changes nothing.
  EXPECT_EQ(RenderJson(*parsed), json);
}

TEST(JsonReportTest, DocumentHasTheDocumentedShape) {
  RunResult run = RichRun(10);
  std::string json = RenderJson(run);
  EXPECT_NE(json.find("\"format\": \"gameday.result/v1\""), std::string::npos);
  // The seed is a string so that 2^64-1 survives readers that hold numbers as doubles.
  EXPECT_NE(json.find("\"seed\": \"18446744073709551615\""), std::string::npos);
  EXPECT_NE(json.find("\"status\": \"error\""), std::string::npos);  // the worst experiment
  EXPECT_NE(json.find("\"start\": \"2024-05-01T12:34:56.789Z\""), std::string::npos);
  EXPECT_NE(json.find("\"t_revert_s\": null"), std::string::npos);
  EXPECT_NE(json.find("\"t_revert_s\": 40.0005"), std::string::npos);
  EXPECT_NE(json.find("\"recover_bound_s\": [12.38,12.42]"), std::string::npos);
  EXPECT_NE(json.find("\"recover_bound_s\": null"), std::string::npos);
  EXPECT_NE(json.find("\"steady_before\": null"), std::string::npos);
  EXPECT_NE(json.find("\"health\": \"HHHHHHHHHH\""), std::string::npos);
  EXPECT_NE(json.find("\"value\": null"), std::string::npos);  // no sample of `frontend` has one
  EXPECT_NE(json.find("\"t_send\": [0.0,0.02,0.04,"), std::string::npos);
  // Quotes and unicode are escaped JSON, not mangled.
  EXPECT_NE(json.find(R"("name": "pod-kill \"frontend\" <&> 'ünï'")"), std::string::npos);
}

TEST(JsonReportTest, ColumnsHoldHealthValuesAndDetails) {
  RunResult run = RichRun(300);
  std::string json = RenderJson(run);
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const auto& prom = parsed->experiments[0].verifiers[1].samples;
  ASSERT_EQ(prom.size(), 60u);
  EXPECT_FALSE(prom[0].value.has_value());
  ASSERT_TRUE(prom[1].value.has_value());
  EXPECT_EQ(*prom[1].value, 0.1 + 1.0 / 3.0);  // full precision, not rounded
  EXPECT_EQ(prom[20].health, Health::kUnknown);
  EXPECT_EQ(prom[20].detail, "prometheus: query timed out");
  const auto& http = parsed->experiments[0].verifiers[0].samples;
  EXPECT_EQ(http[280].health, Health::kUnhealthy);  // t = 5.6 s, inside the outage
  EXPECT_EQ(http[281].detail, "HTTP 503 \"Service Unavailable\" <html>");
  EXPECT_TRUE(http[0].detail.empty());
}

TEST(JsonReportTest, RoundsTimesToMicrosecondsAndLatencyToMicroMillis) {
  RunResult run;
  run.experiments.resize(1);
  VerifierResult v;
  Sample s;
  s.t_send = 1.23456789;
  s.t_done = 1.2345674;
  s.latency_ms = 12.3456;
  s.health = Health::kHealthy;
  v.samples.push_back(s);
  s.t_send = -1e-9;  // rounds to 0, never to "-0.0"
  v.samples.push_back(s);
  run.experiments[0].verifiers.push_back(v);
  std::string json = RenderJson(run);
  EXPECT_NE(json.find("\"t_send\": [1.234568,0.0]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"t_done\": [1.234567,1.234567]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"latency_ms\": [12.346,12.346]"), std::string::npos) << json;
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->experiments[0].verifiers[0].samples[0].t_send, 1.234568);
}

TEST(JsonReportTest, NonFiniteNumbersBecomeNull) {
  RunResult run;
  run.experiments.resize(1);
  run.experiments[0].duration_s = std::nan("");
  std::string json = RenderJson(run);
  EXPECT_NE(json.find("\"duration_s\": null"), std::string::npos);
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(std::isnan(parsed->experiments[0].duration_s));
}

TEST(JsonReportTest, InvalidUtf8IsRepaired) {
  RunResult run;
  run.run_id = std::string("bad\xff\xfe") + "id";
  run.experiments.resize(1);
  run.experiments[0].events.push_back({1, "kubernetes", std::string("msg \xc3(", 6)});
  std::string json = RenderJson(run);
  EXPECT_TRUE(IsValidUtf8(json));
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->run_id, "bad\uFFFD\uFFFDid");
  EXPECT_EQ(parsed->experiments[0].events[0].message, "msg \uFFFD(");
}

TEST(JsonReportTest, SeedMayBeANumber) {
  std::string json = RenderJson(RunResult{});
  std::string key = "\"seed\": \"0\"";
  size_t at = json.find(key);
  ASSERT_NE(at, std::string::npos);
  json.replace(at, key.size(), "\"seed\": 18446744073709551615");
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->seed, 18446744073709551615ull);
}

// Replaces the first occurrence of `from` in a rendered rich run and parses the result.
Status ParseEdited(const std::string& from, const std::string& to) {
  std::string json = RenderJson(RichRun(5));
  size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at == std::string::npos) return Status::Internal("pattern not found");
  json.replace(at, from.size(), to);
  return ParseJsonResult(json).status();
}

TEST(JsonReportTest, MalformedInputGivesAMessage) {
  struct Case {
    std::string input;
    std::string expect;  // a part of the message
  };
  const std::vector<Case> cases = {
      {"", "JSON syntax error at line 1, column 1"},
      {"{\"format\": \"gameday.result/v1\",\n  \"run_id\": }", "line 2, column 13"},
      {"[1, 2]", "not a JSON object"},
      {"{}", "format: missing"},
      {"{\"format\": \"gameday.result/v9\"}", "format is \"gameday.result/v9\""},
      {"{\"format\": \"gameday.result/v1\"}", "run_id: missing"},
      // Deeper than any result; the recursive parse used to overflow the stack on this.
      {std::string(300000, '['), "JSON syntax error at line 1, column 129: nested deeper than 128"},
      {"{\n\"a\":" + std::string(300000, '{'),
       "JSON syntax error at line 2, column 132: nested deeper than 128"},
  };
  for (const auto& c : cases) {
    Result<RunResult> r = ParseJsonResult(c.input);
    ASSERT_FALSE(r.ok()) << c.input;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << "input: " << c.input << "\nmessage: " << r.status().message();
  }
  // A truncated document is a syntax error, not a crash.
  std::string json = RenderJson(RichRun(50));
  Result<RunResult> cut = ParseJsonResult(json.substr(0, json.size() / 2));
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("JSON syntax error"), std::string::npos);
}

TEST(JsonReportTest, ShapeErrorsNameTheFieldPath) {
  struct Case {
    std::string from, to, expect;
  };
  const std::vector<Case> cases = {
      {"\"health\": \"HHHHH\"", "\"health\": \"HHXHH\"",
       "experiments[0].verifiers[0].samples.health: character 2 is not H"},
      {"\"health\": \"HHHHH\"", "\"health\": \"HHHH\"",
       "experiments[0].verifiers[0].samples.health: has 4 characters, t_send has 5"},
      {"\"latency_ms\": [", "\"latency_ms\": [1,",
       "experiments[0].verifiers[0].samples.latency_ms: has 6 entries"},
      {"\"status\": \"failed\"", "\"status\": \"exploded\"",
       "experiments[0].status: unknown status \"exploded\""},
      {"\"start\": \"2024-05-01T12:34:57.000Z\"", "\"start\": \"yesterday\"",
       "experiments[0].start: expected an RFC 3339 time"},
      {"\"t_inject_s\": 5.00025", "\"t_inject_s\": \"soon\"",
       "experiments[0].faults[0].t_inject_s: expected a number"},
      {"\"reversible\": false", "\"reversible\": 0",
       "experiments[0].faults[0].reversible: expected true or false"},
      {"\"recover_bound_s\": [12.38,12.42]", "\"recover_bound_s\": [12.38]",
       "experiments[0].verifiers[0].recover_bound_s: expected [lo, hi] or null"},
      {"\"seed\": \"18446744073709551615\"", "\"seed\": \"18446744073709551616\"",
       "seed: expected an unsigned 64-bit integer"},
      {"\"sample_count\": 3000", "\"sample_count\": -1",
       "experiments[0].verifiers[0].sample_count: expected a non-negative integer"},
      {"\"events\": [", "\"events\": [1, ", "experiments[0].events[0]: expected an object"},
      {"\"detail\": {}", "\"detail\": {\"99\": \"x\"}",
       "experiments[0].verifiers[0].samples.detail.99: key is not the index of a sample"},
  };
  for (const auto& c : cases) {
    Status st = ParseEdited(c.from, c.to);
    ASSERT_FALSE(st.ok()) << c.to;
    EXPECT_NE(st.message().find(c.expect), std::string::npos)
        << "edit: " << c.to << "\nmessage: " << st.message();
  }
}

TEST(JsonReportTest, CollectsSeveralProblemsAtOnce) {
  std::string json =
      "{\"format\": \"gameday.result/v1\", \"run_id\": 1, \"plan_file\": [],"
      " \"dry_run\": \"no\"}";
  Result<RunResult> r = ParseJsonResult(json);
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("run_id: expected a string"), std::string::npos) << m;
  EXPECT_NE(m.find("plan_file: expected a string"), std::string::npos) << m;
  EXPECT_NE(m.find("dry_run: expected true or false"), std::string::npos) << m;
  EXPECT_NE(m.find("experiments: missing"), std::string::npos) << m;
}

TEST(JsonReportTest, Rfc3339AcceptsOffsetsAndFractions) {
  auto t = ParseRfc3339("2024-05-01T14:34:56.789123+02:00");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatRfc3339(*t), "2024-05-01T12:34:56.789Z");
  EXPECT_FALSE(ParseRfc3339("2024-02-30T00:00:00Z").has_value());
  EXPECT_FALSE(ParseRfc3339("2024-05-01T12:34:56").has_value());  // a zone is required
  EXPECT_EQ(FormatRfc3339(WallTime{} - std::chrono::milliseconds(1)), "1969-12-31T23:59:59.999Z");
}

// Found by tests/fuzz/result_fuzz: year 8247 overflowed the nanosecond clock (undefined
// behaviour, and a wrapped time read back from a result file).
TEST(JsonReportTest, Rfc3339RefusesTimesTheClockCannotHold) {
  EXPECT_FALSE(ParseRfc3339("8247-01-01T00:00:00Z").has_value());
  EXPECT_FALSE(ParseRfc3339("0001-01-01T00:00:00Z").has_value());
  EXPECT_TRUE(ParseRfc3339("2261-12-31T23:59:59-23:59").has_value());
  EXPECT_TRUE(ParseRfc3339("1678-01-01T00:00:00+23:59").has_value());
}

// ---------------------------------------------------------------------------------------------
// Where the samples are: inline, or in the run's sample store.

// The document on one line: every line break and the indent after it removed.
std::string Joined(const std::string& json) {
  std::string out;
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] != '\n') {
      out += json[i];
      continue;
    }
    while (i + 1 < json.size() && json[i + 1] == ' ') ++i;
  }
  return out;
}

// One experiment with one verifier: three inline samples, the last failing one unknown.
RunResult SmallRun() {
  RunResult run;
  run.experiments.resize(1);
  run.experiments[0].name = "e";
  VerifierResult v;
  v.name = "v";
  for (int i = 0; i < 3; ++i) {
    Sample s;
    s.t_send = i * 0.5;
    s.t_done = s.t_send + 0.001;
    s.health = i == 1 ? Health::kUnknown : Health::kHealthy;
    s.detail = i == 1 ? "prometheus: \"timeout\"" : "";
    v.samples.push_back(s);
  }
  run.experiments[0].verifiers.push_back(v);
  return run;
}

// SmallRun's verifier as read back: three samples inline, the second the last error.
void ExpectSmallRunCounts(const VerifierResult& v) {
  EXPECT_EQ(v.sample_count, 3u);
  ASSERT_TRUE(v.last_error.has_value());
  EXPECT_EQ(v.last_error->t_send, 0.5);
  EXPECT_EQ(v.last_error->health, Health::kUnknown);
  EXPECT_EQ(v.last_error->detail, "prometheus: \"timeout\"");
  EXPECT_FALSE(v.store.has_value());
}

// A run whose verifier's samples live in a store.
RunResult StoredRun() {
  RunResult run = SmallRun();
  VerifierResult& v = run.experiments[0].verifiers[0];
  v.samples.clear();
  v.sample_count = 57600000;
  v.last_error = LastError{28799.990001, Health::kUnhealthy, "HTTP 503"};
  v.store = SampleStoreRef{"samples.gdsamples", 12};
  return run;
}

TEST(JsonReportTest, InlineSamplesCarryTheirCountAndLastError) {
  const std::string json = RenderJson(SmallRun());
  EXPECT_NE(json.find("\"total_sample_count\": 3,"), std::string::npos) << json;
  EXPECT_NE(Joined(json).find(R"("last_error": {"t_send_s": 0.5,"health": "unknown",)"
                              R"("detail": "prometheus: \"timeout\""},"samples": {)"),
            std::string::npos)
      << json;
  EXPECT_EQ(json.find("sample_store"), std::string::npos);
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSmallRunCounts(parsed->experiments[0].verifiers[0]);
  EXPECT_EQ(RenderJson(*parsed), json);

  RunResult passing = SmallRun();
  passing.experiments[0].verifiers[0].samples[1].health = Health::kHealthy;
  EXPECT_NE(RenderJson(passing).find("\"last_error\": null,"), std::string::npos);
}

TEST(JsonReportTest, StoredSamplesAreReferencedAndRoundTrip) {
  const RunResult run = StoredRun();
  const std::string json = RenderJson(run);
  EXPECT_NE(json.find("\"total_sample_count\": 57600000,"), std::string::npos) << json;
  EXPECT_NE(Joined(json).find(
                R"("samples": null,"sample_store": {"file": "samples.gdsamples","stream": 12}})"),
            std::string::npos)
      << json;
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSameRun(run, *parsed);
  EXPECT_EQ(RenderJson(*parsed), json);
}

TEST(JsonReportTest, ResultsWithoutTheNewFieldsStillRead) {
  // As written before sample stores: neither the total count nor the last error.
  std::string json = RenderJson(SmallRun());
  const size_t from = json.find("        \"total_sample_count\"");
  const size_t to = json.find("        \"samples\"");
  ASSERT_NE(from, std::string::npos);
  ASSERT_NE(to, std::string::npos);
  json.erase(from, to - from);
  ASSERT_EQ(json.find("last_error"), std::string::npos);
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSmallRunCounts(parsed->experiments[0].verifiers[0]);
  EXPECT_EQ(RenderJson(*parsed), RenderJson(SmallRun()));
}

TEST(JsonReportTest, InjectionSpansAreWrittenAndResultsWithoutThemStillRead) {
  const RunResult run = RichRun();
  const std::string json = RenderJson(run);
  EXPECT_NE(json.find("\"injections\": ["), std::string::npos);
  EXPECT_NE(json.find("\"inject_span_s\": 1.234567"), std::string::npos);
  EXPECT_NE(json.find("\"journal_s\": 0.00425"), std::string::npos);
  EXPECT_NE(json.find("\"targets\": 1000"), std::string::npos);
  Result<RunResult> parsed = ParseJsonResult(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->experiments[0].injections.size(), 2u);
  EXPECT_EQ(parsed->experiments[0].injections[0].injected, 999u);
  EXPECT_EQ(parsed->experiments[0].injections[1].round, 2);

  // As written before issue 13: no "injections" at all. It reads as none.
  std::string old = RenderJson(SmallRun());
  const size_t from = old.find("      \"injections\": [");
  ASSERT_NE(from, std::string::npos);
  const size_t to = old.find("      \"verifiers\"", from);
  ASSERT_NE(to, std::string::npos);
  old.erase(from, to - from);
  ASSERT_EQ(old.find("injections"), std::string::npos);
  Result<RunResult> read = ParseJsonResult(old);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(read->experiments[0].injections.empty());
}

// `json` with its first `from` replaced by `to` is refused with a message holding `expect`.
void ExpectEditRefused(std::string json, const std::string& from, const std::string& to,
                       const std::string& expect) {
  const size_t at = json.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  json.replace(at, from.size(), to);
  Result<RunResult> r = ParseJsonResult(json);
  ASSERT_FALSE(r.ok()) << to;
  EXPECT_NE(r.status().message().find(expect), std::string::npos)
      << "edit: " << to << "\nmessage: " << r.status().message();
}

TEST(JsonReportTest, InjectionsThatDoNotFitAreNamed) {
  const std::string json = RenderJson(RichRun());
  const std::string path = "experiments[0].injections[0].";
  ExpectEditRefused(json, "\"injected\": 999", "\"injected\": 1001",
                    path + "injected: 1001, more than its 1000 targets");
  ExpectEditRefused(json, "\"targets\": 1000", "\"targets\": -1",
                    path + "targets: expected a non-negative integer");
  ExpectEditRefused(json, "\"inject_span_s\": 1.234567", "\"inject_span_s\": \"slow\"",
                    path + "inject_span_s: expected a number");
  ExpectEditRefused(json, "\"injections\": [", "\"injections\": 3, \"unused\": [",
                    "experiments[0].injections: expected an array");
}

TEST(JsonReportTest, SampleFieldsThatDoNotFitAreNamed) {
  struct Case {
    std::string from, to, expect;
  };
  const std::string p = "experiments[0].verifiers[0].";
  const std::vector<Case> stored = {
      {"\"samples\": null,", "\"samples\": 5,", p + "samples: expected an object, or null with"},
      {"\"file\": \"samples.gdsamples\"", "\"file\": \"../x.gdsamples\"",
       p + "sample_store.file: expected a plain file name next to result.json, got "
           "\"../x.gdsamples\""},
      {"\"file\": \"samples.gdsamples\"", "\"file\": \"/etc/passwd\"",
       p + "sample_store.file: expected a plain file name"},
      {"\"stream\": 12", "\"stream\": 1000000",
       p + "sample_store.stream: expected a stream id below 1000000"},
      {"\"stream\": 12", "\"stream\": -1", p + "sample_store.stream: expected a stream id"},
      {"\"total_sample_count\": 57600000,", "",
       p + "total_sample_count: missing (the samples are in a store)"},
      {"\"health\": \"unhealthy\"", "\"health\": \"healthy\"",
       p + "last_error.health: expected \"unhealthy\" or \"unknown\", got \"healthy\""},
      {"\"t_send_s\": 28799.990001", "\"t_send_s\": \"late\"",
       p + "last_error.t_send_s: expected a number"},
      {"\"sample_store\": {", "\"store\": {",
       p + "sample_store: missing (\"samples\" is null, so the samples must be in a sample store)"},
  };
  for (const auto& c : stored) ExpectEditRefused(RenderJson(StoredRun()), c.from, c.to, c.expect);
  const std::vector<Case> inline_cases = {
      {"\"total_sample_count\": 3,", "\"total_sample_count\": 4,",
       p + "total_sample_count: 4, but samples holds 3"},
      {"\"total_sample_count\": 3,", "\"total_sample_count\": -3,",
       p + "total_sample_count: expected a non-negative integer"},
      {"\"last_error\": {", "\"last_error\": [], \"x\": {", p + "last_error: expected {"},
      {"\"last_error\": {", "\"sample_store\": {\"file\": \"s\", \"stream\": 1}, \"last_error\": {",
       p + "sample_store: expected null or absent when samples are inline"},
  };
  for (const auto& c : inline_cases) {
    ExpectEditRefused(RenderJson(SmallRun()), c.from, c.to, c.expect);
  }
}

}  // namespace
}  // namespace gameday
