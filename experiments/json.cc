#include "experiments/json.h"

#include <rapidjson/error/en.h>

#include <string>

namespace gameday {
namespace {

// Byte offset at which nesting first exceeds `max_depth`, or npos. Strings are skipped with
// their escapes, so brackets inside them do not count.
size_t FirstTooDeep(std::string_view text, int max_depth) {
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
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return std::string_view::npos;
}

// True when `text` holds a number, outside strings, that RapidJSON's full-precision path cannot
// read without undefined behaviour (internal/diyfp.h; found by tests/fuzz/result_fuzz): a zero
// that is longer than "-0.0" or has an exponent (__builtin_clzll(0), an oversized shift), or a
// number whose decimal exponent lies far outside what a double holds (an overflowing index into
// its power table). Its ordinary path reads every such number safely (to the last bit or one
// ulp), so such a document is parsed without the flag; gameday's writer never writes these.
bool NeedsOrdinaryPath(std::string_view text) {
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
      continue;
    }
    if (c != '-' && (c < '0' || c > '9')) continue;
    // A number token as RapidJSON reads it: '-'? digits ('.' digits)? (e|E ...)?, where it stops
    // at the first byte that does not fit (a second '.', a letter); `i` ends on its last byte.
    bool all_zero = true;
    size_t j = i;
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
    // "0", "-0", "0.0" and "-0.0" (what gameday writes) take RapidJSON's exact fast path; a longer
    // zero ("0.000…0") reaches the same slow path as an exponent does.
    if (all_zero && j - i > 4) return true;
    // A mantissa of at most 32 characters and an exponent of at most 300 keep the decimal
    // exponent within +-332, inside the path's table (+-348).
    if (j - i > 32) return true;
    if (j < text.size() && (text[j] == 'e' || text[j] == 'E')) {
      if (all_zero) return true;
      ++j;
      if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
      int exponent = 0;
      for (; j < text.size() && text[j] >= '0' && text[j] <= '9'; ++j) {
        exponent = exponent * 10 + (text[j] - '0');
        if (exponent > 300) return true;
      }
    }
    i = j - 1;
  }
  return false;
}

}  // namespace

Status ParseJson(std::string_view text, rapidjson::Document* doc, const JsonLimits& limits) {
  doc->SetNull();
  if (text.size() > limits.max_bytes) {
    return Status::InvalidArgument("JSON: " + std::to_string(text.size()) +
                                   " bytes, more than the limit of " +
                                   std::to_string(limits.max_bytes));
  }
  const size_t deep = FirstTooDeep(text, limits.max_depth);
  if (deep != std::string_view::npos) {
    return Status::InvalidArgument("JSON: nested deeper than " + std::to_string(limits.max_depth) +
                                   " at byte " + std::to_string(deep));
  }
  if (limits.full_precision && !NeedsOrdinaryPath(text)) {
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
