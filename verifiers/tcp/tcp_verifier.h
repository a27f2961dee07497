#pragma once

#include <memory>
#include <optional>
#include <string>

#include "experiments/clock.h"
#include "experiments/plugins/verifier.h"
#include "experiments/spec_reader.h"

namespace gameday {

// The `spec` of a verifier of kind "tcp".
struct TcpProbeSpec {
  std::string host;
  int port = 0;
  Duration timeout = std::chrono::seconds(1);
};

// Reads `spec`, reporting every problem with its field path, and calls spec.Finish(). Returns
// nullopt when anything was wrong.
std::optional<TcpProbeSpec> ParseTcpProbeSpec(SpecNode& spec);

// Kind "tcp": one TCP connect per probe (libcurl CONNECT_ONLY on the shared multi loop); healthy
// when the connection is accepted within the timeout. See verifiers/tcp/README.md.
std::unique_ptr<VerifierKind> MakeTcpVerifierKind();

}  // namespace gameday
