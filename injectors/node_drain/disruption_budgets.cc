#include "injectors/node_drain/disruption_budgets.h"

#include <algorithm>

namespace gameday {
namespace {

std::string StringOf(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : "";
}

const rapidjson::Value* MemberOf(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool Requires(const LabelSelector::Requirement& r,
              const std::map<std::string, std::string>& labels) {
  auto it = labels.find(r.key);
  const bool has = it != labels.end();
  const bool listed =
      has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
  if (r.op == "In") return listed;
  if (r.op == "NotIn") return !listed;
  if (r.op == "Exists") return has;
  if (r.op == "DoesNotExist") return !has;
  return false;
}

}  // namespace

LabelSelector LabelSelector::FromJson(const rapidjson::Value* selector) {
  LabelSelector s;
  if (selector == nullptr || !selector->IsObject()) return s;
  if (const rapidjson::Value* ml = MemberOf(*selector, "matchLabels"); ml && !ml->IsNull()) {
    if (!ml->IsObject()) return s;
    for (auto it = ml->MemberBegin(); it != ml->MemberEnd(); ++it) {
      if (!it->value.IsString()) return s;
      s.match_labels[it->name.GetString()] = it->value.GetString();
    }
  }
  if (const rapidjson::Value* me = MemberOf(*selector, "matchExpressions"); me && !me->IsNull()) {
    if (!me->IsArray()) return s;
    for (const rapidjson::Value& e : me->GetArray()) {
      Requirement r;
      r.key = StringOf(e, "key");
      r.op = StringOf(e, "operator");
      if (r.key.empty()) return s;
      if (const rapidjson::Value* v = MemberOf(e, "values"); v && v->IsArray()) {
        for (const rapidjson::Value& x : v->GetArray()) {
          if (!x.IsString()) return s;
          r.values.emplace_back(x.GetString(), x.GetStringLength());
        }
      }
      // What LabelSelectorAsSelector rejects; such a budget selects no pod.
      const bool set_op = r.op == "In" || r.op == "NotIn";
      const bool exist_op = r.op == "Exists" || r.op == "DoesNotExist";
      if ((!set_op && !exist_op) || (set_op && r.values.empty()) ||
          (exist_op && !r.values.empty())) {
        return s;
      }
      s.match_expressions.push_back(std::move(r));
    }
  }
  s.valid = true;
  return s;
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  if (!valid) return false;
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return std::all_of(match_expressions.begin(), match_expressions.end(),
                     [&](const Requirement& r) { return Requires(r, labels); });
}

DisruptionBudget DisruptionBudget::FromJson(const rapidjson::Value& pdb) {
  DisruptionBudget b;
  const rapidjson::Value* meta = MemberOf(pdb, "metadata");
  const rapidjson::Value* spec = MemberOf(pdb, "spec");
  const rapidjson::Value* status = MemberOf(pdb, "status");
  if (meta) {
    b.ns = StringOf(*meta, "namespace");
    b.name = StringOf(*meta, "name");
  }
  b.selector = LabelSelector::FromJson(spec ? MemberOf(*spec, "selector") : nullptr);
  if (status && meta) {
    const rapidjson::Value* allowed = MemberOf(*status, "disruptionsAllowed");
    const rapidjson::Value* observed = MemberOf(*status, "observedGeneration");
    const rapidjson::Value* generation = MemberOf(*meta, "generation");
    const bool current = observed && observed->IsInt64() && generation && generation->IsInt64() &&
                         observed->GetInt64() >= generation->GetInt64();
    if (current && allowed && allowed->IsInt() && allowed->GetInt() >= 0) {
      b.allowed = allowed->GetInt();
    }
  }
  return b;
}

EvictionGroups GroupByBudget(const std::vector<PodLabels>& pods,
                             const std::vector<DisruptionBudget>& budgets, size_t per_budget_limit,
                             size_t unbudgeted_limit) {
  EvictionGroups out;
  std::map<std::string, size_t> index;  // group name -> group
  auto group = [&](const std::string& name, size_t limit) {
    auto [it, added] = index.emplace(name, out.group_limits.size());
    if (added) {
      out.group_limits.push_back(std::max<size_t>(1, limit));
      out.group_names.push_back(name);
    }
    return it->second;
  };
  for (const PodLabels& pod : pods) {
    std::vector<const DisruptionBudget*> covering;
    for (const DisruptionBudget& b : budgets) {
      if (b.ns == pod.ns && b.selector.Matches(pod.labels)) covering.push_back(&b);
    }
    if (covering.empty()) {
      out.pod_groups.push_back(group(pod.ns, unbudgeted_limit));
    } else if (covering.size() == 1) {
      const DisruptionBudget& b = *covering[0];
      const size_t allowed = b.allowed ? static_cast<size_t>(*b.allowed) : per_budget_limit;
      out.pod_groups.push_back(
          group(b.ns + "/" + b.name, std::min(per_budget_limit, std::max<size_t>(1, allowed))));
    } else {
      // A group of its own: the key holds a character no Kubernetes name has.
      out.pod_groups.push_back(group(pod.ns + "/ pod " + std::to_string(out.pod_groups.size()), 1));
    }
  }
  return out;
}

}  // namespace gameday
