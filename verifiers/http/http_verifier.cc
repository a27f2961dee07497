#include "verifiers/http/http_verifier.h"

#include <curl/curl.h>

#include <cstdio>

#include "clients/curl/curl_errors.h"
#include "verifiers/http/http_spec.h"
#include "verifiers/probe/easy_pool.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

// Bodies are kept only when a body check needs them, and only this much: health endpoints are
// small, and a probe every 20 ms must not hold megabytes per in-flight request.
constexpr size_t kMaxBody = size_t{256} * 1024;

std::string FormatMs(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), ms < 10 ? "%.1fms" : "%.0fms", ms);
  return buf;
}

std::string Quote(const std::string& s) {
  constexpr size_t kMax = 60;
  return "\"" + (s.size() > kMax ? s.substr(0, kMax) + "..." : s) + "\"";
}

class HttpVerifier : public Verifier {
 public:
  explicit HttpVerifier(HttpProbeSpec spec) : spec_(std::move(spec)) {
    EnsureCurlGlobalInit();
    keep_body_ = spec_.body_contains.has_value() || spec_.body_regex_compiled != nullptr;
    for (const auto& [name, value] : spec_.headers) {
      headers_ = curl_slist_append(headers_, (name + ": " + value).c_str());
    }
    // Small bodies never need "Expect: 100-continue"; it would only add a round trip.
    if (spec_.body) headers_ = curl_slist_append(headers_, "Expect:");
  }

  ~HttpVerifier() override {
    // The probe loop holds a reference to this verifier until its thread has ended, so no handle
    // is still inside a multi handle here.
    pool_.Clear();  // before the header list the handles point to
    curl_slist_free_all(headers_);
  }

  void Begin(ProbeIo& io, std::function<void(ProbeOutcome)> done) override {
    Probe* probe = pool_.Acquire([this](Probe& p) {
      p.owner = this;
      Configure(p);
    });
    if (probe == nullptr) {
      done(ProbeOutcome{Health::kUnknown, 0, std::nullopt, "cannot create a libcurl handle"});
      return;
    }
    probe->body.clear();
    probe->body_truncated = false;
    probe->errbuf[0] = '\0';
    probe->done = std::move(done);
    io.AddTransfer(probe->easy, [this, probe](int code) { Complete(probe, code); });
  }

  std::string Describe() const override { return spec_.method + " " + spec_.display_url; }

 private:
  // One pooled easy handle with its options set once: a probe only re-adds it to the multi
  // handle, so steady-state probing allocates nothing here.
  struct Probe {
    CURL* easy = nullptr;
    HttpVerifier* owner = nullptr;
    std::string body;
    bool body_truncated = false;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::function<void(ProbeOutcome)> done;
  };

  static size_t OnWrite(char* data, size_t size, size_t count, void* user) {
    Probe* probe = static_cast<Probe*>(user);
    const size_t len = size * count;
    if (probe->owner->keep_body_) {
      const size_t room = kMaxBody - probe->body.size();
      probe->body.append(data, std::min(len, room));
      if (len > room) probe->body_truncated = true;
    }
    return len;  // anything else aborts the transfer
  }

  void Configure(Probe& p) {
    CURL* e = p.easy;
    ConfigureCommonHttp(e, spec_.url, spec_.timeout, &HttpVerifier::OnWrite, &p, p.errbuf);
    if (headers_ != nullptr) curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_);
    if (spec_.method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (spec_.method != "GET") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, spec_.method.c_str());
      if (spec_.body || spec_.method != "DELETE") {
        // POSTFIELDS is not copied: spec_ outlives every handle.
        const std::string& body = spec_.body ? *spec_.body : empty_;
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      }
    }
    if (spec_.fresh_connection) {
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    if (spec_.insecure_skip_verify) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (!spec_.ca_file.empty()) {
      curl_easy_setopt(e, CURLOPT_CAINFO, spec_.ca_file.c_str());
    }
  }

  void Complete(Probe* probe, int curl_code) {
    const auto code = static_cast<CURLcode>(curl_code);
    ProbeOutcome outcome;
    curl_off_t total_us = 0;
    curl_easy_getinfo(probe->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    outcome.latency_ms = static_cast<double>(total_us) / 1e3;
    if (code != CURLE_OK) {
      outcome.health = CurlFailureHealthOf(probe->easy, code);
      outcome.detail = probe->errbuf[0] != '\0' ? probe->errbuf : curl_easy_strerror(code);
    } else {
      long status = 0;
      curl_easy_getinfo(probe->easy, CURLINFO_RESPONSE_CODE, &status);
      outcome.detail = Check(*probe, status, outcome.latency_ms);
      outcome.health = outcome.detail.empty() ? Health::kHealthy : Health::kUnhealthy;
    }
    std::function<void(ProbeOutcome)> done = std::move(probe->done);
    probe->done = nullptr;
    pool_.Release(probe);
    done(std::move(outcome));
  }

  // Empty when healthy, else why not.
  std::string Check(const Probe& probe, long status, double latency_ms) const {
    if (!spec_.StatusAccepted(status)) {
      return "status " + std::to_string(status) + ", expected " + spec_.ExpectedStatusText();
    }
    const char* partial = probe.body_truncated ? " (checked the first 256KiB)" : "";
    if (spec_.body_contains && probe.body.find(*spec_.body_contains) == std::string::npos) {
      return "body does not contain " + Quote(*spec_.body_contains) + partial;
    }
    if (!BodyRegexMatches(spec_, probe.body)) {
      return "body does not match /" + *spec_.body_regex + "/" + partial;
    }
    if (spec_.max_latency && latency_ms > ToSeconds(*spec_.max_latency) * 1e3) {
      return "latency " + FormatMs(latency_ms) + " > " + FormatDuration(*spec_.max_latency);
    }
    return "";
  }

  const HttpProbeSpec spec_;
  const std::string empty_;
  bool keep_body_ = false;
  curl_slist* headers_ = nullptr;
  EasyHandlePool<Probe> pool_;
};

class HttpVerifierKind : public VerifierKind {
 public:
  std::string Name() const override { return "http"; }
  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec& target) const override {
    std::optional<HttpProbeSpec> parsed = ParseHttpProbeSpec(spec);
    if (!parsed) return nullptr;
    return std::make_unique<HttpVerifier>(std::move(*parsed));
  }
};

}  // namespace

std::unique_ptr<VerifierKind> MakeHttpVerifierKind() {
  return std::make_unique<HttpVerifierKind>();
}

}  // namespace gameday
