// The Kubernetes client against a tiny local HTTP server (127.0.0.1) that throttles: 429s with
// Retry-After and priority-and-fairness headers, hostile Retry-After values, the shared pause,
// and the counters benchmarks read.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "clients/kubernetes/client.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

bool WaitForCondition(const std::function<bool()>& done) {
  const auto deadline = SteadyClock::now() + seconds(10);
  while (!done()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

// Answers one request per connection (Connection: close), one connection at a time.
class ThrottlingServer {
 public:
  struct Request {
    std::string method, path;
    SteadyClock::time_point at;
  };
  // Returns the whole response head after the status line's code ("429 Too Many Requests\r\n
  // Retry-After: 1"), given the request number (0-based) and the request.
  using Handler = std::function<std::string(int n, const Request&)>;

  explicit ThrottlingServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 128) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ThrottlingServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string in;
      char buf[4096];
      size_t head_end = std::string::npos;
      while (head_end == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        head_end = in.find("\r\n\r\n");
      }
      if (head_end == std::string::npos) {
        ::close(c);
        continue;
      }
      size_t content_length = 0;
      if (size_t at = in.find("Content-Length: "); at != std::string::npos && at < head_end) {
        content_length = std::stoul(in.substr(at + 16));
      }
      while (in.size() < head_end + 4 + content_length) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      Request r;
      r.method = in.substr(0, in.find(' '));
      const size_t p1 = in.find(' ') + 1;
      r.path = in.substr(p1, in.find(' ', p1) - p1);
      r.at = SteadyClock::now();
      int n;
      {
        std::lock_guard lock(mu_);
        n = static_cast<int>(requests_.size());
        requests_.push_back(r);
      }
      const std::string head = handler_(n, r);
      const std::string body =
          head.rfind("200", 0) == 0 ? "{}" : R"({"kind":"Status","message":"too many requests"})";
      const std::string out = "HTTP/1.1 " + head + "\r\nContent-Type: application/json\r\n" +
                              "Content-Length: " + std::to_string(body.size()) +
                              "\r\nConnection: close\r\n\r\n" + body;
      (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

std::shared_ptr<KubeClient> ClientFor(const ThrottlingServer& server,
                                      KubeClientOptions options = {}) {
  KubeConfig config;
  config.source = "test";
  config.context_name = "test";
  config.user_name = "tester";
  config.cluster.server = server.url();
  auto client = KubeClient::Create(config, options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? *client : nullptr;
}

KubeRequest GetPods(const std::string& ns) {
  KubeRequest req;
  req.verb = "get";
  req.ref = ResourceRef::Core("pods", ns);
  return req;
}

constexpr char kApfRejection[] =
    "429 Too Many Requests\r\nRetry-After: 1\r\n"
    "X-Kubernetes-PF-FlowSchema-UID: 7f3b0c5e-0000-4000-8000-000000000001\r\n"
    "X-Kubernetes-PF-PriorityLevel-UID: 7f3b0c5e-0000-4000-8000-000000000002";

TEST(KubeClientThrottleTest, APriorityAndFairnessRejectionIsRetriedAfterRetryAfterAndCounted) {
  ThrottlingServer server([](int n, const auto&) { return n == 0 ? kApfRejection : "200 OK"; });
  auto client = ClientFor(server);
  ASSERT_TRUE(client);
  const auto t0 = SteadyClock::now();
  Result<KubeResponse> r = client->Call(GetPods("shop"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(SteadyClock::now() - t0, milliseconds(950));  // Retry-After: 1
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_GE(requests[1].at - requests[0].at, milliseconds(950));
  const KubeClientStats s = client->Stats();
  EXPECT_EQ(s.requests_by_verb.at("get"), 2u);
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.throttled, 1u);
  EXPECT_EQ(s.apf_rejections, 1u);
  EXPECT_EQ(s.limit.decreases, 1u);
  EXPECT_EQ(s.limit.limit, 16);  // 32 halved
  EXPECT_EQ(s.limit.pauses, 1u);
  EXPECT_EQ(s.limit.in_flight, 0);
}

TEST(KubeClientThrottleTest, ARetryAfterAlsoPausesOtherCallersRequests) {
  ThrottlingServer server([](int n, const auto&) {
    return n == 0 ? "429 Too Many Requests\r\nRetry-After: 1" : "200 OK";
  });
  auto client = ClientFor(server);
  ASSERT_TRUE(client);
  std::thread first([&] { EXPECT_TRUE(client->Call(GetPods("first")).ok()); });
  // Once the 429 is in, a request from another thread waits for the pause too.
  ASSERT_TRUE(WaitForCondition([&] { return client->Stats().limit.pauses == 1; }));
  ASSERT_TRUE(client->Call(GetPods("second")).ok());
  first.join();
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) {
    if (r.path.find("/second/") != std::string::npos) {
      EXPECT_GE(r.at - requests[0].at, milliseconds(900)) << "the second caller did not wait";
    }
  }
  EXPECT_EQ(client->Stats().throttled, 1u);
  EXPECT_EQ(client->Stats().apf_rejections, 0u);  // a plain 429, no APF headers
}

KubeRequest Evict(const std::string& name) {
  KubeRequest req;
  req.verb = "create";
  req.ref = ResourceRef::Core("pods", "shop", name);
  req.ref.subresource = "eviction";
  req.max_attempts = 1;  // as node-drain sends them: its scheduler paces the budget itself
  return req;
}

TEST(KubeClientThrottleTest, ADisruptionBudgetRefusingAnEvictionIsNoLoadSignal) {
  // The API server's answer when an eviction would break a PodDisruptionBudget: a 429 about that
  // pod, without priority-and-fairness headers. It must neither cut the limit nor pause others.
  ThrottlingServer server(
      [](int, const auto&) { return "429 Too Many Requests\r\nRetry-After: 1"; });
  auto client = ClientFor(server);
  ASSERT_TRUE(client);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(client->Call(Evict("web-" + std::to_string(i))).ok());
  KubeClientStats s = client->Stats();
  EXPECT_EQ(s.throttled, 3u);
  EXPECT_EQ(s.limit.decreases, 0u);
  EXPECT_EQ(s.limit.pauses, 0u);
  EXPECT_EQ(s.limit.limit, 32);
}

TEST(KubeClientThrottleTest, APriorityAndFairnessRejectionOfAnEvictionStillCutsTheLimit) {
  ThrottlingServer server([](int, const auto&) { return kApfRejection; });
  auto client = ClientFor(server);
  ASSERT_TRUE(client);
  EXPECT_FALSE(client->Call(Evict("web-0")).ok());
  const KubeClientStats s = client->Stats();
  EXPECT_EQ(s.apf_rejections, 1u);
  EXPECT_EQ(s.limit.decreases, 1u);
  EXPECT_EQ(s.limit.pauses, 1u);
}

TEST(KubeClientThrottleTest, HostileRetryAfterValuesAreCappedAndCannotHang) {
  const std::vector<std::string> hostile = {
      "429 Too Many Requests\r\nRetry-After: 99999999999999999999999999999999",
      "503 Service Unavailable\r\nRetry-After: Fri, 31 Dec 9999 23:59:59 GMT",
      "429 Too Many Requests\r\nRetry-After: -7",
      "429 Too Many Requests\r\nRetry-After: " + std::string(3000, '9'),
  };
  ThrottlingServer server([&](int n, const auto&) {
    return n < static_cast<int>(hostile.size()) ? hostile[n] : std::string("200 OK");
  });
  KubeClientOptions options;
  options.max_retry_after = milliseconds(200);
  options.concurrency.max_pause = milliseconds(100);
  options.max_attempts = 5;
  auto client = ClientFor(server, options);
  ASSERT_TRUE(client);
  const auto t0 = SteadyClock::now();
  Result<KubeResponse> r = client->Call(GetPods("shop"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LT(SteadyClock::now() - t0, seconds(5));
  EXPECT_EQ(server.requests().size(), 5u);
  EXPECT_EQ(client->Stats().throttled, 3u);
  EXPECT_EQ(client->Stats().server_errors, 1u);
}

TEST(KubeClientThrottleTest, CallManyCutsTheSharedLimitOn429sAndStillFinishes) {
  ThrottlingServer server([](int n, const auto&) {
    return n < 5 ? "429 Too Many Requests\r\nRetry-After: 0" : "200 OK";
  });
  KubeClientOptions options;
  options.initial_backoff = milliseconds(10);
  auto client = ClientFor(server, options);
  ASSERT_TRUE(client);
  std::vector<KubeRequest> deletes;
  for (int i = 0; i < 20; ++i) {
    KubeRequest req;
    req.verb = "delete";
    req.ref = ResourceRef::Core("pods", "shop", "web-" + std::to_string(i));
    deletes.push_back(req);
  }
  for (const auto& r : client->CallMany(deletes, 64)) EXPECT_TRUE(r.ok()) << r.status().ToString();
  const KubeClientStats s = client->Stats();
  EXPECT_EQ(s.requests_by_verb.at("delete"), 25u);
  EXPECT_EQ(s.throttled, 5u);
  EXPECT_EQ(s.retries, 5u);
  EXPECT_GE(s.limit.decreases, 1u);
  EXPECT_LT(s.limit.limit, 32);
  EXPECT_EQ(s.limit.in_flight, 0);
}

TEST(KubeClientThrottleTest, CallManyTimeQueuedBehindItsOwnRequestsIsNotATimeout) {
  // 100 requests of 200 ms timeout, 2 at a time, 5 ms each: the last is answered after about
  // 250 ms in the queue, and must not fail for it.
  ThrottlingServer server([](int, const auto&) {
    std::this_thread::sleep_for(milliseconds(5));
    return "200 OK";
  });
  auto client = ClientFor(server);
  ASSERT_TRUE(client);
  std::vector<KubeRequest> gets;
  for (int i = 0; i < 100; ++i) {
    KubeRequest req = GetPods("ns-" + std::to_string(i));
    req.timeout = milliseconds(200);
    gets.push_back(req);
  }
  const auto t0 = SteadyClock::now();
  for (const auto& r : client->CallMany(gets, 2)) EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(SteadyClock::now() - t0, milliseconds(400));
  EXPECT_EQ(server.requests().size(), 100u);
}

TEST(KubeClientThrottleTest, ACallerWaitingForASlotGivesUpWithinItsTimeout) {
  // The server holds nothing; the limit is full because this test holds its only slot by
  // running a request against a server that never answers.
  int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(silent, 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len);
  KubeConfig config;
  config.source = "test";
  config.context_name = "test";
  config.cluster.server = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  KubeClientOptions options;
  options.concurrency.initial = options.concurrency.min = options.concurrency.max = 1;
  options.max_attempts = 1;
  auto client_or = KubeClient::Create(config, options);
  ASSERT_TRUE(client_or.ok());
  auto client = *client_or;
  std::stop_source stop;
  std::thread holder([&] {
    KubeRequest req = GetPods("held");
    req.timeout = seconds(20);
    req.stop = stop.get_token();
    (void)client->Call(req);
  });
  ASSERT_TRUE(WaitForCondition([&] { return client->Stats().limit.in_flight == 1; }));
  KubeRequest req = GetPods("waiting");
  req.timeout = milliseconds(300);
  const auto t0 = SteadyClock::now();
  Result<KubeResponse> r = client->Call(req);
  const auto waited = SteadyClock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kDeadlineExceeded);
  EXPECT_NE(r.status().message().find("no request slot"), std::string::npos)
      << r.status().message();
  EXPECT_GE(waited, milliseconds(300));
  EXPECT_LT(waited, seconds(3));
  // CallMany waits on the same limit, as long.
  const auto t1 = SteadyClock::now();
  auto many = client->CallMany({req, req}, 8);
  ASSERT_EQ(many.size(), 2u);
  for (const auto& m : many) {
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), Status::Code::kDeadlineExceeded) << m.status().ToString();
  }
  EXPECT_GE(SteadyClock::now() - t1, milliseconds(300));
  EXPECT_LT(SteadyClock::now() - t1, seconds(3));
  stop.request_stop();
  holder.join();
  ::close(silent);
}

}  // namespace
}  // namespace gameday
