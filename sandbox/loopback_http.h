#pragma once

#include <chrono>
#include <string>

#include "experiments/status.h"

namespace gameday::local_sandbox {

// HTTP, through libcurl as everywhere else in gameday, for the sandbox's readiness and health
// checks on 127.0.0.1 (never through a configured proxy).

struct HttpReply {
  long code = 0;
  std::string body;
  std::string replica;  // X-Replica header
};

// GET `url`; Unavailable with libcurl's reason when no answer came within `timeout`.
Result<HttpReply> HttpGet(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace gameday::local_sandbox
