// Which PodDisruptionBudget covers which pod of a drain: label selectors as the API server reads
// them, a budget's allowance only when its status is current, and the pacing groups.
#include <gtest/gtest.h>

#include "experiments/json.h"
#include "injectors/node_drain/disruption_budgets.h"

namespace gameday {
namespace {

LabelSelector Selector(const std::string& json) {
  rapidjson::Document doc;
  EXPECT_TRUE(ParseJson(json, &doc).ok()) << json;
  return LabelSelector::FromJson(&doc);
}

DisruptionBudget Budget(const std::string& json) {
  rapidjson::Document doc;
  EXPECT_TRUE(ParseJson(json, &doc).ok()) << json;
  return DisruptionBudget::FromJson(doc);
}

std::string BudgetJson(const std::string& ns, const std::string& name, const std::string& selector,
                       int allowed, int generation = 1, int observed = 1) {
  return R"({"metadata":{"namespace":")" + ns + R"(","name":")" + name + R"(","generation":)" +
         std::to_string(generation) + R"(},"spec":{"selector":)" + selector +
         R"(},"status":{"observedGeneration":)" + std::to_string(observed) +
         R"(,"disruptionsAllowed":)" + std::to_string(allowed) + "}}";
}

TEST(LabelSelector, MatchLabelsAndEveryOperator) {
  const std::map<std::string, std::string> web = {{"app", "web"}, {"tier", "front"}};
  EXPECT_TRUE(Selector(R"({"matchLabels":{"app":"web"}})").Matches(web));
  EXPECT_FALSE(Selector(R"({"matchLabels":{"app":"db"}})").Matches(web));
  EXPECT_FALSE(Selector(R"({"matchLabels":{"app":"web","zone":"a"}})").Matches(web));
  EXPECT_TRUE(
      Selector(R"({"matchExpressions":[{"key":"tier","operator":"In","values":["front","x"]}]})")
          .Matches(web));
  EXPECT_FALSE(
      Selector(R"({"matchExpressions":[{"key":"tier","operator":"NotIn","values":["front"]}]})")
          .Matches(web));
  EXPECT_TRUE(Selector(R"({"matchExpressions":[{"key":"zone","operator":"NotIn","values":["a"]}]})")
                  .Matches(web));
  EXPECT_TRUE(Selector(R"({"matchExpressions":[{"key":"app","operator":"Exists"}]})").Matches(web));
  EXPECT_FALSE(
      Selector(R"({"matchExpressions":[{"key":"app","operator":"DoesNotExist"}]})").Matches(web));
  // Both parts must hold.
  EXPECT_FALSE(Selector(R"({"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"zone","operator":"Exists"}]})")
                   .Matches(web));
}

TEST(LabelSelector, EmptySelectsAllAndNullOrMalformedSelectsNone) {
  const std::map<std::string, std::string> any = {{"app", "web"}};
  EXPECT_TRUE(Selector("{}").Matches(any)) << "policy/v1: an empty selector selects every pod";
  EXPECT_TRUE(Selector("{}").Matches({}));
  EXPECT_FALSE(LabelSelector::FromJson(nullptr).Matches(any));
  EXPECT_FALSE(Selector("null").Matches(any));
  EXPECT_FALSE(Selector(R"({"matchLabels":{"app":7}})").Matches(any));
  EXPECT_FALSE(Selector(R"({"matchLabels":"app=web"})").Matches(any));
  EXPECT_FALSE(
      Selector(R"({"matchExpressions":[{"key":"app","operator":"Near","values":["web"]}]})")
          .Matches(any));
  EXPECT_FALSE(
      Selector(R"({"matchExpressions":[{"key":"app","operator":"In","values":[]}]})").Matches(any));
  EXPECT_FALSE(
      Selector(R"({"matchExpressions":[{"key":"app","operator":"Exists","values":["web"]}]})")
          .Matches(any));
  EXPECT_FALSE(Selector(R"({"matchExpressions":[{"operator":"Exists"}]})").Matches(any));
}

TEST(DisruptionBudget, TheAllowanceIsKnownOnlyWhenTheStatusIsCurrent) {
  const DisruptionBudget b =
      Budget(BudgetJson("shop", "web", R"({"matchLabels":{"app":"web"}})", 3));
  EXPECT_EQ(b.ns, "shop");
  EXPECT_EQ(b.name, "web");
  ASSERT_TRUE(b.allowed.has_value());
  EXPECT_EQ(*b.allowed, 3);
  EXPECT_TRUE(b.selector.Matches({{"app", "web"}}));
  // The spec changed since the controller last looked: the server answers 429 until it has.
  EXPECT_FALSE(Budget(BudgetJson("shop", "web", "{}", 3, 2, 1)).allowed.has_value());
  EXPECT_FALSE(Budget(BudgetJson("shop", "web", "{}", -1)).allowed.has_value());
  EXPECT_FALSE(Budget(R"({"metadata":{"name":"x"},"spec":{}})").allowed.has_value());
  EXPECT_FALSE(Budget(R"({"metadata":{"name":"x"},"spec":{}})").selector.valid);
  EXPECT_FALSE(Budget(R"([1,2,3])").selector.valid) << "hostile answers read as nothing";
}

TEST(GroupByBudget, PodsOfOneBudgetShareAGroupPacedByItsAllowance) {
  const std::vector<DisruptionBudget> budgets = {
      Budget(BudgetJson("shop", "web", R"({"matchLabels":{"app":"web"}})", 10)),
      Budget(BudgetJson("shop", "db", R"({"matchLabels":{"app":"db"}})", 0)),
      Budget(BudgetJson("other", "web", R"({"matchLabels":{"app":"web"}})", 5)),
  };
  const std::vector<PodLabels> pods = {
      {"shop", {{"app", "web"}}},   {"shop", {{"app", "web"}}},  {"shop", {{"app", "db"}}},
      {"shop", {{"app", "cache"}}}, {"other", {{"app", "web"}}}, {"other", {{"app", "cache"}}},
  };
  const EvictionGroups g = GroupByBudget(pods, budgets, 4, 32);
  ASSERT_EQ(g.pod_groups.size(), pods.size());
  auto name = [&](size_t pod) { return g.group_names[g.pod_groups[pod]]; };
  auto limit = [&](size_t pod) { return g.group_limits[g.pod_groups[pod]]; };
  EXPECT_EQ(name(0), "shop/web");
  EXPECT_EQ(g.pod_groups[0], g.pod_groups[1]);
  EXPECT_EQ(limit(0), 4u) << "the allowance (10), held to the per-budget limit";
  EXPECT_EQ(name(2), "shop/db");
  EXPECT_EQ(limit(2), 1u) << "a budget that allows nothing now is probed one at a time";
  EXPECT_EQ(name(3), "shop");
  EXPECT_EQ(limit(3), 32u) << "no budget covers it";
  EXPECT_EQ(name(4), "other/web") << "a budget covers only its own namespace";
  EXPECT_EQ(limit(4), 4u);
  EXPECT_EQ(name(5), "other");
  EXPECT_EQ(g.group_limits.size(), g.group_names.size());
  EXPECT_EQ(g.group_limits.size(), 5u);
}

TEST(GroupByBudget, APodTwoBudgetsCoverIsPacedAlone) {
  const std::vector<DisruptionBudget> budgets = {
      Budget(BudgetJson("shop", "a", R"({"matchLabels":{"app":"web"}})", 3)),
      Budget(BudgetJson("shop", "b", "{}", 3)),
  };
  const EvictionGroups g =
      GroupByBudget({{"shop", {{"app", "web"}}}, {"shop", {{"app", "web"}}}}, budgets, 8, 32);
  EXPECT_NE(g.pod_groups[0], g.pod_groups[1]);
  EXPECT_EQ(g.group_limits[g.pod_groups[0]], 1u);
  EXPECT_EQ(g.group_limits[g.pod_groups[1]], 1u);
}

TEST(GroupByBudget, AnUnknownAllowanceUsesThePerBudgetLimit) {
  const EvictionGroups g = GroupByBudget({{"shop", {{"app", "web"}}}},
                                         {Budget(BudgetJson("shop", "web", "{}", 9, 3, 2))}, 2, 32);
  EXPECT_EQ(g.group_limits[g.pod_groups[0]], 2u);
}

}  // namespace
}  // namespace gameday
