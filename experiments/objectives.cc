#include "experiments/objectives.h"

#include <algorithm>
#include <limits>

#include "experiments/format.h"

namespace gameday {
namespace {

constexpr double kForever = std::numeric_limits<double>::infinity();

}  // namespace

std::vector<ObjectiveResult> EvaluateObjectives(const std::vector<ObjectiveSpec>& objectives,
                                                const std::vector<VerifierResult>& verifiers,
                                                const ObjectiveContext& context) {
  std::vector<ObjectiveResult> out;
  for (const ObjectiveSpec& o : objectives) {
    ObjectiveResult r;
    r.verifier = o.verifier;
    r.type = ObjectiveTypeName(o.type);
    auto it = std::find_if(verifiers.begin(), verifiers.end(),
                           [&](const VerifierResult& v) { return v.name == o.verifier; });
    if (it == verifiers.end()) continue;  // the plan validator rules this out
    const RecoveryMetrics* overall = &it->overall;
    switch (o.type) {
      case ObjectiveSpec::Type::kRecoverWithin: {
        r.name = o.verifier + " recovers within " + FormatMessageSeconds(o.limit);
        r.limit = o.limit;
        // Per step: from the injection for one-shot faults, from the revert for faults with a
        // duration (the outage during the fault is intended).
        r.passed = true;
        bool any_impact = false;
        std::string worst;
        double worst_time = -1;
        for (const FaultMetrics& fm : it->per_fault) {
          const RecoveryMetrics& m = fm.metrics;
          if (!m.impact) continue;
          any_impact = true;
          if (!m.recovered) {
            r.passed = false;
            worst = "after " + fm.fault_id + " it had not recovered when observation ended";
            worst_time = kForever;
            continue;
          }
          const double t = m.time_to_recover_after_revert_s.value_or(*m.time_to_recover_s);
          if (t > worst_time) {
            worst_time = t;
            const auto& b = *m.recover_bound_s;
            worst = "recovered in " + FormatMessageSeconds(t) +
                    (!m.time_to_recover_after_revert_s           ? ""
                     : context.repeated_steps.count(fm.fault_id) ? " after the last round"
                                                                 : " after the revert") +
                    " (true moment within " + FormatFixed(b.first, 3) + "–" +
                    FormatFixed(b.second, 3) + " s of the injection) after " + fm.fault_id;
          }
          if (t > o.limit) r.passed = false;
        }
        if (!any_impact) {
          r.measured = 0;
          r.message = "no impact observed";
        } else {
          if (worst_time != kForever) r.measured = worst_time;
          r.message = worst + ", budget " + FormatMessageSeconds(o.limit);
        }
        break;
      }
      case ObjectiveSpec::Type::kMustDetect:
        r.name = o.verifier + " detects the fault";
        r.passed = overall && overall->impact;
        if (r.passed) {
          r.measured = overall->time_to_detect_s;
          r.message = "detected " + FormatMessageSeconds(*overall->time_to_detect_s) +
                      " after the injection";
        } else {
          r.message = "no failing sample after the injection: the fault went unnoticed";
        }
        break;
      case ObjectiveSpec::Type::kMustNotDetect:
        r.name = o.verifier + " sees no impact";
        r.passed = overall && !overall->impact;
        r.measured = overall ? overall->downtime_s : 0;
        r.message = r.passed ? "no failing sample"
                             : std::to_string(overall->failing) + " failing sample(s), first " +
                                   FormatMessageSeconds(*overall->time_to_detect_s) +
                                   " after the injection";
        break;
      case ObjectiveSpec::Type::kMaxDowntime:
        r.name = o.verifier + " downtime at most " + FormatMessageSeconds(o.limit);
        r.limit = o.limit;
        r.measured = overall ? overall->downtime_s : 0;
        r.passed = *r.measured <= o.limit;
        r.message = "downtime " + FormatMessageSeconds(*r.measured) + ", budget " +
                    FormatMessageSeconds(o.limit);
        break;
      case ObjectiveSpec::Type::kMinAvailability:
        r.name = o.verifier + " availability at least " + FormatMessagePercent(o.limit);
        r.limit = o.limit;
        r.measured = overall ? overall->availability : 0;
        r.passed = *r.measured >= o.limit;
        r.message = "availability " + FormatMessagePercent(*r.measured) + ", minimum " +
                    FormatMessagePercent(o.limit);
        break;
    }
    // Objectives need measurements; a dry run or a run that never injected has none to judge.
    if (!context.injected) {
      r.passed = false;
      r.measured.reset();
      r.message = "not evaluated: no fault was injected";
      if (context.dry_run) r.message = "not evaluated in a dry run";
      if (context.dry_run) r.passed = true;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace gameday
