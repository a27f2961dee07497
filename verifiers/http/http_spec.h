#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "experiments/clock.h"
#include "experiments/spec_reader.h"

namespace re2 {
class RE2;
}

namespace gameday {

// One accepted status: a code (lo == hi) or a class such as 2xx (200..299).
struct StatusRange {
  int lo = 0;
  int hi = 0;
  std::string text;  // as written: "204", "2xx"
  bool Contains(long code) const { return code >= lo && code <= hi; }
};

// The `spec` of a verifier of kind "http".
struct HttpProbeSpec {
  std::string url;
  std::string display_url;  // url with any password replaced by "***"
  std::string method = "GET";
  std::map<std::string, std::string> headers;  // values may be secrets: never log them
  std::optional<std::string> body;
  Duration timeout = std::chrono::seconds(1);
  std::vector<StatusRange> expect_status;  // empty = any 2xx or 3xx
  std::optional<std::string> body_contains;
  std::optional<std::string> body_regex;                // the source text, for messages
  std::shared_ptr<const re2::RE2> body_regex_compiled;  // set with body_regex
  std::optional<Duration> max_latency;
  bool fresh_connection = false;
  bool insecure_skip_verify = false;
  std::string ca_file;  // resolved against the plan's directory; empty = the system store

  bool StatusAccepted(long code) const;
  // "2xx or 3xx", "200, 204", for failure details.
  std::string ExpectedStatusText() const;
};

// Whether body_regex matches somewhere in `body` (true without a body_regex). RE2 matches in
// time linear in the body and without recursion, so no body can stall or crash a probe.
bool BodyRegexMatches(const HttpProbeSpec& spec, std::string_view body);

// Reads `spec`, reporting every problem with its field path, and calls spec.Finish(). Returns
// nullopt when anything was wrong.
std::optional<HttpProbeSpec> ParseHttpProbeSpec(SpecNode& spec);

}  // namespace gameday
