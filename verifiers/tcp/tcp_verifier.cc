#include "verifiers/tcp/tcp_verifier.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <cctype>

#include "clients/curl/curl_errors.h"
#include "verifiers/probe/easy_pool.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

bool IsIpv6Literal(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

bool IsHostName(const std::string& host) {
  for (unsigned char c : host) {
    if (!std::isalnum(c) && c != '.' && c != '-' && c != '_') return false;
  }
  return !host.empty();
}

class TcpVerifier : public Verifier {
 public:
  explicit TcpVerifier(TcpProbeSpec spec) : spec_(std::move(spec)) {
    EnsureCurlGlobalInit();
    const bool v6 = spec_.host.find(':') != std::string::npos;
    address_ = (v6 ? "[" + spec_.host + "]" : spec_.host) + ":" + std::to_string(spec_.port);
    url_ = "http://" + address_ + "/";
  }

  void Begin(ProbeIo& io, std::function<void(ProbeOutcome)> done) override {
    Probe* probe = pool_.Acquire([this](Probe& p) { Configure(p); });
    if (probe == nullptr) {
      done(ProbeOutcome{Health::kUnknown, 0, std::nullopt, "cannot create a libcurl handle"});
      return;
    }
    probe->errbuf[0] = '\0';
    probe->done = std::move(done);
    io.AddTransfer(probe->easy, [this, probe](int code) { Complete(probe, code); });
  }

  std::string Describe() const override { return "tcp connect " + address_; }

 private:
  struct Probe {
    CURL* easy = nullptr;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::function<void(ProbeOutcome)> done;
  };

  void Configure(Probe& p) {
    CURL* e = p.easy;
    curl_easy_setopt(e, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    // Connect and stop: no request is sent. Every probe is a new connection, closed at once.
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p.errbuf);
    SetProbeTimeout(e, spec_.timeout);
  }

  void Complete(Probe* probe, int curl_code) {
    const auto code = static_cast<CURLcode>(curl_code);
    ProbeOutcome outcome;
    curl_off_t connect_us = 0;
    curl_easy_getinfo(probe->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    outcome.latency_ms = static_cast<double>(connect_us) / 1e3;
    if (code == CURLE_OK) {
      outcome.health = Health::kHealthy;
    } else {
      outcome.health = CurlFailureHealthOf(probe->easy, code);
      outcome.detail = probe->errbuf[0] != '\0' ? probe->errbuf : curl_easy_strerror(code);
    }
    std::function<void(ProbeOutcome)> done = std::move(probe->done);
    probe->done = nullptr;
    pool_.Release(probe);
    done(std::move(outcome));
  }

  const TcpProbeSpec spec_;
  std::string address_;
  std::string url_;
  // The probe loop keeps this verifier alive until its thread has ended, so no handle is still
  // inside a multi handle when the pool cleans them up.
  EasyHandlePool<Probe> pool_;
};

class TcpVerifierKind : public VerifierKind {
 public:
  std::string Name() const override { return "tcp"; }
  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec& target) const override {
    std::optional<TcpProbeSpec> parsed = ParseTcpProbeSpec(spec);
    if (!parsed) return nullptr;
    return std::make_unique<TcpVerifier>(std::move(*parsed));
  }
};

}  // namespace

std::optional<TcpProbeSpec> ParseTcpProbeSpec(SpecNode& spec) {
  const size_t problems_before = spec.diagnostics()->size();
  if (!spec.defined()) {
    spec.Error("required field is missing (expected a map with host: and port:)");
    return std::nullopt;
  }
  if (!spec.ExpectMap()) return std::nullopt;
  TcpProbeSpec out;
  if (!spec.Has("host")) {
    spec.ErrorAt("host", "required field is missing (expected a host name or IP address)");
  } else {
    out.host = spec.RequiredString("host");
  }
  if (!out.host.empty()) {
    if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
      out.host = out.host.substr(1, out.host.size() - 2);
    }
    const bool ok =
        out.host.find(':') != std::string::npos ? IsIpv6Literal(out.host) : IsHostName(out.host);
    if (!ok) {
      spec.ErrorAt("host",
                   "expected a host name or an IP address (no scheme, port or path); got '" +
                       out.host + "'");
    }
  }
  if (!spec.Has("port")) {
    spec.ErrorAt("port", "required field is missing (expected an integer from 1 to 65535)");
  } else {
    out.port = static_cast<int>(spec.Int("port", 0, 1, 65535));
  }
  out.timeout = spec.DurationField("timeout", std::chrono::seconds(1), std::chrono::milliseconds(1),
                                   std::chrono::hours(1));
  spec.Finish();
  if (spec.diagnostics()->size() != problems_before) return std::nullopt;
  return out;
}

std::unique_ptr<VerifierKind> MakeTcpVerifierKind() { return std::make_unique<TcpVerifierKind>(); }

}  // namespace gameday
