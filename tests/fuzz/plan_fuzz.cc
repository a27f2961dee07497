// The plan reader (ParsePlan) on arbitrary text, with every built-in injector, verifier and
// watch kind registered: YAML, and JSON as YAML's subset. Any input must end in a plan or in
// diagnostics, never in a crash, a leak or unbounded time or memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "experiments/plan.h"
#include "injectors/registry.h"
#include "tests/fuzz/fuzz_env.h"
#include "verifiers/registry.h"
#include "watches/registry.h"

namespace {

const gameday::Registries& Builtins() {
  static const gameday::Registries* registries = [] {
    auto* r = new gameday::Registries;
    gameday::RegisterBuiltinInjectors(r->injectors);
    gameday::RegisterBuiltinVerifiers(r->verifiers);
    gameday::RegisterBuiltinWatches(r->watches);
    return r;
  }();
  return *registries;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gameday::IsolateFuzzEnvironment();
  Builtins();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  gameday::Diagnostics diags;
  gameday::Plan plan = gameday::ParsePlan(text, "/nonexistent/fuzz/plan.yaml", Builtins(), &diags);
  // Diagnostics render with file:line:col; rendering them is part of the reader's contract.
  (void)diags.ToString();
  return 0;
}
