#include "reports/json_report.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "experiments/json.h"
#include "experiments/redact.h"
#include "experiments/sample_source.h"
#include "reports/report_text.h"

namespace gameday {
namespace {

using rapidjson::Value;
using PrettyOut = rapidjson::PrettyWriter<rapidjson::StringBuffer>;
using CompactOut = rapidjson::Writer<rapidjson::StringBuffer>;

// ---------------------------------------------------------------------------------------------
// Writing

// Rounding to a fixed grid keeps 100,000 samples small and makes render -> parse -> render
// byte-identical. Adding 0.0 turns -0 into 0.
double RoundTo(double v, double scale) {
  if (!std::isfinite(v)) return v;
  return std::round(v * scale) / scale + 0.0;
}
double Micros(double v) { return RoundTo(v, 1e6); }
double LatencyMs(double v) { return RoundTo(v, 1e3); }

// JSON has no NaN or infinity; they are written as null (and read back as NaN where the field is
// not optional).
template <typename W>
void Number(W& w, double v) {
  if (std::isfinite(v)) {
    w.Double(v);
  } else {
    w.Null();
  }
}

// Secrets are redacted where they enter the result; this catches any that did not.
template <typename W>
void Text(W& w, std::string_view s) {
  std::string redacted;
  if (ContainsSecret(s)) {
    redacted = RedactSecrets(s);
    s = redacted;
  }
  if (IsValidUtf8(s)) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  } else {
    std::string clean = SanitizeUtf8(s);
    w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
  }
}

void OptNumber(PrettyOut& w, const std::optional<double>& v) {
  if (v) {
    Number(w, *v);
  } else {
    w.Null();
  }
}
void OptSeconds(PrettyOut& w, const std::optional<double>& v) {
  if (v) {
    Number(w, Micros(*v));
  } else {
    w.Null();
  }
}

// Writes a number array on one line: sample columns would otherwise take one line per value.
template <typename F>
void CompactArray(PrettyOut& w, size_t n, F&& write_element) {
  rapidjson::StringBuffer buf;
  CompactOut cw(buf);
  cw.StartArray();
  for (size_t i = 0; i < n; ++i) write_element(cw, i);
  cw.EndArray();
  w.RawValue(buf.GetString(), buf.GetSize(), rapidjson::kArrayType);
}

void OptBound(PrettyOut& w, const std::optional<std::pair<double, double>>& b) {
  if (!b) {
    w.Null();
    return;
  }
  CompactArray(
      w, 2, [&](CompactOut& cw, size_t i) { Number(cw, Micros(i == 0 ? b->first : b->second)); });
}

void Key(PrettyOut& w, const char* k) { w.Key(k); }

void WriteMetrics(PrettyOut& w, const RecoveryMetrics& m) {
  Key(w, "time_to_detect_s");
  OptSeconds(w, m.time_to_detect_s);
  Key(w, "detect_bound_s");
  OptBound(w, m.detect_bound_s);
  Key(w, "time_to_recover_s");
  OptSeconds(w, m.time_to_recover_s);
  Key(w, "recover_bound_s");
  OptBound(w, m.recover_bound_s);
  Key(w, "time_to_recover_after_revert_s");
  OptSeconds(w, m.time_to_recover_after_revert_s);
  Key(w, "downtime_s");
  Number(w, Micros(m.downtime_s));
  Key(w, "availability");
  Number(w, m.availability);
  Key(w, "impact");
  w.Bool(m.impact);
  Key(w, "recovered");
  w.Bool(m.recovered);
  Key(w, "sample_count");
  w.Uint64(m.samples);
  Key(w, "failing_count");
  w.Uint64(m.failing);
  Key(w, "unknown_count");
  w.Uint64(m.unknown);
}

char HealthChar(Health h) {
  switch (h) {
    case Health::kHealthy:
      return 'H';
    case Health::kUnhealthy:
      return 'F';
    case Health::kUnknown:
      return 'U';
  }
  return 'U';
}

void WriteSamples(PrettyOut& w, const std::vector<Sample>& s) {
  w.StartObject();
  Key(w, "t_send");
  CompactArray(w, s.size(), [&](CompactOut& cw, size_t i) { Number(cw, Micros(s[i].t_send)); });
  Key(w, "t_done");
  CompactArray(w, s.size(), [&](CompactOut& cw, size_t i) { Number(cw, Micros(s[i].t_done)); });
  Key(w, "health");
  std::string health(s.size(), 'U');
  for (size_t i = 0; i < s.size(); ++i) health[i] = HealthChar(s[i].health);
  Text(w, health);
  Key(w, "latency_ms");
  CompactArray(w, s.size(),
               [&](CompactOut& cw, size_t i) { Number(cw, LatencyMs(s[i].latency_ms)); });
  Key(w, "value");
  bool any_value = false;
  for (const auto& x : s) any_value = any_value || x.value.has_value();
  if (any_value) {
    CompactArray(w, s.size(), [&](CompactOut& cw, size_t i) {
      if (s[i].value) {
        Number(cw, *s[i].value);
      } else {
        cw.Null();
      }
    });
  } else {
    w.Null();
  }
  Key(w, "detail");
  w.StartObject();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i].detail.empty()) continue;
    std::string k = std::to_string(i);
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    Text(w, s[i].detail);
  }
  w.EndObject();
  w.EndObject();
}

void WriteFault(PrettyOut& w, const FaultResult& f) {
  w.StartObject();
  Key(w, "id");
  Text(w, f.id);
  Key(w, "step");
  Text(w, f.step);
  Key(w, "kind");
  Text(w, f.kind);
  Key(w, "target");
  Text(w, f.target);
  Key(w, "target_id");
  Text(w, f.target_id);
  Key(w, "round");
  w.Int(f.round);
  Key(w, "t_inject_s");
  Number(w, Micros(f.t_inject));
  Key(w, "t_revert_s");
  OptSeconds(w, f.t_revert);
  Key(w, "reversible");
  w.Bool(f.reversible);
  Key(w, "revert_status");
  Text(w, RevertStateName(f.revert));
  Key(w, "error");
  Text(w, f.error);
  if (!f.revert_note.empty()) {  // added in v1: absent when there is nothing to say
    Key(w, "revert_note");
    Text(w, f.revert_note);
  }
  if (!f.observed.empty()) {  // added in v1: absent when there is nothing to say
    Key(w, "observed");
    Text(w, f.observed);
  }
  w.EndObject();
}

void WriteInjection(PrettyOut& w, const InjectionResult& i) {
  w.StartObject();
  Key(w, "step");
  Text(w, i.step);
  Key(w, "round");
  w.Int(i.round);
  Key(w, "kind");
  Text(w, i.kind);
  Key(w, "targets");
  w.Uint64(i.targets);
  Key(w, "injected");
  w.Uint64(i.injected);
  Key(w, "t_start_s");
  Number(w, Micros(i.t_start));
  Key(w, "inject_span_s");
  Number(w, Micros(i.inject_span_s));
  Key(w, "journal_s");
  Number(w, Micros(i.journal_s));
  w.EndObject();
}

void WriteVerifier(PrettyOut& w, const VerifierResult& v) {
  w.StartObject();
  Key(w, "name");
  Text(w, v.name);
  Key(w, "kind");
  Text(w, v.kind);
  Key(w, "description");
  Text(w, v.description);
  Key(w, "interval_s");
  Number(w, Micros(v.interval_s));
  Key(w, "slo_success_ratio");
  Number(w, v.slo_success_ratio);
  Key(w, "steady_before");
  OptNumber(w, v.steady_before);
  Key(w, "steady_after");
  OptNumber(w, v.steady_after);
  WriteMetrics(w, v.overall);
  Key(w, "per_fault");
  w.StartArray();
  for (const auto& pf : v.per_fault) {
    w.StartObject();
    Key(w, "fault_id");
    Text(w, pf.fault_id);
    WriteMetrics(w, pf.metrics);
    w.EndObject();
  }
  w.EndArray();
  // Added in v1 for long runs. "sample_count" is taken by the overall metrics (the disturbance
  // window), hence "total_sample_count".
  Key(w, "total_sample_count");
  w.Uint64(v.store ? v.sample_count : v.samples.size());
  Key(w, "last_error");
  const std::optional<LastError> last =
      v.store || v.last_error ? v.last_error : LastErrorOf(v.samples);
  if (last) {
    w.StartObject();
    Key(w, "t_send_s");
    Number(w, Micros(last->t_send));
    Key(w, "health");
    w.String(HealthName(last->health));
    Key(w, "detail");
    Text(w, last->detail);
    w.EndObject();
  } else {
    w.Null();
  }
  Key(w, "samples");
  if (v.store) {
    w.Null();
    Key(w, "sample_store");
    w.StartObject();
    Key(w, "file");
    Text(w, v.store->file);
    Key(w, "stream");
    w.Uint(v.store->stream);
    w.EndObject();
  } else {
    WriteSamples(w, v.samples);
  }
  w.EndObject();
}

void WriteObjective(PrettyOut& w, const ObjectiveResult& o) {
  w.StartObject();
  Key(w, "name");
  Text(w, o.name);
  Key(w, "verifier");
  Text(w, o.verifier);
  Key(w, "type");
  Text(w, o.type);
  Key(w, "passed");
  w.Bool(o.passed);
  Key(w, "measured");
  OptNumber(w, o.measured);
  Key(w, "limit");
  OptNumber(w, o.limit);
  Key(w, "message");
  Text(w, o.message);
  w.EndObject();
}

void WriteExperiment(PrettyOut& w, const ExperimentResult& e) {
  w.StartObject();
  Key(w, "name");
  Text(w, e.name);
  Key(w, "description");
  Text(w, e.description);
  Key(w, "labels");
  w.StartObject();
  for (const auto& [k, v] : e.labels) {
    std::string key = SanitizeUtf8(k);
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    Text(w, v);
  }
  w.EndObject();
  Key(w, "status");
  w.String(ExperimentStatusName(e.status));
  Key(w, "outcome");
  w.String(ExperimentOutcomeName(OutcomeOf(e)));
  Key(w, "expected_failure");
  Text(w, e.expected_failure);
  Key(w, "reasons");
  w.StartArray();
  for (const auto& r : e.reasons) Text(w, r);
  w.EndArray();
  Key(w, "start");
  Text(w, FormatRfc3339(e.start_wall));
  Key(w, "end");
  Text(w, FormatRfc3339(e.end_wall));
  Key(w, "duration_s");
  Number(w, Micros(e.duration_s));
  Key(w, "t_first_inject_s");
  Number(w, Micros(e.t_first_inject));
  Key(w, "t_last_recovery_s");
  OptSeconds(w, e.t_last_recovery);
  Key(w, "faults");
  w.StartArray();
  for (const auto& f : e.faults) WriteFault(w, f);
  w.EndArray();
  Key(w, "injections");  // added in v1 (issue 13): absent in older results
  w.StartArray();
  for (const auto& i : e.injections) WriteInjection(w, i);
  w.EndArray();
  Key(w, "verifiers");
  w.StartArray();
  for (const auto& v : e.verifiers) WriteVerifier(w, v);
  w.EndArray();
  Key(w, "objectives");
  w.StartArray();
  for (const auto& o : e.objectives) WriteObjective(w, o);
  w.EndArray();
  Key(w, "events");
  w.StartArray();
  for (const auto& ev : e.events) {
    w.StartObject();
    Key(w, "t");
    Number(w, Micros(ev.t));
    Key(w, "source");
    Text(w, ev.source);
    Key(w, "message");
    Text(w, ev.message);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

// ---------------------------------------------------------------------------------------------
// Reading

std::string Join(const std::string& path, std::string_view key) {
  std::string out = path;
  if (!out.empty()) out += '.';
  out += key;
  return out;
}
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Reads one document, collecting every shape problem with its field path so that a hand-edited
// or truncated result is explained in one go.
class Reader {
 public:
  static constexpr size_t kMaxErrors = 20;

  void Fail(const std::string& path, const std::string& what) {
    if (errors_.size() < kMaxErrors) {
      errors_.push_back((path.empty() ? std::string("(top level)") : path) + ": " + what);
    } else {
      ++dropped_;
    }
  }
  bool ok() const { return errors_.empty(); }
  Status ToStatus() const {
    std::string msg = "invalid gameday result: ";
    for (size_t i = 0; i < errors_.size(); ++i) {
      if (i) msg += "; ";
      msg += errors_[i];
    }
    if (dropped_) msg += "; and " + std::to_string(dropped_) + " more problems";
    return Status::InvalidArgument(msg);
  }

  // The member `key` of `obj`, or nullptr (reported when `required`).
  const Value* Get(const Value& obj, const char* key, const std::string& path, bool required) {
    if (!obj.IsObject()) {
      Fail(path, "expected an object");
      return nullptr;
    }
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd()) {
      if (required) Fail(Join(path, key), "missing");
      return nullptr;
    }
    return &it->value;
  }

  std::string Str(const Value& obj, const char* key, const std::string& path) {
    const Value* v = Get(obj, key, path, true);
    if (!v) return {};
    if (!v->IsString()) {
      Fail(Join(path, key), "expected a string");
      return {};
    }
    return std::string(v->GetString(), v->GetStringLength());
  }

  bool Bool(const Value& obj, const char* key, const std::string& path) {
    const Value* v = Get(obj, key, path, true);
    if (!v) return false;
    if (!v->IsBool()) {
      Fail(Join(path, key), "expected true or false");
      return false;
    }
    return v->GetBool();
  }

  // A required number; null stands for a value that was not finite.
  double Num(const Value& obj, const char* key, const std::string& path) {
    const Value* v = Get(obj, key, path, true);
    if (!v) return 0;
    if (v->IsNull()) return std::numeric_limits<double>::quiet_NaN();
    if (!v->IsNumber()) {
      Fail(Join(path, key), "expected a number");
      return 0;
    }
    return v->GetDouble();
  }

  // Absent or null means "not measured".
  std::optional<double> OptNum(const Value& obj, const char* key, const std::string& path) {
    const Value* v = Get(obj, key, path, false);
    if (!v || v->IsNull()) return std::nullopt;
    if (!v->IsNumber()) {
      Fail(Join(path, key), "expected a number or null");
      return std::nullopt;
    }
    return v->GetDouble();
  }

  std::optional<std::pair<double, double>> OptBound(const Value& obj, const char* key,
                                                    const std::string& path) {
    const Value* v = Get(obj, key, path, false);
    if (!v || v->IsNull()) return std::nullopt;
    if (!v->IsArray() || v->Size() != 2 || !(*v)[0].IsNumber() || !(*v)[1].IsNumber()) {
      Fail(Join(path, key), "expected [lo, hi] or null");
      return std::nullopt;
    }
    return std::make_pair((*v)[0].GetDouble(), (*v)[1].GetDouble());
  }

  size_t Count(const Value& obj, const char* key, const std::string& path) {
    const Value* v = Get(obj, key, path, true);
    if (!v) return 0;
    if (!v->IsUint64()) {
      Fail(Join(path, key), "expected a non-negative integer");
      return 0;
    }
    return static_cast<size_t>(v->GetUint64());
  }

  WallTime Time(const Value& obj, const char* key, const std::string& path) {
    std::string s = Str(obj, key, path);
    if (s.empty()) return {};
    auto t = ParseRfc3339(s);
    if (!t) {
      Fail(Join(path, key),
           "expected an RFC 3339 time such as 2024-05-01T12:34:56.789Z, got \"" + s + "\"");
      return {};
    }
    return *t;
  }

  const Value* Array(const Value& obj, const char* key, const std::string& path) {
    const Value* v = Get(obj, key, path, true);
    if (v && !v->IsArray()) {
      Fail(Join(path, key), "expected an array");
      return nullptr;
    }
    return v;
  }

  const Value* Object(const Value& obj, const char* key, const std::string& path) {
    const Value* v = Get(obj, key, path, true);
    if (v && !v->IsObject()) {
      Fail(Join(path, key), "expected an object");
      return nullptr;
    }
    return v;
  }

  // Calls `fn(element, element_path)` for every element of the array `key` that is an object.
  template <typename F>
  void EachObject(const Value& obj, const char* key, const std::string& path, F&& fn) {
    const Value* arr = Array(obj, key, path);
    if (!arr) return;
    std::string base = Join(path, key);
    for (rapidjson::SizeType i = 0; i < arr->Size(); ++i) {
      std::string p = Index(base, i);
      if (!(*arr)[i].IsObject()) {
        Fail(p, "expected an object");
        continue;
      }
      fn((*arr)[i], p);
    }
  }

  // A sample column of numbers of length `n` (null -> NaN, or nullopt when `nullable`).
  template <typename F>
  void NumberColumn(const Value& obj, const char* key, const std::string& path, size_t n,
                    bool nullable, F&& set) {
    const Value* arr = Array(obj, key, path);
    if (!arr) return;
    if (arr->Size() != n) {
      Fail(Join(path, key),
           "has " + std::to_string(arr->Size()) + " entries, t_send has " + std::to_string(n));
      return;
    }
    for (rapidjson::SizeType i = 0; i < n; ++i) {
      const Value& x = (*arr)[i];
      if (x.IsNumber()) {
        set(i, std::optional<double>(x.GetDouble()));
      } else if (x.IsNull()) {
        set(i, nullable ? std::nullopt
                        : std::optional<double>(std::numeric_limits<double>::quiet_NaN()));
      } else {
        Fail(Index(Join(path, key), i), "expected a number");
        return;
      }
    }
  }

 private:
  std::vector<std::string> errors_;
  size_t dropped_ = 0;
};

RecoveryMetrics ReadMetrics(Reader& r, const Value& o, const std::string& p) {
  RecoveryMetrics m;
  m.time_to_detect_s = r.OptNum(o, "time_to_detect_s", p);
  m.detect_bound_s = r.OptBound(o, "detect_bound_s", p);
  m.time_to_recover_s = r.OptNum(o, "time_to_recover_s", p);
  m.recover_bound_s = r.OptBound(o, "recover_bound_s", p);
  m.time_to_recover_after_revert_s = r.OptNum(o, "time_to_recover_after_revert_s", p);
  m.downtime_s = r.Num(o, "downtime_s", p);
  m.availability = r.Num(o, "availability", p);
  m.impact = r.Bool(o, "impact", p);
  m.recovered = r.Bool(o, "recovered", p);
  m.samples = r.Count(o, "sample_count", p);
  m.failing = r.Count(o, "failing_count", p);
  m.unknown = r.Count(o, "unknown_count", p);
  return m;
}

std::vector<Sample> ReadSamples(Reader& r, const Value& o, const std::string& p) {
  std::vector<Sample> s;
  const Value* t_send = r.Array(o, "t_send", p);
  if (!t_send) return s;
  size_t n = t_send->Size();
  s.resize(n);
  r.NumberColumn(o, "t_send", p, n, false, [&](size_t i, auto v) { s[i].t_send = *v; });
  r.NumberColumn(o, "t_done", p, n, false, [&](size_t i, auto v) { s[i].t_done = *v; });
  r.NumberColumn(o, "latency_ms", p, n, false, [&](size_t i, auto v) { s[i].latency_ms = *v; });
  if (const Value* v = r.Get(o, "value", p, false); v && !v->IsNull()) {
    r.NumberColumn(o, "value", p, n, true, [&](size_t i, auto x) { s[i].value = x; });
  }
  std::string health = r.Str(o, "health", p);
  if (health.size() != n) {
    r.Fail(Join(p, "health"), "has " + std::to_string(health.size()) + " characters, t_send has " +
                                  std::to_string(n) + " entries");
  } else {
    for (size_t i = 0; i < n; ++i) {
      switch (health[i]) {
        case 'H':
          s[i].health = Health::kHealthy;
          break;
        case 'F':
          s[i].health = Health::kUnhealthy;
          break;
        case 'U':
          s[i].health = Health::kUnknown;
          break;
        default:
          r.Fail(Join(p, "health"), "character " + std::to_string(i) +
                                        " is not H (healthy), F (unhealthy) or U (unknown)");
          i = n;
      }
    }
  }
  if (const Value* d = r.Get(o, "detail", p, false); d && !d->IsNull()) {
    if (!d->IsObject()) {
      r.Fail(Join(p, "detail"), "expected an object of {\"index\": text}");
      return s;
    }
    for (auto it = d->MemberBegin(); it != d->MemberEnd(); ++it) {
      std::string_view key(it->name.GetString(), it->name.GetStringLength());
      size_t idx = 0;
      auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), idx);
      std::string kp = Join(Join(p, "detail"), key);
      if (ec != std::errc() || end != key.data() + key.size() || idx >= n) {
        r.Fail(kp, "key is not the index of a sample");
      } else if (!it->value.IsString()) {
        r.Fail(kp, "expected a string");
      } else {
        s[idx].detail.assign(it->value.GetString(), it->value.GetStringLength());
      }
    }
  }
  return s;
}

std::optional<LastError> ReadLastError(Reader& r, const Value& o, const std::string& p) {
  const Value* x = r.Get(o, "last_error", p, false);
  if (!x || x->IsNull()) return std::nullopt;
  const std::string lp = Join(p, "last_error");
  if (!x->IsObject()) {
    r.Fail(lp, "expected {\"t_send_s\", \"health\", \"detail\"} or null");
    return std::nullopt;
  }
  LastError e;
  e.t_send = r.Num(*x, "t_send_s", lp);
  const std::string health = r.Str(*x, "health", lp);
  if (health == HealthName(Health::kUnhealthy)) {
    e.health = Health::kUnhealthy;
  } else if (health == HealthName(Health::kUnknown)) {
    e.health = Health::kUnknown;
  } else if (!health.empty()) {
    r.Fail(Join(lp, "health"), "expected \"unhealthy\" or \"unknown\", got \"" + health + "\"");
  }
  e.detail = r.Str(*x, "detail", lp);
  return e;
}

// The samples inline, or null and where they are in the run's sample store; with the total count
// and the last error. Results written before stores existed have neither count nor last error:
// both come from the inline samples then.
void ReadSampleFields(Reader& r, const Value& o, const std::string& p, VerifierResult* v) {
  const Value* total = r.Get(o, "total_sample_count", p, false);
  if (total && !total->IsUint64()) {
    r.Fail(Join(p, "total_sample_count"), "expected a non-negative integer");
    total = nullptr;
  }
  const Value* samples = r.Get(o, "samples", p, true);
  const Value* store = r.Get(o, "sample_store", p, false);
  if (store && store->IsNull()) store = nullptr;
  if (samples && samples->IsNull()) {
    const std::string sp = Join(p, "sample_store");
    if (!store) {
      r.Fail(sp, "missing (\"samples\" is null, so the samples must be in a sample store)");
      return;
    }
    if (!store->IsObject()) {
      r.Fail(sp, "expected {\"file\", \"stream\"}");
      return;
    }
    SampleStoreRef ref;
    ref.file = r.Str(*store, "file", sp);
    const Value* file = r.Get(*store, "file", sp, false);
    if (file && file->IsString() && !IsSampleStoreFileName(ref.file)) {
      r.Fail(Join(sp, "file"),
             "expected a plain file name next to result.json, got \"" + ref.file + "\"");
    }
    if (const Value* id = r.Get(*store, "stream", sp, true)) {
      if (id->IsUint() && id->GetUint() < 1000000) {
        ref.stream = id->GetUint();
      } else {
        r.Fail(Join(sp, "stream"), "expected a stream id below 1000000");
      }
    }
    if (!total) r.Fail(Join(p, "total_sample_count"), "missing (the samples are in a store)");
    v->store = std::move(ref);
    v->sample_count = total ? total->GetUint64() : 0;
    v->last_error = ReadLastError(r, o, p);
    return;
  }
  if (store) r.Fail(Join(p, "sample_store"), "expected null or absent when samples are inline");
  if (samples && !samples->IsObject()) {
    r.Fail(Join(p, "samples"), "expected an object, or null with a sample_store");
    return;
  }
  if (samples) v->samples = ReadSamples(r, *samples, Join(p, "samples"));
  v->sample_count = v->samples.size();
  if (total && total->GetUint64() != v->samples.size()) {
    r.Fail(Join(p, "total_sample_count"), std::to_string(total->GetUint64()) +
                                              ", but samples holds " +
                                              std::to_string(v->samples.size()));
  }
  if (o.HasMember("last_error")) {
    v->last_error = ReadLastError(r, o, p);
  } else {
    v->last_error = LastErrorOf(v->samples);
  }
}

FaultResult ReadFault(Reader& r, const Value& o, const std::string& p) {
  FaultResult f;
  f.id = r.Str(o, "id", p);
  f.step = r.Str(o, "step", p);
  f.kind = r.Str(o, "kind", p);
  f.target = r.Str(o, "target", p);
  f.target_id = r.Str(o, "target_id", p);
  if (const Value* round = r.Get(o, "round", p, false)) {  // absent before repeat existed
    if (round->IsInt() && round->GetInt() >= 0) {
      f.round = round->GetInt();
    } else {
      r.Fail(Join(p, "round"), "expected a non-negative integer");
    }
  }
  f.t_inject = r.Num(o, "t_inject_s", p);
  f.t_revert = r.OptNum(o, "t_revert_s", p);
  f.reversible = r.Bool(o, "reversible", p);
  const std::string revert = r.Str(o, "revert_status", p);
  if (std::optional<RevertState> state = ParseRevertState(revert)) {
    f.revert = *state;
  } else if (!revert.empty()) {
    r.Fail(
        Join(p, "revert_status"),
        "expected not-injected, pending, reverted, not-needed or failed, got \"" + revert + "\"");
  }
  f.error = r.Str(o, "error", p);
  if (const Value* note = r.Get(o, "revert_note", p, false)) {
    if (note->IsString()) {
      f.revert_note.assign(note->GetString(), note->GetStringLength());
    } else {
      r.Fail(Join(p, "revert_note"), "expected a string");
    }
  }
  if (const Value* seen = r.Get(o, "observed", p, false)) {
    if (seen->IsString()) {
      f.observed.assign(seen->GetString(), seen->GetStringLength());
    } else {
      r.Fail(Join(p, "observed"), "expected a string");
    }
  }
  return f;
}

InjectionResult ReadInjection(Reader& r, const Value& o, const std::string& p) {
  InjectionResult i;
  i.step = r.Str(o, "step", p);
  i.kind = r.Str(o, "kind", p);
  if (const Value* round = r.Get(o, "round", p, true)) {
    if (round->IsInt() && round->GetInt() >= 0) {
      i.round = round->GetInt();
    } else {
      r.Fail(Join(p, "round"), "expected a non-negative integer");
    }
  }
  i.targets = r.Count(o, "targets", p);
  i.injected = r.Count(o, "injected", p);
  if (i.injected > i.targets) {
    r.Fail(Join(p, "injected"), std::to_string(i.injected) + ", more than its " +
                                    std::to_string(i.targets) + " targets");
  }
  i.t_start = r.Num(o, "t_start_s", p);
  i.inject_span_s = r.Num(o, "inject_span_s", p);
  i.journal_s = r.Num(o, "journal_s", p);
  for (const auto& [key, v] :
       {std::pair{"inject_span_s", i.inject_span_s}, std::pair{"journal_s", i.journal_s}}) {
    if (v < 0) r.Fail(Join(p, key), "expected a duration, got " + FormatCompact(v));
  }
  return i;
}

VerifierResult ReadVerifier(Reader& r, const Value& o, const std::string& p) {
  VerifierResult v;
  v.name = r.Str(o, "name", p);
  v.kind = r.Str(o, "kind", p);
  v.description = r.Str(o, "description", p);
  v.interval_s = r.Num(o, "interval_s", p);
  v.slo_success_ratio = r.Num(o, "slo_success_ratio", p);
  v.steady_before = r.OptNum(o, "steady_before", p);
  v.steady_after = r.OptNum(o, "steady_after", p);
  v.overall = ReadMetrics(r, o, p);
  r.EachObject(o, "per_fault", p, [&](const Value& x, const std::string& xp) {
    FaultMetrics fm;
    fm.fault_id = r.Str(x, "fault_id", xp);
    fm.metrics = ReadMetrics(r, x, xp);
    v.per_fault.push_back(std::move(fm));
  });
  ReadSampleFields(r, o, p, &v);
  return v;
}

ObjectiveResult ReadObjective(Reader& r, const Value& o, const std::string& p) {
  ObjectiveResult ob;
  ob.name = r.Str(o, "name", p);
  ob.verifier = r.Str(o, "verifier", p);
  ob.type = r.Str(o, "type", p);
  ob.passed = r.Bool(o, "passed", p);
  ob.measured = r.OptNum(o, "measured", p);
  ob.limit = r.OptNum(o, "limit", p);
  ob.message = r.Str(o, "message", p);
  return ob;
}

ExperimentResult ReadExperiment(Reader& r, const Value& o, const std::string& p) {
  ExperimentResult e;
  e.name = r.Str(o, "name", p);
  e.description = r.Str(o, "description", p);
  if (const Value* labels = r.Object(o, "labels", p)) {
    for (auto it = labels->MemberBegin(); it != labels->MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      if (!it->value.IsString()) {
        r.Fail(Join(Join(p, "labels"), key), "expected a string");
        continue;
      }
      e.labels[key] = std::string(it->value.GetString(), it->value.GetStringLength());
    }
  }
  std::string status = r.Str(o, "status", p);
  if (auto st = ParseExperimentStatus(status)) {
    e.status = *st;
  } else if (!status.empty()) {
    r.Fail(Join(p, "status"), "unknown status \"" + status + "\"");
  }
  // Both absent in results written before expected failures existed.
  if (const Value* x = r.Get(o, "expected_failure", p, false)) {
    if (x->IsString()) {
      e.expected_failure.assign(x->GetString(), x->GetStringLength());
    } else {
      r.Fail(Join(p, "expected_failure"), "expected a string");
    }
  }
  if (const Value* x = r.Get(o, "outcome", p, false)) {
    std::optional<ExperimentOutcome> outcome;
    if (x->IsString()) outcome = ParseExperimentOutcome(x->GetString());
    if (!outcome) {
      r.Fail(Join(p, "outcome"),
             "expected passed, failed, expected-failure, unexpected-pass, aborted or error");
    } else if (*outcome != OutcomeOfStatus(e.status)) {
      const bool agrees =
          (*outcome == ExperimentOutcome::kExpectedFailure &&
           e.status == ExperimentStatus::kPassed) ||
          (*outcome == ExperimentOutcome::kUnexpectedPass && e.status == ExperimentStatus::kFailed);
      if (!agrees || e.expected_failure.empty()) {
        r.Fail(Join(p, "outcome"), std::string("\"") + ExperimentOutcomeName(*outcome) +
                                       "\" does not fit status \"" + status +
                                       "\" and expected_failure");
      } else {
        e.outcome = outcome;
      }
    }
  }
  if (const Value* reasons = r.Array(o, "reasons", p)) {
    for (rapidjson::SizeType i = 0; i < reasons->Size(); ++i) {
      if (!(*reasons)[i].IsString()) {
        r.Fail(Index(Join(p, "reasons"), i), "expected a string");
        continue;
      }
      e.reasons.emplace_back((*reasons)[i].GetString(), (*reasons)[i].GetStringLength());
    }
  }
  e.start_wall = r.Time(o, "start", p);
  e.end_wall = r.Time(o, "end", p);
  e.duration_s = r.Num(o, "duration_s", p);
  e.t_first_inject = r.OptNum(o, "t_first_inject_s", p).value_or(0);
  e.t_last_recovery = r.OptNum(o, "t_last_recovery_s", p);
  r.EachObject(o, "faults", p, [&](const Value& x, const std::string& xp) {
    e.faults.push_back(ReadFault(r, x, xp));
  });
  if (r.Get(o, "injections", p, false)) {  // absent in results before issue 13
    r.EachObject(o, "injections", p, [&](const Value& x, const std::string& xp) {
      e.injections.push_back(ReadInjection(r, x, xp));
    });
  }
  r.EachObject(o, "verifiers", p, [&](const Value& x, const std::string& xp) {
    e.verifiers.push_back(ReadVerifier(r, x, xp));
  });
  r.EachObject(o, "objectives", p, [&](const Value& x, const std::string& xp) {
    e.objectives.push_back(ReadObjective(r, x, xp));
  });
  r.EachObject(o, "events", p, [&](const Value& x, const std::string& xp) {
    TimelineEvent ev;
    ev.t = r.Num(x, "t", xp);
    ev.source = r.Str(x, "source", xp);
    ev.message = r.Str(x, "message", xp);
    e.events.push_back(std::move(ev));
  });
  return e;
}

// Line and column (both from 1) of a byte offset, for syntax errors.
std::pair<size_t, size_t> LineColumn(const std::string& text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

}  // namespace

std::string RenderJson(const RunResult& run) {
  rapidjson::StringBuffer buf;
  PrettyOut w(buf);
  w.SetIndent(' ', 2);
  w.StartObject();
  Key(w, "format");
  w.String(kResultFormatV1);
  Key(w, "run_id");
  Text(w, run.run_id);
  Key(w, "plan_file");
  Text(w, run.plan_file);
  Key(w, "plan_name");
  Text(w, run.plan_name);
  Key(w, "gameday_version");
  Text(w, run.gameday_version);
  // A string: JSON readers that hold numbers as doubles would lose seeds above 2^53.
  Key(w, "seed");
  Text(w, std::to_string(run.seed));
  Key(w, "dry_run");
  w.Bool(run.dry_run);
  Key(w, "start");
  Text(w, FormatRfc3339(run.start_wall));
  Key(w, "end");
  Text(w, FormatRfc3339(run.end_wall));
  Key(w, "status");
  w.String(ExperimentStatusName(RunStatus(run)));
  Key(w, "experiments");
  w.StartArray();
  for (const auto& e : run.experiments) WriteExperiment(w, e);
  w.EndArray();
  w.EndObject();
  std::string out(buf.GetString(), buf.GetSize());
  out += '\n';
  return out;
}

Result<RunResult> ParseJsonResult(const std::string& text) {
  rapidjson::Document doc;
  JsonLimits limits;
  // Full precision: the default fast path may be off by one ulp, which breaks exact round trips.
  limits.full_precision = true;
  // Long runs of 20 ms probes write tens of MB; a GiB is far past any real result.
  limits.max_bytes = size_t{1} << 30;
  const Status parsed = ParseJson(text, &doc, limits);
  if (!parsed.ok()) {
    // ParseJson says "JSON: <what> at byte N"; people want a line and a column.
    std::string what = parsed.message();
    if (what.rfind("JSON: ", 0) == 0) what.erase(0, 6);
    const size_t at = what.rfind(" at byte ");
    if (at == std::string::npos) return Status::InvalidArgument("invalid gameday result: " + what);
    const size_t offset = std::strtoull(what.c_str() + at + 9, nullptr, 10);
    what.erase(at);
    auto [line, col] = LineColumn(text, offset);
    return Status::InvalidArgument("invalid gameday result: JSON syntax error at line " +
                                   std::to_string(line) + ", column " + std::to_string(col) + ": " +
                                   what);
  }
  if (!doc.IsObject()) {
    return Status::InvalidArgument("invalid gameday result: the document is not a JSON object");
  }
  Reader r;
  RunResult run;
  const std::string top;
  std::string format = r.Str(doc, "format", top);
  if (!r.ok()) return r.ToStatus();
  if (format != kResultFormatV1) {
    return Status::InvalidArgument("invalid gameday result: format is \"" + format +
                                   "\", this gameday reads \"" + kResultFormatV1 + "\"");
  }
  run.run_id = r.Str(doc, "run_id", top);
  run.plan_file = r.Str(doc, "plan_file", top);
  run.plan_name = r.Str(doc, "plan_name", top);
  run.gameday_version = r.Str(doc, "gameday_version", top);
  if (const Value* seed = r.Get(doc, "seed", top, true)) {
    if (seed->IsUint64()) {
      run.seed = seed->GetUint64();
    } else if (seed->IsString()) {
      std::string_view s(seed->GetString(), seed->GetStringLength());
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), run.seed);
      if (ec != std::errc() || end != s.data() + s.size()) {
        r.Fail("seed", "expected an unsigned 64-bit integer, got \"" + std::string(s) + "\"");
      }
    } else {
      r.Fail("seed", "expected an unsigned 64-bit integer (as a string or a number)");
    }
  }
  run.dry_run = r.Bool(doc, "dry_run", top);
  run.start_wall = r.Time(doc, "start", top);
  run.end_wall = r.Time(doc, "end", top);
  // "status" is derived from the experiments; it is checked for sense but not stored.
  if (const Value* st = r.Get(doc, "status", top, false)) {
    if (!st->IsString() || !ParseExperimentStatus(st->GetString())) {
      r.Fail("status", "expected passed, failed, aborted or error");
    }
  }
  r.EachObject(doc, "experiments", top, [&](const Value& x, const std::string& xp) {
    run.experiments.push_back(ReadExperiment(r, x, xp));
  });
  if (!r.ok()) return r.ToStatus();
  return run;
}

}  // namespace gameday
