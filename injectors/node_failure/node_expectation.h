#pragma once

// What the cluster is configured to do when a node stops reporting, read from the cluster itself
// before the fault, so that the result sets the measured stages (node_watch.h) against it:
//   NotReady   the node controller marks the node NotReady (Ready Unknown) once the node's lease
//              has not been renewed for --node-monitor-grace-period. The kubelet renews the lease
//              every quarter of its duration and the controller looks every
//              --node-monitor-period (5 s), so NotReady comes between grace - renew and
//              grace + 5 s after the fault.
//   taint      node.kubernetes.io/unreachable:NoExecute, at the same moment.
//   evictions  each pod on the node is deleted once it has tolerated that taint for its
//              tolerationSeconds (the DefaultTolerationSeconds admission gives pods 300 s); a pod
//              that tolerates it without a limit (a DaemonSet's) stays.
// Everything read here is hostile input: bounded, checked, and a value that cannot be read says
// why instead of guessing.

#include <rapidjson/document.h>

#include <optional>
#include <set>
#include <string>

#include "clients/kubernetes/client.h"
#include "experiments/clock.h"

namespace gameday {

// The taint the node controller puts on a node whose Ready condition is Unknown.
inline constexpr const char* kUnreachableTaint = "node.kubernetes.io/unreachable";
// --node-monitor-period's default; it is not visible through the API and rarely changed.
inline constexpr double kNodeMonitorPeriod_s = 5;
// The pods on the node whose eviction the watch looks for, at most.
inline constexpr size_t kMaxWatchedPods = 256;

struct NodeExpectation {
  std::optional<double> grace_s;  // --node-monitor-grace-period
  std::string grace_source;       // where it was read, or why it is unknown
  std::optional<double> renew_s;  // how often the kubelet renews the node's lease
  std::string renew_source;
  size_t pods = 0;           // pods on the node when the fault went in (not terminating)
  size_t without_limit = 0;  // of those, tolerating the taint without a limit
  std::optional<double> first_eviction_s;  // the smallest tolerationSeconds of the others
  std::optional<double> last_eviction_s;   // the largest
  std::string pods_problem;                // why the pods could not be read, if they could not
  std::set<std::string> evictable_uids;    // the pods that should be evicted (at most 256)

  // The window in which NotReady is expected, in seconds after the inject; nullopt when the
  // grace period or the renew interval is unknown.
  std::optional<std::pair<double, double>> NotReadyWindow() const;
};

// A Go duration ("40s", "1m0s", "1m30s", "500ms", "1h0m0s"), at most 24 h; nullopt otherwise.
std::optional<Duration> ParseGoDuration(const std::string& text);
// --node-monitor-grace-period from a kube-controller-manager pod's containers' command and
// args (at most 256 arguments each are looked at); nullopt when not set or not readable.
std::optional<double> GraceFlagOf(const rapidjson::Value& pod);
// The grace period's default for a server version (/version's major and minor, "1" and "36+"):
// 50 s from v1.32 on (kubernetes PR 126287), 40 s before; nullopt for what is not a version.
std::optional<double> DefaultGraceFor(const std::string& major, const std::string& minor);
// How long `pod` tolerates the NoExecute taint `key` (with an empty value), as the taint
// eviction controller decides it: no matching toleration = 0 (evicted at once); else the
// smallest tolerationSeconds among the matching ones (<= 0 counts as 0); nullopt when none of
// them has one (tolerated without a limit).
std::optional<double> ToleratesFor(const rapidjson::Value& pod, const std::string& key);
// Counts one pod (an item of a pod list) into `e`; terminating pods are skipped.
void AddNodePod(const rapidjson::Value& pod, NodeExpectation* e);

// Reads the expectation for `node` from the cluster: the grace period from `plan_grace` when the
// plan states it, else from the kube-controller-manager pod's flag (kube-system, label
// component=kube-controller-manager), else the server version's default; the renew interval from
// the node's Lease; the pods on the node. Never fails: what cannot be read says why.
NodeExpectation ReadNodeExpectation(KubeClient& client, const std::string& node,
                                    std::optional<double> plan_grace);

// What was measured, to set against the expectation.
struct NodeStages {
  std::optional<double> not_ready_after;
  std::optional<double> tainted_after;
  std::optional<double> first_evicted_after;  // after the inject
  size_t evicted = 0;
};

// One clause for the revert note: the expected timeline, and how each measured stage compares
// ("expected from the cluster's settings: NotReady 40-55s after the inject (grace 50s, the
// default of v1.36; lease renewed every 10s; checked every 5s): measured 47.3s, as expected; ...").
std::string ExpectationNote(const NodeExpectation& e, const NodeStages& measured);

}  // namespace gameday
