// Where `gameday sandbox up` writes the HA sandbox's inventory and kubeconfig, and where the
// clients look for them when a plan names neither: the sandbox (sandbox/cluster_sandbox.h) and
// the clients (clients/inventory, clients/kubernetes) spell these paths each on their own side of
// the layering, so this test holds them together.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "clients/inventory/inventory.h"
#include "clients/kubernetes/kubeconfig.h"
#include "experiments/journal.h"
#include "experiments/target.h"
#include "sandbox/cluster_sandbox.h"
#include "sandbox/embedded_files.h"
#include "tests/unit/scoped_env.h"

namespace gameday {
namespace {

std::string_view ScriptText(std::string_view name) {
  for (const EmbeddedFile& f : SandboxScripts()) {
    if (f.name == name) return f.text;
  }
  return {};
}

TEST(SandboxPathsTest, SandboxDirIsInTheStateDir) {
  ScopedEnv state("GAMEDAY_STATE_DIR", "/some/where");
  EXPECT_EQ(DefaultSandboxDir(), "/some/where/sandbox");
}

TEST(SandboxPathsTest, ClientsLookWhereTheSandboxWrites) {
  ScopedEnv state("GAMEDAY_STATE_DIR", "/some/where");
  EXPECT_EQ(DefaultSandboxInventory(), DefaultSandboxDir() + "/inventory.yaml");
  EXPECT_EQ(DefaultSandboxKubeconfig(), DefaultSandboxDir() + "/kubeconfig");
  // The sandbox's scripts write those two files into the folder they get as $DIR.
  EXPECT_NE(ScriptText("sandbox.sh").find(">\"$DIR/inventory.yaml\""), std::string_view::npos);
  EXPECT_NE(ScriptText("kubernetes.sh").find("_k8s_write_kubeconfig \"$DIR/kubeconfig\""),
            std::string_view::npos);
}

TEST(SandboxPathsTest, EffectiveInventoryPrefersThePlanThenTheEnvironment) {
  ScopedEnv state("GAMEDAY_STATE_DIR", "/some/where");
  TargetSpec target;
  target.kind = "ssh";
  {
    ScopedEnv inventory("GAMEDAY_INVENTORY", nullptr);
    EXPECT_EQ(EffectiveInventory(target), "/some/where/sandbox/inventory.yaml");
  }
  {
    ScopedEnv inventory("GAMEDAY_INVENTORY", "");
    EXPECT_EQ(EffectiveInventory(target), "/some/where/sandbox/inventory.yaml");
  }
  ScopedEnv inventory("GAMEDAY_INVENTORY", "/etc/hosts.yaml");
  EXPECT_EQ(EffectiveInventory(target), "/etc/hosts.yaml");
  target.inventory = "plan-hosts.yaml";
  EXPECT_EQ(EffectiveInventory(target), "plan-hosts.yaml");
}

}  // namespace
}  // namespace gameday
