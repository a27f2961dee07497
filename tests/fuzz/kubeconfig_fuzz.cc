// The kubeconfig reader (ParseKubeConfigText) on arbitrary text, as kubectl would read it for
// its current context, plus the base64 decoder it uses for *-data fields.
#include <cstddef>
#include <cstdint>
#include <string>

#include "clients/kubernetes/kubeconfig.h"
#include "tests/fuzz/fuzz_env.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gameday::IsolateFuzzEnvironment();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = gameday::ParseKubeConfigText(text, "/nonexistent/fuzz/config", "");
  if (config.ok()) (void)config->user.Kind();
  (void)gameday::DecodeBase64(text);
  return 0;
}
