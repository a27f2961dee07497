#include "experiments/revert_record.h"

#include <algorithm>

#include "experiments/json.h"

namespace gameday {

Status ParseRevertRecord(const std::string& text, const std::string& what,
                         std::initializer_list<const char*> string_keys, rapidjson::Document* doc) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("invalid " + what + " revert record: " + why);
  };
  JsonLimits limits;
  limits.max_bytes = size_t{1} << 20;  // records are a few hundred bytes
  limits.max_depth = 4;
  if (Status s = ParseJson(text, doc, limits); !s.ok()) return bad(s.message());
  if (!doc->IsObject()) return bad("not a JSON object");
  for (const char* key : string_keys) {
    auto it = doc->FindMember(key);
    if (it != doc->MemberEnd() && !it->value.IsString()) {
      return bad(std::string(key) + " is not a string");
    }
  }
  return Status::Ok();
}

bool HasControlChar(const std::string& s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool IsPlainText(const std::string& s) { return s.size() <= 4096 && !HasControlChar(s); }

}  // namespace gameday
