#include "verifiers/kube_prober/kube_prober.h"

#include <curl/curl.h>

#include "clients/curl/curl_errors.h"
#include "clients/kubernetes/cluster.h"

namespace gameday {

Result<std::shared_ptr<KubeClient>> KubeProber::Client() {
  std::lock_guard lock(mu_);
  if (client_) return client_;
  auto client = SharedKubeClient(target_.kubeconfig, target_.context);
  if (!client.ok()) return client.status();
  client_ = *client;
  return client_;
}

void KubeProber::Begin(ProbeIo& io, const KubeRequest& request,
                       std::function<void(KubeProbeResult)> done) {
  auto fail_local = [&](const std::string& why) {
    KubeProbeResult r;
    r.curl_code = CURLE_FAILED_INIT;
    r.local_error = true;
    r.error = why;
    done(std::move(r));
  };
  auto client = Client();
  if (!client.ok()) return fail_local(client.status().message());
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return fail_local("cannot create a libcurl handle");
  auto transfer = (*client)->Prepare(easy, request);
  if (!transfer.ok()) {
    curl_easy_cleanup(easy);
    return fail_local(transfer.status().message());
  }
  // The transfer (headers, body) must live until libcurl is done with the handle.
  std::shared_ptr<KubeClient::Transfer> t(std::move(*transfer));
  io.AddTransfer(easy, [easy, t, done = std::move(done)](int code) mutable {
    KubeProbeResult r;
    r.curl_code = code;
    curl_off_t total_us = 0;
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
    r.latency_ms = static_cast<double>(total_us) / 1e3;
    if (code == CURLE_OK) {
      r.status = t->status();
      r.body = t->body();
      r.refusal = t->Refusal();
    } else {
      r.error = t->Error(code);
      r.local_error = CurlFailureHealthOf(easy, code) == Health::kUnknown;
    }
    // Release the request's buffers before the handle goes.
    t.reset();
    curl_easy_cleanup(easy);
    done(std::move(r));
  });
}

}  // namespace gameday
