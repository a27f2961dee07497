#include "clients/kubernetes/watch.h"

#include <rapidjson/document.h>

#include <condition_variable>
#include <string_view>

#include "clients/kubernetes/cluster.h"
#include "experiments/guarded.h"
#include "experiments/json.h"

namespace gameday {

struct ResourceWatch::Stream {
  std::string kind;  // "pod" or "node"
  ResourceRef ref;
  std::string label_selector;
  std::string resource_version;
  std::map<std::string, ObjectState> known;  // key: "ns/name" or node name
  // Start() waits for the baseline list of every stream.
  bool baseline_done = false;
};

namespace {

std::string KeyOf(const std::string& kind, const rapidjson::Value& obj) {
  std::string name = JsonPathString(obj, {"metadata", "name"});
  if (kind == "node") return name;
  return JsonPathString(obj, {"metadata", "namespace"}) + "/" + name;
}

// At most `max` bytes of `s`, with every byte outside printable ASCII as '?'.
std::string Printable(const std::string& s, size_t max) {
  std::string out = s.substr(0, max);
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

}  // namespace

ResourceWatch::ObjectState ResourceWatch::StateOf(const std::string& kind,
                                                  const rapidjson::Value& obj) {
  ObjectState s;
  s.uid = JsonPathString(obj, {"metadata", "uid"});
  if (const rapidjson::Value* conds = JsonPath(obj, {"status", "conditions"});
      conds && conds->IsArray()) {
    for (const rapidjson::Value& c : conds->GetArray()) {
      if (JsonString(c, "type") == "Ready") s.ready = JsonString(c, "status");
    }
  }
  if (kind == "pod") {
    s.node = JsonPathString(obj, {"spec", "nodeName"});
    s.terminating = JsonPath(obj, {"metadata", "deletionTimestamp"}) != nullptr;
    if (const rapidjson::Value* cs = JsonPath(obj, {"status", "containerStatuses"});
        cs && cs->IsArray()) {
      for (const rapidjson::Value& c : cs->GetArray()) {
        if (s.containers.size() >= kMaxContainers) break;
        const std::string name = JsonString(c, "name");
        if (!IsDns1123Label(name)) continue;
        ContainerState& state = s.containers[name];
        auto n = c.IsObject() ? c.FindMember("restartCount") : c.MemberEnd();
        if (n != c.MemberEnd() && n->value.IsInt64() && n->value.GetInt64() >= 0) {
          state.restarts = n->value.GetInt64();
        }
        if (const rapidjson::Value* t = JsonPath(c, {"lastState", "terminated"});
            t && t->IsObject()) {
          std::string reason = Printable(JsonString(*t, "reason"), 64);
          auto code = t->FindMember("exitCode");
          if (code != t->MemberEnd() && code->value.IsInt()) {
            if (!reason.empty()) reason += ", ";
            reason += "exit code " + std::to_string(code->value.GetInt());
          }
          state.last_exit = reason;
        }
      }
    }
  } else {
    const rapidjson::Value* u = JsonPath(obj, {"spec", "unschedulable"});
    s.unschedulable = u && u->IsBool() && u->GetBool();
    if (const rapidjson::Value* taints = JsonPath(obj, {"spec", "taints"});
        taints && taints->IsArray()) {
      for (const rapidjson::Value& t : taints->GetArray()) {
        if (s.taints.size() >= kMaxTaints) break;
        // The cordon's own taint (node.kubernetes.io/unschedulable) is reported as "cordoned".
        const std::string key = JsonString(t, "key"), effect = JsonString(t, "effect");
        constexpr std::string_view kPrefix = "node.kubernetes.io/";
        if (!key.starts_with(kPrefix) || !IsDns1123Label(key.substr(kPrefix.size())) ||
            key == "node.kubernetes.io/unschedulable") {
          continue;
        }
        if (effect != "NoExecute" && effect != "NoSchedule" && effect != "PreferNoSchedule")
          continue;
        s.taints.insert(key + ":" + effect);
      }
    }
  }
  return s;
}

std::vector<std::string> ResourceWatch::Describe(const std::string& kind,
                                                 const std::string& display,
                                                 const ObjectState* before,
                                                 const ObjectState* after) {
  std::vector<std::string> out;
  if (after == nullptr) {
    if (before != nullptr) out.push_back(display + " deleted");
    return out;
  }
  // A new uid under a known name is a new object (a StatefulSet pod, a re-registered node).
  if (before != nullptr && !before->uid.empty() && before->uid != after->uid) {
    out.push_back(display + " deleted");
    before = nullptr;
  }
  static const ObjectState kNone;
  const ObjectState& b = before ? *before : kNone;
  if (before == nullptr) out.push_back(display + (kind == "node" ? " added" : " created"));
  if (kind == "pod") {
    if (after->node != b.node && !after->node.empty()) {
      out.push_back(display + " scheduled to " + after->node);
    }
    if (after->terminating && !b.terminating) out.push_back(display + " terminating");
    const bool was_ready = b.ready == "True", is_ready = after->ready == "True";
    if (is_ready && !was_ready) out.push_back(display + " Ready");
    if (!is_ready && was_ready) out.push_back(display + " not Ready");
    // A restart of a container the pod had before (a new pod's restarts are its own history).
    if (before != nullptr) {
      for (const auto& [name, c] : after->containers) {
        auto was = b.containers.find(name);
        if (was == b.containers.end() || c.restarts <= was->second.restarts) continue;
        out.push_back(display + " container " + name + " restarted (restart " +
                      std::to_string(c.restarts) +
                      (c.last_exit.empty() ? "" : "; last exit: " + c.last_exit) + ")");
      }
    }
  } else {
    if (after->ready != b.ready && !after->ready.empty()) {
      out.push_back(display + (after->ready == "True"    ? " Ready"
                               : after->ready == "False" ? " NotReady"
                                                         : " Ready=" + after->ready));
    }
    for (const std::string& t : after->taints) {
      if (!b.taints.count(t)) out.push_back(display + " tainted " + t);
    }
    for (const std::string& t : b.taints) {
      if (!after->taints.count(t)) out.push_back(display + " untainted " + t);
    }
    if (after->unschedulable && !b.unschedulable) out.push_back(display + " cordoned");
    if (!after->unschedulable && b.unschedulable) out.push_back(display + " uncordoned");
  }
  return out;
}

ResourceWatch::ResourceWatch(std::shared_ptr<KubeClient> client, ResourceWatchOptions options,
                             Clock& clock)
    : client_(std::move(client)), options_(std::move(options)), clock_(clock) {}

ResourceWatch::~ResourceWatch() { Stop(); }

void ResourceWatch::Add(const std::string& message) {
  std::lock_guard lock(mu_);  // the time is taken under the lock, so events stay in order
  events_.push_back(TimelineEvent{ToSeconds(clock_.Now() - epoch_), "kubernetes", message});
}

std::vector<TimelineEvent> ResourceWatch::Events() const {
  std::lock_guard lock(mu_);
  return events_;
}

Status ResourceWatch::ListInto(Stream* s, bool baseline, std::stop_token stop) {
  std::map<std::string, ObjectState> now;
  ListOptions opts;
  opts.label_selector = s->label_selector;
  auto rv = client_->List(s->ref, opts, [&](const rapidjson::Value& obj) {
    now[KeyOf(s->kind, obj)] = StateOf(s->kind, obj);
    return Status::Ok();
  });
  if (!rv.ok()) return rv.status();
  if (!baseline) {
    // What happened while we were not watching.
    for (const auto& [key, state] : now) {
      auto it = s->known.find(key);
      for (const std::string& m : Describe(s->kind, s->kind + " " + key,
                                           it == s->known.end() ? nullptr : &it->second, &state)) {
        Add(m + " (seen on re-list)");
      }
    }
    for (const auto& [key, state] : s->known) {
      if (!now.count(key)) Add(s->kind + " " + key + " deleted (seen on re-list)");
    }
  }
  s->known = std::move(now);
  s->resource_version = *rv;
  return Status::Ok();
}

void ResourceWatch::Run(Stream* s, std::stop_token stop) {
  try {
    WatchStream(s, stop);
  } catch (...) {
    const std::string what =
        "watch of " + s->kind + "s stopped: " + DescribeException(std::current_exception());
    Add(what);
    std::lock_guard lock(mu_);
    if (failure_.ok()) failure_ = Status::Internal(what);
    s->baseline_done = true;
  }
}

bool ResourceWatch::FailIfRefused(Stream* s, const Status& st) {
  if (st.code() != Status::Code::kPermissionDenied) return false;
  Add("watch of " + s->kind + "s refused: " + st.message());
  std::lock_guard lock(mu_);
  if (failure_.ok()) failure_ = st;
  s->baseline_done = true;
  return true;
}

Status ResourceWatch::Failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void ResourceWatch::WatchStream(Stream* s, std::stop_token stop) {
  bool baseline = !s->baseline_done;
  bool need_list = baseline;
  bool reported_down = false;
  while (!stop.stop_requested()) {
    if (need_list) {
      const Status listed = ListInto(s, baseline, stop);
      if (FailIfRefused(s, listed)) return;
      if (!listed.ok()) {
        if (!reported_down) {
          Add("watch of " + s->kind + "s interrupted: cannot list them: " + listed.message());
          reported_down = true;
        }
        if (baseline) {
          std::lock_guard lock(mu_);
          s->baseline_done = true;  // Start() must not wait for an API server that is down
        }
        clock_.SleepFor(options_.reconnect_delay, stop);
        continue;
      }
      if (reported_down) Add("watch of " + s->kind + "s resumed");
      reported_down = false;
      if (baseline) {
        std::lock_guard lock(mu_);
        s->baseline_done = true;
        baseline = false;
      }
      need_list = false;
    }
    KubeRequest req;
    req.verb = "watch";
    req.ref = s->ref;
    req.query = {{"watch", "1"},
                 {"resourceVersion", s->resource_version},
                 {"allowWatchBookmarks", "true"},
                 {"timeoutSeconds", std::to_string(options_.watch_seconds)}};
    if (!s->label_selector.empty()) req.query.emplace_back("labelSelector", s->label_selector);
    req.timeout = std::chrono::seconds(options_.watch_seconds + 30);
    req.stop = stop;
    bool expired = false;
    std::string unreadable;
    Status st = client_->Stream(req, [&](const std::string& line) {
      rapidjson::Document ev;
      const Status parsed = ParseJson(line, &ev);
      if (!parsed.ok()) {
        // An event we cannot read may be a change we would miss: drop the stream and re-list,
        // which sees the current state whatever the event said.
        unreadable = parsed.message();
        return false;
      }
      if (!ev.IsObject()) return true;
      const std::string type = JsonString(ev, "type");
      auto obj = ev.FindMember("object");
      if (obj == ev.MemberEnd() || !obj->value.IsObject()) return true;
      const rapidjson::Value& o = obj->value;
      if (type == "ERROR") {  // usually 410 Gone: the resourceVersion is too old
        expired = true;
        return false;
      }
      const std::string rv = JsonPathString(o, {"metadata", "resourceVersion"});
      if (!rv.empty()) s->resource_version = rv;
      if (type == "BOOKMARK") return true;
      const std::string key = KeyOf(s->kind, o);
      auto it = s->known.find(key);
      const ObjectState* before = it == s->known.end() ? nullptr : &it->second;
      if (type == "DELETED") {
        for (const std::string& m : Describe(s->kind, s->kind + " " + key, before, nullptr)) Add(m);
        if (it != s->known.end()) s->known.erase(it);
      } else {
        ObjectState after = StateOf(s->kind, o);
        for (const std::string& m : Describe(s->kind, s->kind + " " + key, before, &after)) {
          Add(m);
        }
        s->known[key] = after;
      }
      return true;
    });
    if (stop.stop_requested()) break;
    if (expired) {
      need_list = true;
      continue;
    }
    if (!unreadable.empty()) {
      st = Status::FailedPrecondition("an event from the API server cannot be read: " + unreadable);
    }
    if (FailIfRefused(s, st)) return;
    if (!st.ok()) {
      // The API server went away (or refused): re-list once it is back, then watch again.
      if (!reported_down) {
        Add("watch of " + s->kind + "s interrupted: " + st.message());
        reported_down = true;
      }
      need_list = true;
      clock_.SleepFor(options_.reconnect_delay, stop);
    }
    // A clean end (timeoutSeconds) just renews the watch from the last resourceVersion.
  }
}

void ResourceWatch::Start(MonoTime epoch) {
  {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
    epoch_ = epoch;
  }
  if (options_.pods) {
    std::vector<std::string> namespaces = options_.namespaces;
    if (namespaces.empty()) namespaces.push_back("");
    for (const std::string& ns : namespaces) {
      auto s = std::make_unique<Stream>();
      s->kind = "pod";
      s->ref = ResourceRef::Core("pods", ns);
      s->label_selector = options_.label_selector;
      streams_.push_back(std::move(s));
    }
  }
  if (options_.nodes) {
    auto s = std::make_unique<Stream>();
    s->kind = "node";
    s->ref = ResourceRef::Core("nodes");
    streams_.push_back(std::move(s));
  }
  // The baseline lists run here, so that events start exactly at Start().
  for (auto& s : streams_) {
    if (ListInto(s.get(), /*baseline=*/true, std::stop_token()).ok()) s->baseline_done = true;
  }
  for (auto& s : streams_) {
    Stream* raw = s.get();
    threads_.emplace_back([this, raw](std::stop_token stop) { Run(raw, stop); });
  }
}

void ResourceWatch::Stop() {
  for (auto& t : threads_) t.request_stop();
  threads_.clear();  // joins
}

}  // namespace gameday
