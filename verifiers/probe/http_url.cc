#include "verifiers/probe/http_url.h"

#include "verifiers/probe/probe_loop.h"

namespace gameday {

std::string CheckHttpUrl(SpecNode& spec, const std::string& url,
                         const std::function<void(CURLU*)>& more) {
  EnsureCurlGlobalInit();
  CURLU* u = curl_url();
  if (u == nullptr) {
    spec.ErrorAt("url", "cannot parse the URL (out of memory)");
    return "";
  }
  if (CURLUcode rc = curl_url_set(u, CURLUPART_URL, url.c_str(), 0); rc != CURLUE_OK) {
    spec.ErrorAt("url", std::string("not a valid URL: ") + curl_url_strerror(rc));
    curl_url_cleanup(u);
    return "";
  }
  char* scheme = nullptr;
  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  const std::string s = scheme != nullptr ? scheme : "";
  curl_free(scheme);
  if (s != "http" && s != "https") {
    spec.ErrorAt("url", "expected an http:// or https:// URL; got scheme '" + s + "'");
  }
  if (more) more(u);
  std::string display_url = url;
  char* password = nullptr;
  if (curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK && password != nullptr) {
    curl_free(password);
    char* redacted = nullptr;
    if (curl_url_set(u, CURLUPART_PASSWORD, "***", 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &redacted, 0) == CURLUE_OK && redacted != nullptr) {
      display_url = redacted;
    } else {
      display_url = "(URL with credentials)";
    }
    curl_free(redacted);
  }
  curl_url_cleanup(u);
  return display_url;
}

}  // namespace gameday
