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
  if (limits.full_precision) {
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
