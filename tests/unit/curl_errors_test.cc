#include "clients/curl/curl_errors.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <set>

namespace gameday {
namespace {

// Every code that means "this machine (or our configuration) failed": the sample is unknown.
const std::set<int> kLocal = {
    CURLE_FAILED_INIT,
    CURLE_OUT_OF_MEMORY,
    CURLE_NOT_BUILT_IN,
    CURLE_UNSUPPORTED_PROTOCOL,
    CURLE_UNKNOWN_OPTION,
    CURLE_SETOPT_OPTION_SYNTAX,
    CURLE_BAD_FUNCTION_ARGUMENT,
    CURLE_FUNCTION_NOT_FOUND,
    CURLE_RECURSIVE_API_CALL,
    CURLE_URL_MALFORMAT,
    CURLE_READ_ERROR,
    CURLE_ABORTED_BY_CALLBACK,
    CURLE_SSL_CACERT_BADFILE,
    CURLE_SSL_CRL_BADFILE,
    CURLE_SSL_CERTPROBLEM,
    CURLE_SSL_CIPHER,
    CURLE_SSL_ENGINE_NOTFOUND,
    CURLE_SSL_ENGINE_SETFAILED,
    CURLE_SSL_ENGINE_INITFAILED,
    CURLE_INTERFACE_FAILED,
    CURLE_COULDNT_RESOLVE_PROXY,
    CURLE_PROXY,
};

TEST(CurlErrorsTest, LocalFailuresAreUnknown) {
  for (int code : kLocal) {
    EXPECT_EQ(CurlFailureHealth(code), Health::kUnknown) << curl_easy_strerror(CURLcode(code));
  }
}

TEST(CurlErrorsTest, ServiceFailuresAreUnhealthy) {
  // The codes a probe meets when the service or the network to it fails.
  for (int code : {CURLE_COULDNT_CONNECT,
                   CURLE_COULDNT_RESOLVE_HOST,
                   CURLE_OPERATION_TIMEDOUT,
                   CURLE_SEND_ERROR,
                   CURLE_RECV_ERROR,
                   CURLE_GOT_NOTHING,
                   CURLE_PARTIAL_FILE,
                   CURLE_WEIRD_SERVER_REPLY,
                   CURLE_HTTP2,
                   CURLE_HTTP2_STREAM,
                   CURLE_HTTP3,
                   CURLE_QUIC_CONNECT_ERROR,
                   CURLE_SSL_CONNECT_ERROR,
                   CURLE_PEER_FAILED_VERIFICATION,
                   CURLE_SSL_PINNEDPUBKEYNOTMATCH,
                   CURLE_SSL_INVALIDCERTSTATUS,
                   CURLE_SSL_SHUTDOWN_FAILED,
                   CURLE_SSL_CLIENTCERT,
                   CURLE_HTTP_RETURNED_ERROR,
                   CURLE_TOO_MANY_REDIRECTS,
                   CURLE_BAD_CONTENT_ENCODING,
                   CURLE_WRITE_ERROR,
                   CURLE_AGAIN,
                   CURLE_REMOTE_ACCESS_DENIED}) {
    EXPECT_EQ(CurlFailureHealth(code), Health::kUnhealthy) << curl_easy_strerror(CURLcode(code));
  }
}

TEST(CurlErrorsTest, EveryOtherCodeIsTheServices) {
  // Pins the whole table: a code is unknown only when it is in kLocal.
  for (int code = 1; code < CURL_LAST; ++code) {
    const Health want = kLocal.count(code) ? Health::kUnknown : Health::kUnhealthy;
    EXPECT_EQ(CurlFailureHealth(code), want) << code << ": " << curl_easy_strerror(CURLcode(code));
  }
}

TEST(CurlErrorsTest, ConnectFailsBecauseThisMachineRanOutOfSomething) {
  for (long e : {EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL}) {
    EXPECT_EQ(CurlFailureHealth(CURLE_COULDNT_CONNECT, e), Health::kUnknown) << e;
  }
  for (long e : {0L, long{ECONNREFUSED}, long{ETIMEDOUT}, long{EHOSTUNREACH}, long{ENETUNREACH},
                 long{ECONNRESET}}) {
    EXPECT_EQ(CurlFailureHealth(CURLE_COULDNT_CONNECT, e), Health::kUnhealthy) << e;
  }
  // The OS error only speaks for a failed connect.
  EXPECT_EQ(CurlFailureHealth(CURLE_RECV_ERROR, EMFILE), Health::kUnhealthy);
}

TEST(CurlErrorsTest, ReadsTheOsErrorOfAHandle) {
  EXPECT_EQ(CurlFailureHealthOf(nullptr, CURLE_COULDNT_CONNECT), Health::kUnhealthy);
  EXPECT_EQ(CurlFailureHealthOf(nullptr, CURLE_OUT_OF_MEMORY), Health::kUnknown);
  CURL* easy = curl_easy_init();
  ASSERT_NE(easy, nullptr);
  // A fresh handle has no OS error: the code alone decides.
  EXPECT_EQ(CurlFailureHealthOf(easy, CURLE_COULDNT_CONNECT), Health::kUnhealthy);
  EXPECT_EQ(CurlFailureHealthOf(easy, CURLE_SSL_CACERT_BADFILE), Health::kUnknown);
  curl_easy_cleanup(easy);
}

}  // namespace
}  // namespace gameday
