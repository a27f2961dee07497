#include "verifiers/apiserver/apiserver_verifier.h"

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster.h"
#include "verifiers/kube_prober/kube_prober.h"

namespace gameday {
namespace {

constexpr Duration kDefaultTimeout = std::chrono::seconds(2);

class ApiserverVerifier : public Verifier {
 public:
  ApiserverVerifier(std::string endpoint, Duration timeout, TargetSpec target)
      : endpoint_(std::move(endpoint)), prober_(std::move(target)) {
    request_.verb = "get";
    request_.raw_path = "/" + endpoint_;
    request_.timeout = timeout;
    request_.max_attempts = 1;
  }

  std::vector<ApiAccess> ApiAccesses() const override {
    return {AccessFor(request_, "apiserver verifier: /" + endpoint_)};
  }

  void Begin(ProbeIo& io, std::function<void(ProbeOutcome)> done) override {
    prober_.Begin(io, request_, [this, done = std::move(done)](const KubeProbeResult& r) {
      ProbeOutcome out;
      out.latency_ms = r.latency_ms;
      if (r.local_error) {
        out.health = Health::kUnknown;  // our problem (kubeconfig, credentials), not the server's
        out.detail = r.error;
      } else if (r.curl_code != 0) {
        out.health = Health::kUnhealthy;
        out.detail = r.error;
      } else if (r.status == 200) {
        out.health = Health::kHealthy;
      } else if (r.status == 401 || r.status == 403) {
        // It answered, but we may not ask: that says nothing about its health.
        out.health = Health::kUnknown;
        out.detail = "/" + endpoint_ + " answered " + std::to_string(r.status) +
                     " (the kubeconfig user may not read it)";
      } else {
        out.health = Health::kUnhealthy;
        std::string body = r.body.substr(0, 200);
        while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
        for (char& c : body) {
          if (c == '\n') c = ' ';
        }
        out.detail = "/" + endpoint_ + " answered " + std::to_string(r.status) +
                     (body.empty() ? "" : ": " + body);
      }
      done(std::move(out));
    });
  }

  std::string Describe() const override { return "GET /" + endpoint_ + " of the API server"; }

 private:
  const std::string endpoint_;
  KubeProber prober_;
  KubeRequest request_;
};

class ApiserverVerifierKind : public VerifierKind {
 public:
  std::string Name() const override { return "apiserver"; }

  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec& target) const override {
    if (target.kind != "kubernetes") {
      spec.Error("the apiserver verifier needs a kubernetes target (target.kind is '" +
                 target.kind + "')");
      spec.Finish({"endpoint", "timeout"});
      return nullptr;
    }
    if (spec.defined() && !spec.ExpectMap()) return nullptr;
    std::string endpoint = spec.Enum("endpoint", {"readyz", "livez", "healthz"}, "readyz");
    Duration timeout = spec.DurationField("timeout", kDefaultTimeout, std::chrono::milliseconds(10),
                                          std::chrono::minutes(5));
    spec.Finish();
    return std::make_unique<ApiserverVerifier>(std::move(endpoint), timeout, target);
  }
};

}  // namespace

std::unique_ptr<VerifierKind> MakeApiserverVerifierKind() {
  return std::make_unique<ApiserverVerifierKind>();
}

}  // namespace gameday
