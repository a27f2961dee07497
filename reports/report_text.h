#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "experiments/clock.h"

namespace gameday {

// Text helpers shared by the report writers. Result text comes from the outside world (HTTP
// bodies, Kubernetes events, plan files), so nothing here trusts it to be valid UTF-8.

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `s` with every ill-formed byte sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view s);

// Appends `s` escaped for XML 1.0 and HTML: &, <, >, " and ' become references; characters XML
// 1.0 cannot carry at all (C0 controls other than tab/LF/CR, U+FFFE, U+FFFF, ill-formed UTF-8)
// become U+FFFD. In attribute mode, tab/LF/CR become character references so that attribute
// value normalisation keeps them.
void AppendMarkupEscaped(std::string* out, std::string_view s, bool attribute = false);
inline std::string MarkupEscape(std::string_view s, bool attribute = false) {
  std::string out;
  AppendMarkupEscaped(&out, s, attribute);
  return out;
}

// RFC 3339 in UTC with milliseconds: "2024-05-01T12:34:56.789Z" (truncated to the ms).
std::string FormatRfc3339(WallTime t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)". Fractions beyond nanoseconds are
// truncated.
std::optional<WallTime> ParseRfc3339(std::string_view s);
// "2024-05-01T12:34:56" in UTC, the zone-less form Ant-style JUnit timestamps use.
std::string FormatIsoSecondsUtc(WallTime t);

// printf("%.*f"), with -0 printed as 0.
std::string FormatFixed(double v, int decimals);
// Up to 6 significant digits without trailing zeros: 10 -> "10", 2.5 -> "2.5".
std::string FormatCompact(double v);
// A duration for people: "12.40 s" (2 decimals from 1 s up, 3 below).
std::string FormatSeconds(double s);
// The same with its error bar, in the same precision: "2.34 s (2.32–2.36)".
std::string FormatSecondsWithBound(double s, const std::optional<std::pair<double, double>>& b);
// A ratio as a percentage: 0.99951 -> "99.95 %".
std::string FormatPercent(double ratio);

}  // namespace gameday
