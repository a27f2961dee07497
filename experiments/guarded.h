#pragma once

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "experiments/status.h"

namespace gameday {

// What an exception says, for a Status message ("std::bad_alloc", "regex_error: ...").
inline std::string DescribeException(std::exception_ptr e) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

// Calls `fn` (a call into a plugin: injector, verifier, watch, sampling) and turns anything it
// throws into an Internal Status naming `what`, so an exception never unwinds through the engine
// with a fault in place nor reaches std::terminate on a worker thread. `fn` returns Status or
// Result<T>.
template <typename Fn>
auto Guarded(const std::string& what, Fn&& fn) -> std::invoke_result_t<Fn> {
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    return Status::Internal(what + " threw: " + DescribeException(std::current_exception()));
  }
}

// The same for calls that return a plain value: `fallback` when `fn` throws, with the message in
// `*error` (left alone when nothing was thrown).
template <typename Fn, typename T = std::invoke_result_t<Fn>>
T GuardedOr(const std::string& what, Fn&& fn, T fallback, std::string* error) {
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    if (error) *error = what + " threw: " + DescribeException(std::current_exception());
    return fallback;
  }
}

}  // namespace gameday
