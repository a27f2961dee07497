#pragma once

#include <string>

#include "experiments/result.h"

namespace gameday {

// The run as JUnit XML for CI systems, in the shape of the Jenkins xUnit plugin's junit-10.xsd
// (which GitLab, GitHub test reporters and Jenkins all read):
//
//   <testsuites name tests failures errors time>
//     <testsuite name=<experiment> tests failures errors skipped time timestamp>   one per
//     experiment
//       <properties>  run id, plan, seed, status, labels
//       <testcase classname="gameday.<experiment>" name="steady state before"/>
//       <testcase ... name=<objective>/>                                           one per
//       objective <testcase ... name="steady state after"/> <testcase ... name="every fault
//       reverted"/> <testcase ... name="experiment ran to completion"/>   <error> when aborted or
//       in error <system-out>  verifier metrics and the event timeline, as plain text
//
// A failed check carries <failure message="recovered in 12.40 s, budget 10 s">; checks that could
// not be measured (dry run, aborted before the phase) carry <skipped>.
std::string RenderJunit(const RunResult& run);

}  // namespace gameday
