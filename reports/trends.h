#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "experiments/clock.h"

namespace gameday {

// One past measurement of one verifier of one experiment, for trend charts.
struct TrendPoint {
  std::string run_id;
  WallTime started;
  std::string status;  // the experiment's status in that run: passed, failed, aborted, error
  bool impact = false;
  bool recovered = false;
  std::optional<double> time_to_recover_s;  // with impact and recovery only
  std::optional<std::pair<double, double>> recover_bound_s;
  double downtime_s = 0;
};

// Recovery times over past runs, as the history store (reports/history.h) gives them to the HTML
// report. A plain value, so RenderHtml stays a pure function of its arguments.
struct RunHistory {
  // experiment name -> verifier name -> points, oldest first.
  std::map<std::string, std::map<std::string, std::vector<TrendPoint>>> recovery;
};

}  // namespace gameday
