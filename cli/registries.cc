#include "cli/commands.h"
#include "injectors/registry.h"
#include "verifiers/registry.h"

namespace gameday {

void BuildRegistries(Registries* registries) {
  RegisterBuiltinInjectors(registries->injectors);
  RegisterBuiltinVerifiers(registries->verifiers);
}

}  // namespace gameday
