// The "prometheus" verifier against a real Prometheus (Debian's /usr/bin/prometheus) started on
// a free loopback port with its own temporary TSDB, scraping every second a Poco HTTP server in
// this process whose metric the test changes. Checks healthy -> unhealthy -> healthy as the
// metric moves, the value kept in every sample, the unknown answers (empty result, several
// series, a failed query), and unknown samples once Prometheus is stopped.

#include "verifiers/prometheus/prometheus_verifier.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/ThreadPool.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <mutex>

#include "experiments/clock.h"
#include "experiments/plan.h"
#include "experiments/spec_reader.h"
#include "tests/integration/child_process.h"
#include "tests/unit/sample_log.h"
#include "verifiers/probe/probe_loop.h"

namespace gameday {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TempDir;

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// Serves /metrics in the Prometheus text format: demo_error_ratio (set by the test) and two
// series of demo_series.
class MetricTarget {
 public:
  MetricTarget() : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)), ratio_(new Ratio) {
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(4);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(ratio_), socket_, params);
    server_->start();
  }
  ~MetricTarget() {
    server_->stopAll(true);
    Poco::ThreadPool::defaultPool().joinAll();  // connections finish before the server goes
  }
  int port() const { return socket_.address().port(); }
  void Set(double v) { ratio_->value.store(v); }
  int scrapes() const { return ratio_->scrapes.load(); }

 private:
  struct Ratio {
    std::atomic<double> value{0.01};
    std::atomic<int> scrapes{0};
  };
  class Handler : public Poco::Net::HTTPRequestHandler {
   public:
    explicit Handler(std::shared_ptr<Ratio> r) : r_(std::move(r)) {}
    void handleRequest(Poco::Net::HTTPServerRequest& req,
                       Poco::Net::HTTPServerResponse& resp) override {
      r_->scrapes.fetch_add(1);
      std::string body =
          "# TYPE demo_error_ratio gauge\ndemo_error_ratio " + std::to_string(r_->value.load()) +
          "\n# TYPE demo_series gauge\ndemo_series{shard=\"a\"} 1\ndemo_series{shard=\"b\"} 2\n";
      resp.setContentType("text/plain; version=0.0.4");
      resp.setContentLength(static_cast<std::streamsize>(body.size()));
      resp.send() << body;
    }

   private:
    std::shared_ptr<Ratio> r_;
  };
  class Factory : public Poco::Net::HTTPRequestHandlerFactory {
   public:
    explicit Factory(std::shared_ptr<Ratio> r) : r_(std::move(r)) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
      return new Handler(r_);
    }

   private:
    std::shared_ptr<Ratio> r_;
  };

  Poco::Net::ServerSocket socket_;
  std::shared_ptr<Ratio> ratio_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
};

VerifierSpec Prom(const std::string& name, const std::string& spec_yaml) {
  static const std::unique_ptr<VerifierKind> kind = MakePrometheusVerifierKind();
  Diagnostics diags;
  SpecNode node(YAML::Load(spec_yaml), "verify." + name + ".spec",
                std::make_shared<const std::string>("test.yaml"), &diags);
  std::unique_ptr<Verifier> verifier = kind->Parse(node, TargetSpec{});
  EXPECT_TRUE(diags.empty()) << diags.ToString();
  VerifierSpec spec;
  spec.path = "verify." + name;
  spec.name = name;
  spec.kind = "prometheus";
  spec.interval = 200ms;
  spec.verifier = std::shared_ptr<Verifier>(std::move(verifier));
  return spec;
}

std::string Spec(int port, const std::string& query, const std::string& condition) {
  return "url: http://127.0.0.1:" + std::to_string(port) + "\nquery: '" + query +
         "'\ncondition: " + condition + "\ntimeout: 1s\n";
}

// The newest `n` samples all have `health` (and at least `n` exist).
bool LastAre(const std::vector<Sample>& s, size_t n, Health health) {
  if (s.size() < n) return false;
  for (size_t i = s.size() - n; i < s.size(); ++i) {
    if (s[i].health != health) return false;
  }
  return true;
}

class PrometheusVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kPrometheus, X_OK) != 0) GTEST_SKIP() << kPrometheus << " is not installed";
    port_ = testing::FreeLoopbackPort();
    const std::string config = dir_ / "prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                             "  evaluation_interval: 1s\nscrape_configs:\n  - job_name: demo\n"
                             "    static_configs:\n      - targets: ['127.0.0.1:"
                          << target_.port() << "']\n";
    prometheus_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{
            kPrometheus, "--config.file=" + config, "--storage.tsdb.path=" + (dir_ / "tsdb"),
            "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"},
        dir_ / "prometheus.log");
    // Ready, and the first scrape is in: the metric can be queried.
    const bool up = testing::WaitUntil(
        [&] {
          if (prometheus_->Poll()) return true;  // it exited: fail below with its log
          auto [status, body] = testing::HttpGet(port_, "/api/v1/query?query=demo_error_ratio");
          return status == 200 && body.find("\"value\"") != std::string::npos;
        },
        90s);
    ASSERT_TRUE(up && !prometheus_->Poll()) << "Prometheus did not come up:\n"
                                            << prometheus_->LogText();
  }

  TempDir dir_{"gameday-prometheus"};
  MetricTarget target_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> prometheus_;
};

TEST_F(PrometheusVerifierTest, FollowsTheMetricAndIsUnknownWhenPrometheusCannotTell) {
  std::vector<VerifierSpec> specs = {
      Prom("ratio", Spec(port_, "demo_error_ratio", "{op: \"<\", value: 0.5}")),
      Prom("range", Spec(port_, "max(demo_error_ratio)", "{op: between, min: 0, max: 0.05}")),
      Prom("empty", Spec(port_, "no_such_metric_gameday", "{op: \"<\", value: 1}")),
      Prom("several", Spec(port_, "demo_series", "{op: \"<\", value: 10}")),
      Prom("bad", Spec(port_, "sum(demo_series", "{op: \"<\", value: 10}")),
  };
  ProbeLoop loop(specs, Clock::Real());
  gameday::testing::SampleLog samples_of(loop);
  loop.Start(Clock::Real().Now());
  struct StopGuard {
    ProbeLoop& l;
    ~StopGuard() { l.Stop(); }
  } guard{loop};

  // Healthy at 0.01.
  ASSERT_TRUE(testing::WaitUntil([&] { return LastAre(samples_of(0), 5, Health::kHealthy); }, 20s));
  // Unhealthy once Prometheus has scraped 0.9 (a scrape a second).
  target_.Set(0.9);
  ASSERT_TRUE(
      testing::WaitUntil([&] { return LastAre(samples_of(0), 5, Health::kUnhealthy); }, 20s));
  // Healthy again.
  target_.Set(0.02);
  ASSERT_TRUE(testing::WaitUntil([&] { return LastAre(samples_of(0), 5, Health::kHealthy); }, 20s));
  // Prometheus goes away: unknown, never unhealthy.
  const size_t before_stop = samples_of(0).size();
  prometheus_->Kill();
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        auto s = samples_of(0);
        return s.size() >= before_stop + 5 && LastAre(s, 5, Health::kUnknown);
      },
      20s));
  loop.Stop();

  // The ratio verifier went healthy -> unhealthy -> healthy -> unknown, in that order, and kept
  // the value Prometheus returned in every sample it could read.
  const std::vector<Sample> ratio = samples_of(0);
  std::vector<std::pair<Health, size_t>> runs;  // health and length of each run
  for (const Sample& s : ratio) {
    if (runs.empty() || runs.back().first != s.health) runs.push_back({s.health, 0});
    runs.back().second++;
    if (s.health == Health::kHealthy) {
      ASSERT_TRUE(s.value.has_value());
      EXPECT_TRUE(*s.value == 0.01 || *s.value == 0.02) << *s.value;
      EXPECT_TRUE(s.detail.empty()) << s.detail;
    } else if (s.health == Health::kUnhealthy) {
      ASSERT_TRUE(s.value.has_value());
      EXPECT_DOUBLE_EQ(*s.value, 0.9);
      EXPECT_EQ(s.detail, "value 0.9 is not < 0.5");
    } else {
      EXPECT_FALSE(s.value.has_value());
      // Stopping the loop may cut the last probe short ("stopped"); everything else is refused.
      EXPECT_TRUE(s.detail.rfind("Prometheus unreachable: ", 0) == 0 || s.detail == "stopped")
          << s.detail;
    }
    EXPECT_LE(s.t_send, s.t_done);
    EXPECT_GE(s.latency_ms, 0);
  }
  ASSERT_EQ(runs.size(), 4u) << "expected healthy, unhealthy, healthy, unknown";
  EXPECT_EQ(runs[0].first, Health::kHealthy);
  EXPECT_EQ(runs[1].first, Health::kUnhealthy);
  EXPECT_EQ(runs[2].first, Health::kHealthy);
  EXPECT_EQ(runs[3].first, Health::kUnknown);
  // libcurl's words for the refused connection name the address it tried.
  const std::string refused =
      "Prometheus unreachable: Failed to connect to 127.0.0.1 port " + std::to_string(port_);
  EXPECT_EQ(ratio.back().detail.rfind(refused, 0) == 0 || ratio.back().detail == "stopped", true)
      << ratio.back().detail;
  EXPECT_EQ(ratio[ratio.size() - 2].detail.rfind(refused, 0), 0u) << ratio[ratio.size() - 2].detail;

  // The range condition: 0.01 and 0.02 are in [0, 0.05], 0.9 is not.
  const std::vector<Sample> range = samples_of(1);
  size_t range_bad = 0;
  for (const Sample& s : range) {
    if (s.health == Health::kUnhealthy) {
      ++range_bad;
      EXPECT_EQ(s.detail, "value 0.9 is not between 0 and 0.05");
    }
  }
  EXPECT_GT(range_bad, 0u);

  // Answers Prometheus gave that say nothing about the service: unknown with the reason.
  auto expect_unknown = [&](size_t index, const std::string& fragment) {
    const std::vector<Sample> s = samples_of(index);
    ASSERT_GE(s.size(), 10u);
    size_t with_answer = 0;
    for (const Sample& x : s) {
      EXPECT_EQ(x.health, Health::kUnknown) << specs[index].name << ": " << x.detail;
      EXPECT_FALSE(x.value.has_value());
      with_answer += x.detail.find(fragment) != std::string::npos;
    }
    EXPECT_GE(with_answer, 5u) << specs[index].name << ": first detail " << s.front().detail;
  };
  expect_unknown(2, "query returned an empty result (no series matched)");
  expect_unknown(3, "query returned 2 series, not one value");
  expect_unknown(4, "Prometheus answered HTTP 400, query failed: bad_data:");
  EXPECT_GE(target_.scrapes(), 3);
}

}  // namespace
}  // namespace gameday
