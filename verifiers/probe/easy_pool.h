#pragma once

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "experiments/clock.h"

namespace gameday {

// A pool of per-probe structs, each owning one libcurl easy handle whose options are set once
// when it is created: a probe only re-adds its handle to the multi handle, so steady-state
// probing allocates nothing. `Probe` needs a member `CURL* easy`. Acquire and Release may be
// called from any thread.
template <typename Probe>
class EasyHandlePool {
 public:
  EasyHandlePool() = default;
  EasyHandlePool(const EasyHandlePool&) = delete;
  EasyHandlePool& operator=(const EasyHandlePool&) = delete;
  ~EasyHandlePool() { Clear(); }

  // A free probe, or a new one after `configure(Probe&)` has set up its handle; nullptr when
  // libcurl cannot create a handle.
  template <typename Configure>
  Probe* Acquire(Configure&& configure) {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      Probe* p = free_.back();
      free_.pop_back();
      return p;
    }
    auto probe = std::make_unique<Probe>();
    probe->easy = curl_easy_init();
    if (probe->easy == nullptr) return nullptr;
    configure(*probe);
    probes_.push_back(std::move(probe));
    return probes_.back().get();
  }

  void Release(Probe* probe) {
    std::lock_guard lock(mu_);
    free_.push_back(probe);
  }

  // Cleans up every handle. Only when none is inside a multi handle: the probe loop keeps its
  // verifier alive until its thread has ended. Owners call it early when the handles refer to
  // something (a header list) the owner frees first.
  void Clear() {
    std::lock_guard lock(mu_);
    for (auto& probe : probes_) curl_easy_cleanup(probe->easy);
    probes_.clear();
    free_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Probe>> probes_;
  std::vector<Probe*> free_;
};

using CurlWriteCallback = size_t (*)(char* data, size_t size, size_t count, void* user);

// The options every HTTP(S) probe handle shares: http/https only, no signals (the probe loop is
// multi-threaded), the write callback and its data, the error buffer and the probe user agent.
inline void ConfigureProbeHandle(CURL* e, CurlWriteCallback write, void* data, char* errbuf) {
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, data);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "gameday-probe");
}

// One bound for the whole transfer and the same for connecting, in whole milliseconds.
inline void SetProbeTimeout(CURL* e, Duration timeout) {
  const long timeout_ms =
      static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
}

// ConfigureProbeHandle plus a fixed URL (libcurl copies it) and timeout.
inline void ConfigureCommonHttp(CURL* e, const std::string& url, Duration timeout,
                                CurlWriteCallback write, void* data, char* errbuf) {
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  ConfigureProbeHandle(e, write, data, errbuf);
  SetProbeTimeout(e, timeout);
}

}  // namespace gameday
