#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "clients/kubernetes/client.h"
#include "experiments/clock.h"
#include "experiments/result.h"

namespace gameday {

struct ResourceWatchOptions {
  // Pods of these namespaces (one watch each); empty = every namespace (one watch).
  std::vector<std::string> namespaces;
  std::string label_selector;  // for pods
  bool pods = true;
  bool nodes = true;
  // Wait between a broken watch and the next list + watch (the API server went away).
  Duration reconnect_delay = std::chrono::milliseconds(500);
  // Server-side lifetime of one watch request; it is renewed from the last resourceVersion.
  int watch_seconds = 300;
};

// Watches pods and nodes between Start() and Stop() and keeps what changed as TimelineEvents
// (source "kubernetes") on the experiment's time axis: "pod shop/web-abc deleted", "pod
// shop/web-xyz created", "pod shop/web-xyz scheduled to kwok-node-2", "pod shop/web-xyz Ready",
// "pod shop/web-xyz container web restarted (restart 1; last exit: Error, exit code 137)",
// "node kwok-node-1 NotReady", "node kwok-node-1 tainted node.kubernetes.io/unreachable:NoExecute",
// "node kwok-node-1 cordoned". The state at Start() is the baseline
// and yields no events. When a watch breaks (the API server is down) it re-lists after
// reconnect_delay and reports what changed meanwhile ("... (seen on re-list)"), so nothing is
// silently lost. Thread-safe.
class ResourceWatch {
 public:
  ResourceWatch(std::shared_ptr<KubeClient> client, ResourceWatchOptions options,
                Clock& clock = Clock::Real());
  ~ResourceWatch();
  ResourceWatch(const ResourceWatch&) = delete;
  ResourceWatch& operator=(const ResourceWatch&) = delete;

  // Lists (the baseline) and starts watching in background threads; times are seconds since
  // `epoch`. Returns once every baseline list is done or failed (failures become events and the
  // stream keeps retrying).
  void Start(MonoTime epoch);
  // Ends every watch (within about a second) and joins the threads. A second call does nothing.
  void Stop();
  // Everything recorded so far, in order of arrival.
  std::vector<TimelineEvent> Events() const;
  // Ok, or what a watch thread threw or the API server refused (403) (that stream stopped; the
  // others go on).
  Status Failure() const;

  // One object's state as far as events are concerned (exposed for unit tests).
  struct ContainerState {
    int64_t restarts = 0;   // status.containerStatuses[].restartCount
    std::string last_exit;  // lastState.terminated: "Error, exit code 137" ("" if none)
  };
  struct ObjectState {
    std::string uid;
    std::string node;            // pods: spec.nodeName
    std::string ready;           // "True", "False", "Unknown" or "" (Ready condition)
    bool terminating = false;    // pods
    bool unschedulable = false;  // nodes
    // Pods: by container name (at most kMaxContainers; init containers left out).
    std::map<std::string, ContainerState> containers;
    // Nodes: the taints the node lifecycle controller and the kubelet set, as "key:Effect"
    // (node.kubernetes.io/... only, at most kMaxTaints).
    std::set<std::string> taints;
  };
  static constexpr size_t kMaxContainers = 64;
  static constexpr size_t kMaxTaints = 32;
  // The events for `before` → `after` of a pod or node named `display` ("pod shop/web-1").
  // A null `before` is a creation, a null `after` a deletion.
  static std::vector<std::string> Describe(const std::string& kind, const std::string& display,
                                           const ObjectState* before, const ObjectState* after);
  static ObjectState StateOf(const std::string& kind, const rapidjson::Value& object);

 private:
  struct Stream;
  // A watch thread: WatchStream() behind a catch, so nothing it meets can std::terminate the run.
  void Run(Stream* stream, std::stop_token stop);
  void WatchStream(Stream* stream, std::stop_token stop);
  Status ListInto(Stream* stream, bool baseline, std::stop_token stop);
  // A refusal (403: the rights are missing) does not pass with time, unlike an API server that
  // is down: the stream ends, and Failure() says why, so the experiment ends in error.
  bool FailIfRefused(Stream* stream, const Status& st);
  void Add(const std::string& message);

  std::shared_ptr<KubeClient> client_;
  const ResourceWatchOptions options_;
  Clock& clock_;
  MonoTime epoch_{};
  mutable std::mutex mu_;
  std::vector<TimelineEvent> events_;
  Status failure_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::jthread> threads_;
  bool started_ = false;
};

}  // namespace gameday
