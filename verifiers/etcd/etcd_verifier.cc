#include "verifiers/etcd/etcd_verifier.h"

#include <curl/curl.h>
#include <rapidjson/document.h>

#include <atomic>
#include <vector>

#include "clients/curl/curl_errors.h"
#include "clients/etcd/etcd_client.h"
#include "clients/inventory/inventory.h"
#include "experiments/json.h"
#include "experiments/redact.h"
#include "verifiers/probe/easy_pool.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;

constexpr size_t kMaxBody = size_t{64} * 1024;

enum class Operation { kPut, kGet, kPutGet };

struct EtcdProbeSpec {
  std::vector<std::string> endpoints;  // client URLs without a trailing slash
  std::string hosts;                   // the `hosts` selector the endpoints came from, if any
  std::string key = "gameday-probe";
  Operation operation = Operation::kPut;
  Duration timeout = std::chrono::seconds(1);
  Duration attempt_timeout{0};  // per endpoint attempt; 0 = timeout / number of endpoints
  EtcdTls tls;
};

// The message of an etcd gateway error body ({"error": "...", "message": "..."}), or the body.
std::string ErrorText(const std::string& body) {
  rapidjson::Document doc;
  if (ParseJson(body, &doc).ok() && doc.IsObject()) {
    for (const char* key : {"message", "error"}) {
      auto it = doc.FindMember(key);
      if (it != doc.MemberEnd() && it->value.IsString()) return it->value.GetString();
    }
  }
  return body.substr(0, 120);
}

class EtcdVerifier : public Verifier {
 public:
  EtcdVerifier(EtcdProbeSpec spec, Clock* clock) : spec_(std::move(spec)), clock_(clock) {
    EnsureCurlGlobalInit();
    if (spec_.attempt_timeout <= Duration::zero() && !spec_.endpoints.empty()) {
      spec_.attempt_timeout = spec_.timeout / static_cast<int>(spec_.endpoints.size());
    }
    key_b64_ = Base64Encode(spec_.key);
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Expect:");
  }

  ~EtcdVerifier() override {
    pool_.Clear();  // before the header list the handles point to
    curl_slist_free_all(headers_);
  }

  void Begin(ProbeIo& io, std::function<void(ProbeOutcome)> done) override {
    if (spec_.endpoints.empty()) {  // parsed without its inventory (validation only)
      done(ProbeOutcome{Health::kUnknown, 0, std::nullopt,
                        "no endpoints: hosts '" + spec_.hosts + "' were never resolved"});
      return;
    }
    Probe* p = pool_.Acquire([this](Probe& probe) { Configure(probe); });
    if (p == nullptr) {
      done(ProbeOutcome{Health::kUnknown, 0, std::nullopt, "cannot create a libcurl handle"});
      return;
    }
    p->done = std::move(done);
    p->start = clock_->Now();
    p->deadline = p->start + spec_.timeout;
    p->endpoint = pinned_.load();
    p->tried = 0;
    p->phase = spec_.operation == Operation::kGet ? Phase::kGet : Phase::kPut;
    p->value = "gameday " + std::to_string(++sequence_);
    p->errors.clear();
    Attempt(io, p);
  }

  std::string Describe() const override {
    static const char* kOps[] = {"put", "get", "put+get"};
    std::string d =
        std::string("etcd ") + kOps[static_cast<int>(spec_.operation)] + " " + spec_.key + " via ";
    for (size_t i = 0; i < spec_.endpoints.size(); ++i) {
      d += (i ? ", " : "") + RedactSecrets(spec_.endpoints[i]);
    }
    if (spec_.endpoints.empty()) d += "hosts " + spec_.hosts + " (resolved from the inventory)";
    return d;
  }

 private:
  enum class Phase { kPut, kGet };

  struct Probe {
    CURL* easy = nullptr;
    std::function<void(ProbeOutcome)> done;
    MonoTime start{};
    MonoTime deadline{};
    size_t endpoint = 0;
    size_t tried = 0;  // endpoints that failed during this probe
    Phase phase = Phase::kPut;
    std::string value;
    std::string request;
    std::string body;
    std::string errors;
    char errbuf[CURL_ERROR_SIZE] = {};
  };

  static size_t OnWrite(char* data, size_t size, size_t count, void* user) {
    auto* p = static_cast<Probe*>(user);
    const size_t len = size * count;
    if (p->body.size() < kMaxBody) p->body.append(data, std::min(len, kMaxBody - p->body.size()));
    return len;
  }

  // URL and timeouts are set per attempt.
  void Configure(Probe& p) {
    CURL* e = p.easy;
    ConfigureProbeHandle(e, &EtcdVerifier::OnWrite, &p, p.errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    if (!spec_.tls.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, spec_.tls.ca_file.c_str());
    if (!spec_.tls.cert_file.empty()) {
      curl_easy_setopt(e, CURLOPT_SSLCERT, spec_.tls.cert_file.c_str());
    }
    if (!spec_.tls.key_file.empty())
      curl_easy_setopt(e, CURLOPT_SSLKEY, spec_.tls.key_file.c_str());
  }

  // One request to the current endpoint, bounded by the attempt timeout and what is left of
  // the probe's own.
  void Attempt(ProbeIo& io, Probe* p) {
    const Duration left = p->deadline - clock_->Now();
    if (left <= Duration::zero()) {
      Finish(p, Health::kUnhealthy,
             "no answer within " + FormatDuration(spec_.timeout) + p->errors);
      return;
    }
    // At least 1ms: libcurl takes 0 as no limit at all.
    const Duration budget =
        std::max<Duration>(std::min(left, spec_.attempt_timeout), milliseconds(1));
    const std::string& base = spec_.endpoints[p->endpoint];
    const bool put = p->phase == Phase::kPut;
    const std::string url = base + (put ? "/v3/kv/put" : "/v3/kv/range");
    p->request = put ? "{\"key\":\"" + key_b64_ + "\",\"value\":\"" + Base64Encode(p->value) + "\"}"
                     : "{\"key\":\"" + key_b64_ + "\"}";
    p->body.clear();
    p->errbuf[0] = '\0';
    CURL* e = p->easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->request.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(p->request.size()));
    SetProbeTimeout(e, budget);
    io.AddTransfer(e, [this, &io, p](int code) { OnDone(io, p, static_cast<CURLcode>(code)); });
  }

  void OnDone(ProbeIo& io, Probe* p, CURLcode code) {
    std::string problem;
    if (code != CURLE_OK) {
      if (CurlFailureHealthOf(p->easy, code) == Health::kUnknown) {
        Finish(p, Health::kUnknown, p->errbuf[0] ? p->errbuf : curl_easy_strerror(code));
        return;
      }
      problem = p->errbuf[0] ? p->errbuf : curl_easy_strerror(code);
    } else {
      long status = 0;
      curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
      if (status != 200) {
        problem = "HTTP " + std::to_string(status) + ": " + ErrorText(p->body);
      } else {
        problem = CheckBody(p);
      }
    }
    if (problem.empty()) {
      if (p->phase == Phase::kPut && spec_.operation == Operation::kPutGet) {
        p->phase = Phase::kGet;
        Attempt(io, p);
        return;
      }
      pinned_.store(p->endpoint);
      Finish(p, Health::kHealthy, "");
      return;
    }
    p->errors += "; " + RedactSecrets(spec_.endpoints[p->endpoint]) + ": " + problem;
    // Fail over to the next member while this probe has time and members left, the way etcd's
    // own clients move off a member that cannot serve.
    if (++p->tried < spec_.endpoints.size() && clock_->Now() < p->deadline) {
      p->endpoint = (p->endpoint + 1) % spec_.endpoints.size();
      Attempt(io, p);
      return;
    }
    Finish(p, Health::kUnhealthy,
           (p->phase == Phase::kPut ? "put failed" : "get failed") + p->errors);
  }

  // "" when the answer is a success for the current phase.
  std::string CheckBody(Probe* p) const {
    rapidjson::Document doc;
    const Status parsed = ParseJson(p->body, &doc);
    if (!parsed.ok()) return "unreadable answer (" + parsed.message() + ")";
    if (!doc.IsObject() || !doc.HasMember("header")) {
      return "unexpected answer: " + p->body.substr(0, 120);
    }
    if (p->phase == Phase::kPut) return "";
    if (spec_.operation == Operation::kGet) return "";  // any linearizable read will do
    auto kvs = doc.FindMember("kvs");
    if (kvs == doc.MemberEnd() || !kvs->value.IsArray() || kvs->value.Empty()) {
      return "read back nothing for the key just written";
    }
    const rapidjson::Value& kv = kvs->value[0];
    std::string value;
    if (!kv.IsObject() || !kv.HasMember("value") || !kv["value"].IsString() ||
        !Base64Decode(kv["value"].GetString(), &value)) {
      return "unreadable value in the answer";
    }
    // A newer probe may have written since; only an older value means a stale read.
    if (value != p->value) {
      const auto seq = [](const std::string& v) {
        return v.rfind("gameday ", 0) == 0 ? std::strtoull(v.c_str() + 8, nullptr, 10) : 0ULL;
      };
      if (seq(value) < seq(p->value)) return "stale read: got '" + value + "'";
    }
    return "";
  }

  void Finish(Probe* p, Health health, std::string detail) {
    ProbeOutcome out;
    out.health = health;
    out.latency_ms = ToSeconds(clock_->Now() - p->start) * 1e3;
    out.detail = std::move(detail);
    std::function<void(ProbeOutcome)> done = std::move(p->done);
    p->done = nullptr;
    pool_.Release(p);
    done(std::move(out));
  }

  EtcdProbeSpec spec_;
  Clock* clock_;
  std::string key_b64_;
  curl_slist* headers_ = nullptr;
  std::atomic<size_t> pinned_{0};
  std::atomic<uint64_t> sequence_{0};
  EasyHandlePool<Probe> pool_;
};

// Endpoints from `hosts` (a static selector over the ssh target's inventory).
void EndpointsFromInventory(SpecNode& spec, const std::string& selector, const TargetSpec& target,
                            std::vector<std::string>* out) {
  if (selector.find("random") != std::string::npos || selector.find("etcd-") != std::string::npos) {
    spec.ErrorAt("hosts",
                 "expected a static selector (group, host, GROUP[i] or all): a verifier "
                 "keeps its endpoints for the whole run");
    return;
  }
  if (target.kind != "ssh") {
    spec.ErrorAt("hosts",
                 "needs an ssh target (its inventory names the hosts); use endpoints: [URL, ...] "
                 "otherwise");
    return;
  }
  if (!target.check_inventory) {  // `gameday validate`: the grammar only, no inventory read
    if (Status syntax = ValidateSelectorSyntax(selector); !syntax.ok()) {
      spec.ErrorAt("hosts", syntax.message());
    }
    return;
  }
  Result<Inventory> inv = LoadInventory(EffectiveInventory(target));
  if (!inv.ok()) {
    spec.ErrorAt("hosts", inv.status().message());
    return;
  }
  std::mt19937_64 rng(0);
  Result<std::vector<InventoryHost>> hosts = SelectHosts(*inv, selector, rng);
  if (!hosts.ok()) {
    spec.ErrorAt("hosts", hosts.status().message());
    return;
  }
  for (const InventoryHost& h : *hosts) {
    if (h.EtcdUrl().empty()) {
      spec.ErrorAt("hosts", "host " + h.name + " has no vars.etcd_client_url");
      return;
    }
    out->push_back(h.EtcdUrl());
  }
}

class EtcdVerifierKind : public VerifierKind {
 public:
  explicit EtcdVerifierKind(Clock* clock) : clock_(clock) {}

  std::string Name() const override { return "etcd"; }

  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec& target) const override {
    const size_t before = spec.diagnostics()->size();
    if (!spec.ExpectMap()) return nullptr;
    EtcdProbeSpec s;
    const bool has_endpoints = spec.Has("endpoints");
    const bool has_hosts = spec.Has("hosts");
    if (has_endpoints == has_hosts) {
      spec.Error(
          "expected exactly one of endpoints: [etcd client URLs] or hosts: SELECTOR (hosts "
          "of the ssh target's inventory with vars.etcd_client_url)");
    }
    SpecNode endpoints_node = spec.Child("endpoints");
    for (const std::string& url : spec.StringList("endpoints")) {
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
        endpoints_node.Error("expected http:// or https:// client URLs, got '" +
                             RedactSecrets(url) + "'");
        continue;
      }
      std::string u = url;
      while (!u.empty() && u.back() == '/') u.pop_back();
      s.endpoints.push_back(u);
    }
    if (has_endpoints && s.endpoints.empty() && spec.diagnostics()->size() == before) {
      endpoints_node.Error("expected at least one URL");
    }
    const std::string selector = spec.String("hosts", "");
    s.hosts = selector;
    if (has_hosts && !selector.empty())
      EndpointsFromInventory(spec, selector, target, &s.endpoints);
    s.key = spec.String("key", s.key);
    if (s.key.empty()) spec.ErrorAt("key", "expected a non-empty key");
    const std::string op = spec.Enum("operation", {"put", "get", "put-get"}, "put");
    s.operation = op == "get"       ? Operation::kGet
                  : op == "put-get" ? Operation::kPutGet
                                    : Operation::kPut;
    s.timeout = spec.DurationField("timeout", s.timeout, milliseconds(10), std::chrono::minutes(1));
    s.attempt_timeout = spec.DurationField("attempt_timeout", Duration::zero(), milliseconds(10),
                                           std::chrono::minutes(1));
    s.tls.ca_file = spec.String("ca_file", "");
    s.tls.cert_file = spec.String("cert_file", "");
    s.tls.key_file = spec.String("key_file", "");
    if (s.tls.cert_file.empty() != s.tls.key_file.empty()) {
      spec.Error("cert_file and key_file go together (client certificate authentication)");
    }
    spec.Finish();
    if (spec.diagnostics()->size() != before) return nullptr;
    if (s.endpoints.empty() && target.check_inventory) return nullptr;
    return std::make_unique<EtcdVerifier>(std::move(s), clock_);
  }

 private:
  Clock* clock_;
};

}  // namespace

std::unique_ptr<VerifierKind> MakeEtcdVerifierKind() {
  return MakeEtcdVerifierKind(&Clock::Real());
}

std::unique_ptr<VerifierKind> MakeEtcdVerifierKind(Clock* clock) {
  return std::make_unique<EtcdVerifierKind>(clock);
}

}  // namespace gameday
