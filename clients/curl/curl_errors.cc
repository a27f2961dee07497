#include "clients/curl/curl_errors.h"

#include <curl/curl.h>

#include <cerrno>

namespace gameday {
namespace {

bool IsLocalCode(CURLcode code) {
  switch (code) {
    // libcurl or this process could not do its part.
    case CURLE_FAILED_INIT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_SETOPT_OPTION_SYNTAX:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_FUNCTION_NOT_FOUND:
    case CURLE_RECURSIVE_API_CALL:
    case CURLE_URL_MALFORMAT:
    case CURLE_READ_ERROR:
    // We stopped it (the probe loop cancels transfers when a run ends).
    case CURLE_ABORTED_BY_CALLBACK:
    // Our TLS files and settings, read before a byte goes to the peer.
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    // The local interface and the proxy are our route, not the target.
    case CURLE_INTERFACE_FAILED:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PROXY:
      return true;
    default:
      return false;
  }
}

// OS errors of a failed connect that mean this machine ran out of something.
bool IsLocalErrno(long os_errno) {
  switch (os_errno) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case EADDRNOTAVAIL:  // no ephemeral port left
      return true;
    default:
      return false;
  }
}

}  // namespace

Health CurlFailureHealth(int curl_code, long os_errno) {
  const auto code = static_cast<CURLcode>(curl_code);
  if (IsLocalCode(code)) return Health::kUnknown;
  if (code == CURLE_COULDNT_CONNECT && IsLocalErrno(os_errno)) return Health::kUnknown;
  return Health::kUnhealthy;
}

Health CurlFailureHealthOf(void* curl_easy, int curl_code) {
  long os_errno = 0;
  if (curl_easy != nullptr)
    curl_easy_getinfo(static_cast<CURL*>(curl_easy), CURLINFO_OS_ERRNO, &os_errno);
  return CurlFailureHealth(curl_code, os_errno);
}

}  // namespace gameday
