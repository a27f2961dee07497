#pragma once

#include <optional>
#include <string>

#include "experiments/clock.h"
#include "experiments/sample.h"
#include "experiments/spec_reader.h"

namespace gameday {

// What the query's value must satisfy: `value op threshold`, or min <= value <= max.
struct PromCondition {
  enum class Op { kLess, kLessEqual, kGreater, kGreaterEqual, kBetween };
  Op op = Op::kLess;
  double value = 0;  // the threshold for <, <=, >, >=
  double min = 0;    // the range for between (inclusive)
  double max = 0;

  bool Holds(double v) const;
  // "< 0.05", "between 10 and 20", for details and descriptions.
  std::string Text() const;
};

// The `spec` of a verifier of kind "prometheus".
struct PrometheusProbeSpec {
  std::string url;          // Prometheus base URL as written ("http://127.0.0.1:9090")
  std::string display_url;  // url with any password replaced by "***"
  std::string query;        // PromQL
  std::string query_url;    // the full GET URL of the instant query
  PromCondition condition;
  Duration timeout = std::chrono::seconds(2);
};

// Reads `spec`, reporting every problem with its field path, and calls spec.Finish(). Returns
// nullopt when anything was wrong.
std::optional<PrometheusProbeSpec> ParsePrometheusProbeSpec(SpecNode& spec);

// The reading of one instant-query answer: a value, or why there is none.
struct PromQueryValue {
  std::optional<double> value;
  std::string error;  // set when value is empty
};

// Reads the body of GET /api/v1/query. A result is usable when it is a scalar, or a vector of
// exactly one series; an error answer, an empty vector, several series, a matrix or a string
// give an error saying which.
PromQueryValue ParsePromQueryResponse(const std::string& body);

// Judges one probe: `http_status` 0 means no HTTP answer (transport error `transport_error`).
// A healthy or unhealthy outcome needs a usable value; every failure of Prometheus itself (down,
// a failed or unusable query) is unknown, because the monitoring system is not the service.
struct PromJudgement {
  Health health = Health::kUnknown;
  std::optional<double> value;
  std::string detail;
};
PromJudgement JudgePromAnswer(const PrometheusProbeSpec& spec, long http_status,
                              const std::string& transport_error, const std::string& body);

}  // namespace gameday
