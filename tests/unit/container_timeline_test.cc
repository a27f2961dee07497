// container-kill's expected timeline from the pod's probes and the stages read from its status
// (injectors/container_kill/container_timeline.h), hostile shapes included.

#include "injectors/container_kill/container_timeline.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "clients/kubernetes/credentials.h"

namespace gameday {
namespace {

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

WallTime At(const char* t) { return *ParseKubeTime(t); }

TEST(ContainerTimelineTest, ProbesWithKubernetesDefaultsAndClamps) {
  const rapidjson::Document pod = Json(R"({"spec": {"containers": [
      {"name": "side"},
      {"name": "app", "readinessProbe": {"httpGet": {"path": "/"}, "periodSeconds": 2},
       "livenessProbe": {"periodSeconds": 1e9, "failureThreshold": -4, "timeoutSeconds": "x"}}]}})");
  const ContainerSettings app = ReadContainerSettings(pod, "app");
  ASSERT_TRUE(app.readiness.has_value());
  EXPECT_EQ(app.readiness->period_s, 2);
  EXPECT_EQ(app.readiness->failure, 3);
  EXPECT_EQ(app.readiness->success, 1);
  EXPECT_EQ(app.readiness->timeout_s, 1);
  ASSERT_TRUE(app.liveness.has_value());
  EXPECT_EQ(app.liveness->period_s, 3600);  // clamped
  EXPECT_EQ(app.liveness->failure, 1);
  EXPECT_EQ(app.liveness->timeout_s, 1);  // not a number: the default
  EXPECT_FALSE(app.startup.has_value());
  // "" is the first container.
  EXPECT_FALSE(ReadContainerSettings(pod, "").readiness.has_value());
  EXPECT_FALSE(ReadContainerSettings(pod, "nope").liveness.has_value());
  for (const char* bad : {R"({"spec": {"containers": {"name": "app"}}})", R"({"spec": 1})", "[]",
                          R"({"spec": {"containers": [1, "app", {"name": "app",
                              "livenessProbe": []}]}})"}) {
    const ContainerSettings s = ReadContainerSettings(Json(bad), "app");
    EXPECT_FALSE(s.liveness || s.readiness || s.startup) << bad;
  }
}

TEST(ContainerTimelineTest, StagesFromTheStatus) {
  const rapidjson::Document pod = Json(R"({"status": {
      "conditions": [{"type": "Ready", "status": "True",
                      "lastTransitionTime": "2026-12-02T10:00:04Z"}],
      "containerStatuses": [{"name": "app", "restartCount": 2, "ready": true,
        "state": {"running": {"startedAt": "2026-12-02T10:00:01Z"}},
        "lastState": {"terminated": {"reason": "Error\u0007", "exitCode": 137,
                                     "finishedAt": "2026-12-02T10:00:00Z"}}}]}})");
  const ContainerStages s = ReadContainerStages(pod, "app");
  EXPECT_EQ(s.restart_count, 2);
  EXPECT_EQ(s.died, At("2026-12-02T10:00:00Z"));
  EXPECT_EQ(s.died_as, "Error?, exit code 137");
  EXPECT_EQ(s.started, At("2026-12-02T10:00:01Z"));
  EXPECT_TRUE(s.ready);
  EXPECT_EQ(s.ready_since, At("2026-12-02T10:00:04Z"));
  // Hostile: a negative count, times that are not times, wrong types.
  const ContainerStages bad = ReadContainerStages(
      Json(R"({"status": {"containerStatuses": [{"name": "app", "restartCount": -1,
        "ready": "yes", "state": {"running": {"startedAt": 5}},
        "lastState": {"terminated": {"finishedAt": "yesterday"}}}]}})"),
      "app");
  EXPECT_FALSE(bad.restart_count.has_value());
  EXPECT_FALSE(bad.died || bad.started || bad.ready_since);
  EXPECT_FALSE(bad.ready);
  EXPECT_FALSE(ReadContainerStages(Json(R"({"status": []})"), "app").restart_count.has_value());
}

TEST(ContainerTimelineTest, ExpectedForAKill) {
  ContainerSettings s;
  ContainerStages before;
  before.restart_count = 0;
  const WallTime now = At("2026-12-02T10:00:00Z");
  EXPECT_EQ(ExpectedContainerTimeline(false, s, before, now),
            "expected from the pod's settings: restarted at once (no restart in the 10 minutes "
            "before), Ready again as it starts (no readiness probe)");
  s.readiness = ProbeSettings{};
  s.readiness->initial_delay_s = 3;
  s.readiness->period_s = 2;
  s.readiness->success = 2;
  before.died = At("2026-12-02T09:55:00Z");  // 5 minutes ago: back-off
  EXPECT_EQ(ExpectedContainerTimeline(false, s, before, now),
            "expected from the pod's settings: restarted after the kubelet's back-off (it also "
            "restarted within the last 10 minutes: 10s, doubling up to 5m), Ready again within 7s "
            "of the restart (readiness probe: first after 3s, every 2s, 2 successes needed)");
}

TEST(ContainerTimelineTest, ExpectedForAFreeze) {
  ContainerSettings s;
  EXPECT_EQ(ExpectedContainerTimeline(true, s, ContainerStages{}, WallTime{}),
            "expected from the pod's settings: stays Ready (no readiness probe: its Services keep "
            "sending to a hung container), never restarted (no liveness probe: hung until the "
            "revert)");
  s.readiness = ProbeSettings{0, 1, 1, 1, 3};
  s.liveness = ProbeSettings{0, 1, 1, 1, 3};
  EXPECT_EQ(ExpectedContainerTimeline(true, s, ContainerStages{}, WallTime{}),
            "expected from the pod's settings: NotReady within 4s of the freeze (3 failed "
            "readiness probes every 1s, each up to 1s; its Services stop sending to it), killed "
            "and restarted by the kubelet within 4s of the freeze (3 failed liveness probes every "
            "1s, each up to 1s)");
}

TEST(ContainerTimelineTest, MeasuredStages) {
  ContainerStages before;
  before.restart_count = 0;
  ContainerStages after;
  after.restart_count = 1;
  after.died = At("2026-12-02T10:00:03Z");
  after.died_as = "Error, exit code 137";
  after.started = At("2026-12-02T10:00:04Z");
  after.ready = true;
  after.ready_since = At("2026-12-02T10:00:06Z");
  EXPECT_EQ(MeasuredContainerStages(true, before, after, At("2026-12-02T10:00:00.400Z")),
            "measured (the kubelet's times, to the second): died (Error, exit code 137) 3s after "
            "the freeze (gameday's clock), restarted 1s after it died, Ready 2s after the restart");
  EXPECT_EQ(MeasuredContainerStages(false, before, after, std::nullopt),
            "measured (the kubelet's times, to the second): died (Error, exit code 137), "
            "restarted 1s after it died, Ready 2s after the restart");
  ContainerStages same = before;
  same.ready = true;
  EXPECT_EQ(MeasuredContainerStages(true, before, same, std::nullopt),
            "measured (the kubelet's times, to the second): not restarted while frozen, Ready at "
            "the revert");
  EXPECT_EQ(MeasuredContainerStages(false, before, same, std::nullopt),
            "measured (the kubelet's times, to the second): no restart seen");
}

}  // namespace
}  // namespace gameday
