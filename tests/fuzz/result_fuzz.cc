// The JSON result reader (ParseJsonResult, what `gameday report` reads back). Anything it
// accepts must render again (RenderJson) into a document it accepts as well.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "reports/json_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto run = gameday::ParseJsonResult(text);
  if (!run.ok()) return 0;
  const std::string again = gameday::RenderJson(*run);
  auto reread = gameday::ParseJsonResult(again);
  if (!reread.ok()) {
    std::fprintf(stderr, "accepted a result whose rendering is refused: %s\n",
                 reread.status().message().c_str());
    std::abort();
  }
  return 0;
}
