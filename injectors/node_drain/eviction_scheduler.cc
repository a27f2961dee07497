#include "injectors/node_drain/eviction_scheduler.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace gameday {
namespace {

// While an answer is awaited, idle workers look again at least this often (for the stop token,
// and because a fake clock in tests does not move on its own).
constexpr auto kIdlePoll = std::chrono::milliseconds(20);

enum class PodState { kWaiting, kInFlight, kDone };

struct Pod {
  size_t group = 0;
  PodState state = PodState::kWaiting;
  MonoTime not_before{};
  int transient_streak = 0;
};

struct Group {
  size_t limit = 1;
  size_t in_flight = 0;
  bool refused = false;  // the last answer was a refusal: one probe at a time
  int refusal_streak = 0;
  MonoTime not_before{};
};

Duration Doubled(Duration first, int times, Duration cap) {
  Duration d = first;
  for (int i = 1; i < times && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

class Scheduler {
 public:
  Scheduler(const std::vector<size_t>& pod_groups, const EvictionSchedule& schedule,
            const std::function<EvictionOutcome(size_t)>& evict)
      : schedule_(schedule), evict_(evict), left_(pod_groups.size()) {
    groups_.resize(schedule.group_limits.size());
    for (size_t g = 0; g < groups_.size(); ++g) {
      groups_[g].limit = std::max<size_t>(1, schedule.group_limits[g]);
    }
    pods_.resize(pod_groups.size());
    for (size_t i = 0; i < pods_.size(); ++i) {
      // A pod of an unknown group gets a group of its own with one in flight.
      if (pod_groups[i] >= groups_.size()) groups_.resize(pod_groups[i] + 1);
      pods_[i].group = pod_groups[i];
    }
    tally_.done.assign(pods_.size(), false);
    tally_.gone.assign(pods_.size(), false);
    tally_.last_status.assign(pods_.size(), Status::Ok());
    tally_.peak_in_flight_per_group.assign(groups_.size(), 0);
    max_in_flight_ = std::max<size_t>(1, schedule.max_in_flight);
  }

  EvictionTally Run() {
    if (pods_.empty()) return std::move(tally_);
    size_t capacity = 0;
    for (const Group& g : groups_) capacity += g.limit;
    const size_t workers = std::min({max_in_flight_, pods_.size(), capacity});
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (size_t i = 0; i < workers; ++i) threads.emplace_back([this] { Work(); });
    for (std::thread& t : threads) t.join();
    return std::move(tally_);
  }

 private:
  Clock& clock() const { return *schedule_.clock; }

  void Work() {
    std::unique_lock lock(mu_);
    while (true) {
      if (halt_ || left_ == 0) return;
      if (schedule_.stop.stop_requested()) {
        tally_.stopped = true;
        Halt();
        return;
      }
      const MonoTime now = clock().Now();
      if (now >= schedule_.deadline) {
        tally_.timed_out = true;
        Halt();
        return;
      }
      MonoTime wake = schedule_.deadline;
      const std::optional<size_t> pod = Pick(now, &wake);
      if (pod) {
        Evict(*pod, lock);
        continue;
      }
      if (in_flight_ > 0) {
        // An answer may make a pod eligible before `wake`.
        cv_.wait_for(lock, std::min<Duration>(wake - now, kIdlePoll));
        continue;
      }
      // Nothing in flight: only time can make a pod eligible.
      lock.unlock();
      clock().SleepUntil(wake, schedule_.stop);
      lock.lock();
    }
  }

  // The first waiting pod that may start now, in the caller's order; otherwise moves `wake` to
  // the earliest instant a waiting pod becomes eligible by time alone.
  std::optional<size_t> Pick(MonoTime now, MonoTime* wake) {
    if (in_flight_ >= max_in_flight_) return std::nullopt;
    for (size_t i = 0; i < pods_.size(); ++i) {
      const Pod& p = pods_[i];
      if (p.state != PodState::kWaiting) continue;
      const Group& g = groups_[p.group];
      if (g.in_flight >= (g.refused ? 1 : g.limit)) continue;
      const MonoTime ready = std::max(p.not_before, g.not_before);
      if (ready > now) {
        *wake = std::min(*wake, ready);
        continue;
      }
      return i;
    }
    return std::nullopt;
  }

  void Evict(size_t i, std::unique_lock<std::mutex>& lock) {
    Pod& p = pods_[i];
    Group& g = groups_[p.group];
    p.state = PodState::kInFlight;
    ++in_flight_;
    ++g.in_flight;
    ++tally_.requests;
    tally_.peak_in_flight = std::max(tally_.peak_in_flight, in_flight_);
    tally_.peak_in_flight_per_group[p.group] =
        std::max(tally_.peak_in_flight_per_group[p.group], g.in_flight);
    lock.unlock();
    EvictionOutcome out;
    try {
      out = evict_(i);
    } catch (const std::exception& e) {
      out = {EvictionAnswer::kFailed, Status::Internal(std::string("eviction: ") + e.what()), {}};
    }
    lock.lock();
    --in_flight_;
    --g.in_flight;
    Apply(i, out, clock().Now());
    cv_.notify_all();
  }

  void Apply(size_t i, const EvictionOutcome& out, MonoTime now) {
    Pod& p = pods_[i];
    Group& g = groups_[p.group];
    p.state = PodState::kWaiting;
    switch (out.answer) {
      case EvictionAnswer::kEvicted:
      case EvictionAnswer::kGone:
        p.state = PodState::kDone;
        tally_.done[i] = true;
        tally_.gone[i] = out.answer == EvictionAnswer::kGone;
        tally_.last_status[i] = Status::Ok();
        --left_;
        // The budget allowed one again: its pods may go as fast as their limit lets them.
        g.refused = false;
        g.refusal_streak = 0;
        g.not_before = MonoTime{};
        return;
      case EvictionAnswer::kRefused:
        ++tally_.refusals;
        tally_.last_status[i] = out.status;
        g.refused = true;
        ++g.refusal_streak;
        g.not_before = std::max(g.not_before, now + Delay(g.refusal_streak, out.retry_after));
        return;
      case EvictionAnswer::kTransient:
        ++tally_.transient;
        tally_.last_status[i] = out.status;
        ++p.transient_streak;
        p.not_before = now + Delay(p.transient_streak, out.retry_after);
        return;
      case EvictionAnswer::kFailed:
        if (tally_.failure.ok()) {
          tally_.failure = out.status.ok() ? Status::Internal("eviction failed") : out.status;
          tally_.failed_pod = i;
        }
        Halt();
        return;
    }
  }

  Duration Delay(int streak, const std::optional<Duration>& retry_after) const {
    Duration d = Doubled(schedule_.first_retry, streak, schedule_.max_retry);
    if (retry_after && *retry_after > Duration{0}) {
      d = std::max(d, std::min(*retry_after, schedule_.max_retry_after));
    }
    return d;
  }

  void Halt() {
    halt_ = true;
    cv_.notify_all();
  }

  const EvictionSchedule& schedule_;
  const std::function<EvictionOutcome(size_t)>& evict_;
  size_t max_in_flight_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pod> pods_;
  std::vector<Group> groups_;
  size_t in_flight_ = 0;
  size_t left_ = 0;
  bool halt_ = false;
  EvictionTally tally_;
};

}  // namespace

size_t EvictionTally::Left() const {
  return static_cast<size_t>(std::count(done.begin(), done.end(), false));
}

EvictionTally RunEvictions(const std::vector<size_t>& pod_groups, const EvictionSchedule& schedule,
                           const std::function<EvictionOutcome(size_t pod)>& evict) {
  return Scheduler(pod_groups, schedule, evict).Run();
}

}  // namespace gameday
