#pragma once

#include <ostream>
#include <string>

#include "experiments/result.h"
#include "experiments/status.h"

namespace gameday {

// `gameday report samples`: every sample of a run (inline in result.json or in its sample store)
// as CSV or JSON Lines, for spreadsheets and scripts.
enum class SampleExportFormat { kCsv, kJsonl };

struct SampleExportFilter {
  std::string experiment;  // empty: every experiment
  std::string verifier;    // empty: every verifier
};

// Writes the samples of the verifiers `filter` selects to `out`, by experiment, verifier and send
// time. CSV: the header `experiment,verifier,t_send_s,t_done_s,health,latency_ms,value,detail`,
// times with 6 decimals, latency with 3, the value in the shortest form that reads back exactly
// (empty when none), health as healthy/unhealthy/unknown, fields quoted as RFC 4180 says when they
// hold a comma, quote or line break. JSONL: one object per sample with those keys (value null
// when none). Text is redacted of secrets and repaired to UTF-8 as in result.json.
// NotFound when the filter names an experiment or verifier the run does not have; a store that
// cannot be read ends the output with its error (the samples before it were written).
Status ExportSamples(const RunResult& run, const SampleExportFilter& filter,
                     SampleExportFormat format, std::ostream& out);

}  // namespace gameday
