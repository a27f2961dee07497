#include <iostream>

#include "cli/commands.h"

namespace gameday {

void AddValidateCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("validate", "Check plans completely without touching anything");
  auto plans = std::make_shared<std::vector<std::string>>();
  cmd->add_option("PLAN", *plans, "plan files (YAML or JSON)")->required();
  auto inventory = std::make_shared<std::string>();
  cmd->add_option("--against-inventory", *inventory,
                  "also check the ssh kinds' host selectors against this inventory (hosts and "
                  "groups exist); without it no inventory is read")
      ->option_text("FILE");
  cmd->callback([plans, inventory, exit_code] {
    // A plan's structure is checked anywhere (a CI job, before any host exists); what needs the
    // live inventory is checked by `run` before anything is injected, or here on request.
    PlanOptions options;
    options.check_inventory = !inventory->empty();
    options.inventory_override = *inventory;
    Registries registries;
    BuildRegistries(&registries);
    *exit_code = kExitPassed;
    for (const std::string& path : *plans) {
      Diagnostics diags;
      Plan plan = LoadPlan(path, registries, &diags, options);
      if (!diags.empty()) {
        std::cerr << diags.ToString();
        std::cerr << path << ": " << diags.size() << " problem(s); nothing would run\n";
        *exit_code = kExitUsage;
        continue;
      }
      size_t steps = 0;
      for (const auto& e : plan.experiments) steps += e.method.size();
      std::cout << path << ": ok (" << plan.experiments.size() << " experiment(s), " << steps
                << " step(s))\n";
    }
  });
}

}  // namespace gameday
