#include <algorithm>
#include <cmath>
#include <map>

#include "experiments/sample_source.h"
#include "reports/html_internal.h"
#include "reports/report_text.h"

namespace gameday::html {
namespace {

constexpr double kFaultRow = 14, kBand = 16, kLatency = 34, kEventRow = 14, kGap = 6;

// The experiment's span, its faults and events, and its inline samples. Samples in the run's sample
// store are not known before the one pass over them, so they do not widen the axis: the engine
// takes every sample within the experiment's span anyway, and a sample off the axis still counts
// in the edge column.
Axis MakeAxis(const ExperimentResult& e) {
  double lo = 0, hi = std::max(0.0, e.duration_s);
  auto widen = [&](double t) {
    if (!std::isfinite(t)) return;
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  };
  for (const auto& f : e.faults) {
    widen(f.t_inject);
    if (f.t_revert) widen(*f.t_revert);
  }
  for (const auto& v : e.verifiers) {
    if (v.store || v.samples.empty()) continue;
    widen(v.samples.front().t_send);
    widen(v.samples.back().t_done);
  }
  for (const auto& ev : e.events) widen(ev.t);
  if (hi - lo < 1e-6) hi = lo + 1;
  return Axis{lo, hi};
}

void SvgLabel(std::string* out, double y, std::string_view text, std::string_view hover) {
  *out += "<text x=\"6\" y=\"" + Px(y) + "\">";
  SvgTitle(out, hover);
  Esc(out, Truncate(text, 26));
  *out += "</text>\n";
}

void FaultRows(std::string* out, const ExperimentResult& e, const Axis& ax, double* y) {
  for (const auto& f : e.faults) {
    std::string hover =
        f.id + ": " + f.kind + " on " + f.target + ", injected at " + FormatTimeOffset(f.t_inject) +
        (f.t_revert ? ", reverted at " + FormatTimeOffset(*f.t_revert) : std::string()) + ", " +
        RevertStateName(f.revert) + (f.error.empty() ? "" : " \u2014 " + f.error) +
        (f.revert_note.empty() ? "" : " \u2014 NOTE: " + f.revert_note) +
        (f.observed.empty() ? "" : " \u2014 observed: " + f.observed);
    SvgLabel(out, *y + kFaultRow - 3, f.kind + " " + f.target, hover);
    double x0 = ax.X(f.t_inject);
    double x1 = f.t_revert ? std::max(ax.X(*f.t_revert), x0 + 2) : x0 + 3;
    *out += "<rect class=\"fbar";
    if (f.revert == RevertState::kFailed || f.revert == RevertState::kNotInjected) *out += " bad";
    *out += "\" x=\"" + Px(x0) + "\" y=\"" + Px(*y + 2) + "\" width=\"" + Px(x1 - x0) +
            "\" height=\"" + Px(kFaultRow - 4) + "\">";
    SvgTitle(out, hover);
    *out += "</rect>\n";
    *y += kFaultRow;
  }
}

int BucketState(uint8_t mask) {
  if (mask & 2) return 1;  // failing
  if (mask & 1) return 0;  // passing
  if (mask & 4) return 2;  // unknown
  return -1;               // no sample
}

void HealthBand(std::string* out, const HealthBuckets& hb, const Axis& ax, double y) {
  static const char* kClass[] = {"pass", "fail", "unk"};
  int b = 0;
  while (b < kBuckets) {
    int state = BucketState(hb.mask[b]);
    int e = b;
    std::array<uint64_t, 3> n{0, 0, 0};
    while (e < kBuckets && BucketState(hb.mask[e]) == state) {
      for (int k = 0; k < 3; ++k) n[k] += hb.counts[e][k];
      ++e;
    }
    if (state >= 0) {
      *out += "<rect class=\"";
      *out += kClass[state];
      *out += "\" x=\"" + Px(kGutter + b) + "\" y=\"" + Px(y) + "\" width=\"" +
              std::to_string(e - b) + "\" height=\"" + Px(kBand) + "\">";
      SvgTitle(out, FormatTimeOffset(ax.BucketStart(b)) + " \u2013 " +
                        FormatTimeOffset(ax.BucketStart(e)) + ": " + std::to_string(n[0]) +
                        " passing, " + std::to_string(n[1]) + " failing, " + std::to_string(n[2]) +
                        " unknown");
      *out += "</rect>";
    }
    b = e;
  }
  *out += "\n";
}

// Appends `s` as a JSON string literal (the attribute escaping comes on top).
void JsonString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  *out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (u < 0x20) {
      *out += "\\u00";
      *out += kHex[u >> 4];
      *out += kHex[u & 15];
    } else {
      *out += c;
    }
  }
  *out += '"';
}

// The hover read-out's data, as attributes of a band's <g>: for every bucket a sample covers,
// [bucket, t_send, health (0 passing, 1 failing, 2 unknown), latency ms, passing, failing,
// unknown, detail index or -1]. A bucket that no sample was sent in but an earlier one still
// covers repeats that sample with zero counts. Details are deduplicated into data-d.
void BandAttributes(std::string* out, const VerifierResult& v, const HealthBuckets& hb,
                    const Axis& ax) {
  constexpr size_t kMaxDetails = 200;
  std::string data = "[";
  std::string details = "[";
  std::map<std::string_view, int> detail_index;
  bool first = true;
  for (int b = 0; b < kBuckets; ++b) {
    const bool sent = hb.shown_kind[b] == HealthBuckets::kSent;
    if (!sent && (hb.shown_kind[b] == HealthBuckets::kNone || hb.mask[b] == 0)) continue;
    const ShownSample& x = hb.shown[b];
    int d = -1;
    if (!x.detail.empty()) {
      auto it = detail_index.find(x.detail);
      if (it != detail_index.end()) {
        d = it->second;
      } else if (detail_index.size() < kMaxDetails) {
        d = static_cast<int>(detail_index.size());
        detail_index.emplace(x.detail, d);
        if (d > 0) details += ',';
        JsonString(&details, Truncate(x.detail, 160));
      }
    }
    if (!first) data += ',';
    first = false;
    data += '[';
    data += std::to_string(b);
    data += ',';
    data += std::isfinite(x.t_send) ? FormatFixed(x.t_send, 3) : "0";
    data += ',';
    data += std::to_string(HealthIndex(x.health));
    data += ',';
    data += std::isfinite(x.latency_ms) ? FormatFixed(x.latency_ms, 1) : "0";
    for (int k = 0; k < 3; ++k) {
      data += ',';
      data += sent ? std::to_string(hb.counts[b][k]) : "0";
    }
    data += ',';
    data += std::to_string(d);
    data += ']';
  }
  data += ']';
  details += ']';
  Attr(out, "data-name", v.name);
  *out += " data-x0=\"" + Px(kGutter) + "\" data-n=\"" + std::to_string(kBuckets) +
          "\" data-t0=\"" + FormatFixed(ax.t0, 6) + "\" data-t1=\"" + FormatFixed(ax.t1, 6) +
          "\" data-b=\"" + data + "\"";
  Attr(out, "data-d", details);
}

void LatencyLane(std::string* out, const VerifierResult& v, const HealthBuckets& hb, double y) {
  double peak = 0;
  for (double l : hb.max_latency) peak = std::max(peak, l);
  *out += "<rect class=\"latbg\" x=\"" + Px(kGutter) + "\" y=\"" + Px(y) + "\" width=\"" +
          Px(kPlotWidth) + "\" height=\"" + Px(kLatency) + "\"/>";
  std::string label = "latency, peak " + FormatFixed(peak, 1) + " ms";
  *out += "<text x=\"6\" y=\"" + Px(y + 12) + "\">";
  SvgTitle(out, v.name + ": highest latency per pixel column; the lane's top is " +
                    FormatFixed(peak, 1) + " ms");
  Esc(out, label);
  *out += "</text>\n";
  if (peak <= 0) return;
  *out += "<polyline class=\"lat\" points=\"";
  bool first = true;
  for (int b = 0; b < kBuckets; ++b) {
    if (hb.max_latency[b] < 0) continue;
    if (!first) *out += ' ';
    first = false;
    double ly = y + kLatency - 1 - hb.max_latency[b] / peak * (kLatency - 3);
    *out += Px(kGutter + b + 0.5) + "," + Px(ly);
  }
  *out += "\">";
  SvgTitle(out,
           v.name + " latency (highest per pixel column), peak " + FormatFixed(peak, 1) + " ms");
  *out += "</polyline>\n";
}

// Detect and recover markers of one verifier, with the recovery bound as an error bar.
void RecoveryMarkers(std::string* out, const ExperimentResult& e, const VerifierResult& v,
                     const Axis& ax, double y) {
  struct Window {
    double t_inject;
    std::string what;
    const RecoveryMetrics* m;
  };
  std::vector<Window> windows;
  for (const auto& pf : v.per_fault) {
    // The engine measures per step (a step's faults go in together), so the window is named by
    // its step; older results name a fault id. The window starts at its first inject.
    const FaultResult* first = nullptr;
    for (const auto& f : e.faults) {
      if (f.revert == RevertState::kNotInjected || (f.id != pf.fault_id && f.step != pf.fault_id)) {
        continue;
      }
      if (first == nullptr || f.t_inject < first->t_inject) first = &f;
    }
    if (first == nullptr) continue;
    windows.push_back({first->t_inject, first->kind + " on " + first->target, &pf.metrics});
  }
  if (windows.empty() && !e.faults.empty()) {
    windows.push_back({e.t_first_inject, "the first fault", &v.overall});
  }
  double mid = y + kBand / 2;
  for (const auto& w : windows) {
    const RecoveryMetrics& m = *w.m;
    if (m.time_to_detect_s) {
      double x = ax.X(w.t_inject + *m.time_to_detect_s);
      *out += "<path class=\"detect\" d=\"M" + Px(x - 5) + " " + Px(y - 7) + "h10l-5 7z\">";
      SvgTitle(out, v.name + " detected " + w.what + " after " +
                        FormatSecondsWithBound(*m.time_to_detect_s, m.detect_bound_s));
      *out += "</path>";
    }
    if (m.time_to_recover_s) {
      std::string hover = v.name + " recovered from " + w.what + " " +
                          FormatSecondsWithBound(*m.time_to_recover_s, m.recover_bound_s) +
                          " after inject";
      if (m.recover_bound_s) {
        double x0 = ax.X(w.t_inject + m.recover_bound_s->first);
        double x1 = ax.X(w.t_inject + m.recover_bound_s->second);
        *out += "<path class=\"ebar\" d=\"M" + Px(x0) + " " + Px(mid) + "H" + Px(x1) + "M" +
                Px(x0) + " " + Px(mid - 4) + "v8M" + Px(x1) + " " + Px(mid - 4) + "v8\">";
        SvgTitle(out, hover);
        *out += "</path>";
      }
      *out += "<circle class=\"recover\" cx=\"" + Px(ax.X(w.t_inject + *m.time_to_recover_s)) +
              "\" cy=\"" + Px(mid) + "\" r=\"4\">";
      SvgTitle(out, hover);
      *out += "</circle>";
    }
  }
  *out += "\n";
}

// One row of event ticks. Kubernetes events get their own row, so pod and node changes line up
// with the verifier bands above them.
void EventTicks(std::string* out, const std::vector<const TimelineEvent*>& events,
                const std::string& label, const char* cls, const Axis& ax, double y) {
  SvgLabel(out, y + kEventRow - 3, label + " (" + std::to_string(events.size()) + ")",
           label + " on the experiment's time axis; hover a tick");
  for (const TimelineEvent* evp : events) {
    const TimelineEvent& ev = *evp;
    double x = ax.X(ev.t);
    *out += "<path class=\"";
    *out += cls;
    *out += "\" d=\"M" + Px(x) + " " + Px(y + 2) + "v" + Px(kEventRow - 4) + "\">";
    SvgTitle(out, FormatTimeOffset(ev.t) + " \u00b7 " + ev.source + ": " + ev.message);
    *out += "</path>";
  }
  *out += "\n";
}

void TimeAxis(std::string* out, const Axis& ax, double top, double y) {
  *out += "<path class=\"axis\" d=\"M" + Px(kGutter) + " " + Px(y) + "H" +
          Px(kGutter + kPlotWidth) + "\"/>\n";
  double step = NiceStep(ax.t1 - ax.t0, 8);
  for (double t = std::ceil(ax.t0 / step) * step; t <= ax.t1 + step * 1e-9; t += step) {
    double x = ax.X(t);
    *out += "<path class=\"grid\" d=\"M" + Px(x) + " " + Px(top) + "V" + Px(y) + "\"/>";
    *out += "<text x=\"" + Px(x) + "\" y=\"" + Px(y + 13) + "\" text-anchor=\"middle\">" +
            FormatCompact(std::fabs(t) < step * 1e-9 ? 0 : t) + "</text>";
  }
  *out += "<text x=\"" + Px(kGutter - 8) + "\" y=\"" + Px(y + 13) +
          "\" text-anchor=\"end\">seconds</text>\n";
}

}  // namespace

std::vector<TimelineData> CollectTimelines(const RunResult& run) {
  std::vector<TimelineData> data(run.experiments.size());
  std::vector<std::vector<HealthBucketer>> bucketers(run.experiments.size());
  bool stored = false;
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    const ExperimentResult& e = run.experiments[i];
    data[i].axis = MakeAxis(e);
    for (const auto& v : e.verifiers) {
      bucketers[i].emplace_back(data[i].axis, v.interval_s);
      stored = stored || v.store.has_value();
    }
  }
  const Status read = VisitAllSamples(run, [&](size_t exp, size_t verifier, const Sample& s) {
    if (exp < bucketers.size() && verifier < bucketers[exp].size()) {
      bucketers[exp][verifier].Add(s);
    }
  });
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    for (auto& b : bucketers[i]) data[i].verifiers.push_back(b.Finish());
  }
  if (read.ok()) return data;
  // The note goes where samples are missing: with the experiments that got fewer samples than
  // their verifiers took, naming them; else with those whose samples are in the store (with
  // every experiment should none be).
  bool short_anywhere = false;
  std::vector<std::string> missing(run.experiments.size());
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    const auto& verifiers = run.experiments[i].verifiers;
    for (size_t k = 0; k < verifiers.size(); ++k) {
      const uint64_t got = data[i].verifiers[k].samples, took = SampleCount(verifiers[k]);
      if (got >= took) continue;
      missing[i] += (missing[i].empty() ? "" : ", ") + verifiers[k].name + " " +
                    std::to_string(got) + " of " + std::to_string(took);
      short_anywhere = true;
    }
  }
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    bool here = !missing[i].empty() || (!short_anywhere && !stored);
    for (const auto& v : run.experiments[i].verifiers) {
      here = here || (!short_anywhere && v.store.has_value());
    }
    if (!here) continue;
    data[i].error = read.message();
    if (!missing[i].empty()) data[i].error += " (samples drawn: " + missing[i] + ")";
  }
  return data;
}

void Timeline(std::string* out, const ExperimentResult& e, const TimelineData& data) {
  const Axis& ax = data.axis;
  std::string body;
  double y = 10;
  double top = y;
  FaultRows(&body, e, ax, &y);
  y += kGap;
  for (size_t i = 0; i < e.verifiers.size(); ++i) {
    const VerifierResult& v = e.verifiers[i];
    const HealthBuckets& hb = data.verifiers[i];
    y += 8;  // room for detect markers
    std::string hover = v.name + " (" + v.kind + ")" +
                        (v.description.empty() ? "" : ": " + v.description) + " \u2014 " +
                        std::to_string(SampleCount(v)) + " samples";
    SvgLabel(&body, y + kBand - 4, v.name, hover);
    body += "<g class=\"band\"";
    BandAttributes(&body, v, hb, ax);
    body += "><rect class=\"hit\" x=\"" + Px(kGutter) + "\" y=\"" + Px(y) + "\" width=\"" +
            Px(kPlotWidth) + "\" height=\"" + Px(kBand) + "\"/>";
    HealthBand(&body, hb, ax, y);
    body += "</g>\n";
    RecoveryMarkers(&body, e, v, ax, y);
    y += kBand + 2;
    if (v.kind == "http") {
      LatencyLane(&body, v, hb, y);
      y += kLatency;
    }
    y += kGap;
  }
  std::vector<const TimelineEvent*> kube, other;
  for (const auto& ev : e.events) (ev.source == "kubernetes" ? kube : other).push_back(&ev);
  if (!kube.empty()) {
    EventTicks(&body, kube, "kubernetes", "event k8s", ax, y);
    y += kEventRow;
  }
  if (!other.empty() || kube.empty()) {
    EventTicks(&body, other, "events", "event", ax, y);
    y += kEventRow;
  }
  y += 4;
  double bottom = y;

  // Behind everything: fault windows and inject lines across all lanes.
  std::string back;
  for (const auto& f : e.faults) {
    double x0 = ax.X(f.t_inject);
    if (f.t_revert) {
      back += "<rect class=\"window\" x=\"" + Px(x0) + "\" y=\"" + Px(top) + "\" width=\"" +
              Px(std::max(ax.X(*f.t_revert) - x0, 1.0)) + "\" height=\"" + Px(bottom - top) +
              "\"/>";
    }
    back += "<path class=\"inject\" d=\"M" + Px(x0) + " " + Px(top) + "V" + Px(bottom) + "\">";
    SvgTitle(&back, "inject " + f.kind + " on " + f.target + " at " + FormatTimeOffset(f.t_inject));
    back += "</path>\n";
  }

  std::string axis;
  TimeAxis(&axis, ax, top, bottom);
  double height = bottom + 20;
  *out += "<svg class=\"timeline\" viewBox=\"0 0 " + Px(kSvgWidth) + " " + Px(height) +
          "\" role=\"img\" aria-label=\"timeline\">\n";
  *out += axis;
  *out += back;
  *out += body;
  *out +=
      "</svg>\n<div class=\"legend\"><span><i style=\"background:var(--pass)\"></i>passing"
      "</span><span><i style=\"background:var(--fail)\"></i>failing</span><span><i "
      "style=\"background:var(--unk)\"></i>unknown</span><span><i style=\"background:"
      "var(--fault);opacity:.5\"></i>fault window</span><span><i style=\"background:"
      "var(--lat)\"></i>latency</span><span>\u25bc detected</span><span>\u25cb recovered "
      "(bar: bound)</span></div>\n";
  if (!data.error.empty()) {
    *out += "<p class=\"bad samples-error\">";
    Esc(out, "Not every sample could be read: " + data.error +
                 ". The timeline draws the samples read before the error; the figures in the "
                 "tables were measured during the run.");
    *out += "</p>\n";
  }
}

}  // namespace gameday::html
