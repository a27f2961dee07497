#include "experiments/json.h"

#include <rapidjson/error/en.h>

#include <string>

namespace gameday {
namespace {

// Whether the number token starting at text[*i] is one RapidJSON's full-precision path cannot read
// without undefined behaviour (internal/diyfp.h; found by tests/fuzz/result_fuzz): a zero that is
// longer than "-0.0" or has an exponent (__builtin_clzll(0), an oversized shift), or a number
// whose decimal exponent lies far outside what a double holds (an overflowing index into its
// power table). Its ordinary path reads every such number safely (to the last bit or one ulp);
// gameday's writer never writes these. The token is read as RapidJSON reads it: '-'? digits
// ('.' digits)? (e|E ...)?, ending at the first byte that does not fit (a second '.', a letter);
// `*i` is left on its last byte.
bool RiskyNumber(std::string_view text, size_t* i) {
  bool all_zero = true;
  size_t j = *i;
  auto digits = [&] {
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
      if (text[j] != '0') all_zero = false;
      ++j;
    }
  };
  if (text[j] == '-') ++j;
  digits();
  if (j < text.size() && text[j] == '.') {
    ++j;
    digits();
  }
  const size_t mantissa = j - *i;
  bool risky = (all_zero && mantissa > 4) ||  // "0", "-0", "0.0", "-0.0" take the exact fast path
               mantissa > 32;  // with an exponent <= 300: decimal exponent within the table's +-348
  if (j < text.size() && (text[j] == 'e' || text[j] == 'E')) {
    risky = risky || all_zero;
    ++j;
    if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
    int exponent = 0;
    for (; j < text.size() && text[j] >= '0' && text[j] <= '9'; ++j) {
      if (exponent <= 300) exponent = exponent * 10 + (text[j] - '0');
    }
    risky = risky || exponent > 300;
  }
  *i = j - 1;
  return risky;
}

struct PreScan {
  size_t too_deep_at = std::string_view::npos;  // where nesting first exceeds max_depth
  bool risky_number = false;                    // see RiskyNumber
};

// One linear pass outside strings (skipped with their escapes, so brackets and digits inside
// them do not count). Numbers are looked at only when `check_numbers`.
PreScan Scan(std::string_view text, int max_depth, bool check_numbers) {
  PreScan out;
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        out.too_deep_at = i;
        return out;
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    } else if (check_numbers && (c == '-' || (c >= '0' && c <= '9'))) {
      if (RiskyNumber(text, &i)) out.risky_number = true;
    }
  }
  return out;
}

}  // namespace

Status ParseJson(std::string_view text, rapidjson::Document* doc, const JsonLimits& limits) {
  doc->SetNull();
  if (text.size() > limits.max_bytes) {
    return Status::InvalidArgument("JSON: " + std::to_string(text.size()) +
                                   " bytes, more than the limit of " +
                                   std::to_string(limits.max_bytes));
  }
  const PreScan scan = Scan(text, limits.max_depth, limits.full_precision);
  if (scan.too_deep_at != std::string_view::npos) {
    return Status::InvalidArgument("JSON: nested deeper than " + std::to_string(limits.max_depth) +
                                   " at byte " + std::to_string(scan.too_deep_at));
  }
  if (limits.full_precision && !scan.risky_number) {
    doc->Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag>(text.data(),
                                                                                    text.size());
  } else {
    doc->Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  }
  if (doc->HasParseError()) {
    const std::string what = rapidjson::GetParseError_En(doc->GetParseError());
    const size_t at = doc->GetErrorOffset();
    doc->SetNull();
    return Status::InvalidArgument("JSON: " + what + " at byte " + std::to_string(at));
  }
  return Status::Ok();
}

}  // namespace gameday
