// Sample store figures for a realistic stream: 100 verifiers on a 10 ms schedule with ±50 µs of
// send jitter, latencies of 0.3-3 ms, 0.5 % failing samples with a few recurring details. Prints
// the write speed (samples appended and flushed per second, fsync included), bytes per sample,
// and the read speed of a full pass and of one stream's pass.
// Usage: sample_store_bench [SECONDS_OF_RUN]   (default 600: 6 M samples)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "bench_util.h"
#include "experiments/sample_store.h"

namespace {

using gameday::bench::Since;

using Clock = std::chrono::steady_clock;

}  // namespace

int main(int argc, char** argv) {
  using namespace gameday;
  const double run_s = argc > 1 ? std::atof(argv[1]) : 600;
  constexpr uint32_t kStreams = 100;
  constexpr double kInterval = 0.01;
  const size_t slots = static_cast<size_t>(run_s / kInterval);

  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/sample_store_bench-XXXXXX";
  if (!::mkdtemp(dir.data())) return 1;
  const std::string path = dir + "/" + kSampleStoreFileName;

  auto writer = SampleWriter::Create(path, 0600);
  if (!writer.ok()) {
    std::fprintf(stderr, "%s\n", writer.status().message().c_str());
    return 1;
  }
  SampleWriter& w = **writer;
  for (uint32_t k = 0; k < kStreams; ++k) {
    if (!w.Declare({k, "soak", "http-" + std::to_string(k), kInterval}).ok()) return 1;
  }
  const char* details[] = {"HTTP 503 \"Service Unavailable\"",
                           "connect to 127.0.0.1:8080: connection refused",
                           "timed out after 200 ms"};
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> jitter(-50e-6, 50e-6), latency(0.3, 3.0), u(0, 1);
  // The samples are made before the clock starts: the figure is the store's, not the RNG's.
  struct Pre {
    double jitter, latency_ms, fail;
  };
  std::vector<Pre> pre(1 << 16);
  for (auto& p : pre) p = {jitter(rng), latency(rng), u(rng)};

  const auto t0 = Clock::now();
  size_t n = 0, failing = 0;
  Sample s;
  for (size_t i = 0; i < slots; ++i) {
    for (uint32_t k = 0; k < kStreams; ++k, ++n) {
      const Pre& p = pre[n & 0xFFFF];
      s.t_send = static_cast<double>(i) * kInterval + k * 1e-4 + p.jitter;
      s.latency_ms = p.latency_ms;
      s.t_done = s.t_send + p.latency_ms / 1e3;
      if (p.fail < 0.005) {
        s.health = Health::kUnhealthy;
        s.detail = details[n % 3];
        ++failing;
      } else {
        s.health = Health::kHealthy;
        s.detail.clear();
      }
      if (!w.Append(k, s).ok()) return 1;
    }
  }
  if (Status st = w.Close(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  const double write_s = Since(t0);
  const double bytes = static_cast<double>(w.bytes_written());

  auto reader = SampleReader::Open(path);
  if (!reader.ok()) return 1;
  size_t read = 0;
  auto t1 = Clock::now();
  if (!reader->ForEach({}, [&](const SampleStreamInfo&, const Sample&) { ++read; }).ok()) return 1;
  const double read_all_s = Since(t1);
  size_t one = 0;
  t1 = Clock::now();
  if (!reader->ForEach({57}, [&](const SampleStreamInfo&, const Sample&) { ++one; }).ok()) return 1;
  const double read_one_s = Since(t1);

  std::printf("samples            %zu (%u streams x %zu slots of 10 ms, %zu failing)\n", n,
              kStreams, slots, failing);
  std::printf("write              %.2f s, %.2f M samples/s appended+flushed (fsync included)\n",
              write_s, n / write_s / 1e6);
  std::printf("size               %.1f MB, %.2f bytes/sample\n", bytes / 1e6, bytes / n);
  std::printf("read all           %.2f s, %.2f M samples/s (%zu samples)\n", read_all_s,
              read / read_all_s / 1e6, read);
  std::printf("read one stream    %.3f s (%zu samples)\n", read_one_s, one);
  std::filesystem::remove_all(dir);
  return read == n && one == slots ? 0 : 1;
}
