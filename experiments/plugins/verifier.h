#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "experiments/plugins/api_access.h"
#include "experiments/sample.h"
#include "experiments/spec_reader.h"
#include "experiments/target.h"

namespace gameday {

// What one probe found; the probe loop adds the send and completion times.
struct ProbeOutcome {
  Health health = Health::kUnknown;
  double latency_ms = 0;
  std::optional<double> value;
  std::string detail;
};

// The I/O a verifier may use during a probe. Implemented by the probe loop
// (verifiers/probe/probe_loop.h) over one libcurl multi handle, so every probe of every verifier
// runs concurrently from one thread.
class ProbeIo {
 public:
  virtual ~ProbeIo() = default;
  // Runs a prepared libcurl easy handle (CURL*) on the loop; `on_done` receives its CURLcode on
  // the loop thread. The caller keeps ownership of the handle and must not touch it until then.
  virtual void AddTransfer(void* curl_easy, std::function<void(int curl_code)> on_done) = 0;
};

// One configured probe (a verifier entry of a plan).
class Verifier {
 public:
  virtual ~Verifier() = default;
  // Starts one probe without blocking and calls `done` exactly once, on the loop thread. Several
  // probes of the same verifier may be in flight at once.
  virtual void Begin(ProbeIo& io, std::function<void(ProbeOutcome)> done) = 0;
  // A short human description for dry runs and reports ("GET http://127.0.0.1:8080/").
  virtual std::string Describe() const = 0;
  // The Kubernetes API requests a probe makes (none for probes that never call the API).
  virtual std::vector<ApiAccess> ApiAccesses() const { return {}; }
};

// A verifier kind: parses its plan `spec` into a Verifier.
class VerifierKind {
 public:
  virtual ~VerifierKind() = default;
  virtual std::string Name() const = 0;
  // Reports every field problem into spec's diagnostics (then the result is discarded), and
  // calls spec.Finish() so unknown fields are rejected.
  virtual std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec& target) const = 0;
};

}  // namespace gameday
