#pragma once

// What the parts of the HTML report (reports/html_*.cc) share. Not an API: RenderHtml in
// reports/html_report.h is.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "experiments/format.h"
#include "experiments/result.h"
#include "reports/timeline_buckets.h"
#include "reports/trends.h"

namespace gameday::html {

// ---------------------------------------------------------------------------------------------
// Small builders (html_markup.cc)

// Appends escaped text; every string from the result goes through here or Attr().
void Esc(std::string* out, std::string_view s);
void Attr(std::string* out, const char* name, std::string_view value);
// SVG coordinates: a tenth of a pixel is plenty and keeps the file small.
std::string Px(double v);
// Cuts `s` to at most `n` code points, marking the cut, so labels fit their gutter.
std::string Truncate(std::string_view s, size_t n);
void SvgTitle(std::string* out, std::string_view text);
// One <dt>name</dt><dd>value</dd> of a facts list.
void Fact(std::string* out, const char* name, std::string_view value);
// 1, 2 or 5 times a power of ten, giving about `ticks` ticks.
double NiceStep(double span, double ticks);
const char* VerdictWord(ExperimentStatus s);
// The badge of an experiment: its status, or for expected failures what became of them.
void VerdictBadge(std::string* out, const char* extra_class, const ExperimentResult& e);
// The recovery budget of `verifier`: the limit of its recover_within objective, if any.
std::optional<double> RecoveryBudget(const ExperimentResult& e, const std::string& verifier);
// How many samples the verifier took, whether they are inline or in the run's sample store.
uint64_t SampleCount(const VerifierResult& v);

// ---------------------------------------------------------------------------------------------
// Assets (html_assets.cc)

extern const char kStyle[];
// The page's only script: the hover read-out of the timeline bands.
extern const char kScript[];
// 'sha256-<base64>' of kScript, for the Content-Security-Policy.
const std::string& ScriptHash();

// ---------------------------------------------------------------------------------------------
// Timeline (html_timeline.cc)

// What an experiment's timeline draws from its samples, gathered before the page is written.
struct TimelineData {
  Axis axis;
  std::vector<HealthBuckets> verifiers;  // in the order of the experiment's verifiers
  std::string error;                     // why not every sample could be read; empty if all were
};

// Every experiment's timeline data, from one pass over the run's samples.
std::vector<TimelineData> CollectTimelines(const RunResult& run);

void Timeline(std::string* out, const ExperimentResult& e, const TimelineData& data);

// ---------------------------------------------------------------------------------------------
// The experiment's texts and tables (html_tables.cc)

void ExperimentHeader(std::string* out, const ExperimentResult& e);
void Reasons(std::string* out, const ExperimentResult& e);
void Rounds(std::string* out, const ExperimentResult& e);
void VerifierTable(std::string* out, const ExperimentResult& e);
void ObjectiveTable(std::string* out, const ExperimentResult& e);
void FaultTable(std::string* out, const ExperimentResult& e);
void EventList(std::string* out, const ExperimentResult& e);
// How to list every sample of each verifier (`gameday report samples`); `name_experiment` when
// the run has several experiments, whose verifiers may share names.
void SampleCommands(std::string* out, const ExperimentResult& e, bool name_experiment);

// ---------------------------------------------------------------------------------------------
// Trend (html_trends.cc)

// The experiment's recovery per verifier over the runs of the history, with this run.
void Trend(std::string* out, const RunResult& run, const ExperimentResult& e,
           const RunHistory& history);

}  // namespace gameday::html
