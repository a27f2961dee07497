#pragma once

#include <vector>

#include "experiments/sample.h"

namespace gameday {

// Samples every `interval` from `from` to `to`, health given by a pattern function of the send
// time.
template <typename F>
std::vector<Sample> Series(double from, double to, double interval, F health,
                           double latency = 0.001) {
  std::vector<Sample> out;
  for (int k = 0;; ++k) {
    const double t = from + k * interval;
    if (t >= to) break;
    Sample s;
    s.t_send = t;
    s.t_done = t + latency;
    s.health = health(t);
    s.latency_ms = latency * 1e3;
    out.push_back(s);
  }
  return out;
}

}  // namespace gameday
