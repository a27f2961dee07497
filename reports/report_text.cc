#include "reports/report_text.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "experiments/redact.h"
#include "experiments/sample_source.h"

namespace gameday {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at s[i] (its code point in *cp), or 0 when the bytes
// there are ill-formed. Follows the table of well-formed sequences in Unicode 15, section 3.9.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c0 = b(i);
  if (c0 < 0x80) {
    *cp = c0;
    return 1;
  }
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    len = 2;
  } else if (c0 >= 0xE0 && c0 <= 0xEF) {
    len = 3;
    if (c0 == 0xE0) lo = 0xA0;
    if (c0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    len = 4;
    if (c0 == 0xF0) lo = 0x90;
    if (c0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  uint32_t v = c0 & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) v = (v << 6) | (b(i + k) & 0x3F);
  *cp = v;
  return len;
}

bool XmlAllowed(uint32_t cp) {
  if (cp < 0x20) return cp == '\t' || cp == '\n' || cp == '\r';
  return cp != 0xFFFE && cp != 0xFFFF;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

void AppendMarkupEscaped(std::string* out, std::string_view s, bool attribute) {
  // Secrets are redacted where they enter the result; this catches any that did not (and
  // results written by older versions), for HTML and JUnit alike.
  std::string redacted;
  if (ContainsSecret(s)) {
    redacted = RedactSecrets(s);
    s = redacted;
  }
  out->reserve(out->size() + s.size());
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    switch (c) {
      case '&':
        *out += "&amp;";
        ++i;
        continue;
      case '<':
        *out += "&lt;";
        ++i;
        continue;
      case '>':
        *out += "&gt;";
        ++i;
        continue;
      case '"':
        *out += "&quot;";
        ++i;
        continue;
      case '\'':
        *out += "&#39;";
        ++i;
        continue;
      case '\t':
      case '\n':
      case '\r':
        if (attribute) {
          *out += c == '\t' ? "&#9;" : c == '\n' ? "&#10;" : "&#13;";
        } else {
          *out += c;
        }
        ++i;
        continue;
      default:
        break;
    }
    size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      *out += kReplacement;
      ++i;
    } else {
      if (XmlAllowed(cp)) {
        out->append(s.data() + i, n);
      } else {
        *out += kReplacement;
      }
      i += n;
    }
  }
}

std::string FormatRfc3339(WallTime t) {
  using std::chrono::days, std::chrono::floor, std::chrono::hh_mm_ss, std::chrono::milliseconds,
      std::chrono::year_month_day;
  auto ms = floor<milliseconds>(t);
  auto day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss hms{ms - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

std::string FormatIsoSecondsUtc(WallTime t) {
  std::string s = FormatRfc3339(t);
  return s.substr(0, 19);
}

std::optional<WallTime> ParseRfc3339(std::string_view s) {
  using std::chrono::day, std::chrono::hours, std::chrono::minutes, std::chrono::month,
      std::chrono::nanoseconds, std::chrono::seconds, std::chrono::sys_days, std::chrono::year,
      std::chrono::year_month_day;
  size_t pos = 0;
  auto digits = [&](size_t n, int* v) {
    if (pos + n > s.size()) return false;
    int r = 0;
    for (size_t k = 0; k < n; ++k) {
      char c = s[pos + k];
      if (c < '0' || c > '9') return false;
      r = r * 10 + (c - '0');
    }
    pos += n;
    *v = r;
    return true;
  };
  auto expect = [&](char a, char b) {
    if (pos < s.size() && (s[pos] == a || s[pos] == b)) {
      ++pos;
      return true;
    }
    return false;
  };
  int y, mo, d, h, mi, sec;
  if (!digits(4, &y) || !expect('-', '-') || !digits(2, &mo) || !expect('-', '-') ||
      !digits(2, &d) || !expect('T', 't') || !digits(2, &h) || !expect(':', ':') ||
      !digits(2, &mi) || !expect(':', ':') || !digits(2, &sec)) {
    return std::nullopt;
  }
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  // WallTime counts nanoseconds in 64 bits (1677-09-21 to 2262-04-11); a year outside would
  // overflow the conversion below.
  if (y < 1678 || y > 2261) return std::nullopt;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int offset_min = 0;
  if (expect('Z', 'z')) {
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!digits(2, &oh) || !expect(':', ':') || !digits(2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + nanoseconds{nanos} -
            minutes{offset_min};
  return std::chrono::time_point_cast<WallTime::duration>(tp);
}

const char* OutcomeText(ExperimentOutcome o) {
  switch (o) {
    case ExperimentOutcome::kPassed:
      return "passed";
    case ExperimentOutcome::kFailed:
      return "failed";
    case ExperimentOutcome::kExpectedFailure:
      return "failed as expected";
    case ExperimentOutcome::kUnexpectedPass:
      return "passed unexpectedly";
    case ExperimentOutcome::kAborted:
      return "aborted";
    case ExperimentOutcome::kError:
      return "error";
  }
  return "error";
}

std::optional<std::string> LastErrorText(const VerifierResult& v) {
  // A result built in memory without the summary: its inline samples say it.
  const std::optional<LastError> last = v.last_error ? v.last_error : LastErrorOf(v.samples);
  if (!last) return std::nullopt;
  return v.name + ": last error at " + FormatTimeOffset(last->t_send) + ": " + last->detail;
}

FailureExplanation ExplainFailure(const ExperimentResult& e) {
  FailureExplanation x;
  x.expected = e.expected_failure;
  std::set<std::string> objective_lines, verifiers;
  for (const ObjectiveResult& o : e.objectives) {
    if (o.passed) continue;
    x.objectives.push_back(o.name + ": " + o.message);
    objective_lines.insert(o.name + ": " + o.message);
    verifiers.insert(o.verifier);
  }
  for (const VerifierResult& v : e.verifiers) {
    if (!verifiers.count(v.name)) continue;
    if (auto text = LastErrorText(v)) x.verifier_errors.push_back(*text);
  }
  if (x.verifier_errors.empty()) {
    for (const VerifierResult& v : e.verifiers) {
      if (auto text = LastErrorText(v)) x.verifier_errors.push_back(*text);
    }
  }
  for (const std::string& r : e.reasons) {
    if (!objective_lines.count(r)) x.other.push_back(r);
  }
  return x;
}

std::vector<std::string> RoundLines(const ExperimentResult& e) {
  // step -> round -> (first injection, targets), in the order the steps first appear.
  std::vector<std::string> order;
  std::map<std::string, std::map<int, std::pair<double, std::string>>> rounds;
  for (const FaultResult& f : e.faults) {
    if (f.round <= 0) continue;
    if (!rounds.count(f.step)) order.push_back(f.step);
    auto [it, inserted] = rounds[f.step].emplace(f.round, std::make_pair(f.t_inject, f.target));
    if (!inserted) {
      it->second.first = std::min(it->second.first, f.t_inject);
      it->second.second += ", " + f.target;
    }
  }
  std::vector<std::string> out;
  for (const std::string& step : order) {
    for (const auto& [round, what] : rounds[step]) {
      out.push_back(step + " round " + std::to_string(round) + " at " +
                    FormatTimeOffset(what.first) + ": " + what.second);
    }
  }
  return out;
}

// "break round 2: 1000 of 1000 target(s) injected in 1.23 s (journal 0.004 s), from 12.345 s".
std::string InjectionLine(const InjectionResult& i) {
  return i.step + (i.round > 0 ? " round " + std::to_string(i.round) : "") + ": " +
         std::to_string(i.injected) + " of " + std::to_string(i.targets) +
         " target(s) injected in " + FormatSeconds(i.inject_span_s) + " (journal " +
         FormatSeconds(i.journal_s) + "), from " + FormatTimeOffset(i.t_start);
}

std::string RenderTextSummary(const RunResult& run) {
  std::ostringstream out;
  for (const ExperimentResult& e : run.experiments) {
    const ExperimentOutcome outcome = OutcomeOf(e);
    switch (outcome) {
      case ExperimentOutcome::kPassed:
        out << "PASSED  ";
        break;
      case ExperimentOutcome::kFailed:
        out << "FAILED  ";
        break;
      case ExperimentOutcome::kExpectedFailure:
        out << "XFAIL   ";
        break;
      case ExperimentOutcome::kUnexpectedPass:
        out << "XPASS   ";
        break;
      case ExperimentOutcome::kAborted:
        out << "ABORTED ";
        break;
      case ExperimentOutcome::kError:
        out << "ERROR   ";
        break;
    }
    out << e.name;
    if (outcome == ExperimentOutcome::kExpectedFailure) {
      out << " (failed as expected; does not fail the run)";
    } else if (outcome == ExperimentOutcome::kUnexpectedPass) {
      out << " (expected to fail but passed)";
    }
    out << "\n";
    for (const VerifierResult& v : e.verifiers) {
      if (!v.overall.impact) {
        if (!e.faults.empty()) out << "    " << v.name << ": no impact\n";
        continue;
      }
      out << "    " << v.name << ": detected after " << v.overall.time_to_detect_s.value_or(0)
          << " s";
      if (v.overall.time_to_recover_s) {
        out << ", recovered after " << *v.overall.time_to_recover_s << " s";
        if (v.overall.recover_bound_s) {
          out << " (between " << v.overall.recover_bound_s->first << " and "
              << v.overall.recover_bound_s->second << ")";
        }
      } else {
        out << ", NOT recovered";
      }
      out << ", downtime " << v.overall.downtime_s << " s, availability "
          << v.overall.availability * 100 << "%\n";
    }
    for (const std::string& line : RoundLines(e)) out << "    " << line << "\n";
    for (const InjectionResult& i : e.injections) out << "    " << InjectionLine(i) << "\n";
    if (outcome == ExperimentOutcome::kExpectedFailure) {
      const FailureExplanation x = ExplainFailure(e);
      out << "    expected to fail: " << x.expected << "\n";
      for (const std::string& o : x.objectives) out << "    failed as expected: " << o << "\n";
      for (const std::string& v : x.verifier_errors) out << "    " << v << "\n";
      for (const std::string& r : x.other) out << "    also: " << r << "\n";
      continue;
    }
    for (const std::string& reason : e.reasons) out << "    why: " << reason << "\n";
  }
  return RedactSecrets(out.str());
}

}  // namespace gameday
