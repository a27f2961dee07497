// The bound on concurrent SSH handshakes (clients/ssh/handshake_limiter.h): never more than N in
// flight, waiters served in order and giving up at their deadline, the backoff between throttled
// tries, and the client's retry of a handshake cut off before the banner, against a real
// loopback listener that does what sshd does past MaxStartups (accept, then close).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libssh2.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clients/ssh/handshake_limiter.h"
#include "clients/ssh/ssh_client.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(HandshakeLimiterTest, NeverMoreThanTheLimitInFlight) {
  constexpr size_t kLimit = 4;
  HandshakeLimiter limiter(kLimit);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 24; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        HandshakeLimiter::Slot slot =
            limiter.Acquire(steady_clock::now() + std::chrono::seconds(30));
        ASSERT_TRUE(slot);
        const int now = ++inside;
        for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
        }
        std::this_thread::sleep_for(milliseconds(2));
        --inside;
        ++done;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(done.load(), 24 * 5);
  EXPECT_LE(most.load(), static_cast<int>(kLimit));
  // 24 threads holding slots for 2 ms each fill all four.
  EXPECT_EQ(most.load(), static_cast<int>(kLimit));
  const HandshakeLimiter::Stats s = limiter.stats();
  EXPECT_EQ(s.limit, kLimit);
  EXPECT_EQ(s.peak_in_flight, kLimit);
  EXPECT_EQ(s.acquired, 24u * 5);
  EXPECT_GT(s.waited, 0u);
  EXPECT_EQ(s.timed_out, 0u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
}

TEST(HandshakeLimiterTest, AWaiterGivesUpAtItsDeadline) {
  HandshakeLimiter limiter(1);
  HandshakeLimiter::Slot held = limiter.Acquire(steady_clock::now());
  ASSERT_TRUE(held);
  const auto start = steady_clock::now();
  HandshakeLimiter::Slot late = limiter.Acquire(start + milliseconds(150));
  const auto waited = steady_clock::now() - start;
  EXPECT_FALSE(late);
  EXPECT_GE(waited, milliseconds(150));
  EXPECT_LT(waited, milliseconds(2000));
  EXPECT_EQ(limiter.stats().timed_out, 1u);
  EXPECT_EQ(limiter.stats().waiting, 0u);
  // A deadline already past with the slot taken: no wait at all.
  EXPECT_FALSE(limiter.Acquire(steady_clock::now() - milliseconds(1)));
  held.Release();
  EXPECT_EQ(limiter.stats().in_flight, 0u);
  // The slot is free again and a past deadline does not matter when nobody queues.
  EXPECT_TRUE(limiter.Acquire(steady_clock::now() - milliseconds(1)));
  EXPECT_EQ(limiter.stats().in_flight, 0u);  // the temporary's slot went back at once
}

TEST(HandshakeLimiterTest, WaitersAreServedInTheOrderTheyCame) {
  HandshakeLimiter limiter(1);
  HandshakeLimiter::Slot held = limiter.Acquire(steady_clock::now());
  std::vector<int> order;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&, i] {
      HandshakeLimiter::Slot s = limiter.Acquire(steady_clock::now() + std::chrono::seconds(30));
      std::lock_guard lock(mu);
      order.push_back(i);
    });
    // Each waiter is queued before the next one starts.
    while (limiter.stats().waiting != static_cast<size_t>(i + 1)) std::this_thread::yield();
  }
  held.Release();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(HandshakeLimiterTest, AWaiterThatTimedOutAtTheHeadDoesNotBlockTheNext) {
  HandshakeLimiter limiter(1);
  HandshakeLimiter::Slot held = limiter.Acquire(steady_clock::now());
  std::atomic<bool> second_got{false};
  std::thread first(
      [&] { EXPECT_FALSE(limiter.Acquire(steady_clock::now() + milliseconds(100))); });
  while (limiter.stats().waiting != 1) std::this_thread::yield();
  std::thread second([&] {
    second_got = static_cast<bool>(limiter.Acquire(steady_clock::now() + std::chrono::seconds(30)));
  });
  first.join();
  held.Release();
  second.join();
  EXPECT_TRUE(second_got);
}

TEST(HandshakeLimiterTest, SlotsMoveAndReleaseOnce) {
  HandshakeLimiter limiter(2);
  HandshakeLimiter::Slot a = limiter.Acquire(steady_clock::now());
  HandshakeLimiter::Slot b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_TRUE(b);
  EXPECT_EQ(limiter.stats().in_flight, 1u);
  a = limiter.Acquire(steady_clock::now());
  a = std::move(b);  // a's own slot goes back, b's moves in
  EXPECT_EQ(limiter.stats().in_flight, 1u);
  a.Release();
  a.Release();
  EXPECT_EQ(limiter.stats().in_flight, 0u);
}

TEST(HandshakeLimiterTest, ZeroMeansOneAndTheProcessLimiterIsShared) {
  EXPECT_EQ(HandshakeLimiter(0).limit(), 1u);
  EXPECT_EQ(HandshakeLimiter::Process().get(), HandshakeLimiter::Process().get());
  EXPECT_EQ(HandshakeLimiter::Process()->limit(), HandshakeLimiter::kDefaultLimit);
  SshClient a;
  SshClient b;
  EXPECT_EQ(&a.handshake_limiter(), &b.handshake_limiter());
  EXPECT_EQ(&a.handshake_limiter(), HandshakeLimiter::Process().get());
  SshClientOptions own;
  own.handshake_limiter = std::make_shared<HandshakeLimiter>(3);
  SshClient c(&Clock::Real(), own);
  EXPECT_EQ(&c.handshake_limiter(), own.handshake_limiter.get());
}

TEST(HandshakeBackoffTest, GrowsDoublingWithinItsUpperHalfUpToTheCap) {
  std::mt19937_64 rng(42);
  const Duration base = milliseconds(100);
  const Duration cap = milliseconds(2000);
  for (int attempt = 1; attempt <= 8; ++attempt) {
    Duration full = base;
    for (int i = 1; i < attempt; ++i) full = std::min(full * 2, cap);
    Duration lo = full, hi = Duration::zero();
    for (int i = 0; i < 200; ++i) {
      const Duration d = HandshakeBackoff(attempt, base, cap, rng);
      EXPECT_GE(d, full / 2) << attempt;
      EXPECT_LE(d, full) << attempt;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // Jittered: 200 draws are not all the same.
    EXPECT_GT(hi - lo, full / 10) << attempt;
  }
}

TEST(HandshakeBackoffTest, ThrottlingIsACloseBeforeTheBannerOnly) {
  EXPECT_TRUE(LooksThrottled(LIBSSH2_ERROR_SOCKET_DISCONNECT, nullptr));
  EXPECT_TRUE(LooksThrottled(LIBSSH2_ERROR_SOCKET_RECV, nullptr));
  EXPECT_TRUE(LooksThrottled(LIBSSH2_ERROR_BANNER_RECV, ""));
  EXPECT_TRUE(LooksThrottled(LIBSSH2_ERROR_SOCKET_SEND, nullptr));
  // sshd 8 and later say why before they close; that line is no banner.
  EXPECT_TRUE(LooksThrottled(LIBSSH2_ERROR_SOCKET_DISCONNECT, "Exceeded MaxStartups"));
  // Once the server sent its banner, a failure is something else (key exchange, a protocol
  // error).
  EXPECT_FALSE(LooksThrottled(LIBSSH2_ERROR_SOCKET_DISCONNECT, "SSH-2.0-OpenSSH_9.2p1"));
  EXPECT_FALSE(LooksThrottled(LIBSSH2_ERROR_KEX_FAILURE, nullptr));
  EXPECT_FALSE(LooksThrottled(LIBSSH2_ERROR_TIMEOUT, nullptr));
}

// A loopback listener that accepts every connection and closes it at once, as sshd does to
// connections past MaxStartups: without a word, or (as sshd 8 and later) after `say`. Counts
// what it accepted.
class DroppingListener {
 public:
  explicit DroppingListener(std::string say = "") : say_(std::move(say)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 64);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        ++accepted_;
        if (!say_.empty()) (void)!::write(c, say_.data(), say_.size());
        ::close(c);
      }
    });
  }
  ~DroppingListener() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  const std::string say_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

SshEndpoint Loopback(int port, Duration connect_timeout) {
  SshEndpoint ep;
  ep.name = "dropper";
  ep.address = "127.0.0.1";
  ep.port = port;
  ep.insecure_ignore_host_key = true;  // never reached: the handshake fails before any key
  ep.key_file = "/nonexistent";
  ep.connect_timeout = connect_timeout;
  return ep;
}

TEST(SshHandshakeRetryTest, AHostThatDropsBeforeItsBannerIsTriedAgainThenNamedAsThrottling) {
  DroppingListener dropper;
  SshClientOptions options;
  options.handshake_limiter = std::make_shared<HandshakeLimiter>(2);
  options.handshake_retries = 3;
  options.handshake_retry_base = milliseconds(20);
  options.handshake_retry_cap = milliseconds(80);
  SshClient client(&Clock::Real(), options);
  const Status s = client.Connect(Loopback(dropper.port(), std::chrono::seconds(10)));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("before sending its SSH banner"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("MaxStartups"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("(4 tries)"), std::string::npos) << s.message();
  EXPECT_EQ(dropper.accepted(), 4);
  EXPECT_EQ(client.handshake_limiter().stats().throttled_retries, 3u);
  EXPECT_EQ(client.handshake_limiter().stats().acquired, 4u);
  EXPECT_EQ(client.handshake_limiter().stats().in_flight, 0u);
}

TEST(SshHandshakeRetryTest, SshdsExceededMaxStartupsLineCountsAsThrottling) {
  DroppingListener dropper("Exceeded MaxStartups\r\n");
  SshClientOptions options;
  options.handshake_limiter = std::make_shared<HandshakeLimiter>(2);
  options.handshake_retries = 2;
  options.handshake_retry_base = milliseconds(20);
  options.handshake_retry_cap = milliseconds(40);
  SshClient client(&Clock::Real(), options);
  const Status s = client.Connect(Loopback(dropper.port(), std::chrono::seconds(10)));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("before sending its SSH banner"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("(3 tries)"), std::string::npos) << s.message();
  EXPECT_EQ(dropper.accepted(), 3);
  EXPECT_EQ(client.handshake_limiter().stats().throttled_retries, 2u);
}

TEST(SshHandshakeRetryTest, RetriesStopAtTheConnectTimeout) {
  DroppingListener dropper;
  SshClientOptions options;
  options.handshake_limiter = std::make_shared<HandshakeLimiter>(2);
  options.handshake_retries = 1000;
  options.handshake_retry_base = milliseconds(50);
  options.handshake_retry_cap = milliseconds(100);
  SshClient client(&Clock::Real(), options);
  const auto start = steady_clock::now();
  const Status s = client.Connect(Loopback(dropper.port(), milliseconds(600)));
  const auto took = steady_clock::now() - start;
  ASSERT_FALSE(s.ok());
  // Either the retries saw the deadline coming, or the last try ran into it; both say so.
  const bool gave_up =
      s.message().find("no time left for another within 600ms") != std::string::npos;
  const bool last_try =
      s.message().find("the earlier ones were cut off before the banner") != std::string::npos;
  EXPECT_TRUE(gave_up || last_try) << s.message();
  EXPECT_LE(took, milliseconds(600 + 500));
  EXPECT_GE(dropper.accepted(), 3);
}

TEST(SshHandshakeRetryTest, ARefusedConnectionIsNotRetried) {
  // A port nobody listens on: refused at once, which is no throttling.
  int port = 0;
  {
    DroppingListener closed_soon;
    port = closed_soon.port();
  }
  SshClientOptions options;
  options.handshake_limiter = std::make_shared<HandshakeLimiter>(2);
  SshClient client(&Clock::Real(), options);
  const Status s = client.Connect(Loopback(port, std::chrono::seconds(5)));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot connect"), std::string::npos) << s.message();
  EXPECT_EQ(client.handshake_limiter().stats().throttled_retries, 0u);
  EXPECT_EQ(client.handshake_limiter().stats().acquired, 1u);
}

TEST(SshHandshakeRetryTest, AClientWaitingForASlotGivesUpWithinItsConnectTimeout) {
  DroppingListener dropper;
  SshClientOptions options;
  options.handshake_limiter = std::make_shared<HandshakeLimiter>(1);
  SshClient client(&Clock::Real(), options);
  // Another caller holds the only slot.
  HandshakeLimiter::Slot busy = options.handshake_limiter->Acquire(steady_clock::now());
  const auto start = steady_clock::now();
  const Status s = client.Connect(Loopback(dropper.port(), milliseconds(300)));
  const auto took = steady_clock::now() - start;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kDeadlineExceeded) << s.ToString();
  EXPECT_NE(s.message().find("no SSH handshake slot came free within 300ms"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("all 1 of"), std::string::npos) << s.message();
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_EQ(dropper.accepted(), 0);  // nothing went to the host
}

}  // namespace
}  // namespace gameday
