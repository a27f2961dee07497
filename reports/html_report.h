#pragma once

#include <string>

#include "experiments/result.h"

namespace gameday {

// The run as ONE self-contained HTML page: no scripts, fonts, styles or images from anywhere
// else, so it opens from file://, can be mailed or attached to a ticket, and prints.
//
// Layout: a header with the run verdict (#run-verdict) and run facts; a summary table; then per
// experiment a <section class="experiment" data-name="..."> with its verdict
// (.experiment-verdict), reasons (.failure-reason), an inline SVG timeline (fault windows, sample
// health per verifier aggregated into pixel-wide buckets, latency for http verifiers,
// inject/detect/recover markers with the recovery error bar, events), and tables of verifier
// metrics (.recovery-time), objectives and faults (the proof of cleanup). All text from the
// result is escaped.
std::string RenderHtml(const RunResult& run);

}  // namespace gameday
