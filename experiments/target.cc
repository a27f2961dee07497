#include "experiments/target.h"

#include <cstdlib>

#include "experiments/journal.h"

namespace gameday {

std::string DefaultSandboxDir() { return DefaultStateDir() + "/sandbox"; }
std::string DefaultSandboxInventory() { return DefaultSandboxDir() + "/inventory.yaml"; }
std::string DefaultSandboxKubeconfig() { return DefaultSandboxDir() + "/kubeconfig"; }

std::string EffectiveInventory(const TargetSpec& target) {
  if (!target.inventory.empty()) return target.inventory;
  if (const char* env = std::getenv("GAMEDAY_INVENTORY"); env && *env) return env;
  return DefaultSandboxInventory();
}

}  // namespace gameday
