#pragma once

#include <map>
#include <vector>

#include "experiments/sampling.h"

namespace gameday::testing {

// Every sample a Sampling has released so far, per verifier. The engine reads only what is new
// (Sampling::Drain); tests want whole histories.
class SampleLog {
 public:
  explicit SampleLog(Sampling& sampling) : sampling_(sampling) {}
  std::vector<Sample> operator()(size_t index) {
    std::vector<Sample>& all = all_[index];
    sampling_.Drain(index, &all);
    return all;
  }

 private:
  Sampling& sampling_;
  std::map<size_t, std::vector<Sample>> all_;
};

}  // namespace gameday::testing
