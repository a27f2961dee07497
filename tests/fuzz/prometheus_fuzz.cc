// Prometheus answers: the body of an instant query (ParsePromQueryResponse) and the judgement
// of a probe from it (JudgePromAnswer), for an answer with HTTP 200 and one with 503.
#include <cstddef>
#include <cstdint>
#include <string>

#include "verifiers/prometheus/prometheus_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  gameday::PromQueryValue v = gameday::ParsePromQueryResponse(body);
  if (!v.value.has_value() && v.error.empty()) __builtin_trap();  // contract: one or the other
  gameday::PrometheusProbeSpec spec;
  spec.url = spec.display_url = "http://127.0.0.1:9090";
  spec.query = "up";
  spec.condition.op = gameday::PromCondition::Op::kBetween;
  spec.condition.min = 0;
  spec.condition.max = 1;
  for (long status : {200L, 503L}) {
    gameday::PromJudgement j = gameday::JudgePromAnswer(spec, status, "", body);
    (void)j.detail.size();
  }
  return 0;
}
