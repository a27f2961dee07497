#include "verifiers/probe/probe_loop.h"

#include <curl/curl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <deque>

#include "experiments/guarded.h"
#include "verifiers/probe/easy_pool.h"

namespace gameday {
namespace {

// curl_multi_poll sleeps whole milliseconds plus the kernel's timer slack; stop polling this far
// before a deadline and sleep the rest on the Clock.
constexpr Duration kPollMargin = std::chrono::microseconds(200);
constexpr Duration kMinInterval = std::chrono::milliseconds(1);
constexpr int kLoopNice = -10;

}  // namespace

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---------------------------------------------------------------------------------------------
// LatenessHistogram

int LatenessHistogram::Index(int64_t micros) {
  if (micros < 0) micros = 0;
  if (micros < kLinear) return static_cast<int>(micros);
  const int exponent = std::bit_width(static_cast<uint64_t>(micros)) - 1;  // >= 10
  const int power = exponent - 10;
  if (power >= kPowers) return kBuckets - 1;
  const int sub = static_cast<int>((micros >> (exponent - kSubBits)) & ((1 << kSubBits) - 1));
  return kLinear + power * (1 << kSubBits) + sub;
}

double LatenessHistogram::Value(int index) {
  if (index < kLinear) return index;
  const int power = (index - kLinear) >> kSubBits;
  const int sub = (index - kLinear) & ((1 << kSubBits) - 1);
  const int exponent = power + 10;
  const double width = std::ldexp(1.0, exponent - kSubBits);
  return ((1 << kSubBits) + sub) * width + width / 2;
}

void LatenessHistogram::Record(int64_t micros) {
  if (micros < 0) micros = 0;
  ++buckets_[Index(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

double LatenessHistogram::Quantile(double fraction) const {
  if (count_ == 0) return 0;
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(fraction * static_cast<double>(count_))));
  if (rank >= count_) return static_cast<double>(max_);  // the maximum is kept exactly
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(Value(i), static_cast<double>(max_));
  }
  return static_cast<double>(max_);
}

// ---------------------------------------------------------------------------------------------
// ProbeLoop

struct ProbeLoop::Pending {
  bool decided = false;
  Sample sample;  // t_send set when sent; the rest when decided
};

struct ProbeLoop::VerifierState {
  ProbeLoop* loop = nullptr;
  std::shared_ptr<Verifier> verifier;
  std::string name;
  bool failed = false;  // threw once: never probed again (loop thread only)
  Duration interval{};
  int64_t next_slot = 0;  // the index k of the next deadline epoch + k * interval
  MonoTime next_deadline{};
  int in_flight = 0;  // loop thread only
  // Probes sent and not yet released, in send order (loop thread only): a decided sample waits
  // here until every probe sent before it is decided too, so releases come sorted by t_send.
  std::deque<Pending> pending;

  mutable std::mutex mu;
  std::vector<Sample> released;  // decided, in send order, not yet drained
};

ProbeLoop::ProbeLoop(const std::vector<VerifierSpec>& verifiers, Clock& clock)
    : ProbeLoop(verifiers, clock, ProbeLoopOptions{}) {}

ProbeLoop::ProbeLoop(const std::vector<VerifierSpec>& verifiers, Clock& clock,
                     ProbeLoopOptions options)
    : clock_(clock), options_(options) {
  EnsureCurlGlobalInit();
  multi_ = curl_multi_init();
  if (multi_ != nullptr) {
    // curl's default cache size is 4 x the handles added at that moment, which shrinks to a few
    // connections whenever probes finish at different times; keep two per verifier (a probe
    // slower than its interval still finds one idle). Not more: the connections a burst of slow
    // probes opened stay cached, and 8 per verifier kept about 7 MB after one server stall.
    const long max_connects = std::max<long>(32, 2 * static_cast<long>(verifiers.size()));
    curl_multi_setopt(static_cast<CURLM*>(multi_), CURLMOPT_MAXCONNECTS, max_connects);
  }
  states_.reserve(verifiers.size());
  size_t in_flight_bound = 0;
  for (const VerifierSpec& spec : verifiers) {
    auto state = std::make_unique<VerifierState>();
    state->loop = this;
    state->verifier = spec.verifier;
    state->name = spec.name;
    state->interval = std::max(spec.interval, kMinInterval);
    state->released.reserve(options_.reserve_samples);
    states_.push_back(std::move(state));
    in_flight_bound += static_cast<size_t>(std::max(options_.max_in_flight, 1));
  }
  transfers_.reserve(std::min<size_t>(in_flight_bound, 4096));
  completions_.reserve(std::min<size_t>(in_flight_bound, 4096));
}

ProbeLoop::~ProbeLoop() {
  Stop();
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void ProbeLoop::Start(MonoTime epoch) {
  std::lock_guard lock(start_mu_);
  if (thread_.joinable() || multi_ == nullptr) return;
  epoch_ = epoch;
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void ProbeLoop::Stop() {
  std::lock_guard lock(start_mu_);
  if (!thread_.joinable()) return;
  thread_.request_stop();
  // Ends a curl_multi_poll in progress; a wakeup sent before the poll makes it return at once.
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  thread_.join();
}

void ProbeLoop::Drain(size_t index, std::vector<Sample>* out) {
  if (index >= states_.size()) return;
  {
    VerifierState& state = *states_[index];
    std::lock_guard lock(state.mu);
    if (out->empty()) {
      // The caller's emptied buffer goes back to the loop: no allocation on either side.
      out->swap(state.released);
    } else {
      out->insert(out->end(), std::make_move_iterator(state.released.begin()),
                  std::make_move_iterator(state.released.end()));
      state.released.clear();
    }
  }
  // Once per round of drains, on the drainer's thread: the loop thread never waits for it.
  if (index + 1 == states_.size()) ReturnFreedMemory();
}

void ProbeLoop::ReturnFreedMemory() {
  // A stall of the server leaves up to max_in_flight probes out per verifier; their handles are
  // cleaned up as they complete and once steady probing does not need them (EasyHandlePool), but
  // glibc keeps the freed pages, so one stall kept about 50 MB for the rest of a 100-verifier
  // run. malloc_trim returns them (measured: 71 MB back to 35 MB).
  constexpr uint64_t kMinCleaned = 64;
  const uint64_t cleaned = ProbeHandlesCleanedUp().load(std::memory_order_relaxed);
  std::lock_guard lock(trim_mu_);
  if (cleaned - cleaned_at_trim_ < kMinCleaned) return;
  const MonoTime now = clock_.Now();
  if (now - last_trim_ < std::chrono::seconds(1)) return;
  cleaned_at_trim_ = cleaned;
  last_trim_ = now;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

void ProbeLoop::Release(VerifierState* state, bool everything) {
  std::deque<Pending>& pending = state->pending;
  // A probe whose completion never comes (a verifier that lost its callback) must not hold the
  // rest back for ever: past this many, decided samples go out in the order they have.
  const size_t hold_limit = 4 * static_cast<size_t>(std::max(options_.max_in_flight, 1)) + 64;
  everything = everything || pending.size() > hold_limit;
  size_t n = 0;
  while (n < pending.size() && pending[n].decided) ++n;
  if (n == 0 && !everything) return;
  std::lock_guard lock(state->mu);
  if (everything) {
    for (Pending& p : pending) {
      if (p.decided) state->released.push_back(std::move(p.sample));
    }
    std::erase_if(pending, [](const Pending& p) { return p.decided; });
    return;
  }
  for (size_t i = 0; i < n; ++i) state->released.push_back(std::move(pending[i].sample));
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
}

LatenessSummary ProbeLoop::LatenessStats() const {
  std::lock_guard lock(stats_mu_);
  LatenessSummary s;
  s.p50_ms = lateness_.Quantile(0.50) / 1e3;
  s.p99_ms = lateness_.Quantile(0.99) / 1e3;
  s.max_ms = static_cast<double>(lateness_.max()) / 1e3;
  s.count = lateness_.count();
  s.skipped_behind = skipped_behind_;
  s.skipped_at_cap = skipped_at_cap_;
  s.skipped = skipped_behind_ + skipped_at_cap_;
  s.scheduling = scheduling_;
  return s;
}

void ProbeLoop::AddTransfer(void* curl_easy, std::function<void(int)> on_done) {
  CURLM* multi = static_cast<CURLM*>(multi_);
  if (aborting_ || curl_multi_add_handle(multi, static_cast<CURL*>(curl_easy)) != CURLM_OK) {
    completions_.push_back({std::move(on_done), CURLE_FAILED_INIT, current_});
    return;
  }
  transfers_.push_back({curl_easy, std::move(on_done), current_});
}

MonoTime ProbeLoop::NextDeadline() const {
  MonoTime next = MonoTime::max();
  for (const auto& state : states_) {
    if (state->verifier && !state->failed) next = std::min(next, state->next_deadline);
  }
  return next;
}

void ProbeLoop::FireDue() {
  for (auto& owned : states_) {
    VerifierState* state = owned.get();
    if (!state->verifier || state->failed) continue;
    MonoTime now = clock_.Now();
    if (now < state->next_deadline) continue;
    if (now - state->next_deadline > state->interval) {
      // More than one interval behind: jump to the latest slot that is due, counting the rest.
      const int64_t latest = (now - epoch_) / state->interval;
      {
        std::lock_guard lock(stats_mu_);
        skipped_behind_ += static_cast<uint64_t>(latest - state->next_slot);
      }
      state->next_slot = latest;
      state->next_deadline = epoch_ + latest * state->interval;
    }
    const MonoTime deadline = state->next_deadline;
    ++state->next_slot;
    state->next_deadline = epoch_ + state->next_slot * state->interval;
    if (state->in_flight >= options_.max_in_flight) {
      std::lock_guard lock(stats_mu_);
      ++skipped_at_cap_;
      continue;
    }
    now = clock_.Now();
    {
      std::lock_guard lock(stats_mu_);
      lateness_.Record(
          std::chrono::duration_cast<std::chrono::microseconds>(now - deadline).count());
    }
    ++state->in_flight;
    const double t_send = ToSeconds(now - epoch_);
    state->pending.emplace_back().sample.t_send = t_send;
    // A verifier's code runs on this thread; what it throws must not end the thread (nor the
    // process, through std::terminate) while a fault is in place.
    current_ = state;
    try {
      // Two words, so std::function keeps it inline: no allocation per probe.
      state->verifier->Begin(*this, [state, t_send](ProbeOutcome outcome) {
        state->loop->OnProbeDone(state, t_send, std::move(outcome));
      });
    } catch (...) {
      Fail(state, DescribeException(std::current_exception()));
      // Begin threw before it could decide: that probe never completes.
      if (!state->pending.empty() && !state->pending.back().decided &&
          state->pending.back().sample.t_send == t_send) {
        state->pending.pop_back();
        --state->in_flight;
      }
    }
    current_ = nullptr;
  }
}

void ProbeLoop::Fail(VerifierState* state, const std::string& what) {
  if (state) state->failed = true;
  std::lock_guard lock(stats_mu_);
  if (!failure_.ok()) return;
  failure_ = Status::Internal(state ? "verifier " + state->name + " threw while probing (" + what +
                                          "); it is not probed again"
                                    : "the probe loop stopped (" + what +
                                          "); no verifier is probed any more");
}

Status ProbeLoop::Failure() const {
  std::lock_guard lock(stats_mu_);
  return failure_;
}

void ProbeLoop::OnProbeDone(VerifierState* state, double t_send, ProbeOutcome outcome) {
  const double t_done = ToSeconds(clock_.Now() - epoch_);
  --state->in_flight;
  if (aborting_) {
    outcome.health = Health::kUnknown;
    outcome.value.reset();
    outcome.detail = "stopped";
  }
  // Probes overlap and finish out of order, but almost always the oldest first.
  auto it = std::find_if(state->pending.begin(), state->pending.end(), [t_send](const Pending& p) {
    return !p.decided && p.sample.t_send == t_send;
  });
  if (it == state->pending.end()) it = state->pending.insert(state->pending.end(), Pending{});
  it->decided = true;
  Sample& s = it->sample;
  s.t_send = t_send;
  s.t_done = t_done;
  s.health = outcome.health;
  s.latency_ms = outcome.latency_ms;
  s.value = outcome.value;
  s.detail = std::move(outcome.detail);
  Release(state, false);
}

void ProbeLoop::Reap() {
  CURLM* multi = static_cast<CURLM*>(multi_);
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    // msg dies with curl_multi_remove_handle: copy what is needed first.
    CURL* easy = msg->easy_handle;
    const int code = msg->data.result;
    curl_multi_remove_handle(multi, easy);
    auto it = std::find_if(transfers_.begin(), transfers_.end(),
                           [easy](const Transfer& t) { return t.easy == easy; });
    if (it == transfers_.end()) continue;
    completions_.push_back({std::move(it->on_done), code, it->owner});
    *it = std::move(transfers_.back());
    transfers_.pop_back();
  }
}

void ProbeLoop::RunCompletions() {
  // Callbacks may add transfers or complete synchronously, which appends here: index, not
  // iterate.
  for (size_t i = 0; i < completions_.size(); ++i) {
    std::function<void(int)> on_done = std::move(completions_[i].on_done);
    VerifierState* owner = completions_[i].owner;
    current_ = owner;
    try {
      on_done(completions_[i].code);
    } catch (...) {
      Fail(owner, DescribeException(std::current_exception()));
    }
    current_ = nullptr;
  }
  completions_.clear();
}

void ProbeLoop::AbortRemaining() {
  aborting_ = true;
  CURLM* multi = static_cast<CURLM*>(multi_);
  for (Transfer& t : transfers_) {
    curl_multi_remove_handle(multi, static_cast<CURL*>(t.easy));
    completions_.push_back({std::move(t.on_done), CURLE_ABORTED_BY_CALLBACK, t.owner});
  }
  transfers_.clear();
  RunCompletions();
}

void ProbeLoop::RaisePriority() {
  // On a loaded machine a normal thread can wait 5-15 ms for a CPU after its timer fires (seen
  // with 13 runnable compilers on 2 cores), which no sleep precision can fix. The loop sleeps
  // almost all the time, so the lowest real-time priority costs others little and makes its
  // wakeups punctual; the kernel's RT throttling still caps it. Without CAP_SYS_NICE fall back
  // to a better nice value, else stay normal.
  std::string got = "normal";
  if (options_.raise_priority) {
    sched_param param{};
    param.sched_priority = 1;
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0) {
      got = "SCHED_FIFO 1";
    } else if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kLoopNice) == 0) {
      got = "nice " + std::to_string(kLoopNice);
    }
  }
  std::lock_guard lock(stats_mu_);
  scheduling_ = got;
}

void ProbeLoop::Run(std::stop_token stop) {
  try {
    Loop(stop);
  } catch (...) {
    // Only the loop's own code gets here (every verifier call is caught where it is made).
    Fail(nullptr, DescribeException(std::current_exception()));
    try {
      AbortRemaining();
    } catch (...) {
    }
  }
  aborting_ = false;
  // Stopped: whatever was decided goes out, in send order among itself.
  for (auto& state : states_) Release(state.get(), true);
}

void ProbeLoop::Loop(std::stop_token stop) {
  // The default 50 us timer slack would add itself to every sleep; precision is the point here.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  RaisePriority();
  CURLM* multi = static_cast<CURLM*>(multi_);

  // Slots before the loop existed are not "missed": start at the latest one that is due.
  const MonoTime start = clock_.Now();
  for (auto& state : states_) {
    state->next_slot = start > epoch_ ? (start - epoch_) / state->interval : 0;
    state->next_deadline = epoch_ + state->next_slot * state->interval;
  }

  bool stopping = false;
  MonoTime give_up{};
  while (true) {
    if (!stopping && stop.stop_requested()) {
      stopping = true;
      give_up = clock_.Now() + options_.stop_grace;
    }
    if (!stopping) FireDue();
    int running = 0;
    curl_multi_perform(multi, &running);
    Reap();
    RunCompletions();
    if (stopping) {
      if (transfers_.empty()) break;
      if (clock_.Now() >= give_up) {
        AbortRemaining();
        break;
      }
    }

    // With no verifier to schedule, wake now and then only to notice Stop().
    const MonoTime wake =
        stopping ? give_up : std::min(NextDeadline(), clock_.Now() + std::chrono::seconds(1));
    if (!stopping && transfers_.empty()) {
      // Nothing for curl to watch: sleep straight to the deadline (or until Stop()).
      clock_.SleepUntil(wake, stop);
      continue;
    }
    const Duration remaining = wake - clock_.Now();
    if (remaining <= Duration::zero()) continue;
    if (remaining >= kPollMargin + std::chrono::milliseconds(1)) {
      // curl_multi_poll shortens this to curl's own next timeout, and returns early on socket
      // activity or curl_multi_wakeup.
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(remaining - kPollMargin);
      curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::min<int64_t>(ms.count(), 60000)),
                      nullptr);
    } else if (!stopping) {
      // Under a poll tick to go: finish precisely. Socket events wait at most this long.
      clock_.SleepUntil(wake, stop);
    }
  }
  // Completions recorded while aborting must not leak into a later Start (there is none today).
  aborting_ = false;
}

SamplingFactory MakeProbeLoopFactory() {
  return [](const std::vector<VerifierSpec>& verifiers, Clock& clock) -> std::unique_ptr<Sampling> {
    return std::make_unique<ProbeLoop>(verifiers, clock);
  };
}

}  // namespace gameday
