// probe_bench: the probe loop's schedule precision and cost at the design's working point.
//
//   probe_bench [seconds=30] [verifiers=50] [interval_ms=20] [normal]
//
// A local HTTP server runs in a forked child (its CPU is not ours); one ProbeLoop runs N http
// verifiers against it, each every interval, for the given time. Prints schedule lateness
// (p50/p99/max), samples, skipped slots, failed samples, this process's CPU as a fraction of one
// core, and its peak RSS. `normal` keeps the loop thread at normal priority (as without
// CAP_SYS_NICE). Exits 1 when a target is missed (p99 < 2 ms, < 0.25 core, < 64 MB).

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "experiments/clock.h"
#include "experiments/plan.h"
#include "experiments/spec_reader.h"
#include "verifiers/http/http_verifier.h"
#include "verifiers/probe/probe_loop.h"

namespace {

using Poco::Net::HTTPRequestHandler;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

class OkHandler : public HTTPRequestHandler {
 public:
  void handleRequest(HTTPServerRequest&, HTTPServerResponse& response) override {
    response.setContentLength(3);
    response.send() << "ok\n";
  }
};

class OkFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new OkHandler;
  }
};

// The child: serves until killed; writes its port to `port_fd` once listening.
[[noreturn]] void ServeInChild(int port_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
  try {
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0), 256);
    Poco::ThreadPool pool(4, 256, 60);
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(256);  // thread per keep-alive connection
    params->setMaxQueued(512);
    params->setKeepAlive(true);
    Poco::Net::HTTPServer server(new OkFactory, pool, socket, params);
    server.start();
    const int port = socket.address().port();
    if (write(port_fd, &port, sizeof(port)) != sizeof(port)) _exit(2);
    close(port_fd);
    while (true) pause();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "probe_bench server: %s\n", e.what());
    _exit(2);
  }
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
  };
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

long PeakRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gameday;
  const double seconds = argc > 1 ? std::atof(argv[1]) : 30;
  const int verifiers = argc > 2 ? std::atoi(argv[2]) : 50;
  const int interval_ms = argc > 3 ? std::atoi(argv[3]) : 20;
  const bool normal_priority = argc > 4 && std::string(argv[4]) == "normal";
  if (seconds <= 0 || verifiers <= 0 || interval_ms <= 0) {
    std::fprintf(stderr,
                 "usage: probe_bench [seconds=30] [verifiers=50] [interval_ms=20] [normal]\n");
    return 2;
  }

  // Fork before any thread exists in this process.
  int fds[2];
  if (pipe(fds) != 0) return 2;
  const pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    close(fds[0]);
    ServeInChild(fds[1]);
  }
  close(fds[1]);
  int port = 0;
  if (read(fds[0], &port, sizeof(port)) != sizeof(port)) {
    std::fprintf(stderr, "probe_bench: the server child did not start\n");
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return 2;
  }
  close(fds[0]);

  int exit_code = 0;
  {
    std::unique_ptr<VerifierKind> kind = MakeHttpVerifierKind();
    std::vector<VerifierSpec> specs;
    Diagnostics diags;
    auto file = std::make_shared<const std::string>("probe_bench");
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
    for (int i = 0; i < verifiers; ++i) {
      SpecNode node(YAML::Load("url: " + url + "\ntimeout: 1s\nbody_contains: ok\n"),
                    "verify[" + std::to_string(i) + "].spec", file, &diags);
      VerifierSpec spec;
      spec.name = "web-" + std::to_string(i);
      spec.kind = "http";
      spec.interval = std::chrono::milliseconds(interval_ms);
      spec.verifier = std::shared_ptr<Verifier>(kind->Parse(node, TargetSpec{}));
      specs.push_back(std::move(spec));
    }
    if (!diags.empty()) {
      std::fprintf(stderr, "%s", diags.ToString().c_str());
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
      return 2;
    }

    std::printf("probe_bench: %d http verifiers every %d ms for %.0f s against 127.0.0.1:%d\n",
                verifiers, interval_ms, seconds, port);
    std::printf("load before: %s\n", LoadAvg().c_str());
    std::fflush(stdout);
    Clock& clock = Clock::Real();
    ProbeLoopOptions options;
    options.reserve_samples =
        static_cast<size_t>(seconds * 1000 / interval_ms) + 16;  // no growth while sampling
    options.raise_priority = !normal_priority;
    ProbeLoop loop(specs, clock, options);
    const double cpu0 = CpuSeconds();
    const MonoTime t0 = clock.Now();
    loop.Start(t0);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    loop.Stop();
    const double wall = ToSeconds(clock.Now() - t0);
    const double cpu = CpuSeconds() - cpu0;

    size_t samples = 0, failures = 0;
    std::string first_failure;
    for (int i = 0; i < verifiers; ++i) {
      std::vector<Sample> released;
      loop.Drain(i, &released);
      for (const Sample& s : released) {
        ++samples;
        if (s.health != Health::kHealthy) {
          ++failures;
          if (first_failure.empty()) first_failure = s.detail;
        }
      }
    }
    const LatenessSummary stats = loop.LatenessStats();
    const double expected = verifiers * seconds * 1000 / interval_ms;
    const double core = cpu / wall;
    const double rss_mb = static_cast<double>(PeakRssKb()) / 1024;
    std::printf("load after:  %s\n", LoadAvg().c_str());
    std::printf("lateness     p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", stats.p50_ms, stats.p99_ms,
                stats.max_ms);
    std::printf("samples      %zu (schedule allows %.0f)  probes sent %llu\n", samples, expected,
                static_cast<unsigned long long>(stats.count));
    std::printf("skipped      %llu (behind %llu, at in-flight cap %llu)\n",
                static_cast<unsigned long long>(stats.skipped),
                static_cast<unsigned long long>(stats.skipped_behind),
                static_cast<unsigned long long>(stats.skipped_at_cap));
    std::printf("failures     %zu%s%s\n", failures,
                first_failure.empty() ? "" : "  first: ", first_failure.c_str());
    std::printf("loop thread  %s\n", stats.scheduling.c_str());
    std::printf("cpu          %.3f core (%.2f s user+sys over %.2f s)\n", core, cpu, wall);
    std::printf("peak rss     %.1f MB\n", rss_mb);
    const bool ok = stats.p99_ms < 2.0 && core < 0.25 && rss_mb < 64;
    std::printf("targets      p99 < 2 ms, < 0.25 core, RSS < 64 MB: %s\n", ok ? "met" : "MISSED");
    exit_code = ok ? 0 : 1;
  }

  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  return exit_code;
}
