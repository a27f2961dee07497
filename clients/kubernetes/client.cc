#include "clients/kubernetes/client.h"

#include <curl/curl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>

#include "experiments/json.h"

namespace gameday {
namespace {

constexpr size_t kMaxBody = 256u << 20;  // a list page of thousands of objects fits easily
// One watch event is one object; the API server refuses objects over ~1.5 MiB (etcd's request
// limit), so a longer line is not an event and ends the watch instead of growing without bound.
constexpr size_t kMaxStreamLine = 16u << 20;

// API answers are parsed with the body cap as the size limit and the default depth limit.
JsonLimits AnswerLimits() {
  JsonLimits limits;
  limits.max_bytes = kMaxBody;
  return limits;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long Ms(Duration d) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

std::string HttpMethod(const std::string& verb) {
  if (verb == "create") return "POST";
  if (verb == "update") return "PUT";
  if (verb == "patch") return "PATCH";
  if (verb == "delete" || verb == "deletecollection") return "DELETE";
  return "GET";
}

bool Idempotent(const std::string& verb) {
  return verb == "get" || verb == "list" || verb == "watch";
}

// What libcurl writes into while a request runs.
struct Sink {
  std::string* body = nullptr;
  bool overflow = false;
  std::optional<Duration> retry_after;
  bool priority_and_fairness = false;
  WallTime now{};  // what an HTTP-date Retry-After is relative to
  const std::stop_token* stop = nullptr;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  Sink* sink = static_cast<Sink*>(user);
  const size_t len = size * count;
  if (sink->body->size() + len > kMaxBody) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->body->append(data, len);
  return len;
}

bool HeaderIs(const char* data, size_t len, const char* name) {
  const size_t n = std::strlen(name);
  return len > n && data[n] == ':' && strncasecmp(data, name, n) == 0;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  Sink* sink = static_cast<Sink*>(user);
  const size_t len = size * count;
  if (len >= 5 && std::strncmp(data, "HTTP/", 5) == 0) {
    // A new header block (after a 100 Continue): only the last one's headers count.
    sink->retry_after.reset();
    sink->priority_and_fairness = false;
  } else if (HeaderIs(data, len, "retry-after")) {
    // ParseRetryAfter bounds the value (at most a day); anything unreadable is ignored.
    const std::string_view v(data + 12, len - 12);
    sink->retry_after = ParseRetryAfter(v, sink->now);
  } else if (HeaderIs(data, len, "x-kubernetes-pf-flowschema-uid") ||
             HeaderIs(data, len, "x-kubernetes-pf-prioritylevel-uid")) {
    sink->priority_and_fairness = true;
  }
  return len;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  Sink* sink = static_cast<Sink*>(user);
  return sink->stop && sink->stop->stop_requested() ? 1 : 0;
}

// The server's own words from a Status body, and the user it names in a 403.
void ParseStatusBody(const std::string& body, std::string* message, std::string* user) {
  rapidjson::Document doc;
  if (ParseJson(body, &doc, AnswerLimits()).ok() && doc.IsObject()) {
    *message = JsonString(doc, "message");
  } else {
    *message = body.substr(0, 200);
    while (!message->empty() && std::isspace(static_cast<unsigned char>(message->back()))) {
      message->pop_back();
    }
  }
  const size_t at = message->find("User \"");
  if (at != std::string::npos) {
    const size_t end = message->find('"', at + 6);
    if (end != std::string::npos) *user = message->substr(at + 6, end - at - 6);
  }
}

thread_local std::mt19937 jitter_rng{std::random_device{}()};

}  // namespace

// ---- ResourceRef ---------------------------------------------------------------------------

std::string ResourceRef::Path() const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!ns.empty()) p += "/namespaces/" + ns;
  p += "/" + resource;
  if (!name.empty()) p += "/" + name;
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

std::string ResourceRef::ResourceName() const {
  return subresource.empty() ? resource : resource + "/" + subresource;
}

// ---- JSON helpers --------------------------------------------------------------------------

std::string JsonString(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : "";
}

const rapidjson::Value* JsonPath(const rapidjson::Value& obj,
                                 std::initializer_list<const char*> path) {
  const rapidjson::Value* v = &obj;
  for (const char* key : path) {
    if (!v->IsObject()) return nullptr;
    auto it = v->FindMember(key);
    if (it == v->MemberEnd()) return nullptr;
    v = &it->value;
  }
  return v;
}

std::string JsonPathString(const rapidjson::Value& obj, std::initializer_list<const char*> path) {
  const rapidjson::Value* v = JsonPath(obj, path);
  return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}

std::string JsonQuote(const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return buf.GetString();
}

// ---- KubeClient ----------------------------------------------------------------------------

KubeClient::KubeClient(KubeConfig config, KubeClientOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      credentials_(config_.user, options_.clock),
      limit_(options_.concurrency, options_.clock) {
  GlobalInit();
  // libcurl would send loopback traffic through $https_proxy; Go's (and so kubectl's) proxy
  // logic never does. Keep the user's NO_PROXY and add loopback.
  const char* env = std::getenv("NO_PROXY");
  if (env == nullptr) env = std::getenv("no_proxy");
  no_proxy_ = std::string(env ? env : "");
  no_proxy_ += std::string(no_proxy_.empty() ? "" : ",") + "localhost,127.0.0.1,::1";
  CURLSH* share = curl_share_init();
  if (share != nullptr) {
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(
        share, CURLSHOPT_LOCKFUNC, +[](CURL*, curl_lock_data data, curl_lock_access, void* user) {
          static_cast<KubeClient*>(user)->share_mu_[data % 8].lock();
        });
    curl_share_setopt(
        share, CURLSHOPT_UNLOCKFUNC, +[](CURL*, curl_lock_data data, void* user) {
          static_cast<KubeClient*>(user)->share_mu_[data % 8].unlock();
        });
  }
  share_ = share;
}

KubeClient::~KubeClient() {
  for (void* e : pool_) curl_easy_cleanup(static_cast<CURL*>(e));
  if (share_ != nullptr) curl_share_cleanup(static_cast<CURLSH*>(share_));
}

Result<std::shared_ptr<KubeClient>> KubeClient::Create(KubeConfig config,
                                                       KubeClientOptions options) {
  if (config.cluster.server.empty()) {
    return Status::InvalidArgument("kubeconfig " + config.source + ": the cluster has no server");
  }
  return std::shared_ptr<KubeClient>(new KubeClient(std::move(config), std::move(options)));
}

Result<std::shared_ptr<KubeClient>> KubeClient::FromKubeconfig(const std::string& path,
                                                               const std::string& context,
                                                               KubeClientOptions options) {
  Result<KubeConfig> config = LoadKubeConfig(KubeConfigOptions{path, context});
  if (!config.ok()) return config.status();
  return Create(std::move(*config), std::move(options));
}

std::string KubeClient::UrlFor(const KubeRequest& request) const {
  std::string url =
      config_.cluster.server + (request.raw_path.empty() ? request.ref.Path() : request.raw_path);
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : request.query) {
    url += sep + UrlEncode(k) + "=" + UrlEncode(v);
    sep = '&';
  }
  return url;
}

void* KubeClient::AcquireEasy() {
  {
    std::lock_guard lock(pool_mu_);
    if (!pool_.empty()) {
      void* e = pool_.back();
      pool_.pop_back();
      return e;
    }
  }
  return curl_easy_init();
}

void KubeClient::ReleaseEasy(void* easy) {
  if (easy == nullptr) return;
  std::lock_guard lock(pool_mu_);
  pool_.push_back(easy);
}

Status KubeClient::Configure(void* easy_ptr, const KubeRequest& request, const Credentials& creds,
                             void** headers_out, std::string* body_sink, char* errbuf,
                             const std::string* url, const std::string* request_body) const {
  CURL* e = static_cast<CURL*>(easy_ptr);
  (void)body_sink;
  curl_easy_setopt(e, CURLOPT_URL, url->c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_NOPROXY, no_proxy_.c_str());
  if (!config_.cluster.proxy_url.empty()) {
    curl_easy_setopt(e, CURLOPT_PROXY, config_.cluster.proxy_url.c_str());
  }
  if (share_ != nullptr) curl_easy_setopt(e, CURLOPT_SHARE, static_cast<CURLSH*>(share_));
  const Duration timeout = request.timeout.count() > 0 ? request.timeout : options_.timeout;
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, Ms(timeout));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, Ms(std::min(timeout, options_.connect_timeout)));
  // Dead connections (a SIGSTOPped API server) are noticed by the timeout; keepalive keeps NATs
  // and idle HTTP/2 connections from going stale in between.
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);

  const std::string method = HttpMethod(request.verb);
  if (method == "POST") {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (method != "GET" && (method != "DELETE" || !request_body->empty())) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, request_body->c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_body->size()));
  }

  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");
  if (!request_body->empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + request.content_type).c_str());
  }
  if (!creds.bearer_token.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + creds.bearer_token).c_str());
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  *headers_out = headers;

  if (config_.cluster.insecure_skip_tls_verify) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!config_.cluster.ca_pem.empty()) {
    curl_blob blob{const_cast<char*>(config_.cluster.ca_pem.data()), config_.cluster.ca_pem.size(),
                   CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!creds.cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(creds.cert_pem.data()), creds.cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(creds.key_pem.data()), creds.key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
  }
  return Status::Ok();
}

Status KubeClient::TransportError(const KubeRequest& request, int curl_code,
                                  const char* errbuf) const {
  const auto code = static_cast<CURLcode>(curl_code);
  std::string detail = errbuf != nullptr && errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
  const std::string& server = config_.cluster.server;
  const std::string what =
      request.verb + " " +
      (request.raw_path.empty() ? request.ref.ResourceName() : request.raw_path);
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
      return Status::FailedPrecondition("TLS verification of " + server + " failed: " + detail +
                                        " (check the cluster's certificate-authority in " +
                                        config_.source + ")");
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
      return Status::FailedPrecondition("TLS setup for " + server + " failed: " + detail +
                                        " (kubeconfig user '" + config_.user_name + "' in " +
                                        config_.source + ")");
    case CURLE_SSL_CONNECT_ERROR:
      return Status::Unavailable("TLS handshake with " + server + " failed: " + detail);
    case CURLE_OPERATION_TIMEDOUT:
      return Status::DeadlineExceeded(what + ": no answer from " + server + " in time: " + detail);
    case CURLE_ABORTED_BY_CALLBACK:
      return Status::Aborted(what + ": cancelled");
    case CURLE_WRITE_ERROR:
      return Status::Internal(what + ": the answer from " + server + " is too large");
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_PARTIAL_FILE:
    case CURLE_AGAIN:
      return Status::Unavailable(what + ": cannot reach " + server + ": " + detail);
    default:
      return Status::Unavailable(what + ": request to " + server + " failed: " + detail);
  }
}

Status KubeClient::Perform(void* easy, const KubeRequest& request, const Credentials& creds,
                           KubeResponse* response) {
  CURL* e = static_cast<CURL*>(easy);
  curl_easy_reset(e);  // keeps the live connection and the TLS session
  const std::string url = UrlFor(request);
  char errbuf[CURL_ERROR_SIZE] = {};
  response->body.clear();
  Sink sink;
  sink.body = &response->body;
  sink.stop = &request.stop;
  sink.now = options_.clock->WallNow();
  void* headers = nullptr;
  Status st = Configure(e, request, creds, &headers, &response->body, errbuf, &url, &request.body);
  if (!st.ok()) return st;
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &sink);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  const CURLcode code = curl_easy_perform(e);
  curl_slist_free_all(static_cast<curl_slist*>(headers));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, nullptr);
  if (code != CURLE_OK) {
    if (sink.overflow) return TransportError(request, CURLE_WRITE_ERROR, errbuf);
    return TransportError(request, code, errbuf);
  }
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &response->status);
  response->retry_after = sink.retry_after;
  response->priority_and_fairness = sink.priority_and_fairness;
  return Status::Ok();
}

bool KubeClient::Retryable(const KubeRequest& request, const Result<KubeResponse>& r) const {
  if (!r.ok()) return r.status().IsTransient();
  const long s = r->status;
  if (s == 429 || s == 502 || s == 503 || s == 504) return true;
  return s == 500 && Idempotent(request.verb);
}

Duration KubeClient::Backoff(int attempt, const Result<KubeResponse>& r) const {
  Duration d = options_.initial_backoff * (1 << std::min(attempt - 1, 16));
  d = std::min(d, options_.max_backoff);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  d = std::chrono::duration_cast<Duration>(d * jitter(jitter_rng));
  if (r.ok() && r->retry_after)
    d = std::max(d, std::min(*r->retry_after, options_.max_retry_after));
  return d;
}

void KubeClient::Finish(const ConcurrencyLimit::Ticket& ticket, const KubeRequest& request,
                        const Result<KubeResponse>& r, bool retry) {
  // A 429 from the eviction subresource is usually a PodDisruptionBudget's "not now": a policy
  // answer about one pod, not a server asking everyone to slow down. Only priority and fairness
  // (its headers on the answer) make such a 429 a load signal.
  const bool policy_refusal = r.ok() && r->status == 429 && !r->priority_and_fairness &&
                              request.ref.subresource == "eviction";
  LoadSignal signal = LoadSignal::kAnswered;
  if (!r.ok()) {
    signal = r.status().code() == Status::Code::kDeadlineExceeded ? LoadSignal::kOverload
                                                                  : LoadSignal::kNeutral;
  } else if (policy_refusal) {
    signal = LoadSignal::kNeutral;
  } else if (r->status == 429 || r->status >= 500) {
    signal = LoadSignal::kOverload;
  }
  limit_.Release(ticket, signal);
  // The server asked for a pause: every new request waits, not only this one's retry.
  if (r.ok() && r->retry_after && !policy_refusal && (r->status == 429 || r->status >= 500)) {
    limit_.Pause(std::min(*r->retry_after, options_.max_retry_after));
  }
  std::lock_guard lock(stats_mu_);
  ++stats_.requests_by_verb[request.verb];
  if (retry) ++stats_.retries;
  if (!r.ok()) {
    ++stats_.transport_errors;
  } else if (r->status == 429) {
    ++stats_.throttled;
    if (r->priority_and_fairness) ++stats_.apf_rejections;
  } else if (r->status >= 500) {
    ++stats_.server_errors;
  }
}

KubeClientStats KubeClient::Stats() const {
  KubeClientStats s;
  {
    std::lock_guard lock(stats_mu_);
    s = stats_;
  }
  s.limit = limit_.Stats();
  return s;
}

Result<KubeResponse> KubeClient::Send(const KubeRequest& request) {
  const int attempts = request.max_attempts > 0 ? request.max_attempts : options_.max_attempts;
  const Duration timeout = request.timeout > Duration{0} ? request.timeout : options_.timeout;
  bool refreshed = false;
  Result<KubeResponse> last = Status::Internal("no attempt made");
  int attempt = 1;
  while (true) {
    if (request.stop.stop_requested()) return Status::Aborted(request.verb + ": cancelled");
    Result<Credentials> creds = credentials_.Get();
    if (!creds.ok()) return creds.status();
    // Waiting for a slot counts against the attempt's timeout, so a caller never waits longer
    // than it would for a frozen server.
    Result<ConcurrencyLimit::Ticket> ticket =
        limit_.Acquire(options_.clock->Now() + timeout, request.stop);
    if (!ticket.ok()) {
      const ResourceRef& ref = request.ref;
      return Status(ticket.status().code(),
                    request.verb + " " +
                        (request.raw_path.empty() ? ref.ResourceName() : request.raw_path) + ": " +
                        ticket.status().message() + " at " + config_.cluster.server);
    }
    void* easy = AcquireEasy();
    if (easy == nullptr) {
      limit_.Release(*ticket, LoadSignal::kNeutral);
      return Status::Internal("cannot create a libcurl handle");
    }
    KubeResponse response;
    Status st = Perform(easy, request, *creds, &response);
    ReleaseEasy(easy);
    last = st.ok() ? Result<KubeResponse>(std::move(response)) : Result<KubeResponse>(st);
    Finish(*ticket, request, last, attempt > 1);
    // Rotated or expired credentials: refresh once and try again at once (not an attempt).
    if (last.ok() && last->status == 401 && credentials_.Refreshable() && !refreshed) {
      refreshed = true;
      credentials_.Invalidate();
      continue;
    }
    if (attempt >= attempts || !Retryable(request, last)) break;
    if (!options_.clock->SleepFor(Backoff(attempt, last), request.stop)) {
      return Status::Aborted(request.verb + ": cancelled");
    }
    ++attempt;
  }
  return last;
}

Status KubeClient::ErrorFor(const KubeRequest& request, const KubeResponse& response) const {
  std::string message, user;
  ParseStatusBody(response.body, &message, &user);
  if (user.empty()) user = config_.user_name.empty() ? "(anonymous)" : config_.user_name;
  const ResourceRef& ref = request.ref;
  std::string target = request.raw_path.empty() ? ref.ResourceName() : request.raw_path;
  std::string where = request.raw_path.empty() && !ref.ns.empty() ? " in namespace " + ref.ns : "";
  std::string object = request.raw_path.empty()
                           ? ref.ResourceName() + (ref.name.empty() ? "" : " " + ref.name) + where
                           : request.raw_path;
  const long s = response.status;
  if (s == 401) {
    return Status::PermissionDenied(
        "unauthorized: " + config_.cluster.server + " rejected the credentials (" +
        config_.user.Kind() + ") of kubeconfig user '" + config_.user_name + "' to " +
        request.verb + " " + target + where + " (" + config_.source + ")");
  }
  if (s == 403) {
    return Status::PermissionDenied("forbidden: user " + user + " cannot " + request.verb + " " +
                                    target + where);
  }
  const std::string prefix = request.verb + " " + object + ": ";
  const std::string said = message.empty() ? "HTTP " + std::to_string(s) : message;
  if (s == 404) return Status::NotFound(prefix + said);
  if (s == 409 || s == 410) return Status::FailedPrecondition(prefix + said);
  if (s == 400 || s == 422 || s == 415) return Status::InvalidArgument(prefix + said);
  if (s == 429) return Status::Unavailable(prefix + "too many requests (429): " + said);
  if (s >= 500) {
    return Status::Unavailable(prefix + "the API server answered " + std::to_string(s) + ": " +
                               said);
  }
  return Status::Internal(prefix + "unexpected HTTP " + std::to_string(s) + ": " + said);
}

Result<KubeResponse> KubeClient::Call(const KubeRequest& request) {
  Result<KubeResponse> r = Send(request);
  if (!r.ok()) return r;
  if (r->status < 200 || r->status > 299) return ErrorFor(request, *r);
  return r;
}

Result<rapidjson::Document> KubeClient::CallJson(const KubeRequest& request) {
  Result<KubeResponse> r = Call(request);
  if (!r.ok()) return r.status();
  rapidjson::Document doc;
  const Status parsed = ParseJson(r->body, &doc, AnswerLimits());
  const std::string what =
      request.verb + " " +
      (request.raw_path.empty() ? request.ref.ResourceName() : request.raw_path);
  if (!parsed.ok()) {
    return Status::Internal(what + ": the API server's answer cannot be read: " + parsed.message());
  }
  if (!doc.IsObject()) {
    return Status::Internal(what + ": the API server's answer is not a JSON object");
  }
  return doc;
}

Result<std::string> KubeClient::List(const ResourceRef& ref, const ListOptions& options,
                                     const std::function<Status(const rapidjson::Value&)>& each) {
  std::string cont;
  std::string rv;
  do {
    KubeRequest req;
    req.verb = "list";
    req.ref = ref;
    req.timeout = options.timeout;
    if (options.limit > 0) req.query.emplace_back("limit", std::to_string(options.limit));
    if (!cont.empty()) req.query.emplace_back("continue", cont);
    if (!options.label_selector.empty()) {
      req.query.emplace_back("labelSelector", options.label_selector);
    }
    if (!options.field_selector.empty()) {
      req.query.emplace_back("fieldSelector", options.field_selector);
    }
    Result<rapidjson::Document> page = CallJson(req);
    if (!page.ok()) return page.status();
    const rapidjson::Value* items = JsonPath(*page, {"items"});
    if (items != nullptr && items->IsArray()) {
      for (const rapidjson::Value& item : items->GetArray()) {
        Status st = each(item);
        if (!st.ok()) return st;
      }
    }
    cont = JsonPathString(*page, {"metadata", "continue"});
    rv = JsonPathString(*page, {"metadata", "resourceVersion"});
  } while (!cont.empty());
  return rv;
}

// ---- Stream --------------------------------------------------------------------------------

namespace {

struct StreamSink {
  const std::function<bool(const std::string&)>* on_line;
  std::string partial;
  std::string error_body;  // the answer when it is not a 2xx stream
  CURL* easy = nullptr;
  bool stopped_by_callback = false;
  bool line_too_long = false;
  const std::stop_token* stop = nullptr;
};

size_t OnStream(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<StreamSink*>(user);
  const size_t len = size * count;
  long status = 0;
  curl_easy_getinfo(sink->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    if (sink->error_body.size() < 65536) sink->error_body.append(data, len);
    return len;
  }
  sink->partial.append(data, len);
  size_t start = 0;
  for (size_t nl; (nl = sink->partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (nl == start) continue;
    if (nl - start > kMaxStreamLine) {
      sink->line_too_long = true;
      return 0;
    }
    if (!(*sink->on_line)(sink->partial.substr(start, nl - start))) {
      sink->stopped_by_callback = true;
      return 0;
    }
  }
  sink->partial.erase(0, start);
  if (sink->partial.size() > kMaxStreamLine) {
    sink->line_too_long = true;
    return 0;
  }
  return len;
}

int OnStreamProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* sink = static_cast<StreamSink*>(user);
  return sink->stop->stop_requested() ? 1 : 0;
}

}  // namespace

Status KubeClient::Stream(const KubeRequest& request,
                          const std::function<bool(const std::string&)>& on_line) {
  Result<Credentials> creds = credentials_.Get();
  if (!creds.ok()) return creds.status();
  CURL* e = curl_easy_init();
  if (e == nullptr) return Status::Internal("cannot create a libcurl handle");
  const std::string url = UrlFor(request);
  char errbuf[CURL_ERROR_SIZE] = {};
  std::string unused;
  void* headers = nullptr;
  Configure(e, request, *creds, &headers, &unused, errbuf, &url, &request.body);
  StreamSink sink;
  sink.on_line = &on_line;
  sink.easy = e;
  sink.stop = &request.stop;
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnStream);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &OnStreamProgress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &sink);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  const CURLcode code = curl_easy_perform(e);
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  curl_slist_free_all(static_cast<curl_slist*>(headers));
  if (sink.stopped_by_callback) return Status::Ok();
  if (sink.line_too_long) {
    return Status::FailedPrecondition(
        request.verb + " " +
        (request.raw_path.empty() ? request.ref.ResourceName() : request.raw_path) +
        ": the API server sent a line longer than " + std::to_string(kMaxStreamLine) +
        " bytes; the stream was closed");
  }
  if (code != CURLE_OK) {
    if (code == CURLE_ABORTED_BY_CALLBACK) return Status::Aborted(request.verb + ": stopped");
    return TransportError(request, code, errbuf);
  }
  if (status < 200 || status > 299) {
    KubeResponse r;
    r.status = status;
    r.body = sink.error_body;
    return ErrorFor(request, r);
  }
  return Status::Ok();
}

// ---- CallMany ------------------------------------------------------------------------------

std::vector<Result<KubeResponse>> KubeClient::CallMany(const std::vector<KubeRequest>& requests,
                                                       size_t max_in_flight) {
  std::vector<Result<KubeResponse>> results(requests.size(), Status::Internal("not sent"));
  if (requests.empty()) return results;
  max_in_flight = std::max<size_t>(1, max_in_flight);
  Result<Credentials> creds = credentials_.Get();
  if (!creds.ok()) {
    for (auto& r : results) r = creds.status();
    return results;
  }
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) {
    for (auto& r : results) r = Status::Internal("cannot create a libcurl multi handle");
    return results;
  }
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 4L);

  struct Slot {
    CURL* easy = nullptr;
    size_t index = 0;
    int attempt = 0;
    ConcurrencyLimit::Ticket ticket;
    std::string url;
    KubeResponse response;
    Sink sink;
    void* headers = nullptr;
    char errbuf[CURL_ERROR_SIZE] = {};
  };
  struct Waiting {
    size_t index;
    int attempt;
    MonoTime ready;
  };
  Clock& clock = *options_.clock;
  auto timeout_of = [&](const KubeRequest& req) {
    return req.timeout > Duration{0} ? req.timeout : options_.timeout;
  };
  std::deque<Waiting> queue;
  for (size_t i = 0; i < requests.size(); ++i) queue.push_back({i, 1, MonoTime{}});
  // Since when this call has wanted a slot of the shared limit and got none (waiting behind its
  // own max_in_flight does not count); MonoTime::max() while it is not stalled. (Not an optional:
  // g++ 12 takes an optional time_point for maybe-uninitialized here.)
  constexpr MonoTime kNotStalled = MonoTime::max();
  MonoTime stalled_since = kNotStalled;
  std::vector<std::unique_ptr<Slot>> slots;  // in flight
  std::vector<CURL*> spare;

  auto start = [&](const Waiting& w, const ConcurrencyLimit::Ticket& ticket) {
    auto slot = std::make_unique<Slot>();
    slot->ticket = ticket;
    if (!spare.empty()) {
      slot->easy = spare.back();
      spare.pop_back();
      curl_easy_reset(slot->easy);
    } else {
      slot->easy = curl_easy_init();
    }
    if (slot->easy == nullptr) {
      limit_.Release(ticket, LoadSignal::kNeutral);
      results[w.index] = Status::Internal("cannot create a libcurl handle");
      return;
    }
    slot->index = w.index;
    slot->attempt = w.attempt;
    const KubeRequest& req = requests[w.index];
    slot->url = UrlFor(req);
    slot->sink.body = &slot->response.body;
    slot->sink.stop = &req.stop;
    slot->sink.now = clock.WallNow();
    Configure(slot->easy, req, *creds, &slot->headers, &slot->response.body, slot->errbuf,
              &slot->url, &req.body);
    curl_easy_setopt(slot->easy, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(slot->easy, CURLOPT_WRITEDATA, &slot->sink);
    curl_easy_setopt(slot->easy, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(slot->easy, CURLOPT_HEADERDATA, &slot->sink);
    curl_easy_setopt(slot->easy, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(slot->easy, CURLOPT_XFERINFODATA, &slot->sink);
    curl_easy_setopt(slot->easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(slot->easy, CURLOPT_PRIVATE, slot.get());
    curl_multi_add_handle(multi, slot->easy);
    slots.push_back(std::move(slot));
  };

  while (!queue.empty() || !slots.empty()) {
    const MonoTime now = clock.Now();
    // Start what is due, oldest first, up to this call's bound and the client's shared limit.
    // What is cancelled, or due while no slot of the shared limit came free for its timeout,
    // fails without being sent.
    bool limited = false;
    if (slots.size() >= max_in_flight) stalled_since = kNotStalled;
    for (auto it = queue.begin(); it != queue.end();) {
      const KubeRequest& req = requests[it->index];
      if (req.stop.stop_requested() || (it->ready <= now && stalled_since != kNotStalled &&
                                        now - stalled_since >= timeout_of(req))) {
        results[it->index] = req.stop.stop_requested()
                                 ? Status::Aborted(req.verb + ": cancelled")
                                 : Status::DeadlineExceeded(
                                       req.verb + " " + req.ref.ResourceName() +
                                       ": no request slot to the API server came free in time at " +
                                       config_.cluster.server);
        it = queue.erase(it);
        continue;
      }
      if (it->ready > now || slots.size() >= max_in_flight || limited) {
        ++it;
        continue;
      }
      std::optional<ConcurrencyLimit::Ticket> ticket = limit_.TryAcquire();
      if (!ticket) {
        limited = true;
        if (stalled_since == kNotStalled) stalled_since = now;
        ++it;
        continue;
      }
      stalled_since = kNotStalled;
      Waiting w = *it;
      it = queue.erase(it);
      start(w, *ticket);
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Slot* slot = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &slot);
      const CURLcode code = msg->data.result;
      curl_multi_remove_handle(multi, slot->easy);
      curl_slist_free_all(static_cast<curl_slist*>(slot->headers));
      const KubeRequest& req = requests[slot->index];
      Result<KubeResponse> r = Status::Internal("unset");
      if (code != CURLE_OK) {
        r = TransportError(req, slot->sink.overflow ? CURLE_WRITE_ERROR : code, slot->errbuf);
      } else {
        curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &slot->response.status);
        slot->response.retry_after = slot->sink.retry_after;
        slot->response.priority_and_fairness = slot->sink.priority_and_fairness;
        r = std::move(slot->response);
      }
      Finish(slot->ticket, req, r, slot->attempt > 1);
      const int max_attempts = req.max_attempts > 0 ? req.max_attempts : options_.max_attempts;
      if (slot->attempt < max_attempts && Retryable(req, r) && !req.stop.stop_requested()) {
        queue.push_back({slot->index, slot->attempt + 1, clock.Now() + Backoff(slot->attempt, r)});
      } else if (r.ok() && (r->status < 200 || r->status > 299)) {
        results[slot->index] = ErrorFor(req, *r);
      } else {
        results[slot->index] = std::move(r);
      }
      spare.push_back(slot->easy);
      slots.erase(std::find_if(slots.begin(), slots.end(),
                               [&](const std::unique_ptr<Slot>& s) { return s.get() == slot; }));
    }
    if (slots.empty() && queue.empty()) break;
    // Wait for I/O, or until the next retry is due.
    int wait_ms = 100;
    if (!queue.empty() && slots.size() < max_in_flight) {
      MonoTime next = MonoTime::max();
      for (const Waiting& w : queue) next = std::min(next, w.ready);
      const long due = Ms(next - clock.Now());
      wait_ms = static_cast<int>(std::clamp<long>(due, 0, 100));
      // Slots of the shared limit free up in other threads too, unseen by this poll.
      if (limited) wait_ms = std::min(wait_ms, 5);
    }
    if (slots.empty()) {
      if (wait_ms > 0) clock.SleepFor(std::chrono::milliseconds(wait_ms), std::stop_token());
    } else {
      curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
    }
  }
  for (CURL* e : spare) curl_easy_cleanup(e);
  curl_multi_cleanup(multi);
  return results;
}

// ---- Transfer (for the probe loop) ---------------------------------------------------------

KubeClient::Transfer::~Transfer() {
  if (easy_ != nullptr) {
    curl_easy_setopt(static_cast<CURL*>(easy_), CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(static_cast<CURL*>(easy_), CURLOPT_ERRORBUFFER, nullptr);
  }
  curl_slist_free_all(static_cast<curl_slist*>(headers_));
}

long KubeClient::Transfer::status() const {
  long s = 0;
  curl_easy_getinfo(static_cast<CURL*>(easy_), CURLINFO_RESPONSE_CODE, &s);
  return s;
}

std::string KubeClient::Transfer::Error(int curl_code) const {
  if (curl_code == CURLE_OK) return "";
  return client_->TransportError(request_, curl_code, errbuf_).message();
}

std::string KubeClient::Transfer::Refusal() const {
  const long s = status();
  if (s != 401 && s != 403) return "";
  KubeResponse response;
  response.status = s;
  response.body = body_.substr(0, 4096);
  return client_->ErrorFor(request_, response).message();
}

Result<std::unique_ptr<KubeClient::Transfer>> KubeClient::Prepare(void* easy,
                                                                  const KubeRequest& request) {
  Result<Credentials> creds = credentials_.Get();
  if (!creds.ok()) return creds.status();
  auto t = std::unique_ptr<Transfer>(new Transfer());
  t->easy_ = easy;
  t->client_ = this;
  t->url_ = UrlFor(request);
  t->request_.verb = request.verb;
  t->request_.ref = request.ref;
  t->request_.raw_path = request.raw_path;
  t->request_body_ = request.body;
  Status st = Configure(easy, request, *creds, &t->headers_, &t->body_, t->errbuf_, &t->url_,
                        &t->request_body_);
  if (!st.ok()) return st;
  curl_easy_setopt(
      static_cast<CURL*>(easy), CURLOPT_WRITEFUNCTION,
      +[](char* data, size_t size, size_t count, void* user) -> size_t {
        auto* body = static_cast<std::string*>(user);
        const size_t len = size * count;
        if (body->size() + len > (4u << 20)) return 0;
        body->append(data, len);
        return len;
      });
  curl_easy_setopt(static_cast<CURL*>(easy), CURLOPT_WRITEDATA, &t->body_);
  return t;
}

}  // namespace gameday
