// What node-failure expects from the cluster's settings
// (injectors/node_failure/node_expectation.h): Go durations, the controller manager's flag, the
// version's default, tolerations as the taint eviction controller reads them, and the note that
// sets the measured stages against them.

#include "injectors/node_failure/node_expectation.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

namespace gameday {
namespace {

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

TEST(NodeExpectationTest, GoDurations) {
  EXPECT_EQ(ParseGoDuration("40s"), std::chrono::seconds(40));
  EXPECT_EQ(ParseGoDuration("1m0s"), std::chrono::seconds(60));
  EXPECT_EQ(ParseGoDuration("1m30s"), std::chrono::seconds(90));
  EXPECT_EQ(ParseGoDuration("1h0m0s"), std::chrono::hours(1));
  EXPECT_EQ(ParseGoDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(ParseGoDuration("0"), Duration{0});
  for (const char* bad : {"", "40", "s", "-5s", "1d", "25h", "1e400s", "4 0s", "1m0s0",
                          "99999999999999999999999999999999h"}) {
    EXPECT_FALSE(ParseGoDuration(bad).has_value()) << bad;
  }
}

TEST(NodeExpectationTest, GraceFromTheControllerManagersFlags) {
  EXPECT_EQ(GraceFlagOf(Json(R"({"spec": {"containers": [{"command": ["kube-controller-manager",
      "--node-monitor-grace-period=20s", "--v=2"]}]}})")),
            20.0);
  EXPECT_EQ(GraceFlagOf(Json(R"({"spec": {"containers": [{"command": ["kcm"],
      "args": ["--node-monitor-grace-period", "1m0s"]}]}})")),
            60.0);
  // Not set, not readable, hostile shapes: no value, never a guess.
  for (const char* pod :
       {R"({"spec": {"containers": [{"command": ["kube-controller-manager"]}]}})",
        R"({"spec": {"containers": [{"command": ["--node-monitor-grace-period=soon"]}]}})",
        R"({"spec": {"containers": [{"command": ["--node-monitor-grace-period="]}]}})",
        R"({"spec": {"containers": [{"command": ["--node-monitor-grace-period"]}]}})",
        R"({"spec": {"containers": [{"command": "--node-monitor-grace-period=20s"}]}})",
        R"({"spec": {"containers": {"command": ["--node-monitor-grace-period=20s"]}}})",
        R"({"spec": {"containers": [7, null, {"command": [1, 2]}]}})", R"({"spec": 1})", R"([])"}) {
    EXPECT_FALSE(GraceFlagOf(Json(pod)).has_value()) << pod;
  }
}

TEST(NodeExpectationTest, DefaultGraceByVersion) {
  EXPECT_EQ(DefaultGraceFor("1", "36"), 50.0);
  EXPECT_EQ(DefaultGraceFor("1", "32+"), 50.0);
  EXPECT_EQ(DefaultGraceFor("1", "31"), 40.0);
  EXPECT_EQ(DefaultGraceFor("1", "28+"), 40.0);
  for (const char* minor : {"", "x", "36++", "+", "123456"}) {
    EXPECT_FALSE(DefaultGraceFor("1", minor).has_value()) << minor;
  }
  EXPECT_FALSE(DefaultGraceFor("0", "36").has_value());
}

TEST(NodeExpectationTest, TolerationsAsTheTaintEvictionControllerReadsThem) {
  auto tol = [](const std::string& tolerations) {
    return ToleratesFor(Json(R"({"spec": {"tolerations": )" + tolerations + "}}"),
                        kUnreachableTaint);
  };
  // The admission plugin's default: 300 s.
  EXPECT_EQ(tol(R"([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
      "effect": "NoExecute", "tolerationSeconds": 300}])"),
            300.0);
  // The smallest limit of the matching ones; one without a limit does not win over a limit.
  EXPECT_EQ(tol(R"([{"operator": "Exists"}, {"key": "node.kubernetes.io/unreachable",
      "operator": "Exists", "tolerationSeconds": 30},
      {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 5}])"),
            30.0);
  // A DaemonSet's: without a limit.
  EXPECT_FALSE(tol(R"([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
      "effect": "NoExecute"}])")
                   .has_value());
  EXPECT_FALSE(tol(R"([{"operator": "Exists"}])").has_value());
  // Nothing matching: evicted at once; a limit <= 0 is 0.
  EXPECT_EQ(tol(R"([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule",
      "operator": "Exists"}])"),
            0.0);
  EXPECT_EQ(tol(R"([{"key": "node.kubernetes.io/unreachable", "value": "x"}])"), 0.0);
  EXPECT_EQ(tol(R"([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
      "tolerationSeconds": -5}])"),
            0.0);
  EXPECT_EQ(ToleratesFor(Json(R"({"spec": {}})"), kUnreachableTaint), 0.0);
  // Hostile: huge and non-numeric limits, junk entries.
  EXPECT_EQ(tol(R"([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
      "tolerationSeconds": 1e300}])"),
            86400.0);
  EXPECT_FALSE(tol(R"([1, "x", {"operator": "Exists", "tolerationSeconds": "300"}])").has_value());
}

TEST(NodeExpectationTest, PodsOnTheNodeAndTheNote) {
  NodeExpectation e;
  e.grace_s = 40;
  e.grace_source = "the --node-monitor-grace-period of pod kube-system/kcm";
  e.renew_s = 10;
  e.renew_source = "a quarter of the node's lease of 40s";
  const std::string uid = "0f0f0f0f-1111-2222-3333-444444444444";
  AddNodePod(Json(R"({"metadata": {"uid": ")" + uid + R"("}, "spec": {"tolerations": [
      {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 30}]}})"),
             &e);
  AddNodePod(Json(R"({"metadata": {"uid": "not-a-uid"}, "spec": {"tolerations": [
      {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]}})"),
             &e);
  AddNodePod(Json(R"({"metadata": {}, "spec": {"tolerations": [{"operator": "Exists"}]}})"), &e);
  // Terminating and finished pods are not stranded by the fault.
  AddNodePod(Json(R"({"metadata": {"deletionTimestamp": "2026-12-02T00:00:00Z"}})"), &e);
  AddNodePod(Json(R"({"metadata": {}, "status": {"phase": "Succeeded"}})"), &e);
  EXPECT_EQ(e.pods, 3u);
  EXPECT_EQ(e.without_limit, 1u);
  EXPECT_EQ(e.first_eviction_s, 30.0);
  EXPECT_EQ(e.last_eviction_s, 300.0);
  EXPECT_EQ(e.evictable_uids, std::set<std::string>{uid});  // only real uids are watched
  ASSERT_TRUE(e.NotReadyWindow().has_value());
  EXPECT_EQ(*e.NotReadyWindow(), std::make_pair(30.0, 45.0));

  NodeStages m;
  m.not_ready_after = 38.25;
  m.tainted_after = 38.5;
  m.first_evicted_after = 69.0;
  m.evicted = 1;
  EXPECT_EQ(ExpectationNote(e, m),
            "expected from the cluster's settings: NotReady and the node.kubernetes.io/unreachable "
            "taint 30s-45s after the inject (grace 40s, the --node-monitor-grace-period of pod "
            "kube-system/kcm; heartbeat every 10s, a quarter of the node's lease of 40s; checked "
            "every 5s): measured 38.25s, as "
            "expected; evictions: 30s-300s after the taint (tolerationSeconds of 2 pods), 1 pod "
            "tolerating it without a limit: first eviction measured 30.50s after the taint (1 "
            "evicted while the fault was in)");
  m.not_ready_after = 60;
  m.first_evicted_after.reset();
  const std::string late = ExpectationNote(e, m);
  EXPECT_NE(late.find("measured 60.00s, later than the settings allow"), std::string::npos) << late;
  EXPECT_NE(late.find("no eviction while the fault was in"), std::string::npos) << late;
  m.not_ready_after = 5;
  EXPECT_NE(ExpectationNote(e, m).find("earlier than the settings say"), std::string::npos);

  NodeExpectation unknown;
  unknown.grace_source = "unknown: no kube-controller-manager pod in kube-system";
  unknown.renew_source = "the node's lease could not be read: forbidden";
  unknown.pods_problem = "the node's pods could not be read: forbidden";
  EXPECT_EQ(ExpectationNote(unknown, NodeStages{}),
            "expected from the cluster's settings: NotReady: not known (grace: unknown: no "
            "kube-controller-manager pod in kube-system; renew: the node's lease could not be "
            "read: forbidden); evictions: the node's pods could not be read: forbidden");
  NodeExpectation empty = e;
  empty.pods = 0;
  EXPECT_NE(
      ExpectationNote(empty, NodeStages{}).find("evictions: none expected (no pod on the node)"),
      std::string::npos);
}

}  // namespace
}  // namespace gameday
