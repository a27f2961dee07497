#include "experiments/sample_feed.h"

#include <filesystem>

namespace gameday {

struct SampleFeed::VerifierState {
  VerifierLive live;
  RatioCounter so_far{0};
  std::optional<RatioCounter> window;
  StableRun stable;
  FailingRun failing;
  std::optional<LastError> last_error;
};

SampleFeed::SampleFeed(std::string experiment, const std::vector<VerifierSpec>& verifiers,
                       SampleWriter* store, uint32_t first_stream, std::function<double()> now)
    : experiment_(std::move(experiment)),
      verifiers_(verifiers),
      store_(store),
      first_stream_(first_stream),
      now_(std::move(now)) {
  state_.resize(verifiers_.size());
  for (size_t i = 0; i < verifiers_.size(); ++i) state_[i].live.name = verifiers_[i].name;
}

SampleFeed::~SampleFeed() = default;

Status SampleFeed::Declare() {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < verifiers_.size(); ++i) {
    SampleStreamInfo info;
    info.stream = first_stream_ + static_cast<uint32_t>(i);
    info.experiment = experiment_;
    info.verifier = verifiers_[i].name;
    info.interval_s = ToSeconds(verifiers_[i].interval);
    if (Status st = store_->Declare(info); !st.ok()) return st;
  }
  return Status::Ok();
}

void SampleFeed::Attach(Sampling* sampling) {
  std::lock_guard lock(pump_mu_);
  sampling_ = sampling;
}

void SampleFeed::Pump() {
  std::lock_guard pump(pump_mu_);
  if (!sampling_) return;
  std::vector<Sample> batch;
  for (size_t i = 0; i < state_.size(); ++i) {
    batch.clear();
    sampling_->Drain(i, &batch);
    if (batch.empty()) continue;
    std::lock_guard lock(mu_);
    VerifierState& v = state_[i];
    for (const Sample& s : batch) {
      if (failure_.ok()) {
        Status st = store_->Append(first_stream_ + static_cast<uint32_t>(i), s);
        if (!st.ok()) failure_ = Status::Internal("cannot write the sample store: " + st.message());
      }
      ++v.live.samples;
      v.live.failing += s.health == Health::kUnhealthy;
      v.so_far.Add(s);
      if (v.window && (!window_to_ || s.t_send < *window_to_)) v.window->Add(s);
      v.stable.Add(s);
      v.failing.Add(s);
      if (TellsAnError(s)) {
        v.last_error = LastError{s.t_send, s.health, s.detail};
      }
    }
    const Sample& last = batch.back();
    v.live.last = last.health;
    v.live.last_latency_ms = last.latency_ms;
    v.live.last_detail = last.detail;
  }
  // Full blocks go out as they fill; a checkpoint now and then bounds what a crash loses.
  std::lock_guard lock(mu_);
  const double now = now_();
  if (failure_.ok() && now - last_flush_ >= kFlushEvery_s) {
    last_flush_ = now;
    if (Status st = store_->Flush(); !st.ok()) {
      failure_ = Status::Internal("cannot write the sample store: " + st.message());
    }
  }
}

Status SampleFeed::Failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

double SampleFeed::MarkAction() {
  std::lock_guard lock(mu_);
  const double t = now_();
  last_action_ = std::max(last_action_, t);
  for (VerifierState& v : state_) v.stable.Restart(last_action_);
  return t;
}

double SampleFeed::LastAction() const {
  std::lock_guard lock(mu_);
  return last_action_;
}

std::optional<double> SampleFeed::RatioSoFar(size_t verifier) const {
  std::lock_guard lock(mu_);
  return state_[verifier].so_far.Ratio();
}

double SampleFeed::BeginWindow() {
  std::lock_guard lock(mu_);
  window_from_ = now_();
  window_to_.reset();
  for (VerifierState& v : state_) v.window.emplace(*window_from_);
  return *window_from_;
}

void SampleFeed::EndWindow() {
  std::lock_guard lock(mu_);
  window_to_ = now_();
}

std::optional<double> SampleFeed::WindowRatio(size_t verifier) const {
  std::lock_guard lock(mu_);
  const VerifierState& v = state_[verifier];
  return v.window ? v.window->Ratio() : std::nullopt;
}

bool SampleFeed::Recovered(size_t verifier, double stable_for) const {
  std::lock_guard lock(mu_);
  return state_[verifier].stable.Holds(stable_for);
}

bool SampleFeed::FailingFor(size_t verifier, double now, double failing_for) const {
  std::lock_guard lock(mu_);
  return state_[verifier].failing.Holds(now, failing_for);
}

std::vector<VerifierLive> SampleFeed::Live() const {
  std::lock_guard lock(mu_);
  std::vector<VerifierLive> out;
  out.reserve(state_.size());
  for (const VerifierState& v : state_) out.push_back(v.live);
  return out;
}

Status SampleFeed::Finish(const std::vector<Disturbance>& disturbances, double stable_for,
                          size_t inline_limit, std::vector<VerifierResult>* out) {
  std::lock_guard pump(pump_mu_);
  std::lock_guard lock(mu_);
  size_t total = 0;
  for (const VerifierState& v : state_) total += v.live.samples;
  // An anonymous store cannot be referenced: its samples stay inline whatever their number.
  const bool keep_inline = total <= inline_limit || store_->path().empty();
  std::vector<VerifierRecovery> measured;
  measured.reserve(state_.size());
  for (const VerifierSpec& spec : verifiers_) {
    measured.emplace_back(disturbances, stable_for, ToSeconds(spec.interval));
  }
  const uint32_t end_stream = first_stream_ + static_cast<uint32_t>(state_.size());
  Status read = store_->ReadAll([&](uint32_t stream, const Sample& s) {
    if (stream < first_stream_ || stream >= end_stream) return;
    const size_t i = stream - first_stream_;
    measured[i].Add(s);
    if (keep_inline) (*out)[i].samples.push_back(s);
  });
  for (size_t i = 0; i < state_.size(); ++i) {
    VerifierResult& v = (*out)[i];
    v.sample_count = state_[i].live.samples;
    v.last_error = state_[i].last_error;
    if (!keep_inline) {
      v.store = SampleStoreRef{std::filesystem::path(store_->path()).filename().string(),
                               first_stream_ + static_cast<uint32_t>(i)};
    }
    if (disturbances.empty()) continue;
    v.overall = measured[i].Overall();
    v.per_fault = measured[i].PerStep();
  }
  if (!read.ok()) return Status::Internal("cannot read the sample store back: " + read.message());
  return failure_;
}

}  // namespace gameday
