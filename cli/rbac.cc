#include "experiments/rbac.h"

#include <iostream>
#include <set>

#include "cli/commands.h"
#include "clients/kubernetes/cluster_journal.h"
#include "clients/kubernetes/run_lock.h"

namespace gameday {

void AddRbacCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "rbac", "Print the Kubernetes Role, ClusterRole and bindings that exactly these plans need");
  auto plans = std::make_shared<std::vector<std::string>>();
  cmd->add_option("PLAN", *plans, "plan files (YAML or JSON)")->required();
  auto name = std::make_shared<std::string>("gameday");
  cmd->add_option("--name", *name, "the name of every Role, ClusterRole and binding")
      ->capture_default_str();
  auto service_account = std::make_shared<std::string>("gameday/gameday");
  auto user = std::make_shared<std::string>();
  auto group = std::make_shared<std::string>();
  auto* sa_opt = cmd->add_option("--service-account", *service_account,
                                 "bind to this ServiceAccount, as NAMESPACE/NAME")
                     ->capture_default_str();
  auto* user_opt = cmd->add_option("--user", *user, "bind to this user instead");
  auto* group_opt = cmd->add_option("--group", *group, "bind to this group instead");
  sa_opt->excludes(user_opt)->excludes(group_opt);
  user_opt->excludes(group_opt);
  auto without_optional = std::make_shared<bool>(false);
  cmd->add_flag("--without-optional", *without_optional,
                "leave out what a run works without (Events gameday posts, the node-failure "
                "timeline's readings, public endpoints)");
  auto cluster_journal = std::make_shared<std::string>();
  cmd->add_option("--cluster-journal", *cluster_journal,
                  "add what `run --cluster-journal NS` and `recover --cluster` need in NS "
                  "(the runs' journals as ConfigMaps)");
  auto lock_namespace = std::make_shared<std::string>();
  cmd->add_option("--lock-namespace", *lock_namespace,
                  "add what `run --lock-namespace NS` needs (Leases in NS)");
  cmd->callback([=] {
    RbacSubject subject;
    if (!user->empty()) {
      subject = RbacSubject{"User", *user, ""};
    } else if (!group->empty()) {
      subject = RbacSubject{"Group", *group, ""};
    } else {
      const size_t slash = service_account->find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == service_account->size()) {
        std::cerr << "gameday rbac: --service-account must be NAMESPACE/NAME, got '"
                  << *service_account << "'\n";
        *exit_code = kExitUsage;
        return;
      }
      subject = RbacSubject{"ServiceAccount", service_account->substr(slash + 1),
                            service_account->substr(0, slash)};
    }
    // The plans' structure only: which hosts an inventory holds does not change the rights.
    PlanOptions options;
    options.check_inventory = false;
    Registries registries;
    BuildRegistries(&registries);
    std::vector<ApiAccess> all;
    std::set<std::string> clusters;
    for (const std::string& path : *plans) {
      Diagnostics diags;
      Plan plan = LoadPlan(path, registries, &diags, options);
      if (!diags.empty()) {
        std::cerr << diags.ToString() << path << ": " << diags.size()
                  << " problem(s); no rules printed\n";
        *exit_code = kExitUsage;
        return;
      }
      for (auto& [cluster, accesses] : PlanApiAccesses(plan)) {
        clusters.insert(cluster);
        all.insert(all.end(), accesses.begin(), accesses.end());
      }
    }
    if (!cluster_journal->empty()) {
      for (auto& a : ClusterJournal::RunnerAccesses(*cluster_journal)) all.push_back(a);
      for (auto& a : ClusterJournal::ReaperAccesses(*cluster_journal)) all.push_back(a);
    }
    if (!lock_namespace->empty()) {
      for (auto& a : RunLock::Accesses(*lock_namespace)) all.push_back(a);
    }
    *exit_code = kExitPassed;
    const RbacRules rules = MergeApiAccesses(all, !*without_optional);
    std::cout << "# The Kubernetes rights that these plans need, and no more (gameday rbac):\n";
    for (const std::string& path : *plans) std::cout << "#   " << path << "\n";
    if (clusters.size() > 1) {
      std::cout << "# Their experiments target " << clusters.size()
                << " kubeconfig contexts: apply this in each cluster.\n";
    }
    if (rules.empty()) {
      std::cout << "# They make no Kubernetes API request: nothing to grant.\n";
      return;
    }
    std::cout << "# Rules marked optional can be left out (--without-optional): a run works "
                 "without them.\n"
              << RbacYaml(rules, *name, subject);
  });
}

}  // namespace gameday
