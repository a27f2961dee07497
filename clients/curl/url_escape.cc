#include "clients/curl/url_escape.h"

#include <curl/curl.h>

#include <limits>
#include <new>

namespace gameday {

std::string UrlEncode(const std::string& s) {
  if (s.empty()) return "";
  if (s.size() > static_cast<size_t>(std::numeric_limits<int>::max())) throw std::bad_alloc();
  // The handle argument is ignored by libcurl since 7.82; none is needed.
  char* escaped = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  if (escaped == nullptr) throw std::bad_alloc();
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

}  // namespace gameday
