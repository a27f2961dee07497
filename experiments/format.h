#pragma once

#include <optional>
#include <string>
#include <utility>

namespace gameday {

// Numbers for people: the engine's messages and every report use these, so one figure reads the
// same everywhere. printf-based and locale-independent in the "C" locale the program runs in.

// printf("%.*f"), with a negative zero ("-0.00") printed without its sign.
std::string FormatFixed(double v, int decimals);
// "40s" for whole seconds, else one decimal ("2.5s"): settings and kubelet times in notes.
std::string FormatSecondsBrief(double s);
// Up to 6 significant digits without trailing zeros: 10 -> "10", 2.5 -> "2.5"; "n/a", "∞", "-∞"
// for what is not finite.
std::string FormatCompact(double v);

// A duration in reports: "12.40 s" (2 decimals from 1 s up, 3 below); "n/a" when not finite.
std::string FormatSeconds(double s);
// The same with its error bar, in the same precision: "2.34 s (2.32–2.36)".
std::string FormatSecondsWithBound(double s, const std::optional<std::pair<double, double>>& b);
// A ratio as a percentage in reports: 0.99951 -> "99.95 %"; "n/a" when not finite.
std::string FormatPercent(double ratio);
// A moment on the experiment's clock (seconds since its start), to the millisecond: "12.345 s".
std::string FormatTimeOffset(double t);

// The engine's objective names and messages ("recovered in 2.500 s, budget 30.00 s",
// "availability 99.50%, minimum 99.00%"): 3 decimals below 10 s, 2 from 10 s up; a percentage
// with 2 decimals and no space. Results store these texts, so they stay as they are.
std::string FormatMessageSeconds(double s);
std::string FormatMessagePercent(double ratio);

}  // namespace gameday
