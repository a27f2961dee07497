#pragma once

#include <string>

#include "experiments/status.h"

namespace gameday::local_sandbox {

// The executable `name` in a folder of $PATH; "" when there is none.
std::string FindOnPath(const std::string& name);

// The programs the local sandbox runs.
struct Tools {
  std::string runsvdir;
  std::string sv;
  std::string haproxy;
};

// Finds them all, or says which are missing and how to install them (FailedPrecondition).
Result<Tools> FindTools();

}  // namespace gameday::local_sandbox
