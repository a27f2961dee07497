#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "clients/kubernetes/client.h"
#include "experiments/plugins/verifier.h"
#include "experiments/target.h"

namespace gameday {

// What one API probe got back.
struct KubeProbeResult {
  int curl_code = 0;  // CURLE_OK when an HTTP answer came
  long status = 0;    // HTTP status
  std::string body;
  std::string error;         // transport error text (TLS failures say so), when curl_code != 0
  bool local_error = false;  // this machine failed (no handle, no credentials; see curl_errors.h)
  std::string refusal;       // for a 401 or 403: who may not do what (KubeClient::ErrorFor)
  double latency_ms = 0;
};

// Runs API requests for a verifier on the shared probe loop. The client is made on the first
// probe (kubeconfig errors then show up as unknown samples with the reason) and kept.
class KubeProber {
 public:
  explicit KubeProber(TargetSpec target) : target_(std::move(target)) {}
  // Starts `request` on `io`; `done` gets the result on the loop thread, exactly once.
  void Begin(ProbeIo& io, const KubeRequest& request, std::function<void(KubeProbeResult)> done);

 private:
  Result<std::shared_ptr<KubeClient>> Client();

  const TargetSpec target_;
  std::mutex mu_;
  std::shared_ptr<KubeClient> client_;
};

}  // namespace gameday
