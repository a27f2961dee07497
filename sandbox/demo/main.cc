// gameday-demo: the tiny HTTP service the local sandbox runs as replicas behind HAProxy.
//
//   gameday-demo --port N [--bind 127.0.0.1] [--name replica-1] [--threads 8] [--warmup-ms 0]
//
//   GET /         200 "hello from <name>\n", header X-Replica: <name>
//   GET /healthz  200 "ok"
//   GET /metrics  Prometheus text format
//
// It listens within a few milliseconds of starting. With --warmup-ms it then answers / and
// /healthz with 503 "warming up" for that long, as real services do while they load (caches,
// connections, a JIT): that readiness gap, not the process start, is what clients of a restarted
// replica notice, and it gives experiments an outage of known length. /metrics answers at once.
//
// It exits 0 on SIGTERM or SIGINT (runit stops services with SIGTERM), and 2 on a bad command
// line or when it cannot listen.

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>
#include <pthread.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>

namespace {

using Poco::Net::HTTPRequestHandler;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

// Paths get their own label value; anything else is counted as "other" so a scan of random URLs
// cannot grow the metric set without bound.
enum PathLabel { kRoot, kHealthz, kMetrics, kOther, kPathCount };
constexpr std::array<const char*, kPathCount> kPathNames = {"/", "/healthz", "/metrics", "other"};
enum CodeLabel { k200, k404, k405, k503, kCodeCount };
constexpr std::array<const char*, kCodeCount> kCodeNames = {"200", "404", "405", "503"};
constexpr std::array<double, 8> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0};

struct Metrics {
  std::atomic<uint64_t> requests[kPathCount][kCodeCount] = {};
  std::atomic<uint64_t> bucket_counts[kBuckets.size()] = {};  // non-cumulative, per bucket
  std::atomic<uint64_t> duration_count{0};
  std::atomic<uint64_t> duration_sum_ns{0};
  double start_unix_seconds = 0;
  std::chrono::steady_clock::time_point ready_at;  // end of the warm-up

  bool Ready() const { return std::chrono::steady_clock::now() >= ready_at; }

  void Observe(PathLabel path, CodeLabel code, std::chrono::nanoseconds took) {
    requests[path][code].fetch_add(1, std::memory_order_relaxed);
    const double s = std::chrono::duration<double>(took).count();
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      if (s <= kBuckets[i]) {
        bucket_counts[i].fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    duration_count.fetch_add(1, std::memory_order_relaxed);
    duration_sum_ns.fetch_add(static_cast<uint64_t>(took.count()), std::memory_order_relaxed);
  }

  std::string Render(const std::string& name) const {
    std::ostringstream out;
    out << "# HELP up Whether the replica is serving (always 1 while it answers).\n"
        << "# TYPE up gauge\n"
        << "up 1\n"
        << "# HELP ready Whether the warm-up is over and / and /healthz answer 200.\n"
        << "# TYPE ready gauge\n"
        << "ready " << (Ready() ? 1 : 0) << "\n"
        << "# HELP requests_total HTTP requests served, by path and status code.\n"
        << "# TYPE requests_total counter\n";
    for (int p = 0; p < kPathCount; ++p) {
      for (int c = 0; c < kCodeCount; ++c) {
        const uint64_t v = requests[p][c].load(std::memory_order_relaxed);
        // Always list the main paths' 200s so a scraper sees the series from the start.
        if (v == 0 && !(c == k200 && p != kOther)) continue;
        out << "requests_total{replica=\"" << name << "\",path=\"" << kPathNames[p] << "\",code=\""
            << kCodeNames[c] << "\"} " << v << "\n";
      }
    }
    out << "# HELP request_duration_seconds Time to build and send a response.\n"
        << "# TYPE request_duration_seconds histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += bucket_counts[i].load(std::memory_order_relaxed);
      out << "request_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << cumulative << "\n";
    }
    const uint64_t count = duration_count.load(std::memory_order_relaxed);
    out << "request_duration_seconds_bucket{le=\"+Inf\"} " << count << "\n"
        << "request_duration_seconds_sum "
        << static_cast<double>(duration_sum_ns.load(std::memory_order_relaxed)) / 1e9 << "\n"
        << "request_duration_seconds_count " << count << "\n";
    out << "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n"
        << "# TYPE process_start_time_seconds gauge\n"
        << "process_start_time_seconds " << std::fixed << start_unix_seconds << "\n";
    return out.str();
  }
};

class Handler : public HTTPRequestHandler {
 public:
  Handler(const std::string& name, Metrics* metrics) : name_(name), metrics_(metrics) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    const auto start = std::chrono::steady_clock::now();
    std::string path = request.getURI();
    if (const size_t q = path.find('?'); q != std::string::npos) path.resize(q);
    const bool head = request.getMethod() == Poco::Net::HTTPRequest::HTTP_HEAD;
    const bool get = request.getMethod() == Poco::Net::HTTPRequest::HTTP_GET;

    PathLabel label = kOther;
    if (path == "/") label = kRoot;
    if (path == "/healthz") label = kHealthz;
    if (path == "/metrics") label = kMetrics;

    CodeLabel code = k200;
    std::string body;
    std::string content_type = "text/plain; charset=utf-8";
    if (!get && !head) {
      code = k405;
      response.set("Allow", "GET, HEAD");
      body = "method not allowed\n";
    } else if ((label == kRoot || label == kHealthz) && !metrics_->Ready()) {
      code = k503;
      response.set("Retry-After", "1");
      body = "warming up\n";
    } else if (label == kRoot) {
      body = "hello from " + name_ + "\n";
    } else if (label == kHealthz) {
      body = "ok";
    } else if (label == kMetrics) {
      body = metrics_->Render(name_);
      content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
      code = k404;
      body = "not found\n";
    }
    static constexpr std::array<HTTPResponse::HTTPStatus, kCodeCount> kStatus = {
        HTTPResponse::HTTP_OK, HTTPResponse::HTTP_NOT_FOUND, HTTPResponse::HTTP_METHOD_NOT_ALLOWED,
        HTTPResponse::HTTP_SERVICE_UNAVAILABLE};
    response.setStatus(kStatus[code]);
    response.set("X-Replica", name_);
    response.setContentType(content_type);
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    try {
      std::ostream& out = response.send();
      if (!head) out << body;
      out.flush();
    } catch (const Poco::Exception&) {
      // The client went away mid-response (HAProxy aborting a check, a killed prober): not ours
      // to report.
    }
    metrics_->Observe(label, code, std::chrono::steady_clock::now() - start);
  }

 private:
  const std::string name_;
  Metrics* metrics_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(std::string name, Metrics* metrics) : name_(std::move(name)), metrics_(metrics) {}
  HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new Handler(name_, metrics_);
  }

 private:
  const std::string name_;
  Metrics* metrics_;
};

void Usage(std::ostream& out) {
  out << "usage: gameday-demo --port N [--bind ADDR] [--name NAME] [--threads N] [--warmup-ms N]\n"
         "  --port N      TCP port to listen on (required)\n"
         "  --bind ADDR   address to listen on (default 127.0.0.1)\n"
         "  --name NAME   replica name for responses and the X-Replica header (default "
         "replica-1)\n"
         "  --threads N   maximum worker threads (default 8)\n"
         "  --warmup-ms N answer / and /healthz with 503 for N ms after start (default 0)\n";
}

bool ParseInt(const char* text, int min, int max, int* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) return false;
  *out = static_cast<int>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int threads = 8;
  int warmup_ms = 0;
  std::string bind = "127.0.0.1";
  std::string name = "replica-1";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      Usage(std::cout);
      return 0;
    }
    // Accept both "--flag value" and "--flag=value".
    std::string key = arg;
    std::string value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (key != "--port" && key != "--bind" && key != "--name" && key != "--threads" &&
        key != "--warmup-ms") {
      std::cerr << "gameday-demo: unknown argument '" << arg << "'\n";
      Usage(std::cerr);
      return 2;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::cerr << "gameday-demo: " << key << " needs a value\n";
        return 2;
      }
      value = argv[++i];
    }
    if (key == "--port" && !ParseInt(value.c_str(), 1, 65535, &port)) {
      std::cerr << "gameday-demo: --port must be 1..65535, got '" << value << "'\n";
      return 2;
    }
    if (key == "--threads" && !ParseInt(value.c_str(), 1, 64, &threads)) {
      std::cerr << "gameday-demo: --threads must be 1..64, got '" << value << "'\n";
      return 2;
    }
    if (key == "--warmup-ms" && !ParseInt(value.c_str(), 0, 600000, &warmup_ms)) {
      std::cerr << "gameday-demo: --warmup-ms must be 0..600000, got '" << value << "'\n";
      return 2;
    }
    if (key == "--bind") bind = value;
    if (key == "--name") {
      if (value.empty() || value.find_first_of("\"\\\r\n") != std::string::npos) {
        std::cerr << "gameday-demo: --name must be non-empty without quotes or newlines\n";
        return 2;
      }
      name = value;
    }
  }
  if (port == 0) {
    std::cerr << "gameday-demo: --port is required\n";
    Usage(std::cerr);
    return 2;
  }

  // Block the termination signals in every thread (the pool inherits this mask) and take them
  // synchronously below, which is what Poco's ServerApplication::waitForTerminationRequest does
  // without the rest of Util::Application's start-up cost.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);
  // A client hanging up mid-response must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  Metrics metrics;
  metrics.start_unix_seconds =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  metrics.ready_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(warmup_ms);
  try {
    Poco::Net::ServerSocket socket;
    socket.bind(Poco::Net::SocketAddress(bind, static_cast<Poco::UInt16>(port)),
                /*reuseAddress=*/true);
    socket.listen(128);

    Poco::ThreadPool pool(/*minCapacity=*/2, /*maxCapacity=*/threads, /*idleTime=*/60);
    auto* params = new Poco::Net::HTTPServerParams;  // ref-counted; the server takes ownership
    params->setMaxThreads(threads);
    params->setMaxQueued(256);
    params->setKeepAlive(true);
    params->setServerName("gameday-demo");
    Poco::Net::HTTPServer server(new Factory(name, &metrics), pool, socket, params);
    server.start();
    std::cerr << "gameday-demo: " << name << " listening on " << bind << ":" << port << "\n";

    int sig = 0;
    sigwait(&term, &sig);
    std::cerr << "gameday-demo: " << name << " got " << strsignal(sig) << ", stopping\n";
    server.stopAll(/*abortCurrent=*/true);
    pool.joinAll();
  } catch (const Poco::Exception& e) {
    std::cerr << "gameday-demo: " << name << " cannot serve on " << bind << ":" << port << ": "
              << e.displayText() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gameday-demo: " << name << ": " << e.what() << "\n";
    return 2;
  }
  return 0;
}
