// The "prometheus" verifier kind without a Prometheus: spec parsing with every error path, and
// the reading of query answers (the real server is in
// tests/integration/prometheus_verifier_test.cc).

#include <gtest/gtest.h>

#include <cmath>

#include "experiments/spec_reader.h"
#include "verifiers/prometheus/prometheus_spec.h"
#include "verifiers/prometheus/prometheus_verifier.h"
#include "verifiers/registry.h"

namespace gameday {
namespace {

constexpr char kBase[] = "experiments[0].verify[0].spec";

struct Parsed {
  Diagnostics diags;
  std::optional<PrometheusProbeSpec> spec;
};

Parsed Parse(const std::string& yaml) {
  Parsed p;
  std::optional<YAML::Node> doc = LoadDocument(yaml, "plan.yaml", &p.diags);
  EXPECT_TRUE(doc.has_value()) << p.diags.ToString();
  if (!doc) return p;
  SpecNode node(*doc, kBase, std::make_shared<const std::string>("plan.yaml"), &p.diags);
  p.spec = ParsePrometheusProbeSpec(node);
  return p;
}

void ExpectError(const Parsed& p, const std::string& field, const std::string& fragment) {
  EXPECT_FALSE(p.spec.has_value());
  const std::string path = field.empty() ? kBase : std::string(kBase) + "." + field;
  const Diagnostic* found = nullptr;
  for (const Diagnostic& d : p.diags.items()) {
    if (d.path == path && d.message.find(fragment) != std::string::npos) found = &d;
  }
  ASSERT_NE(found, nullptr) << "no diagnostic at " << path << " with '" << fragment << "'; got:\n"
                            << p.diags.ToString();
  EXPECT_GT(found->line, 0);
}

constexpr char kGood[] =
    "url: http://127.0.0.1:9090/\n"
    "query: sum(rate(http_requests_total{code=~\"5..\"}[1m])) / 2\n"
    "condition: {op: \"<\", value: 0.05}\n";

TEST(PrometheusVerifierSpecTest, ParsesAndBuildsTheQueryUrl) {
  Parsed p = Parse(kGood);
  ASSERT_TRUE(p.spec.has_value()) << p.diags.ToString();
  EXPECT_TRUE(p.diags.empty());
  EXPECT_EQ(p.spec->query_url,
            "http://127.0.0.1:9090/api/v1/query?query=sum%28rate%28http_requests_total%7Bcode%3D~"
            "%225..%22%7D%5B1m%5D%29%29%20%2F%202");
  EXPECT_EQ(p.spec->condition.Text(), "< 0.05");
  EXPECT_EQ(p.spec->timeout, std::chrono::seconds(2));
  EXPECT_TRUE(p.spec->condition.Holds(0.049));
  EXPECT_FALSE(p.spec->condition.Holds(0.05));

  Parsed b = Parse(
      "url: https://user:secret@prom.example:9443/prometheus\nquery: up\n"
      "condition: {op: between, min: 2, max: 3}\ntimeout: 500ms\n");
  ASSERT_TRUE(b.spec.has_value()) << b.diags.ToString();
  EXPECT_EQ(b.spec->query_url,
            "https://user:secret@prom.example:9443/prometheus/api/v1/query?query=up");
  EXPECT_EQ(b.spec->display_url.find("secret"), std::string::npos);
  EXPECT_EQ(b.spec->condition.Text(), "between 2 and 3");
  EXPECT_TRUE(b.spec->condition.Holds(2));
  EXPECT_TRUE(b.spec->condition.Holds(3));
  EXPECT_FALSE(b.spec->condition.Holds(3.5));
  EXPECT_EQ(b.spec->timeout, std::chrono::milliseconds(500));

  for (auto [op, yes, no] :
       {std::tuple<const char*, double, double>{"<=", 5, 5.1}, {">", 5.1, 5}, {">=", 5, 4.9}}) {
    Parsed q = Parse(std::string("url: http://p:9090\nquery: up\ncondition: {op: \"") + op +
                     "\", value: 5}\n");
    ASSERT_TRUE(q.spec.has_value()) << op << q.diags.ToString();
    EXPECT_TRUE(q.spec->condition.Holds(yes)) << op;
    EXPECT_FALSE(q.spec->condition.Holds(no)) << op;
  }
}

TEST(PrometheusVerifierSpecTest, ReportsEveryProblemWithItsPath) {
  ExpectError(Parse("query: up\ncondition: {op: \"<\", value: 1}\n"), "url", "required");
  ExpectError(Parse("url: http://p:9090\ncondition: {op: \"<\", value: 1}\n"), "query", "required");
  ExpectError(Parse("url: http://p:9090\nquery: up\n"), "condition", "required");
  ExpectError(Parse("url: http://p:9090\nquery: '  '\ncondition: {op: \"<\", value: 1}\n"), "query",
              "non-empty");
  ExpectError(Parse("url: ftp://p:9090\nquery: up\ncondition: {op: \"<\", value: 1}\n"), "url",
              "scheme 'ftp'");
  ExpectError(Parse("url: http://p:9090/api/v1/query?query=up\nquery: up\n"
                    "condition: {op: \"<\", value: 1}\n"),
              "url", "without a query string");
  ExpectError(Parse("url: http://p:9090\nquery: up\ncondition: {op: \"!=\", value: 1}\n"),
              "condition.op", "expected one of");
  ExpectError(Parse("url: http://p:9090\nquery: up\ncondition: {value: 1}\n"), "condition.op",
              "required");
  ExpectError(Parse("url: http://p:9090\nquery: up\ncondition: {op: \"<\"}\n"), "condition.value",
              "required with op <");
  ExpectError(Parse("url: http://p:9090\nquery: up\ncondition: {op: \"<\", value: high}\n"),
              "condition.value", "");
  ExpectError(Parse("url: http://p:9090\nquery: up\ncondition: {op: between, min: 1}\n"),
              "condition.max", "required with op between");
  ExpectError(Parse("url: http://p:9090\nquery: up\ncondition: {op: between, min: 3, max: 1}\n"),
              "condition.max", "must not be below min (3)");
  ExpectError(
      Parse("url: http://p:9090\nquery: up\ncondition: {op: between, min: 1, max: 2, value: 1}\n"),
      "condition.value", "takes min and max");
  ExpectError(Parse("url: http://p:9090\nquery: up\ncondition: {op: \">\", value: 1, max: 2}\n"),
              "condition.max", "go with op between");
  ExpectError(Parse("url: http://p:9090\nquery: up\ncondition: {op: \">\", valeu: 1}\n"),
              "condition.valeu", "value");
  ExpectError(Parse(std::string(kGood) + "timeout: 0s\n"), "timeout", "");
  ExpectError(Parse(std::string(kGood) + "interval: 1s\n"), "interval", "");

  // Every problem at once, not only the first.
  Parsed all = Parse("url: gopher://x\nquery: ''\ncondition: {op: between}\nextra: 1\n");
  EXPECT_FALSE(all.spec.has_value());
  EXPECT_GE(all.diags.size(), 5u) << all.diags.ToString();
}

TEST(PrometheusVerifierSpecTest, ReadsQueryAnswers) {
  auto value = [](const std::string& body) { return ParsePromQueryResponse(body); };
  PromQueryValue v =
      value(R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"x"},)"
            R"("value":[1714560000.123,"0.25"]}]}})");
  ASSERT_TRUE(v.value) << v.error;
  EXPECT_DOUBLE_EQ(*v.value, 0.25);
  v = value(R"({"status":"success","data":{"resultType":"scalar","result":[1714560000,"3"]}})");
  ASSERT_TRUE(v.value) << v.error;
  EXPECT_DOUBLE_EQ(*v.value, 3);
  v = value(R"({"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}})");
  ASSERT_TRUE(v.value);
  EXPECT_TRUE(std::isinf(*v.value));

  struct Case {
    const char* body;
    const char* error;
  } cases[] = {
      {R"({"status":"success","data":{"resultType":"vector","result":[]}})",
       "query returned an empty result (no series matched)"},
      {R"({"status":"success","data":{"resultType":"vector","result":[)"
       R"({"metric":{},"value":[1,"1"]},{"metric":{"a":"b"},"value":[1,"2"]}]}})",
       "query returned 2 series, not one value; aggregate it (sum, max, ...) to a single series"},
      {R"({"status":"success","data":{"resultType":"matrix","result":[]}})",
       "query returned a range vector (matrix)"},
      {R"({"status":"success","data":{"resultType":"string","result":[1,"x"]}})",
       "query returned a string, not a number"},
      {R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"})",
       "query failed: bad_data: 1:5: parse error: unexpected"},
      {R"({"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}})",
       "query returned NaN"},
      {R"({"status":"success","data":{"resultType":"scalar","result":[1,"abc"]}})",
       "not a number: \"abc\""},
      {"<html>502 Bad Gateway</html>", "not a query result"},
  };
  for (const Case& c : cases) {
    PromQueryValue r = value(c.body);
    EXPECT_FALSE(r.value) << c.body;
    EXPECT_NE(r.error.find(c.error), std::string::npos) << c.body << "\n -> " << r.error;
  }
}

TEST(PrometheusVerifierSpecTest, OnlyAUsableValueIsHealthyOrUnhealthy) {
  Parsed p = Parse(kGood);
  ASSERT_TRUE(p.spec);
  const std::string ok =
      R"({"status":"success","data":{"resultType":"scalar","result":[1,"0.01"]}})";
  const std::string high =
      R"({"status":"success","data":{"resultType":"scalar","result":[1,"0.2"]}})";
  PromJudgement j = JudgePromAnswer(*p.spec, 200, "", ok);
  EXPECT_EQ(j.health, Health::kHealthy);
  EXPECT_DOUBLE_EQ(*j.value, 0.01);
  EXPECT_TRUE(j.detail.empty());
  j = JudgePromAnswer(*p.spec, 200, "", high);
  EXPECT_EQ(j.health, Health::kUnhealthy);
  EXPECT_DOUBLE_EQ(*j.value, 0.2);
  EXPECT_EQ(j.detail, "value 0.2 is not < 0.05");
  j = JudgePromAnswer(*p.spec, 0, "Failed to connect to 127.0.0.1 port 9: Connection refused", "");
  EXPECT_EQ(j.health, Health::kUnknown);
  EXPECT_EQ(j.detail,
            "Prometheus unreachable: Failed to connect to 127.0.0.1 port 9: Connection refused");
  j = JudgePromAnswer(*p.spec, 400, "",
                      R"({"status":"error","errorType":"bad_data","error":"parse error"})");
  EXPECT_EQ(j.health, Health::kUnknown);
  EXPECT_EQ(j.detail, "Prometheus answered HTTP 400, query failed: bad_data: parse error");
  j = JudgePromAnswer(*p.spec, 503, "", "Service Unavailable");
  EXPECT_EQ(j.health, Health::kUnknown);
  EXPECT_EQ(j.detail, "Prometheus answered HTTP 503");
  j = JudgePromAnswer(*p.spec, 200, "",
                      R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  EXPECT_EQ(j.health, Health::kUnknown);
  EXPECT_FALSE(j.value);
}

// 300,000 '[' overflowed the stack of the recursive parse: now a Prometheus answer that cannot
// be read, which says nothing about the service (unknown), with the reason.
TEST(PrometheusVerifierSpecTest, DeepAnswerIsUnknownNotACrash) {
  Parsed p = Parse(kGood);
  ASSERT_TRUE(p.spec);
  const std::string deep(300000, '[');
  PromQueryValue v = ParsePromQueryResponse(deep);
  EXPECT_FALSE(v.value);
  EXPECT_EQ(v.error,
            "Prometheus answered with something that is not a query result (JSON: nested deeper "
            "than 128 at byte 128)");
  PromJudgement j = JudgePromAnswer(*p.spec, 200, "", deep);
  EXPECT_EQ(j.health, Health::kUnknown);
  EXPECT_EQ(j.detail, v.error);
  j = JudgePromAnswer(*p.spec, 200, "", "{\"status\":\"success\",\"data\":" + deep);
  EXPECT_EQ(j.health, Health::kUnknown);
  EXPECT_NE(j.detail.find("nested deeper than 128"), std::string::npos) << j.detail;
}

TEST(PrometheusVerifierSpecTest, IsRegisteredAndDescribesItself) {
  Registry<VerifierKind> registry;
  RegisterBuiltinVerifiers(registry);
  const VerifierKind* kind = registry.Find("prometheus");
  ASSERT_NE(kind, nullptr);
  Diagnostics diags;
  std::optional<YAML::Node> doc = LoadDocument(kGood, "plan.yaml", &diags);
  ASSERT_TRUE(doc);
  SpecNode node(*doc, kBase, std::make_shared<const std::string>("plan.yaml"), &diags);
  std::unique_ptr<Verifier> v = kind->Parse(node, TargetSpec{});
  ASSERT_NE(v, nullptr) << diags.ToString();
  EXPECT_EQ(v->Describe(),
            "PromQL sum(rate(http_requests_total{code=~\"5..\"}[1m])) / 2 < 0.05 at "
            "http://127.0.0.1:9090/");
}

}  // namespace
}  // namespace gameday
