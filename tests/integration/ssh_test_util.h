#pragma once

// Shared pieces of the SSH integration tests: a fixture that owns one test bed per test and
// checks, pass or fail, that nothing of it is left (gameday iptables chains and expiry timers in
// the namespaces before teardown; namespaces, bridge, root rules and processes after).

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "clients/inventory/inventory.h"
#include "experiments/spec_reader.h"
#include "experiments/target.h"
#include "tests/integration/testbed.h"

namespace gameday::testing {

class BedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = Testbed::Unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
  }

  void TearDown() override {
    if (!bed_) return;
    if (bed_->ok()) {
      EXPECT_EQ(GamedayLeftovers(), "") << "gameday left faults behind in the bed";
    }
    const std::string left = bed_->Down();
    EXPECT_EQ(left, "") << "the test bed left things behind";
  }

  // Brings up a bed of `n` hosts (etcd on the first `etcd`) and loads its inventory.
  ::testing::AssertionResult Up(const std::string& base, int n, int etcd = 0) {
    bed_ = std::make_unique<Testbed>(base, n, etcd);
    if (!bed_->ok()) return ::testing::AssertionFailure() << bed_->error();
    Result<Inventory> inv = LoadInventory(bed_->inventory_path());
    if (!inv.ok()) return ::testing::AssertionFailure() << inv.status().ToString();
    inventory_ = *inv;
    return ::testing::AssertionSuccess();
  }

  // gameday chains and jumps in any host's iptables, and live expiry timers: "" = none.
  std::string GamedayLeftovers() const {
    std::string left;
    for (size_t i = 0; i < bed_->hosts().size(); ++i) {
      const std::string rules = bed_->Exec(i, "iptables -w -S | grep GAMEDAY || true").out;
      if (!rules.empty()) left += bed_->hosts()[i].name + " iptables: " + rules;
    }
    const std::string timers =
        RunShell("for p in $(ip netns list | awk '{print $1}' | grep '^gd-" + bed_->name() +
                 "-h'); do for pid in $(ip netns pids $p); do tr '\\0' ' ' 2>/dev/null < "
                 "/proc/$pid/cmdline | grep -a gameday-expiry; echo; done; done | grep . || true")
            .out;
    if (!timers.empty()) left += "expiry timers: " + timers;
    return left;
  }

  const InventoryHost& Host(size_t i) const { return inventory_.hosts.at(i); }

  TargetSpec SshTarget() const {
    TargetSpec t;
    t.kind = "ssh";
    t.inventory = bed_->inventory_path();
    return t;
  }

  // Parses `yaml` as the spec of an injector or verifier kind; ADD_FAILUREs with the
  // diagnostics when it does not parse.
  template <typename Kind>
  auto ParseSpec(const Kind& kind, const std::string& yaml, const TargetSpec& target) {
    Diagnostics diags;
    SpecNode spec(YAML::Load(yaml), "spec", std::make_shared<const std::string>("test.yaml"),
                  &diags);
    auto parsed = kind.Parse(spec, target);
    if (!diags.empty() || !parsed) ADD_FAILURE() << "spec does not parse:\n" << diags.ToString();
    return parsed;
  }

  std::unique_ptr<Testbed> bed_;
  Inventory inventory_;
};

// Polls `ok` every `step` until it holds or `limit` passed; returns whether it held.
inline bool WaitFor(const std::function<bool()>& ok, std::chrono::milliseconds limit,
                    std::chrono::milliseconds step = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (ok()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

}  // namespace gameday::testing
