// Structural validation of the ssh kinds' specs reads no inventory (PlanOptions::check_inventory
// off), yet still checks selector grammar; with an inventory, missing hosts and groups are named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "experiments/plan.h"
#include "injectors/registry.h"
#include "verifiers/registry.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;

class ValidateStructureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterBuiltinInjectors(registries_.injectors);
    RegisterBuiltinVerifiers(registries_.verifiers);
    dir_ = fs::temp_directory_path() / ("gameday-validate-structure-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "inventory.yaml")
        << "hosts:\n"
           "  - {name: h1, address: 198.18.99.1, groups: [etcd],"
           " vars: {etcd_client_url: \"http://198.18.99.1:2379\"}}\n"
           "  - {name: h2, address: 198.18.99.2, groups: [workers]}\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A plan around one step and one verifier, its ssh target naming `inventory`.
  std::string Plan(const std::string& step_spec, const std::string& inventory) {
    return "name: x\n"
           "target: {kind: ssh, inventory: " +
           inventory +
           "}\n"
           "verify:\n"
           "  - {name: kv, kind: etcd, spec: {hosts: etcd}}\n"
           "method:\n"
           "  - inject: host-partition\n"
           "    duration: 1s\n"
           "    spec: " +
           step_spec + "\n";
  }
  Diagnostics Parse(const std::string& text, const PlanOptions& options) {
    Diagnostics diags;
    ParsePlan(text, (dir_ / "plan.yaml").string(), registries_, &diags, options);
    return diags;
  }

  Registries registries_;
  fs::path dir_;
};

TEST_F(ValidateStructureTest, NoInventoryIsReadWhenOnlyTheStructureIsChecked) {
  PlanOptions structure;
  structure.check_inventory = false;
  // The inventory named does not exist; structure validation does not care.
  Diagnostics ok = Parse(Plan("{hosts: h9, from: nowhere}", "missing.yaml"), structure);
  EXPECT_TRUE(ok.empty()) << ok.ToString();
  // The same plan, checked as a run checks it, names the file.
  Diagnostics run = Parse(Plan("{hosts: h9, from: nowhere}", "missing.yaml"), PlanOptions{});
  ASSERT_FALSE(run.empty());
  EXPECT_NE(run.ToString().find("missing.yaml"), std::string::npos) << run.ToString();
}

TEST_F(ValidateStructureTest, SelectorGrammarIsCheckedWithoutAnInventory) {
  PlanOptions structure;
  structure.check_inventory = false;
  Diagnostics diags = Parse(
      Plan("{hosts: \"random x of etcd\", from: \"etcd-leader of\"}", "missing.yaml"), structure);
  ASSERT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_EQ(diags.items()[0].path, "method[0].spec.hosts");
  EXPECT_EQ(diags.items()[1].path, "method[0].spec.from");
  // An etcd verifier's selector too, and its rule that the selector is static.
  const std::string verifier_plan =
      "name: x\ntarget: {kind: ssh}\nverify:\n"
      "  - {name: a, kind: etcd, spec: {hosts: \"etcd[\"}}\n"
      "  - {name: b, kind: etcd, spec: {hosts: \"random 1 of etcd\"}}\n"
      "method: [{wait: 1s}]\n";
  Diagnostics verifiers = Parse(verifier_plan, structure);
  ASSERT_EQ(verifiers.size(), 2u) << verifiers.ToString();
  EXPECT_EQ(verifiers.items()[0].path, "verify[0].spec.hosts");
  EXPECT_EQ(verifiers.items()[1].path, "verify[1].spec.hosts");
}

TEST_F(ValidateStructureTest, AgainstAnInventoryMissingHostsAndGroupsAreNamed) {
  PlanOptions against;
  against.inventory_override = (dir_ / "inventory.yaml").string();
  Diagnostics diags = Parse(Plan("{hosts: h9, from: masters}", "elsewhere.yaml"), against);
  ASSERT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_NE(diags.items()[0].message.find("has no group or host 'h9'"), std::string::npos);
  EXPECT_NE(diags.items()[1].message.find("has no group or host 'masters'"), std::string::npos);
  Diagnostics good = Parse(Plan("{hosts: h1, from: workers}", "elsewhere.yaml"), against);
  EXPECT_TRUE(good.empty()) << good.ToString();
}

}  // namespace
}  // namespace gameday
