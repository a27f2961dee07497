#include <algorithm>
#include <cmath>

#include "reports/html_internal.h"
#include "reports/report_text.h"

namespace gameday::html {

void Esc(std::string* out, std::string_view s) { AppendMarkupEscaped(out, s); }

void Attr(std::string* out, const char* name, std::string_view value) {
  *out += ' ';
  *out += name;
  *out += "=\"";
  AppendMarkupEscaped(out, value, /*attribute=*/true);
  *out += '"';
}

// SVG coordinates: a tenth of a pixel is plenty and keeps the file small.
std::string Px(double v) {
  std::string s = FormatFixed(v, 1);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

// Cuts `s` to at most `n` code points, marking the cut, so labels fit their gutter.
std::string Truncate(std::string_view s, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (count == n) return std::string(s.substr(0, i)) + "\u2026";
    ++count;
  }
  return std::string(s);
}

const char* VerdictWord(ExperimentStatus s) {
  switch (s) {
    case ExperimentStatus::kPassed:
      return "PASSED";
    case ExperimentStatus::kFailed:
      return "FAILED";
    case ExperimentStatus::kAborted:
      return "ABORTED";
    case ExperimentStatus::kError:
      return "ERROR";
  }
  return "ERROR";
}

// The badge of an experiment: its status, or for expected failures what became of them.
void VerdictBadge(std::string* out, const char* extra_class, const ExperimentResult& e) {
  const ExperimentOutcome outcome = OutcomeOf(e);
  *out += "<span class=\"";
  *out += extra_class;
  *out += "verdict ";
  if (outcome == ExperimentOutcome::kExpectedFailure) {
    *out += "xfail\" data-outcome=\"expected-failure\">failed as expected</span>";
  } else if (outcome == ExperimentOutcome::kUnexpectedPass) {
    *out += "failed xpass\" data-outcome=\"unexpected-pass\">passed unexpectedly</span>";
  } else {
    *out += ExperimentStatusName(e.status);
    *out += "\">";
    *out += VerdictWord(e.status);
    *out += "</span>";
  }
}

void Fact(std::string* out, const char* name, std::string_view value) {
  *out += "<dt>";
  *out += name;
  *out += "</dt><dd>";
  Esc(out, value);
  *out += "</dd>";
}

std::optional<double> RecoveryBudget(const ExperimentResult& e, const std::string& verifier) {
  for (const auto& o : e.objectives) {
    if (o.type == "recover_within" && o.verifier == verifier && o.limit) return o.limit;
  }
  return std::nullopt;
}

double NiceStep(double span, double ticks) {
  double raw = span / ticks;
  if (!(raw > 0)) return 1;
  double p = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * p) return m * p;
  }
  return 10 * p;
}

void SvgTitle(std::string* out, std::string_view text) {
  *out += "<title>";
  Esc(out, text);
  *out += "</title>";
}

uint64_t SampleCount(const VerifierResult& v) {
  return v.store ? v.sample_count : v.samples.size();
}

}  // namespace gameday::html
