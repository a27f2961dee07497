#pragma once

#include <cstdlib>

namespace gameday {

// Points every place a parser may look for machine state (state dir, inventory, kubeconfig,
// home) at a folder that does not exist, so a fuzz run reads nothing of the machine's real state,
// writes nothing, and the outcome depends on the input alone.
inline void IsolateFuzzEnvironment() {
  constexpr char kNowhere[] = "/nonexistent/gameday-fuzz";
  ::setenv("GAMEDAY_STATE_DIR", kNowhere, 1);
  ::setenv("HOME", kNowhere, 1);
  ::setenv("KUBECONFIG", "/nonexistent/gameday-fuzz/kubeconfig", 1);
  ::unsetenv("GAMEDAY_INVENTORY");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("XDG_STATE_HOME");
}

}  // namespace gameday
