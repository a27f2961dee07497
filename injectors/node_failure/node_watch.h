#pragma once

// Watches a failed node through the Kubernetes API while its fault is in: one background poll
// per fault, from the moment the fault is confirmed until its revert (or a bound), recording when
// the node's Ready condition first went False or Unknown and when the node controller's NoExecute
// taint first appeared. The book is the injector kind's, shared by every injector it parses, so
// the kind's Revert (which gets only the revert record) finds what was seen; a revert in a later
// process (`gameday recover`) finds nothing and says so.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>

#include "clients/kubernetes/client.h"
#include "experiments/clock.h"
#include "injectors/node_failure/node_expectation.h"
#include "injectors/node_failure/node_failure_parts.h"

namespace gameday {

// The first observations of one watch, as times since the fault was confirmed.
struct NodeObservation {
  std::optional<double> not_ready_after;
  std::string not_ready_as;  // "Unknown (NodeStatusUnknown)"
  std::optional<double> tainted_after;
  std::string taint;
  std::optional<double> first_evicted_after;  // the first of the watched pods deleted
  size_t evicted = 0;                         // watched pods deleted while the fault was in
  NodeExpectation expected;                   // read before the fault (Start's)
};

class NodeWatchBook {
 public:
  // How often a node is read.
  static constexpr Duration kPoll = std::chrono::milliseconds(250);

  NodeWatchBook() = default;
  ~NodeWatchBook();  // stops and joins every watch
  NodeWatchBook(const NodeWatchBook&) = delete;
  NodeWatchBook& operator=(const NodeWatchBook&) = delete;

  // Starts watching `node` for fault `id` (replacing an earlier watch of that id). `injected` is
  // when the fault was confirmed; the watch ends by itself after `limit` (at most limit / kPoll
  // reads of the node) or once everything was seen. Once the node is tainted, the pods on it
  // are listed every kPodPollEvery reads, and a pod of `expected.evictable_uids` that is
  // terminating or gone counts as evicted.
  void Start(const std::string& id, std::shared_ptr<KubeClient> client, const std::string& node,
             NodeExpectation expected, Clock* clock, MonoTime injected, Duration limit);
  static constexpr int kPodPollEvery = 4;  // node reads per pod list
  // Stops the watch of `id` and returns what it saw; nullopt when this process never watched it.
  // The entry stays (a failed revert is tried again) until Forget.
  std::optional<NodeObservation> Stop(const std::string& id);
  void Forget(const std::string& id);
  // The nodes whose fault is in (watched, not yet forgotten).
  std::set<std::string> FailedNodes() const;

 private:
  struct Watch {
    std::string node;
    std::jthread thread;
    std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
    std::shared_ptr<NodeObservation> seen = std::make_shared<NodeObservation>();
  };
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Watch>> watches_;
};

// Reads `node` every `poll` until its Ready condition is True or `wait` passed (at most
// wait / poll + 1 reads), from `start` (the revert's end). Seconds until it was seen Ready, or
// nullopt with the reason in `*problem`. `uid`, when not empty, must still be the node's.
std::optional<double> WaitForNodeReady(KubeClient& client, const std::string& node,
                                       const std::string& uid, Clock& clock, MonoTime start,
                                       Duration wait, Duration poll, std::string* problem);

}  // namespace gameday
