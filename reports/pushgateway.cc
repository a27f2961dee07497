#include "reports/pushgateway.h"

#include <curl/curl.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>

#include "experiments/redact.h"

namespace gameday {
namespace {

std::string LabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size() + 2);
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Go's strconv.ParseFloat reads these; %.17g round-trips every double.
std::string Value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

class Family {
 public:
  Family(std::string* out, const char* name, const char* help) : out_(out), name_(name) {
    *out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
  }
  void Add(const std::string& labels, double v) {
    *out_ += name_;
    if (!labels.empty()) *out_ += "{" + labels + "}";
    *out_ += " " + Value(v) + "\n";
  }

 private:
  std::string* out_;
  const char* name_;
};

std::string Labels(const std::string& experiment, const std::string* verifier = nullptr) {
  std::string s = "experiment=\"" + LabelValue(experiment) + "\"";
  if (verifier != nullptr) s += ",verifier=\"" + LabelValue(*verifier) + "\"";
  return s;
}

std::string Base64Url(const std::string& in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t n = uint8_t(in[i]) << 16;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

// "name/value" or "name@base64/encoded" for one grouping-key pair of the push URL.
std::string GroupingPair(const std::string& name, const std::string& value) {
  bool plain = !value.empty();
  for (unsigned char c : value) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (!unreserved) plain = false;
  }
  if (plain) return name + "/" + value;
  // The Pushgateway reads "=" as an empty value when base64 is empty, so encode at least "".
  return name + "@base64/" + (value.empty() ? std::string("=") : Base64Url(value));
}

size_t Collect(char* data, size_t size, size_t count, void* user) {
  std::string* body = static_cast<std::string*>(user);
  if (body->size() < 4096) body->append(data, std::min(size * count, 4096 - body->size()));
  return size * count;
}

}  // namespace

std::string RenderPushMetrics(const RunResult& run) {
  std::string out;
  {
    Family f(&out, "gameday_recovery_seconds",
             "Time from the first fault to the start of a stable passing run.");
    for (const auto& e : run.experiments) {
      for (const auto& v : e.verifiers) {
        if (v.overall.time_to_recover_s)
          f.Add(Labels(e.name, &v.name), *v.overall.time_to_recover_s);
      }
    }
  }
  {
    Family f(&out, "gameday_detect_seconds",
             "Time from the first fault to the first failing sample.");
    for (const auto& e : run.experiments) {
      for (const auto& v : e.verifiers) {
        if (v.overall.time_to_detect_s) f.Add(Labels(e.name, &v.name), *v.overall.time_to_detect_s);
      }
    }
  }
  {
    Family f(&out, "gameday_downtime_seconds", "Time covered by failing samples.");
    for (const auto& e : run.experiments) {
      for (const auto& v : e.verifiers) f.Add(Labels(e.name, &v.name), v.overall.downtime_s);
    }
  }
  {
    Family f(&out, "gameday_availability", "Passing samples over passing and failing samples.");
    for (const auto& e : run.experiments) {
      for (const auto& v : e.verifiers) f.Add(Labels(e.name, &v.name), v.overall.availability);
    }
  }
  {
    Family f(&out, "gameday_recovered", "1 when the verifier recovered or saw no impact, else 0.");
    for (const auto& e : run.experiments) {
      for (const auto& v : e.verifiers) {
        f.Add(Labels(e.name, &v.name), !v.overall.impact || v.overall.recovered ? 1 : 0);
      }
    }
  }
  {
    Family f(&out, "gameday_experiment_passed", "1 when the experiment passed, else 0.");
    for (const auto& e : run.experiments) {
      f.Add(Labels(e.name), e.status == ExperimentStatus::kPassed ? 1 : 0);
    }
  }
  {
    Family f(&out, "gameday_run_passed", "1 when every experiment of the run passed, else 0.");
    f.Add("", !run.experiments.empty() && RunStatus(run) == ExperimentStatus::kPassed ? 1 : 0);
  }
  return out;
}

Status PushMetrics(const RunResult& run, const std::string& pushgateway_url,
                   const std::string& job) {
  if (pushgateway_url.rfind("http://", 0) != 0 && pushgateway_url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("pushgateway: expected an http:// or https:// URL, got '" +
                                   RedactSecrets(pushgateway_url) + "'");
  }
  if (job.empty()) return Status::InvalidArgument("pushgateway: the job name is empty");
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  std::string base = pushgateway_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string url =
      base + "/metrics/" + GroupingPair("job", job) + "/" + GroupingPair("run_id", run.run_id);
  const std::string body = RenderPushMetrics(run);

  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::Internal("pushgateway: cannot create a libcurl handle");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(
      curl_slist_append(nullptr, "Content-Type: text/plain; version=0.0.4; charset=utf-8"),
      curl_slist_free_all);
  std::string answer;
  char errbuf[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "gameday");
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return Status::Unavailable(
        RedactSecrets("pushgateway: cannot push to " + base + ": " +
                      (errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc))));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  while (!answer.empty() && (answer.back() == '\n' || answer.back() == '\r')) answer.pop_back();
  if (status >= 200 && status < 300) return Status::Ok();
  // The URL may carry user:password, and an answer may echo it back.
  std::string msg = RedactSecrets("pushgateway: " + base + " answered HTTP " +
                                  std::to_string(status) + (answer.empty() ? "" : ": " + answer));
  return status >= 500 ? Status::Unavailable(msg) : Status::InvalidArgument(msg);
}

}  // namespace gameday
