#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace gameday {

// Points every place a parser may look for machine state (state dir, inventory, kubeconfig,
// home) at an empty private folder, so a fuzz run reads nothing of the machine's real state and
// the outcome depends on the input alone.
inline void IsolateFuzzEnvironment() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/gameday-fuzz-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    return std::string(made ? made : "/nonexistent");
  }();
  ::setenv("GAMEDAY_STATE_DIR", dir.c_str(), 1);
  ::setenv("HOME", dir.c_str(), 1);
  ::setenv("KUBECONFIG", (dir + "/kubeconfig").c_str(), 1);
  ::unsetenv("GAMEDAY_INVENTORY");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("XDG_STATE_HOME");
}

}  // namespace gameday
