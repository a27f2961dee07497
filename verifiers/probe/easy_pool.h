#pragma once

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "experiments/clock.h"

namespace gameday {

// Probe handles cleaned up by every pool of this process so far (see ProbeLoop::Drain, which
// hands the memory back to the system after a burst).
inline std::atomic<uint64_t>& ProbeHandlesCleanedUp() {
  static std::atomic<uint64_t> count{0};
  return count;
}

// A pool of per-probe structs, each owning one libcurl easy handle whose options are set once
// when it is created: a probe only re-adds its handle to the multi handle, so steady-state
// probing allocates nothing. `Probe` needs a member `CURL* easy`. Acquire and Release may be
// called from any thread.
//
// At most kKeepFree probes wait for reuse; a probe released beyond that is cleaned up, and so are
// the free probes that a whole kIdlePeriod did not need (the fewest free at any moment of the
// period). A server that stalls for a second leaves up to max_in_flight probes out per verifier
// at once (64, each with libcurl's buffers: 100 verifiers held 54 MB more for the rest of the run
// after one 1.5 s stall); once they complete, the pool shrinks back to what steady probing
// reuses, which is one probe per verifier when the server answers within the interval.
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
      fewest_free_ = std::min(fewest_free_, free_.size());
      return p;
    }
    fewest_free_ = 0;
    auto probe = std::make_unique<Probe>();
    probe->easy = curl_easy_init();
    if (probe->easy == nullptr) return nullptr;
    configure(*probe);
    Probe* raw = probe.get();
    probes_.emplace(raw, std::move(probe));
    return raw;
  }

  // Only once the probe's handle is out of the multi handle. `now` is for tests.
  void Release(Probe* probe,
               std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
    std::vector<std::unique_ptr<Probe>> extra;
    {
      std::lock_guard lock(mu_);
      if (free_.size() < kKeepFree) {
        free_.push_back(probe);
      } else {
        TakeLocked(probe, &extra);
      }
      if (now - period_start_ >= kIdlePeriod) {
        // The least recently used first: free_ is reused from the back.
        const size_t idle = std::min(fewest_free_, free_.size());
        for (size_t i = 0; i < idle; ++i) TakeLocked(free_[i], &extra);
        free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(idle));
        period_start_ = now;
        fewest_free_ = free_.size();
      }
    }
    for (auto& p : extra) curl_easy_cleanup(p->easy);
    ProbeHandlesCleanedUp().fetch_add(extra.size(), std::memory_order_relaxed);
  }

  // Probes that exist, out or waiting (for tests).
  size_t size() const {
    std::lock_guard lock(mu_);
    return probes_.size();
  }

  // Cleans up every handle. Only when none is inside a multi handle: the probe loop keeps its
  // verifier alive until its thread has ended. Owners call it early when the handles refer to
  // something (a header list) the owner frees first.
  void Clear() {
    std::lock_guard lock(mu_);
    for (auto& [raw, probe] : probes_) curl_easy_cleanup(probe->easy);
    probes_.clear();
    free_.clear();
  }

  static constexpr size_t kKeepFree = 4;
  static constexpr std::chrono::seconds kIdlePeriod{2};

 private:
  void TakeLocked(Probe* probe, std::vector<std::unique_ptr<Probe>>* out) {
    auto it = probes_.find(probe);
    if (it == probes_.end()) return;
    out->push_back(std::move(it->second));
    probes_.erase(it);
  }

  mutable std::mutex mu_;
  std::unordered_map<Probe*, std::unique_ptr<Probe>> probes_;
  std::vector<Probe*> free_;
  std::chrono::steady_clock::time_point period_start_ = std::chrono::steady_clock::now();
  size_t fewest_free_ = 0;  // the fewest free probes since period_start_
};

// libcurl's smallest receive buffer instead of its 16 KB: probe answers are small (a larger one
// only takes more reads), and each probe out holds its buffer, 6,400 of them while a server
// stalls under 100 verifiers (measured with 6,400 transfers out: 9.5 KB each with the default
// buffer, 6.5 KB with this one).
inline constexpr long kProbeReceiveBuffer = 1024;

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
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, kProbeReceiveBuffer);
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
