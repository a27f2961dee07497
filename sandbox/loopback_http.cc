#include "sandbox/loopback_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "sandbox/file_text.h"

namespace gameday::local_sandbox {

using std::chrono::milliseconds;

namespace {

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<HttpReply*>(user)->body.append(data, size * n);
  return size * n;
}

size_t TakeHeader(char* data, size_t size, size_t n, void* user) {
  const std::string line(data, size * n);
  const std::string key = "x-replica:";
  if (line.size() > key.size() &&
      std::equal(key.begin(), key.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    static_cast<HttpReply*>(user)->replica = Trim(line.substr(key.size()));
  }
  return size * n;
}

}  // namespace

Result<HttpReply> HttpGet(const std::string& url, milliseconds timeout) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::Internal("curl_easy_init failed");
  HttpReply reply;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // loopback only: never through a configured proxy
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, TakeHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return Status::Unavailable(curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.code);
  return reply;
}

}  // namespace gameday::local_sandbox
