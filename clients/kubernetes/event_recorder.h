#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>

#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

class KubeClient;

// An object an Event is about.
struct EventObject {
  std::string api_version = "v1";
  std::string kind;  // Pod, Node
  std::string ns;    // empty for cluster-scoped objects (the Event then goes to "default")
  std::string name;
  std::string uid;
};

// One Event to record.
struct EventNote {
  EventObject object;
  std::string reason;  // ChaosInjected, ChaosReverted
  std::string message;
  std::string type = "Warning";
  WallTime time{};
  // Similar events share a group (a run's step): the key is (the Event's namespace, reason, type,
  // the object's kind, group).
  std::string group;
  // For the combined Event's message: "<group_text>: <action> 990 more pods (combined from
  // similar events)".
  std::string group_text;
  std::string action;
};

// The Event that stands for every similar event past the first few: one per key, its count and
// message brought up to date now and then.
struct CombinedEvent {
  std::string ns;
  std::string kind;  // of the objects combined
  std::string reason;
  std::string type;
  std::string group;
  std::string name;   // empty until the server has it
  int64_t count = 0;  // events combined so far
  std::string message;
  WallTime first{};
  WallTime last{};
};

// The aggregation rule, without threads or I/O (so it is tested alone): the first `individual`
// similar events are posted one by one, the rest counted into one CombinedEvent per key, which is
// sent when it first appears and then at most every `interval` while it changes, and at a flush.
class EventAggregator {
 public:
  EventAggregator(int individual, Duration interval)
      : individual_(individual), interval_(interval) {}

  // True: post `note` on its own; false: it was counted into its combined event.
  bool Add(const EventNote& note);
  // The combined events to send now (all changed ones when `force`), marked as sent at `now`.
  // Send them and report back with Sent.
  std::vector<CombinedEvent> Due(MonoTime now, bool force);
  // What the server answered for a combined event from Due: its name (empty = send again next
  // time), and whether it must be sent again because it failed.
  void Sent(const CombinedEvent& event, const std::string& name, bool failed);
  // Combined events that changed since they were last sent.
  size_t Pending() const;

 private:
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  struct Entry {
    int64_t seen = 0;
    CombinedEvent combined;
    int64_t sent_count = 0;  // the count the server has
    bool ever_sent = false;
    MonoTime last_sent{};
  };
  const int individual_;
  const Duration interval_;
  std::map<Key, Entry> entries_;
};

// Where a recorder's Events go: the API server (KubeEventSink), or a fake in tests. Called from
// the recorder's one thread only.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual Status Post(const EventNote& note, Duration timeout, std::stop_token stop) = 0;
  // Creates the combined event (event.name empty) or updates it; returns its name.
  virtual Result<std::string> PostCombined(const CombinedEvent& event, Duration timeout,
                                           std::stop_token stop) = 0;
};

// Posts Events in the background so that whoever records one never waits for the API server.
// Best effort: a full queue drops (and counts) the event; a 403 (no right to create Events) logs
// one line and stops posting for good; other failures are counted and forgotten.
class EventRecorder {
 public:
  struct Options {
    Clock* clock = &Clock::Real();
    size_t queue_capacity = 4096;
    int individual = 10;  // similar events posted one by one before they are combined
    Duration combine_interval = std::chrono::seconds(3);
    Duration request_timeout = std::chrono::seconds(5);
    // Where the single line about a 403 goes (stderr when unset).
    std::function<void(const std::string&)> log;
  };
  struct Stats {
    uint64_t recorded = 0;
    uint64_t posted = 0;            // individual Events created
    uint64_t combined = 0;          // events counted into a combined Event
    uint64_t combined_updates = 0;  // creates and updates of combined Events that succeeded
    uint64_t dropped = 0;           // queue full, or posting stopped after a 403
    uint64_t failed = 0;            // the server refused or did not answer
    bool forbidden = false;
  };

  EventRecorder(std::unique_ptr<EventSink> sink, Options options);
  // Stops at once: what is still queued is abandoned, a request in flight is aborted.
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Never blocks on the API server.
  void Record(EventNote note);
  // Posts everything recorded so far, combined events brought up to date, within `max_wait`
  // (requests in flight are cut to what is left of it). Returns whether all of it went out.
  bool Flush(Duration max_wait);
  Stats GetStats() const;

 private:
  void Run(std::stop_token stop);
  bool IdleLocked() const;

  std::unique_ptr<EventSink> sink_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<EventNote> queue_;
  EventAggregator aggregator_;  // the sender thread's; its Pending read under mu_
  size_t pending_combined_ = 0;
  bool busy_ = false;
  int flushing_ = 0;
  MonoTime flush_deadline_{};
  Stats stats_;
  std::jthread thread_;  // last: started when everything else exists
};

// The JSON body of a core/v1 Event (source component "gameday") about `object`.
std::string KubeEventBody(const EventObject& object, const std::string& reason,
                          const std::string& message, WallTime now, const std::string& type);

// Sends a recorder's Events through `client`: individual ones like PostEvent, a combined one as
// a legacy-style Event (count, lastTimestamp) in its namespace about the Namespace, updated with
// a merge patch.
std::unique_ptr<EventSink> MakeKubeEventSink(std::shared_ptr<KubeClient> client);

}  // namespace gameday
