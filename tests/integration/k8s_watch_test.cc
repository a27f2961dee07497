// ResourceWatch on a real control plane: a killed pod shows up as deleted, its replacement as
// created, scheduled and Ready, and a cordon of a node as cordoned/uncordoned - in that order and
// on the caller's time axis.

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/watch.h"
#include "tests/integration/k8s_plane.h"
#include "tests/integration/k8s_test_util.h"

namespace gameday {
namespace {

using gameday::testing::K8sPlane;
using gameday::testing::WaitUntil;
using std::chrono::seconds;

size_t IndexOf(const std::vector<TimelineEvent>& events, const std::string& message) {
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].message == message) return i;
  }
  return events.size();
}

TEST(K8sWatchTest, RecordsPodReplacementAndNodeCordon) {
  GAMEDAY_REQUIRE_K8S_PLANE();
  auto admin = gameday::testing::AdminClient();
  ASSERT_NE(admin, nullptr);
  const std::string ns = "watched";
  ASSERT_TRUE(gameday::testing::CreateNamespace(*admin, ns).ok());
  ASSERT_TRUE(gameday::testing::CreateDeployment(*admin, ns, "web", 2).ok());
  ASSERT_TRUE(gameday::testing::DeploymentReady(*admin, ns, "web", 2, seconds(60)));
  const auto before = gameday::testing::ListPods(*admin, ns, "app=web");
  ASSERT_EQ(before.size(), 2u);

  ResourceWatchOptions options;
  options.namespaces = {ns};
  options.label_selector = "app=web";
  ResourceWatch watch(admin, options);
  const MonoTime epoch = Clock::Real().Now();
  watch.Start(epoch);
  EXPECT_TRUE(watch.Events().empty()) << "the state at Start() is the baseline";

  // Kill one pod.
  KubeRequest del;
  del.verb = "delete";
  del.ref = ResourceRef::Core("pods", ns, before[0].name);
  ASSERT_TRUE(admin->Call(del).ok());
  std::string replacement;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& p : gameday::testing::ListPods(*admin, ns, "app=web")) {
          if (p.name != before[0].name && p.name != before[1].name && p.phase == "Running") {
            replacement = p.name;
          }
        }
        return !replacement.empty() && gameday::testing::ReadyReplicas(*admin, ns, "web") == 2;
      },
      seconds(30)));

  // Cordon and uncordon a node.
  for (const char* value : {"true", "null"}) {
    KubeRequest patch;
    patch.verb = "patch";
    patch.ref = ResourceRef::Core("nodes", "", "kwok-node-2");
    patch.content_type = "application/merge-patch+json";
    patch.body = std::string("{\"spec\":{\"unschedulable\":") + value + "}}";
    ASSERT_TRUE(admin->Call(patch).ok());
  }
  const std::string pod = "pod " + ns + "/";
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ev = watch.Events();
        return IndexOf(ev, pod + replacement + " Ready") < ev.size() &&
               IndexOf(ev, "node kwok-node-2 uncordoned") < ev.size();
      },
      seconds(10)));
  watch.Stop();
  const auto events = watch.Events();
  std::string all;
  for (const auto& e : events) all += std::to_string(e.t) + " " + e.message + "\n";

  const size_t deleted = IndexOf(events, pod + before[0].name + " deleted");
  const size_t terminating = IndexOf(events, pod + before[0].name + " terminating");
  const size_t created = IndexOf(events, pod + replacement + " created");
  const size_t ready = IndexOf(events, pod + replacement + " Ready");
  ASSERT_LT(deleted, events.size()) << all;
  ASSERT_LT(created, events.size()) << all;
  ASSERT_LT(ready, events.size()) << all;
  EXPECT_LT(terminating, deleted) << all;
  EXPECT_LT(created, ready) << all;
  EXPECT_LT(IndexOf(events, pod + replacement + " scheduled to "), events.size() + 1);
  bool scheduled = false;
  for (const auto& e : events) {
    scheduled =
        scheduled || e.message.rfind(pod + replacement + " scheduled to kwok-node-", 0) == 0;
  }
  EXPECT_TRUE(scheduled) << all;
  EXPECT_LT(IndexOf(events, "node kwok-node-2 cordoned"),
            IndexOf(events, "node kwok-node-2 uncordoned"))
      << all;
  // The other pod did nothing worth reporting.
  for (const auto& e : events) {
    EXPECT_EQ(e.message.find(before[1].name), std::string::npos) << all;
    EXPECT_GE(e.t, 0);
    EXPECT_LT(e.t, 60);
  }
  EXPECT_TRUE(
      std::is_sorted(events.begin(), events.end(),
                     [](const TimelineEvent& a, const TimelineEvent& b) { return a.t < b.t; }));
}

}  // namespace
}  // namespace gameday
