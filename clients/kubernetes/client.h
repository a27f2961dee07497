#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "clients/curl/url_escape.h"  // UrlEncode, used by callers that build queries
#include "clients/kubernetes/concurrency_limit.h"
#include "clients/kubernetes/credentials.h"
#include "clients/kubernetes/kubeconfig.h"
#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

// Which API object(s) a request is about. Also what error messages name.
struct ResourceRef {
  std::string group;  // "" = core (/api/v1); else /apis/<group>/<version>
  std::string version = "v1";
  std::string resource;  // plural lowercase: pods, nodes, deployments, events
  std::string ns;        // empty = cluster-scoped, or every namespace for a list
  std::string name;
  std::string subresource;  // eviction, status, ...

  // "/api/v1/namespaces/shop/pods/web-1/eviction".
  std::string Path() const;
  // "pods" or "pods/eviction", as RBAC names it.
  std::string ResourceName() const;

  static ResourceRef Core(std::string resource, std::string ns = "", std::string name = "") {
    ResourceRef r;
    r.resource = std::move(resource);
    r.ns = std::move(ns);
    r.name = std::move(name);
    return r;
  }
  static ResourceRef Group(std::string group, std::string version, std::string resource,
                           std::string ns = "", std::string name = "") {
    ResourceRef r;
    r.group = std::move(group);
    r.version = std::move(version);
    r.resource = std::move(resource);
    r.ns = std::move(ns);
    r.name = std::move(name);
    return r;
  }
};

struct KubeRequest {
  // The Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection); it
  // picks the HTTP method and is what a 403 message names.
  std::string verb = "get";
  ResourceRef ref;
  std::string raw_path;  // used instead of ref when set ("/readyz")
  std::vector<std::pair<std::string, std::string>> query;  // values are URL-encoded here
  std::string body;
  std::string content_type = "application/json";
  Duration timeout{0};   // per attempt; 0 = the client's
  int max_attempts = 0;  // 0 = the client's; 1 = no retry
  std::stop_token stop;  // aborts waits and the transfer in flight
};

struct KubeResponse {
  long status = 0;
  std::string body;
  std::optional<Duration> retry_after;  // parsed, at most a day (see ParseRetryAfter)
  // The answer names an API Priority-and-Fairness flow schema or priority level
  // (X-Kubernetes-PF-*-UID): on a 429 that means APF rejected the request.
  bool priority_and_fairness = false;
};

struct KubeClientOptions {
  Clock* clock = &Clock::Real();
  // Per attempt: a frozen API server costs at most max_attempts of these (plus backoff).
  Duration timeout = std::chrono::seconds(15);
  Duration connect_timeout = std::chrono::seconds(5);
  // Attempts for one request on 429, 5xx or a connection error, with exponential backoff (and
  // Retry-After when the server sends it, capped at max_retry_after).
  int max_attempts = 5;
  Duration initial_backoff = std::chrono::milliseconds(100);
  Duration max_backoff = std::chrono::seconds(4);
  Duration max_retry_after = std::chrono::seconds(10);
  std::string user_agent = "gameday";
  // Requests in flight to the API server, shared by Send/Call and CallMany (adaptive: see
  // ConcurrencyLimit). A caller waits for a slot at most its request's timeout.
  ConcurrencyLimitOptions concurrency;
};

// What a client has done so far, for benchmarks and tests.
struct KubeClientStats {
  ConcurrencyLimit::Snapshot limit;
  std::map<std::string, uint64_t> requests_by_verb;  // attempts sent, retries included
  uint64_t retries = 0;
  uint64_t throttled = 0;         // 429 answers
  uint64_t apf_rejections = 0;    // of those, the ones API Priority and Fairness gave
  uint64_t server_errors = 0;     // 5xx answers
  uint64_t transport_errors = 0;  // no answer (connection, TLS, timeout)
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int limit = 500;  // page size
  Duration timeout{0};
};

// A Kubernetes API client on libcurl (HTTP/2 when the server offers it) and RapidJSON.
// Thread-safe: synchronous calls take an easy handle from a pool (each keeps its connection), so
// many threads can call at once. Send, Call and CallMany share one adaptive limit on requests in
// flight (options.concurrency): it grows while the server keeps up and is cut on 429s (API
// Priority-and-Fairness rejections included) and 5xx; a Retry-After also pauses new requests
// briefly. Retries 429, 5xx (for idempotent verbs) and connection errors with backoff; a TLS
// verification failure is never retried and says it is TLS. Stream and Prepare (watches and the
// probe loop) stay outside the limit: a watch would hold a slot for its whole life, and a probe
// must see the server as it is. Tokens, keys and request headers never appear in errors or logs.
class KubeClient {
 public:
  static Result<std::shared_ptr<KubeClient>> Create(KubeConfig config,
                                                    KubeClientOptions options = {});
  // LoadKubeConfig + Create: the usual way from a plan's target (empty path = $KUBECONFIG...).
  static Result<std::shared_ptr<KubeClient>> FromKubeconfig(const std::string& path,
                                                            const std::string& context,
                                                            KubeClientOptions options = {});
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // Sends with retries. Any HTTP status is a response; a Status only when no answer came
  // (connection, TLS, timeout, credentials).
  Result<KubeResponse> Send(const KubeRequest& request);
  // Send, and any non-2xx answer becomes a Status (see ErrorFor).
  Result<KubeResponse> Call(const KubeRequest& request);
  // Call and parse the body.
  Result<rapidjson::Document> CallJson(const KubeRequest& request);
  // Lists `ref` page by page (limit/continue), calling `each` for every item; stops at the first
  // error `each` returns. Returns the list's resourceVersion (to start a watch from).
  Result<std::string> List(const ResourceRef& ref, const ListOptions& options,
                           const std::function<Status(const rapidjson::Value& item)>& each);
  // Streams the answer to `request` line by line (a watch): `on_line` gets each complete line
  // and returns false to stop. Returns when the server ends the stream, `on_line` stops it, or
  // request.stop is requested (then kAborted; noticed within about a second). No retries: a
  // watcher re-lists and re-watches on its own terms.
  Status Stream(const KubeRequest& request, const std::function<bool(const std::string&)>& on_line);
  // Sends many requests concurrently on one libcurl multi handle (HTTP/2 multiplexed), at most
  // `max_in_flight` at once and within the client's shared limit, each retried like Send. Time
  // spent queued behind this call's own requests does not count against a request's timeout;
  // when no slot of the shared limit comes free for that long (other callers hold them all, or
  // the server asked for a pause), the requests still waiting fail with kDeadlineExceeded.
  // Result i answers requests[i], with Call's semantics (non-2xx is a Status).
  std::vector<Result<KubeResponse>> CallMany(const std::vector<KubeRequest>& requests,
                                             size_t max_in_flight = 32);

  // The Status for a non-2xx answer: 401/403 name the verb, the resource and the namespace
  // ("forbidden: user nobody cannot delete pods in namespace shop"); 404 kNotFound, 409
  // kFailedPrecondition, 400/422 kInvalidArgument, 429/5xx kUnavailable.
  Status ErrorFor(const KubeRequest& request, const KubeResponse& response) const;

  // For callers with their own libcurl multi loop (the probe loop): configures `easy` (a CURL*)
  // for `request` with this cluster's TLS settings and the current credentials. The returned
  // object holds what libcurl points to (headers, the body) and collects the response; keep it
  // until the transfer is done.
  class Transfer {
   public:
    ~Transfer();
    long status() const;  // after completion
    const std::string& body() const { return body_; }
    // The error text libcurl gave, or ""; for TLS failures the client's wording.
    std::string Error(int curl_code) const;
    // After completion: for a 401 or 403, the client's words for it (which user may not do what
    // to which resource, as ErrorFor says); else "".
    std::string Refusal() const;

   private:
    friend class KubeClient;
    void* easy_ = nullptr;
    void* headers_ = nullptr;  // curl_slist*
    std::string url_;
    KubeRequest request_;  // without its body, for messages
    std::string request_body_;
    std::string body_;
    char errbuf_[256] = {};
    const KubeClient* client_ = nullptr;
  };
  Result<std::unique_ptr<Transfer>> Prepare(void* easy, const KubeRequest& request);

  const KubeConfig& config() const { return config_; }
  const std::string& server() const { return config_.cluster.server; }
  Clock& clock() const { return *options_.clock; }
  KubeClientStats Stats() const;

  // The URL of a request (server + path + query), without credentials.
  std::string UrlFor(const KubeRequest& request) const;

 private:
  KubeClient(KubeConfig config, KubeClientOptions options);
  struct Attempt;
  // One attempt on `easy`; fills `response` or returns a transport Status.
  Status Perform(void* easy, const KubeRequest& request, const Credentials& creds,
                 KubeResponse* response);
  // Sets every option of one request on `easy` (after curl_easy_reset).
  Status Configure(void* easy, const KubeRequest& request, const Credentials& creds, void** headers,
                   std::string* body_sink, char* errbuf, const std::string* url,
                   const std::string* request_body) const;
  Status TransportError(const KubeRequest& request, int curl_code, const char* errbuf) const;
  bool Retryable(const KubeRequest& request, const Result<KubeResponse>& r) const;
  Duration Backoff(int attempt, const Result<KubeResponse>& r) const;
  // Counts one finished attempt and tells the limit what it said about the server's load.
  void Finish(const ConcurrencyLimit::Ticket& ticket, const KubeRequest& request,
              const Result<KubeResponse>& r, bool retry);
  void* AcquireEasy();
  void ReleaseEasy(void* easy);

  const KubeConfig config_;
  const KubeClientOptions options_;
  CredentialSource credentials_;
  std::string no_proxy_;
  void* share_ = nullptr;  // CURLSH*: TLS sessions and DNS shared by every handle
  std::mutex share_mu_[8];
  std::mutex pool_mu_;
  std::vector<void*> pool_;
  ConcurrencyLimit limit_;
  mutable std::mutex stats_mu_;
  KubeClientStats stats_;  // all but `limit`
};

// Helpers for reading API objects.
std::string JsonString(const rapidjson::Value& obj, const char* key);
// obj.a.b.c as a string ("" if any step is missing or not a string).
std::string JsonPathString(const rapidjson::Value& obj, std::initializer_list<const char*> path);
const rapidjson::Value* JsonPath(const rapidjson::Value& obj,
                                 std::initializer_list<const char*> path);
// The JSON text of a string, with quotes ("\"a\\\"b\"").
std::string JsonQuote(const std::string& s);

}  // namespace gameday
