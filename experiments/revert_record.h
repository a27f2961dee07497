#pragma once

#include <rapidjson/document.h>

#include <initializer_list>
#include <string>

#include "experiments/status.h"

namespace gameday {

// Checks shared by every injector that reads its revert record back from the journal. A record
// may come from another process, another version or a hand-edited journal, so each field is
// checked before anything acts on it.

// Parses `text` as a revert record: a JSON object of at most 1 MiB nested at most 4 deep in
// which each of `string_keys` that is present holds a string. Otherwise InvalidArgument
// "invalid <what> revert record: <why>", e.g. "invalid pod-kill revert record: uid is not a
// string".
Status ParseRevertRecord(const std::string& text, const std::string& what,
                         std::initializer_list<const char*> string_keys, rapidjson::Document* doc);

// True when `s` holds an ASCII control character (C0 or DEL): such a byte has no place in a path,
// a name or a run id.
bool HasControlChar(const std::string& s);

// At most 4096 bytes and no control character: a path, a kubeconfig context or a run id that
// gameday could have written.
bool IsPlainText(const std::string& s);

}  // namespace gameday
