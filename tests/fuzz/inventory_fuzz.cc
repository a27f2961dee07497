// The SSH inventory reader (ParseInventory) on arbitrary text, then host selection over what it
// read: every selector form of clients/inventory/inventory.h against every group, with a seeded
// generator and an etcd leader lookup that answers without a network.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "clients/inventory/inventory.h"
#include "tests/fuzz/fuzz_env.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gameday::IsolateFuzzEnvironment();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  gameday::Diagnostics diags;
  gameday::Inventory inventory = gameday::ParseInventory(text, "/nonexistent/fuzz/inventory.yaml",
                                                         "/nonexistent/fuzz", &diags);
  (void)diags.ToString();
  if (!diags.empty()) return 0;

  std::vector<std::string> selectors = {"all", "nosuchgroup", "all[0]", "random 1 of all"};
  for (const std::string& g : inventory.Groups()) {
    for (const char* form :
         {"", "[0]", "[1]", "random 2 of ", "etcd-leader of ", "etcd-followers of "}) {
      std::string s = form[0] == '[' ? g + form : std::string(form) + g;
      selectors.push_back(s);
    }
  }
  std::mt19937_64 rng(42);
  const gameday::EtcdLeaderLookup leader =
      [](const std::vector<const gameday::InventoryHost*>& members) -> gameday::Result<size_t> {
    if (members.empty()) return gameday::Status::Unavailable("no members");
    return members.size() - 1;
  };
  for (const std::string& s : selectors) {
    if (gameday::ValidateSelector(inventory, s).ok()) {
      (void)gameday::SelectHosts(inventory, s, rng, leader);
    }
  }
  for (const gameday::InventoryHost& h : inventory.hosts) {
    (void)h.EtcdUrl();
    (void)h.EtcdTlsFiles();
  }
  return 0;
}
