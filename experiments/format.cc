#include "experiments/format.h"

#include <cmath>
#include <cstdio>

namespace gameday {
namespace {

int SecondsDecimals(double s) { return std::fabs(s) < 1 ? 3 : 2; }

}  // namespace

std::string FormatSecondsBrief(double s) {
  return FormatFixed(s, s == std::floor(s) ? 0 : 1) + "s";
}

std::string FormatFixed(double v, int decimals) {
  // Room for every double in %f with a few decimals (DBL_MAX has 309 digits); snprintf cuts
  // anything longer rather than overflow.
  char buf[400];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string out = buf;
  // "-0.00" reads as a sign error to people.
  if (out[0] == '-' && out.find_first_not_of("-0.") == std::string::npos) out.erase(0, 1);
  return out;
}

std::string FormatCompact(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "n/a" : (v > 0 ? "∞" : "-∞");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v + 0.0);
  return buf;
}

std::string FormatSeconds(double s) {
  if (!std::isfinite(s)) return "n/a";
  return FormatFixed(s, SecondsDecimals(s)) + " s";
}

std::string FormatSecondsWithBound(double s, const std::optional<std::pair<double, double>>& b) {
  if (!std::isfinite(s)) return "n/a";
  const int dec = SecondsDecimals(s);
  std::string out = FormatFixed(s, dec) + " s";
  if (b) out += " (" + FormatFixed(b->first, dec) + "\u2013" + FormatFixed(b->second, dec) + ")";
  return out;
}

std::string FormatPercent(double ratio) {
  if (!std::isfinite(ratio)) return "n/a";
  return FormatFixed(ratio * 100, 2) + " %";
}

std::string FormatTimeOffset(double t) { return FormatFixed(t, 3) + " s"; }

std::string FormatMessageSeconds(double s) { return FormatFixed(s, s < 10 ? 3 : 2) + " s"; }

std::string FormatMessagePercent(double ratio) { return FormatFixed(ratio * 100, 2) + "%"; }

}  // namespace gameday
