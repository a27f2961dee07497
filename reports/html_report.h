#pragma once

#include <string>

#include "experiments/result.h"
#include "reports/trends.h"

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
//
// The page carries a Content-Security-Policy that forbids every load from anywhere (only its own
// inline style and its one inline script, by hash, may run), so even a browser that would follow
// a link in hostile result text fetches nothing. The script only adds the hover read-out of the
// timeline (time, result, latency of the sample under the pointer); without it the SVG <title>s
// still say the same per bucket.
//
// Every verifier's samples are read once, through VisitAllSamples (experiments/sample_source.h):
// inline in the result, or from the run's sample store (run.dir), and drawn as pixel columns in
// memory that does not depend on their number. A store that cannot be read is a visible note
// under the timeline, not an error. Under each timeline, per verifier, the command that lists
// every sample (`gameday report samples result.json --verifier NAME`).
//
// `history`, when given, adds a trend per experiment: its recovery time over the recorded runs
// (reports/history.h LoadRunHistory), with this run appended when the history does not hold it.
std::string RenderHtml(const RunResult& run, const RunHistory* history = nullptr);

}  // namespace gameday
