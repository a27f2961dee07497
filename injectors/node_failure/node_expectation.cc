#include "injectors/node_failure/node_expectation.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "clients/kubernetes/cluster.h"
#include "experiments/format.h"
#include "experiments/spec_reader.h"

namespace gameday {
namespace {

constexpr size_t kMaxArgs = 256;
constexpr size_t kMaxTolerations = 64;
constexpr double kMaxSeconds = 86400;

bool IsVersionNumber(const std::string& s) {
  return !s.empty() && s.size() <= 4 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "36+" (some distributions add a '+') to 36.
std::optional<int> VersionPart(const std::string& text) {
  std::string s = text;
  if (!s.empty() && s.back() == '+') s.pop_back();
  if (!IsVersionNumber(s)) return std::nullopt;
  return std::stoi(s);
}

std::optional<double> FlagValue(const rapidjson::Value* args) {
  if (args == nullptr || !args->IsArray()) return std::nullopt;
  const std::string flag = "--node-monitor-grace-period";
  size_t n = 0;
  for (auto it = args->Begin(); it != args->End() && n < kMaxArgs; ++it, ++n) {
    if (!it->IsString() || it->GetStringLength() > 256) continue;
    const std::string a(it->GetString(), it->GetStringLength());
    std::string value;
    if (a.rfind(flag + "=", 0) == 0) {
      value = a.substr(flag.size() + 1);
    } else if (a == flag && it + 1 != args->End() && (it + 1)->IsString() &&
               (it + 1)->GetStringLength() <= 64) {
      value = (it + 1)->GetString();
    } else {
      continue;
    }
    std::optional<Duration> d = ParseGoDuration(value);
    if (d && *d > Duration{0}) return ToSeconds(*d);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::pair<double, double>> NodeExpectation::NotReadyWindow() const {
  if (!grace_s || !renew_s) return std::nullopt;
  return std::make_pair(std::max(0.0, *grace_s - *renew_s), *grace_s + kNodeMonitorPeriod_s);
}

std::optional<Duration> ParseGoDuration(const std::string& text) {
  if (text.empty() || text.size() > 32) return std::nullopt;
  if (text == "0") return Duration{0};
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) {
      ++i;
    }
    if (i == start) return std::nullopt;
    double value = 0;
    try {
      value = std::stod(text.substr(start, i - start));
    } catch (...) {
      return std::nullopt;
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])) != 0) ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "h") {
      scale = 3600;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "ms") {
      scale = 1e-3;
    } else if (unit == "us") {
      scale = 1e-6;
    } else if (unit == "ns") {
      scale = 1e-9;
    } else {
      return std::nullopt;
    }
    total += value * scale;
    if (!std::isfinite(total) || total > kMaxSeconds) return std::nullopt;
  }
  return FromSeconds(total);
}

std::optional<double> GraceFlagOf(const rapidjson::Value& pod) {
  const rapidjson::Value* containers = JsonPath(pod, {"spec", "containers"});
  if (containers == nullptr || !containers->IsArray()) return std::nullopt;
  size_t n = 0;
  for (auto it = containers->Begin(); it != containers->End() && n < 16; ++it, ++n) {
    if (!it->IsObject()) continue;
    for (const char* field : {"command", "args"}) {
      auto m = it->FindMember(field);
      if (m == it->MemberEnd()) continue;
      if (std::optional<double> v = FlagValue(&m->value)) return v;
    }
  }
  return std::nullopt;
}

std::optional<double> DefaultGraceFor(const std::string& major, const std::string& minor) {
  const std::optional<int> ma = VersionPart(major);
  const std::optional<int> mi = VersionPart(minor);
  if (!ma || !mi || *ma < 1) return std::nullopt;
  return (*ma > 1 || *mi >= 32) ? 50.0 : 40.0;
}

std::optional<double> ToleratesFor(const rapidjson::Value& pod, const std::string& key) {
  const rapidjson::Value* tolerations = JsonPath(pod, {"spec", "tolerations"});
  if (tolerations == nullptr || !tolerations->IsArray()) return 0.0;
  bool matched = false;
  std::optional<double> least;
  size_t n = 0;
  for (auto it = tolerations->Begin(); it != tolerations->End() && n < kMaxTolerations; ++it, ++n) {
    if (!it->IsObject()) continue;
    const std::string t_key = JsonPathString(*it, {"key"});
    const std::string op = JsonPathString(*it, {"operator"});
    const std::string value = JsonPathString(*it, {"value"});
    const std::string effect = JsonPathString(*it, {"effect"});
    if (!effect.empty() && effect != "NoExecute") continue;
    if (!t_key.empty() && t_key != key) continue;
    const bool tolerates = op == "Exists" || ((op.empty() || op == "Equal") && value.empty());
    if (!tolerates) continue;
    matched = true;
    auto secs = it->FindMember("tolerationSeconds");
    if (secs == it->MemberEnd() || !secs->value.IsNumber()) continue;
    const double s = std::clamp(secs->value.GetDouble(), 0.0, kMaxSeconds);
    least = least ? std::min(*least, s) : s;
  }
  if (!matched) return 0.0;
  return least;
}

void AddNodePod(const rapidjson::Value& pod, NodeExpectation* e) {
  if (JsonPath(pod, {"metadata", "deletionTimestamp"}) != nullptr) return;
  const std::string phase = JsonPathString(pod, {"status", "phase"});
  if (phase == "Succeeded" || phase == "Failed") return;
  ++e->pods;
  const std::optional<double> t = ToleratesFor(pod, kUnreachableTaint);
  if (!t) {
    ++e->without_limit;
    return;
  }
  e->first_eviction_s = e->first_eviction_s ? std::min(*e->first_eviction_s, *t) : *t;
  e->last_eviction_s = e->last_eviction_s ? std::max(*e->last_eviction_s, *t) : *t;
  const std::string uid = JsonPathString(pod, {"metadata", "uid"});
  if (IsKubeUid(uid) && e->evictable_uids.size() < kMaxWatchedPods) e->evictable_uids.insert(uid);
}

NodeExpectation ReadNodeExpectation(KubeClient& client, const std::string& node,
                                    std::optional<double> plan_grace) {
  NodeExpectation e;
  auto short_error = [](const Status& s) { return s.message().substr(0, 160); };
  if (plan_grace) {
    e.grace_s = plan_grace;
    e.grace_source = "the plan's node_monitor_grace_period";
  } else {
    std::string controller;
    ListOptions opts;
    opts.label_selector = "component=kube-controller-manager";
    opts.limit = 10;
    Result<std::string> listed = client.List(
        ResourceRef::Core("pods", "kube-system"), opts, [&](const rapidjson::Value& pod) {
          if (e.grace_s) return Status::Ok();
          controller = JsonPathString(pod, {"metadata", "name"}).substr(0, 63);
          if (std::optional<double> g = GraceFlagOf(pod)) {
            e.grace_s = g;
            e.grace_source = "the --node-monitor-grace-period of pod kube-system/" + controller;
          }
          return Status::Ok();
        });
    if (!e.grace_s) {
      std::string why;
      if (!listed.ok()) {
        why = "the controller manager's pod could not be read: " + short_error(listed.status());
      } else if (controller.empty()) {
        why = "no kube-controller-manager pod in kube-system (a managed control plane?)";
      } else {
        why = "pod kube-system/" + controller + " does not set it";
      }
      KubeRequest req;
      req.raw_path = "/version";
      Result<rapidjson::Document> v = client.CallJson(req);
      std::optional<double> d;
      std::string version;
      if (v.ok() && v->IsObject()) {
        const std::string major = JsonPathString(*v, {"major"});
        const std::string minor = JsonPathString(*v, {"minor"});
        d = DefaultGraceFor(major, minor);
        if (d) version = "v" + major + "." + minor;
      }
      if (d) {
        e.grace_s = d;
        e.grace_source = "the default of " + version + "; " + why +
                         " (state the cluster's value as node_monitor_grace_period)";
      } else {
        e.grace_source = "unknown: " + why + ", and the server's version is not readable";
      }
    }
  }
  // The kubelet renews its lease every quarter of the lease's duration.
  KubeRequest lease;
  lease.ref = ResourceRef::Group("coordination.k8s.io", "v1", "leases", "kube-node-lease", node);
  Result<rapidjson::Document> l = client.CallJson(lease);
  const rapidjson::Value* duration =
      l.ok() ? JsonPath(*l, {"spec", "leaseDurationSeconds"}) : nullptr;
  if (duration != nullptr && duration->IsInt() && duration->GetInt() > 0 &&
      duration->GetInt() <= 3600) {
    e.renew_s = duration->GetInt() / 4.0;
    e.renew_source = "a quarter of the node's lease of " + std::to_string(duration->GetInt()) + "s";
  } else {
    // The node controller also takes a new node status as a heartbeat; the kubelet's default
    // nodeStatusUpdateFrequency is 10 s (the same as a 40 s lease's renewal).
    e.renew_s = 10;
    e.renew_source = std::string(l.ok() ? "the node's lease has no valid leaseDurationSeconds"
                                        : "the node's lease could not be read (" +
                                              short_error(l.status()) + ")") +
                     ", so the kubelet's default of 10s is assumed";
  }
  ListOptions pods;
  pods.field_selector = "spec.nodeName=" + node;
  Result<std::string> listed =
      client.List(ResourceRef::Core("pods"), pods, [&](const rapidjson::Value& pod) {
        AddNodePod(pod, &e);
        return Status::Ok();
      });
  if (!listed.ok())
    e.pods_problem = "the node's pods could not be read: " + short_error(listed.status());
  return e;
}

std::string ExpectationNote(const NodeExpectation& e, const NodeStages& m) {
  std::string s = "expected from the cluster's settings: ";
  const auto window = e.NotReadyWindow();
  if (window) {
    s += "NotReady and the " + std::string(kUnreachableTaint) + " taint " +
         FormatSecondsBrief(window->first) + "-" + FormatSecondsBrief(window->second) +
         " after the inject (grace " + FormatSecondsBrief(*e.grace_s) + ", " + e.grace_source +
         "; heartbeat every " + FormatSecondsBrief(*e.renew_s) + ", " + e.renew_source +
         "; checked every " + FormatSecondsBrief(kNodeMonitorPeriod_s) + ")";
    if (m.not_ready_after) {
      s += ": measured " + FormatFixed(*m.not_ready_after, 2) + "s, ";
      if (*m.not_ready_after < window->first) {
        s += "earlier than the settings say (is the grace period shorter than read?)";
      } else if (*m.not_ready_after > window->second) {
        s += "later than the settings allow (a slow or overloaded controller manager?)";
      } else {
        s += "as expected";
      }
    }
  } else {
    s += "NotReady: not known (grace: " + e.grace_source +
         (e.renew_s ? "" : "; renew: " + e.renew_source) + ")";
  }
  if (!e.pods_problem.empty()) return s + "; evictions: " + e.pods_problem;
  s += "; evictions: ";
  if (e.pods == 0) return s + "none expected (no pod on the node)";
  if (e.first_eviction_s) {
    s += FormatSecondsBrief(*e.first_eviction_s);
    if (e.last_eviction_s && *e.last_eviction_s != *e.first_eviction_s) {
      s += "-" + FormatSecondsBrief(*e.last_eviction_s);
    }
    s += " after the taint (tolerationSeconds of " + std::to_string(e.pods - e.without_limit) +
         " pod" + (e.pods - e.without_limit == 1 ? "" : "s") + ")";
  }
  if (e.without_limit > 0) {
    s += std::string(e.first_eviction_s ? ", " : "") + std::to_string(e.without_limit) + " pod" +
         (e.without_limit == 1 ? "" : "s") + " tolerating it without a limit";
  }
  if (e.first_eviction_s) {
    if (m.first_evicted_after && m.tainted_after) {
      const double after_taint = *m.first_evicted_after - *m.tainted_after;
      s += ": first eviction measured " + FormatFixed(after_taint, 2) + "s after the taint (" +
           std::to_string(m.evicted) + " evicted while the fault was in)";
    } else if (m.tainted_after) {
      s += ": no eviction while the fault was in";
    }
  }
  return s;
}

}  // namespace gameday
