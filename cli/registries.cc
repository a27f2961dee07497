#include "cli/commands.h"
#include "injectors/registry.h"
#include "verifiers/registry.h"
#include "watches/registry.h"

namespace gameday {

void BuildRegistries(Registries* registries) {
  RegisterBuiltinInjectors(registries->injectors);
  RegisterBuiltinVerifiers(registries->verifiers);
  RegisterBuiltinWatches(registries->watches);
}

}  // namespace gameday
