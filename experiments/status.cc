#include "experiments/status.h"

namespace gameday {

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      name = "invalid argument";
      break;
    case Code::kNotFound:
      name = "not found";
      break;
    case Code::kPermissionDenied:
      name = "permission denied";
      break;
    case Code::kUnavailable:
      name = "unavailable";
      break;
    case Code::kDeadlineExceeded:
      name = "deadline exceeded";
      break;
    case Code::kFailedPrecondition:
      name = "failed precondition";
      break;
    case Code::kAborted:
      name = "aborted";
      break;
    case Code::kInternal:
      name = "internal";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace gameday
