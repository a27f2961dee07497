#pragma once

// Which PodDisruptionBudget covers which pod of a drain, so the eviction scheduler can bound the
// evictions in flight per budget. Only for pacing: the API server enforces every budget on each
// eviction itself, so a budget read wrongly here costs speed (or 429s), never safety.

#include <rapidjson/document.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gameday {

// A label selector as metav1.LabelSelector has it (matchLabels, and matchExpressions with In,
// NotIn, Exists, DoesNotExist).
struct LabelSelector {
  struct Requirement {
    std::string key;
    std::string op;
    std::vector<std::string> values;
  };
  bool valid = false;  // a null or malformed selector matches nothing, as the API server has it
  std::map<std::string, std::string> match_labels;
  std::vector<Requirement> match_expressions;

  // From the JSON of a selector (null pointer: absent).
  static LabelSelector FromJson(const rapidjson::Value* selector);
  bool Matches(const std::map<std::string, std::string>& labels) const;
};

struct DisruptionBudget {
  std::string ns, name;
  LabelSelector selector;
  // status.disruptionsAllowed, when the status is current (observedGeneration >= generation).
  std::optional<int> allowed;

  // From a policy/v1 PodDisruptionBudget object.
  static DisruptionBudget FromJson(const rapidjson::Value& pdb);
};

struct PodLabels {
  std::string ns;
  std::map<std::string, std::string> labels;
};

// How the pods of a drain are grouped for pacing: pod i is in group pod_groups[i]; group g may
// have group_limits[g] evictions in flight. Pods of one budget share a group, limited to its
// allowance (at least 1, at most per_budget_limit); pods no budget covers share one group per
// namespace, limited to unbudgeted_limit. A pod that several budgets cover (the API server
// refuses to evict it) gets a group of its own with a limit of 1.
struct EvictionGroups {
  std::vector<size_t> pod_groups;
  std::vector<size_t> group_limits;
  std::vector<std::string> group_names;  // "ns/budget", or "ns" for the unbudgeted pods
};
EvictionGroups GroupByBudget(const std::vector<PodLabels>& pods,
                             const std::vector<DisruptionBudget>& budgets, size_t per_budget_limit,
                             size_t unbudgeted_limit);

}  // namespace gameday
