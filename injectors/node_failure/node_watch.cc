#include "injectors/node_failure/node_watch.h"

#include <algorithm>

#include "experiments/spec_reader.h"  // FormatDuration

namespace gameday {
namespace {

constexpr Duration kReadTimeout = std::chrono::seconds(5);

Result<NodeState> ReadNode(KubeClient& client, const std::string& node, std::stop_token stop) {
  KubeRequest req;
  req.ref = ResourceRef::Core("nodes", "", node);
  req.timeout = kReadTimeout;
  req.max_attempts = 1;  // the next poll is the retry
  req.stop = std::move(stop);
  Result<rapidjson::Document> doc = client.CallJson(req);
  if (!doc.ok()) return doc.status();
  return ReadNodeState(*doc);
}

// The uids of `evictable` still on the node and not terminating; nullopt when the list failed.
std::optional<std::set<std::string>> PodsStillOn(KubeClient& client, const std::string& node,
                                                 const std::set<std::string>& evictable) {
  ListOptions opts;
  opts.field_selector = "spec.nodeName=" + node;
  opts.timeout = kReadTimeout;
  std::set<std::string> still;
  Result<std::string> listed =
      client.List(ResourceRef::Core("pods"), opts, [&](const rapidjson::Value& pod) {
        const std::string uid = JsonPathString(pod, {"metadata", "uid"});
        if (evictable.count(uid) != 0 &&
            JsonPath(pod, {"metadata", "deletionTimestamp"}) == nullptr) {
          still.insert(uid);
        }
        return Status::Ok();
      });
  if (!listed.ok()) return std::nullopt;
  return still;
}

std::string ReadyText(const NodeState& s) {
  return std::string(ToString(s.ready)) + (s.reason.empty() ? "" : " (" + s.reason + ")");
}

}  // namespace

NodeWatchBook::~NodeWatchBook() {
  std::map<std::string, std::unique_ptr<Watch>> watches;
  {
    std::lock_guard lock(mu_);
    watches.swap(watches_);
  }
  watches.clear();  // each jthread asks its loop to stop and joins
}

void NodeWatchBook::Start(const std::string& id, std::shared_ptr<KubeClient> client,
                          const std::string& node, NodeExpectation expected, Clock* clock,
                          MonoTime injected, Duration limit) {
  auto w = std::make_unique<Watch>();
  w->node = node;
  std::set<std::string> evictable = expected.evictable_uids;
  w->seen->expected = std::move(expected);
  const int64_t max_reads = std::max<int64_t>(1, limit / kPoll);
  w->thread =
      std::jthread([client = std::move(client), node, evictable = std::move(evictable), clock,
                    injected, max_reads, mu = w->mu, seen = w->seen](std::stop_token stop) {
        bool tainted = false;
        for (int64_t i = 0; i < max_reads && !stop.stop_requested(); ++i) {
          Result<NodeState> s = ReadNode(*client, node, stop);
          double at = ToSeconds(clock->Now() - injected);
          bool done = false;
          if (s.ok()) {
            std::lock_guard lock(*mu);
            if (!seen->not_ready_after && s->ready != NodeReady::kTrue) {
              seen->not_ready_after = at;
              seen->not_ready_as = ReadyText(*s);
            }
            if (!seen->tainted_after && !s->lost_taint.empty()) {
              seen->tainted_after = at;
              seen->taint = s->lost_taint;
            }
            tainted = seen->tainted_after.has_value();
            done = seen->not_ready_after && tainted && seen->evicted == evictable.size();
          }
          if (tainted && !done && i % kPodPollEvery == 0) {
            std::optional<std::set<std::string>> still = PodsStillOn(*client, node, evictable);
            at = ToSeconds(clock->Now() - injected);
            if (still) {
              std::lock_guard lock(*mu);
              seen->evicted = evictable.size() - still->size();
              if (seen->evicted > 0 && !seen->first_evicted_after) seen->first_evicted_after = at;
              done = seen->not_ready_after && seen->evicted == evictable.size();
            }
          }
          if (done || !clock->SleepFor(kPoll, stop)) return;
        }
      });
  std::unique_ptr<Watch> old;
  {
    std::lock_guard lock(mu_);
    auto& slot = watches_[id];
    old = std::move(slot);
    slot = std::move(w);
  }
  // `old` joins here, outside the lock.
}

std::optional<NodeObservation> NodeWatchBook::Stop(const std::string& id) {
  Watch* w = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = watches_.find(id);
    if (it == watches_.end()) return std::nullopt;
    w = it->second.get();
  }
  // Only Forget (after a successful revert, from the same revert call) removes the entry, so
  // `w` stays valid; reverts of one fault never run at once.
  if (w->thread.joinable()) {
    w->thread.request_stop();
    w->thread.join();
  }
  std::lock_guard lock(*w->mu);
  return *w->seen;
}

void NodeWatchBook::Forget(const std::string& id) {
  std::unique_ptr<Watch> w;
  {
    std::lock_guard lock(mu_);
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    w = std::move(it->second);
    watches_.erase(it);
  }
}

std::set<std::string> NodeWatchBook::FailedNodes() const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  for (const auto& [id, w] : watches_) out.insert(w->node);
  return out;
}

std::optional<double> WaitForNodeReady(KubeClient& client, const std::string& node,
                                       const std::string& uid, Clock& clock, MonoTime start,
                                       Duration wait, Duration poll, std::string* problem) {
  const int64_t max_reads = wait / poll + 1;
  std::string last = "not read";
  for (int64_t i = 0; i < max_reads; ++i) {
    Result<NodeState> s = ReadNode(client, node, std::stop_token());
    const double at = ToSeconds(clock.Now() - start);
    if (!s.ok()) {
      if (s.status().code() == Status::Code::kNotFound) {
        *problem = "the node is gone";
        return std::nullopt;
      }
      last = s.status().message().substr(0, 200);
    } else if (!uid.empty() && s->uid != uid) {
      *problem = "the node was replaced (another uid)";
      return std::nullopt;
    } else if (s->ready == NodeReady::kTrue) {
      return at;
    } else {
      last = "Ready " + ReadyText(*s);
    }
    if (clock.Now() - start >= wait) break;
    clock.SleepFor(poll, std::stop_token());
  }
  *problem = "not Ready within " + FormatDuration(wait) + "; last seen: " + last;
  return std::nullopt;
}

}  // namespace gameday
