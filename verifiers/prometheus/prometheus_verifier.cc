#include "verifiers/prometheus/prometheus_verifier.h"

#include <curl/curl.h>

#include "verifiers/probe/easy_pool.h"
#include "verifiers/probe/probe_loop.h"
#include "verifiers/prometheus/prometheus_spec.h"

namespace gameday {
namespace {

// A single-value query answer is a few hundred bytes; anything far larger is not one.
constexpr size_t kMaxBody = size_t{1024} * 1024;

class PrometheusVerifier : public Verifier {
 public:
  explicit PrometheusVerifier(PrometheusProbeSpec spec) : spec_(std::move(spec)) {
    EnsureCurlGlobalInit();
  }

  void Begin(ProbeIo& io, std::function<void(ProbeOutcome)> done) override {
    Probe* probe = pool_.Acquire([this](Probe& p) { Configure(p); });
    if (probe == nullptr) {
      done(ProbeOutcome{Health::kUnknown, 0, std::nullopt, "cannot create a libcurl handle"});
      return;
    }
    probe->body.clear();
    probe->too_big = false;
    probe->errbuf[0] = '\0';
    probe->done = std::move(done);
    io.AddTransfer(probe->easy, [this, probe](int code) { Complete(probe, code); });
  }

  std::string Describe() const override {
    return "PromQL " + spec_.query + " " + spec_.condition.Text() + " at " + spec_.display_url;
  }

 private:
  // One pooled easy handle with its options set once, as in the http verifier.
  struct Probe {
    CURL* easy = nullptr;
    std::string body;
    bool too_big = false;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::function<void(ProbeOutcome)> done;
  };

  static size_t OnWrite(char* data, size_t size, size_t count, void* user) {
    Probe* probe = static_cast<Probe*>(user);
    const size_t len = size * count;
    if (probe->body.size() + len > kMaxBody) {
      probe->too_big = true;
      return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
    }
    probe->body.append(data, len);
    return len;
  }

  void Configure(Probe& p) {
    CURL* e = p.easy;
    ConfigureCommonHttp(e, spec_.query_url, spec_.timeout, &PrometheusVerifier::OnWrite, &p,
                        p.errbuf);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // gzip when offered: answers shrink a lot
  }

  void Complete(Probe* probe, int curl_code) {
    const auto code = static_cast<CURLcode>(curl_code);
    curl_off_t total_us = 0;
    curl_easy_getinfo(probe->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    long status = 0;
    std::string transport_error;
    if (code == CURLE_OK) {
      curl_easy_getinfo(probe->easy, CURLINFO_RESPONSE_CODE, &status);
    } else if (probe->too_big) {
      transport_error = "the answer is over 1 MiB, not a single value";
    } else {
      transport_error = probe->errbuf[0] != '\0' ? probe->errbuf : curl_easy_strerror(code);
    }
    PromJudgement j = JudgePromAnswer(spec_, status, transport_error, probe->body);
    if (probe->too_big) j.detail = "Prometheus sent " + transport_error;
    ProbeOutcome outcome;
    outcome.health = j.health;
    outcome.value = j.value;
    outcome.detail = std::move(j.detail);
    outcome.latency_ms = static_cast<double>(total_us) / 1e3;
    std::function<void(ProbeOutcome)> done = std::move(probe->done);
    probe->done = nullptr;
    pool_.Release(probe);
    done(std::move(outcome));
  }

  const PrometheusProbeSpec spec_;
  // The probe loop keeps this verifier alive until its thread has ended, so no handle is still
  // inside a multi handle when the pool cleans them up.
  EasyHandlePool<Probe> pool_;
};

class PrometheusVerifierKind : public VerifierKind {
 public:
  std::string Name() const override { return "prometheus"; }
  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec& target) const override {
    std::optional<PrometheusProbeSpec> parsed = ParsePrometheusProbeSpec(spec);
    if (!parsed) return nullptr;
    return std::make_unique<PrometheusVerifier>(std::move(*parsed));
  }
};

}  // namespace

std::unique_ptr<VerifierKind> MakePrometheusVerifierKind() {
  return std::make_unique<PrometheusVerifierKind>();
}

}  // namespace gameday
