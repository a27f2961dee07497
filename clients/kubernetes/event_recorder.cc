#include "clients/kubernetes/event_recorder.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "clients/kubernetes/credentials.h"

namespace gameday {
namespace {

std::string EventNamespace(const EventObject& object) {
  return object.ns.empty() ? "default" : object.ns;
}

// "Pod" -> "pods", as the combined message counts them.
std::string Plural(const std::string& kind) {
  std::string s = kind;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s.empty() ? "objects" : s + "s";
}

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return host;
}

}  // namespace

// ---- EventAggregator -----------------------------------------------------------------------

bool EventAggregator::Add(const EventNote& note) {
  const std::string ns = EventNamespace(note.object);
  Entry& e = entries_[Key{ns, note.reason, note.type, note.object.kind, note.group}];
  if (++e.seen <= individual_) return true;
  CombinedEvent& c = e.combined;
  if (c.count == 0) {
    c.ns = ns;
    c.kind = note.object.kind;
    c.reason = note.reason;
    c.type = note.type;
    c.group = note.group;
    c.first = note.time;
  }
  ++c.count;
  c.last = std::max(c.last, note.time);
  c.message = note.group_text + ": " + note.action + " " + std::to_string(c.count) + " more " +
              Plural(note.object.kind) + " (combined from similar events)";
  return false;
}

std::vector<CombinedEvent> EventAggregator::Due(MonoTime now, bool force) {
  std::vector<CombinedEvent> due;
  for (auto& [key, e] : entries_) {
    if (e.combined.count <= e.sent_count) continue;
    if (!force && e.ever_sent && now - e.last_sent < interval_) continue;
    e.ever_sent = true;
    e.last_sent = now;
    due.push_back(e.combined);
  }
  return due;
}

void EventAggregator::Sent(const CombinedEvent& event, const std::string& name, bool failed) {
  auto it = entries_.find(Key{event.ns, event.reason, event.type, event.kind, event.group});
  if (it == entries_.end()) return;
  Entry& e = it->second;
  e.combined.name = name;
  if (!failed) e.sent_count = std::max(e.sent_count, event.count);
}

size_t EventAggregator::Pending() const {
  return std::count_if(entries_.begin(), entries_.end(), [](const auto& kv) {
    return kv.second.combined.count > kv.second.sent_count;
  });
}

// ---- EventRecorder -------------------------------------------------------------------------

EventRecorder::EventRecorder(std::unique_ptr<EventSink> sink, Options options)
    : sink_(std::move(sink)),
      options_(std::move(options)),
      aggregator_(options_.individual, options_.combine_interval),
      thread_([this](std::stop_token stop) { Run(stop); }) {}

EventRecorder::~EventRecorder() {
  thread_.request_stop();
  cv_.notify_all();
  thread_.join();
}

void EventRecorder::Record(EventNote note) {
  {
    std::lock_guard lock(mu_);
    ++stats_.recorded;
    if (stats_.forbidden || queue_.size() >= options_.queue_capacity) {
      ++stats_.dropped;
      return;
    }
    queue_.push_back(std::move(note));
  }
  cv_.notify_all();
}

bool EventRecorder::IdleLocked() const {
  return queue_.empty() && !busy_ && (pending_combined_ == 0 || stats_.forbidden);
}

bool EventRecorder::Flush(Duration max_wait) {
  Clock& clock = *options_.clock;
  std::unique_lock lock(mu_);
  const MonoTime deadline = clock.Now() + std::max(Duration{0}, max_wait);
  ++flushing_;
  flush_deadline_ = std::max(flush_deadline_, deadline);
  cv_.notify_all();
  while (!IdleLocked()) {
    const MonoTime now = clock.Now();
    if (now >= deadline) break;
    cv_.wait_for(lock, std::min<Duration>(deadline - now, std::chrono::milliseconds(10)));
  }
  --flushing_;
  return IdleLocked();
}

EventRecorder::Stats EventRecorder::GetStats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void EventRecorder::Run(std::stop_token stop) {
  Clock& clock = *options_.clock;
  // A request may take the usual timeout, or what is left of a flush.
  auto timeout = [&]() {
    std::lock_guard lock(mu_);
    if (flushing_ == 0) return options_.request_timeout;
    const Duration left = flush_deadline_ - clock.Now();
    return std::clamp<Duration>(left, std::chrono::milliseconds(10), options_.request_timeout);
  };
  auto on_failure = [&](const Status& st) {
    std::string line;  // logged after the lock is released: the log may take locks of its own
    {
      std::lock_guard lock(mu_);
      if (st.code() == Status::Code::kPermissionDenied) {
        if (!stats_.forbidden) {
          stats_.forbidden = true;
          line = "gameday: Kubernetes Events are not recorded from now on: " + st.message();
        }
        stats_.dropped += queue_.size() + 1;
        queue_.clear();
      } else if (st.code() != Status::Code::kAborted) {
        ++stats_.failed;
      }
    }
    if (line.empty()) return;
    if (options_.log) {
      options_.log(line);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };

  while (!stop.stop_requested()) {
    std::optional<EventNote> note;
    bool force = false;
    {
      std::unique_lock lock(mu_);
      if (queue_.empty() && (flushing_ == 0 || pending_combined_ == 0)) {
        // Nothing to post: look again for due combined events now and then.
        cv_.wait_for(lock, std::chrono::milliseconds(100));
      }
      if (stop.stop_requested()) return;
      if (!queue_.empty()) {
        note = std::move(queue_.front());
        queue_.pop_front();
      }
      force = flushing_ > 0 && queue_.empty();
      busy_ = true;
    }
    if (note) {
      if (aggregator_.Add(*note)) {
        const Status st = sink_->Post(*note, timeout(), stop);
        if (st.ok()) {
          std::lock_guard lock(mu_);
          ++stats_.posted;
        } else {
          on_failure(st);
        }
      } else {
        std::lock_guard lock(mu_);
        ++stats_.combined;
      }
    }
    bool forbidden;
    {
      std::lock_guard lock(mu_);
      forbidden = stats_.forbidden;
    }
    if (!forbidden) {
      for (const CombinedEvent& c : aggregator_.Due(clock.Now(), force)) {
        if (stop.stop_requested()) return;
        Result<std::string> name = sink_->PostCombined(c, timeout(), stop);
        aggregator_.Sent(c, name.ok() ? *name : c.name, !name.ok());
        if (name.ok()) {
          std::lock_guard lock(mu_);
          ++stats_.combined_updates;
        } else {
          on_failure(name.status());
          break;
        }
      }
    }
    {
      std::lock_guard lock(mu_);
      pending_combined_ = aggregator_.Pending();
      busy_ = false;
    }
    cv_.notify_all();
    // A combined event that failed during a flush is not retried in a tight loop.
    if (force && pending_combined_ > 0) clock.SleepFor(std::chrono::milliseconds(50), stop);
  }
}

// ---- The API server as the sink ------------------------------------------------------------

std::string KubeEventBody(const EventObject& object, const std::string& reason,
                          const std::string& message, WallTime now, const std::string& type) {
  const std::string ns = EventNamespace(object);
  const std::string host = HostName();
  const std::string ts = FormatKubeTime(now);
  const std::string micro = FormatKubeTime(now, /*micros=*/true);
  std::string involved = "{\"apiVersion\":" + JsonQuote(object.api_version) +
                         ",\"kind\":" + JsonQuote(object.kind) +
                         ",\"name\":" + JsonQuote(object.name);
  if (!object.ns.empty()) involved += ",\"namespace\":" + JsonQuote(object.ns);
  if (!object.uid.empty()) involved += ",\"uid\":" + JsonQuote(object.uid);
  involved += "}";
  // Event names must be unique; generateName lets the server pick the suffix.
  const std::string prefix = object.name.substr(0, 200) + ".gameday-";
  return "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"generateName\":" +
         JsonQuote(prefix) + ",\"namespace\":" + JsonQuote(ns) +
         ",\"labels\":{\"app.kubernetes.io/managed-by\":\"gameday\"}},\"involvedObject\":" +
         involved + ",\"reason\":" + JsonQuote(reason) +
         ",\"message\":" + JsonQuote(message.substr(0, 1000)) + ",\"type\":" + JsonQuote(type) +
         ",\"source\":{\"component\":\"gameday\"" +
         (host.empty() ? std::string() : ",\"host\":" + JsonQuote(host)) +
         "},\"firstTimestamp\":" + JsonQuote(ts) + ",\"lastTimestamp\":" + JsonQuote(ts) +
         ",\"eventTime\":" + JsonQuote(micro) +
         ",\"count\":1,\"action\":" + JsonQuote(reason == "ChaosReverted" ? "Revert" : "Inject") +
         ",\"reportingComponent\":\"gameday\",\"reportingInstance\":" +
         JsonQuote(host.empty() ? "gameday" : host) + "}";
}

namespace {

class KubeEventSink : public EventSink {
 public:
  explicit KubeEventSink(std::shared_ptr<KubeClient> client) : client_(std::move(client)) {}

  Status Post(const EventNote& note, Duration timeout, std::stop_token stop) override {
    KubeRequest req;
    req.verb = "create";
    req.ref = ResourceRef::Core("events", EventNamespace(note.object));
    req.body = KubeEventBody(note.object, note.reason, note.message, note.time, note.type);
    req.timeout = timeout;
    req.max_attempts = 3;
    req.stop = stop;
    return client_->Call(req).status();
  }

  Result<std::string> PostCombined(const CombinedEvent& event, Duration timeout,
                                   std::stop_token stop) override {
    // A name of our own: a create whose answer was lost finds its Event on the next try.
    const std::string name =
        event.name.empty() ? "gameday-combined." +
                                 KubeNameHash(event.group + '\n' + event.reason + '\n' +
                                                  event.type + '\n' + event.kind + '\n' + event.ns,
                                              16)
                           : event.name;
    if (!event.name.empty()) {
      Status patched = Patch(event, name, timeout, stop);
      if (patched.code() != Status::Code::kNotFound) {
        if (!patched.ok()) return patched;
        return name;
      }
      // Deleted meanwhile (Events expire): made again below.
    }
    Status created = Create(event, name, timeout, stop);
    if (created.code() == Status::Code::kFailedPrecondition) {  // 409: it exists already
      created = Patch(event, name, timeout, stop);
    }
    if (!created.ok()) return created;
    return name;
  }

 private:
  // A legacy-style Event (no eventTime): its count, message and lastTimestamp may change, as
  // client-go's own recorder updates them; `kubectl get events -n NS` shows the count.
  Status Create(const CombinedEvent& event, const std::string& name, Duration timeout,
                std::stop_token stop) {
    const std::string host = HostName();
    KubeRequest req;
    req.verb = "create";
    req.ref = ResourceRef::Core("events", event.ns);
    req.body =
        "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":" + JsonQuote(name) +
        ",\"namespace\":" + JsonQuote(event.ns) +
        ",\"labels\":{\"app.kubernetes.io/managed-by\":\"gameday\"}}," +
        "\"involvedObject\":{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"name\":" +
        JsonQuote(event.ns) + ",\"namespace\":" + JsonQuote(event.ns) +
        "},\"reason\":" + JsonQuote(event.reason) +
        ",\"message\":" + JsonQuote(event.message.substr(0, 1000)) +
        ",\"type\":" + JsonQuote(event.type) + ",\"source\":{\"component\":\"gameday\"" +
        (host.empty() ? std::string() : ",\"host\":" + JsonQuote(host)) +
        "},\"firstTimestamp\":" + JsonQuote(FormatKubeTime(event.first)) +
        ",\"lastTimestamp\":" + JsonQuote(FormatKubeTime(event.last)) +
        ",\"count\":" + std::to_string(event.count) + "}";
    req.timeout = timeout;
    req.max_attempts = 3;
    req.stop = stop;
    return client_->Call(req).status();
  }

  Status Patch(const CombinedEvent& event, const std::string& name, Duration timeout,
               std::stop_token stop) {
    KubeRequest req;
    req.verb = "patch";
    req.ref = ResourceRef::Core("events", event.ns, name);
    req.content_type = "application/merge-patch+json";
    req.body = "{\"count\":" + std::to_string(event.count) +
               ",\"message\":" + JsonQuote(event.message.substr(0, 1000)) +
               ",\"lastTimestamp\":" + JsonQuote(FormatKubeTime(event.last)) + "}";
    req.timeout = timeout;
    req.max_attempts = 3;
    req.stop = stop;
    return client_->Call(req).status();
  }

  std::shared_ptr<KubeClient> client_;
};

}  // namespace

std::unique_ptr<EventSink> MakeKubeEventSink(std::shared_ptr<KubeClient> client) {
  return std::make_unique<KubeEventSink>(std::move(client));
}

}  // namespace gameday
