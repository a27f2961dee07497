#include "verifiers/prometheus/prometheus_spec.h"

#include <curl/curl.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "clients/curl/url_escape.h"
#include "experiments/json.h"
#include "verifiers/probe/http_url.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

constexpr double kHuge = std::numeric_limits<double>::max();

// Up to 6 significant digits: thresholds and values as people write them.
std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// A missing field has no position of its own: point at the map that lacks it.
void ErrorMissing(SpecNode& parent, const std::string& key, const std::string& message) {
  Diagnostic d;
  d.file = parent.file();
  const YAML::Mark mark = parent.yaml().Mark();
  if (!mark.is_null()) {
    d.line = mark.line + 1;
    d.column = mark.column + 1;
  }
  d.path = parent.path().empty() ? key : parent.path() + "." + key;
  d.message = message;
  parent.diagnostics()->Add(std::move(d));
}

// The base URL, which must have no query or fragment: the verifier appends its own query.
void ParseUrl(SpecNode& spec, PrometheusProbeSpec& out) {
  if (!spec.Has("url")) {
    spec.Child("url");
    ErrorMissing(spec, "url",
                 "required field is missing (expected the Prometheus base URL, such as "
                 "http://127.0.0.1:9090)");
    return;
  }
  out.url = spec.RequiredString("url");
  if (out.url.empty()) return;
  out.display_url = CheckHttpUrl(spec, out.url, [&spec](CURLU* u) {
    char* part = nullptr;
    if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK && part != nullptr) {
      spec.ErrorAt("url",
                   "expected the Prometheus base URL without a query string; the query goes in "
                   "'query'");
    }
    curl_free(part);
    part = nullptr;
    if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK && part != nullptr) {
      spec.ErrorAt("url", "expected the Prometheus base URL without a #fragment");
    }
    curl_free(part);
  });
}

void ParseCondition(SpecNode& spec, PrometheusProbeSpec& out) {
  if (!spec.Has("condition")) {
    spec.Child("condition");
    ErrorMissing(spec, "condition",
                 "required field is missing (expected a map such as {op: \"<\", value: 0.05})");
    return;
  }
  SpecNode c = spec.Child("condition");
  if (!c.defined()) {
    c.Error("expected a map such as {op: \"<\", value: 0.05}");
    return;
  }
  if (!c.ExpectMap()) return;
  PromCondition& cond = out.condition;
  if (!c.Has("op")) {
    c.Child("op");
    ErrorMissing(c, "op", "required field is missing (expected <, <=, >, >= or between)");
  }
  const std::string op = c.Enum("op", {"<", "<=", ">", ">=", "between"}, "<");
  if (op == "between") {
    cond.op = PromCondition::Op::kBetween;
    if (c.Has("value")) {
      c.Child("value");
      c.ErrorAt("value", "op between takes min and max, not value");
    }
    for (const char* key : {"min", "max"}) {
      if (!c.Has(key)) {
        c.Child(key);
        ErrorMissing(c, key, std::string("required with op between (the range is inclusive)"));
      }
    }
    std::optional<double> lo = c.OptNumber("min", -kHuge, kHuge);
    std::optional<double> hi = c.OptNumber("max", -kHuge, kHuge);
    if (lo) cond.min = *lo;
    if (hi) cond.max = *hi;
    if (lo && hi && *lo > *hi) {
      c.ErrorAt("max", "must not be below min (" + Num(*lo) + ")");
    }
  } else {
    cond.op = op == "<"    ? PromCondition::Op::kLess
              : op == "<=" ? PromCondition::Op::kLessEqual
              : op == ">"  ? PromCondition::Op::kGreater
                           : PromCondition::Op::kGreaterEqual;
    for (const char* key : {"min", "max"}) {
      if (c.Has(key)) {
        c.Child(key);
        c.ErrorAt(key, "min and max go with op between; op " + op + " takes value");
      }
    }
    if (!c.Has("value")) {
      c.Child("value");
      ErrorMissing(c, "value", "required with op " + op + " (the threshold)");
    }
    std::optional<double> v = c.OptNumber("value", -kHuge, kHuge);
    if (v) cond.value = *v;
  }
  c.Finish();
}

}  // namespace

bool PromCondition::Holds(double v) const {
  switch (op) {
    case Op::kLess:
      return v < value;
    case Op::kLessEqual:
      return v <= value;
    case Op::kGreater:
      return v > value;
    case Op::kGreaterEqual:
      return v >= value;
    case Op::kBetween:
      return v >= min && v <= max;
  }
  return false;
}

std::string PromCondition::Text() const {
  switch (op) {
    case Op::kLess:
      return "< " + Num(value);
    case Op::kLessEqual:
      return "<= " + Num(value);
    case Op::kGreater:
      return "> " + Num(value);
    case Op::kGreaterEqual:
      return ">= " + Num(value);
    case Op::kBetween:
      return "between " + Num(min) + " and " + Num(max);
  }
  return "?";
}

std::optional<PrometheusProbeSpec> ParsePrometheusProbeSpec(SpecNode& spec) {
  const size_t problems_before = spec.diagnostics()->size();
  if (!spec.defined()) {
    spec.Error("required field is missing (expected a map with url, query and condition)");
    return std::nullopt;
  }
  if (!spec.ExpectMap()) return std::nullopt;
  PrometheusProbeSpec out;
  ParseUrl(spec, out);
  if (!spec.Has("query")) {
    spec.Child("query");
    ErrorMissing(spec, "query", "required field is missing (expected a PromQL expression)");
  } else {
    out.query = spec.RequiredString("query");
    if (out.query.find_first_not_of(" \t\r\n") == std::string::npos) {
      spec.ErrorAt("query", "expected a non-empty PromQL expression");
    }
  }
  ParseCondition(spec, out);
  out.timeout = spec.DurationField("timeout", std::chrono::seconds(2), std::chrono::milliseconds(1),
                                   std::chrono::minutes(5));
  spec.Finish();
  if (spec.diagnostics()->size() != problems_before) return std::nullopt;
  std::string base = out.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  out.query_url = base + "/api/v1/query?query=" + UrlEncode(out.query);
  return out;
}

PromQueryValue ParsePromQueryResponse(const std::string& body) {
  PromQueryValue out;
  rapidjson::Document doc;
  // A query answer is one number; 16 MiB leaves room for long label sets and nothing more.
  JsonLimits limits;
  limits.max_bytes = size_t{16} << 20;
  const Status parsed = ParseJson(body, &doc, limits);
  if (!parsed.ok()) {
    out.error =
        "Prometheus answered with something that is not a query result (" + parsed.message() + ")";
    return out;
  }
  if (!doc.IsObject()) {
    out.error = "Prometheus answered with something that is not a query result (not a JSON object)";
    return out;
  }
  auto str = [](const rapidjson::Value& obj, const char* key) -> std::string {
    auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
  };
  if (str(doc, "status") != "success") {
    std::string type = str(doc, "errorType");
    std::string error = str(doc, "error");
    out.error = "query failed: " + (type.empty() ? std::string() : type + ": ") +
                (error.empty() ? std::string("no error message") : error);
    return out;
  }
  auto data = doc.FindMember("data");
  if (data == doc.MemberEnd() || !data->value.IsObject()) {
    out.error = "query result has no data";
    return out;
  }
  const std::string type = str(data->value, "resultType");
  auto result = data->value.FindMember("result");
  if (result == data->value.MemberEnd()) {
    out.error = "query result has no result";
    return out;
  }
  // [unix_time, "value"]: Prometheus sends sample values as strings ("NaN", "+Inf" included).
  auto read_pair = [&](const rapidjson::Value& pair) -> bool {
    if (!pair.IsArray() || pair.Size() != 2 || !pair[1].IsString()) {
      out.error = "query result holds a malformed sample";
      return false;
    }
    const char* text = pair[1].GetString();
    char* end = nullptr;
    double v = std::strtod(text, &end);
    if (end == text || *end != '\0') {
      out.error = std::string("query result holds a value that is not a number: \"") + text + "\"";
      return false;
    }
    if (std::isnan(v)) {
      out.error = "query returned NaN (nothing to compute from, e.g. a ratio over zero requests)";
      return false;
    }
    out.value = v;
    return true;
  };
  if (type == "scalar") {
    read_pair(result->value);
    return out;
  }
  if (type == "vector") {
    if (!result->value.IsArray()) {
      out.error = "query result holds a malformed vector";
      return out;
    }
    const rapidjson::SizeType n = result->value.Size();
    if (n == 0) {
      out.error = "query returned an empty result (no series matched)";
      return out;
    }
    if (n > 1) {
      out.error = "query returned " + std::to_string(n) +
                  " series, not one value; aggregate it (sum, max, ...) to a single series";
      return out;
    }
    const rapidjson::Value& series = result->value[0];
    if (!series.IsObject() || !series.HasMember("value")) {
      out.error = "query result holds a malformed series";
      return out;
    }
    read_pair(series["value"]);
    return out;
  }
  if (type == "matrix") {
    out.error =
        "query returned a range vector (matrix), not one value; drop the [range] or "
        "apply a function such as rate()";
    return out;
  }
  out.error = "query returned a " + (type.empty() ? std::string("result of no type") : type) +
              ", not a number";
  return out;
}

PromJudgement JudgePromAnswer(const PrometheusProbeSpec& spec, long http_status,
                              const std::string& transport_error, const std::string& body) {
  PromJudgement j;
  if (http_status == 0) {
    j.detail = "Prometheus unreachable: " + transport_error;
    return j;
  }
  // Prometheus answers a bad query with 400/422 and a JSON error: prefer its words.
  PromQueryValue parsed = ParsePromQueryResponse(body);
  if (http_status != 200) {
    j.detail = "Prometheus answered HTTP " + std::to_string(http_status);
    if (!parsed.value && parsed.error.rfind("query failed: ", 0) == 0) {
      j.detail += ", " + parsed.error;
    }
    return j;
  }
  if (!parsed.value) {
    j.detail = parsed.error;
    return j;
  }
  j.value = parsed.value;
  if (spec.condition.Holds(*parsed.value)) {
    j.health = Health::kHealthy;
  } else {
    j.health = Health::kUnhealthy;
    j.detail = "value " + Num(*parsed.value) + " is not " + spec.condition.Text();
  }
  return j;
}

}  // namespace gameday
