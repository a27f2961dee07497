// What the Kubernetes watch makes of one pod or node change: container restarts (with the last
// exit) and the node lifecycle taints, read from hostile answers without trusting them.

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "clients/kubernetes/watch.h"
#include "experiments/json.h"

namespace gameday {
namespace {

ResourceWatch::ObjectState State(const std::string& kind, const std::string& json) {
  rapidjson::Document doc;
  EXPECT_TRUE(ParseJson(json, &doc).ok()) << json;
  return ResourceWatch::StateOf(kind, doc);
}

std::string Pod(const std::string& statuses) {
  return R"({"metadata":{"name":"web-1","namespace":"shop","uid":"u1"},"spec":{"nodeName":"n1"},)"
         R"("status":{"containerStatuses":)" +
         statuses + "}}";
}

std::string Node(const std::string& taints) {
  return R"({"metadata":{"name":"n1","uid":"n"},"spec":{"taints":)" + taints +
         R"(},"status":{"conditions":[{"type":"Ready","status":"True"}]}})";
}

std::vector<std::string> Changes(const std::string& kind, const std::string& display,
                                 const std::string& before, const std::string& after) {
  const ResourceWatch::ObjectState b = State(kind, before), a = State(kind, after);
  return ResourceWatch::Describe(kind, display, &b, &a);
}

TEST(K8sWatchDescribeTest, AContainerRestartNamesTheContainerTheCountAndTheLastExit) {
  const std::string before =
      Pod(R"([{"name":"web","restartCount":0},{"name":"side","restartCount":2}])");
  const std::string after = Pod(
      R"([{"name":"web","restartCount":1,"lastState":{"terminated":{"reason":"Error","exitCode":137}}},)"
      R"({"name":"side","restartCount":2}])");
  EXPECT_EQ(
      Changes("pod", "pod shop/web-1", before, after),
      std::vector<std::string>{
          "pod shop/web-1 container web restarted (restart 1; last exit: Error, exit code 137)"});
  // Without a last state the count alone is reported; no change, no event.
  EXPECT_EQ(Changes("pod", "pod shop/web-1", before,
                    Pod(R"([{"name":"web","restartCount":3},{"name":"side","restartCount":2}])")),
            std::vector<std::string>{"pod shop/web-1 container web restarted (restart 3)"});
  EXPECT_TRUE(Changes("pod", "pod shop/web-1", before, before).empty());
}

TEST(K8sWatchDescribeTest, ANewPodsOwnRestartsAreNotNewsAndNeitherIsACountThatWentDown) {
  const ResourceWatch::ObjectState fresh =
      State("pod", Pod(R"([{"name":"web","restartCount":5}])"));
  EXPECT_EQ(ResourceWatch::Describe("pod", "pod shop/web-1", nullptr, &fresh),
            (std::vector<std::string>{"pod shop/web-1 created", "pod shop/web-1 scheduled to n1"}));
  EXPECT_TRUE(Changes("pod", "p", Pod(R"([{"name":"web","restartCount":5}])"),
                      Pod(R"([{"name":"web","restartCount":4}])"))
                  .empty());
}

TEST(K8sWatchDescribeTest, HostileContainerStatusesAreSkippedOrCapped) {
  // Names that are no DNS label, counts that are no count, a reason with control bytes.
  const ResourceWatch::ObjectState s = State(
      "pod",
      Pod(R"([{"name":"Web\n"},{"name":""},{"restartCount":1},7,{"name":"a","restartCount":-3},)"
          R"({"name":"b","restartCount":"9"},{"name":"c","restartCount":1.5},)"
          R"({"name":"d","restartCount":1,"lastState":{"terminated":{"reason":"x\u0001y","exitCode":"1"}}}])"));
  ASSERT_EQ(s.containers.size(), 4u);
  EXPECT_EQ(s.containers.at("a").restarts, 0);
  EXPECT_EQ(s.containers.at("b").restarts, 0);
  EXPECT_EQ(s.containers.at("c").restarts, 0);
  EXPECT_EQ(s.containers.at("d").restarts, 1);
  EXPECT_EQ(s.containers.at("d").last_exit, "x?y");
  // Not an array at all.
  EXPECT_TRUE(State("pod", Pod(R"({"name":"web"})")).containers.empty());
  // Thousands of containers: at most kMaxContainers are kept.
  std::string many = "[";
  for (int i = 0; i < 1000; ++i)
    many += std::string(i ? "," : "") + R"({"name":"c)" + std::to_string(i) + "\"}";
  many += "]";
  EXPECT_EQ(State("pod", Pod(many)).containers.size(), ResourceWatch::kMaxContainers);
}

TEST(K8sWatchDescribeTest, NodeLifecycleTaintsAreReportedWhenSetAndWhenLifted) {
  const std::string none = Node("[]");
  const std::string unreachable =
      Node(R"([{"key":"node.kubernetes.io/unreachable","effect":"NoExecute"},)"
           R"({"key":"node.kubernetes.io/unreachable","effect":"NoSchedule"}])");
  EXPECT_EQ(
      Changes("node", "node n1", none, unreachable),
      (std::vector<std::string>{"node n1 tainted node.kubernetes.io/unreachable:NoExecute",
                                "node n1 tainted node.kubernetes.io/unreachable:NoSchedule"}));
  EXPECT_EQ(
      Changes("node", "node n1", unreachable, none),
      (std::vector<std::string>{"node n1 untainted node.kubernetes.io/unreachable:NoExecute",
                                "node n1 untainted node.kubernetes.io/unreachable:NoSchedule"}));
}

TEST(K8sWatchDescribeTest, OtherTaintsTheCordonsOwnAndHostileOnesAreNotReported) {
  const ResourceWatch::ObjectState s =
      State("node",
            Node(R"([{"key":"dedicated","effect":"NoSchedule"},)"
                 R"({"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"},)"
                 R"({"key":"node.kubernetes.io/not-ready","effect":"Sometimes"},)"
                 R"({"key":"node.kubernetes.io/Bad Key\n","effect":"NoExecute"},)"
                 R"({"key":7},"x",{"key":"node.kubernetes.io/not-ready","effect":"NoExecute"}])"));
  EXPECT_EQ(s.taints, std::set<std::string>{"node.kubernetes.io/not-ready:NoExecute"});
  std::string many = "[";
  for (int i = 0; i < 500; ++i) {
    many += std::string(i ? "," : "") + R"({"key":"node.kubernetes.io/t)" + std::to_string(i) +
            R"(","effect":"NoExecute"})";
  }
  many += "]";
  EXPECT_EQ(State("node", Node(many)).taints.size(), ResourceWatch::kMaxTaints);
}

}  // namespace
}  // namespace gameday
