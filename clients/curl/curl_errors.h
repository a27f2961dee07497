#pragma once

#include "experiments/sample.h"

namespace gameday {

// Whose failure a failed libcurl transfer is, for every verifier that probes with libcurl (http,
// etcd, tcp, the Kubernetes API probe). One list, so that the same error never reads as "the
// service is down" in one verifier and "we could not look" in another.
//
// Health::kUnknown: this machine failed, or our own configuration did, and the sample says
// nothing about the target: no memory, no handle, a libcurl feature or option missing, a
// malformed URL, our CA/CRL/client certificate files unusable, a TLS engine or cipher we asked
// for, the local interface or proxy we route through, no file descriptors or ephemeral ports
// left (seen through the OS error of a failed connect), or a transfer we cancelled ourselves.
//
// Health::kUnhealthy: the service (or the network to it) failed: refused or timed-out connects,
// resets, empty or malformed answers, DNS names of the target that do not resolve, TLS handshakes
// and certificates the peer got wrong, HTTP/2 stream errors, and every code not named above.
//
// `curl_code` must not be CURLE_OK. `os_errno` is CURLINFO_OS_ERRNO of the transfer, 0 if unknown.
Health CurlFailureHealth(int curl_code, long os_errno = 0);

// The same for a finished easy handle (a CURL*), reading its CURLINFO_OS_ERRNO.
Health CurlFailureHealthOf(void* curl_easy, int curl_code);

}  // namespace gameday
