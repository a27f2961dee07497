#include "clients/etcd/etcd_client.h"

#include <curl/curl.h>
#include <rapidjson/document.h>

#include <mutex>
#include <thread>

#include "clients/etcd/etcd_answers.h"
#include "experiments/guarded.h"
#include "experiments/json.h"
#include "experiments/redact.h"
#include "experiments/spec_reader.h"

namespace gameday {
namespace {

constexpr size_t kMaxBody = 1 << 20;

void EnsureCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct BodySink {
  std::string body;
  bool overflow = false;
};

// A status or member-list answer is a few KiB; anything past kMaxBody ends the transfer, so
// that a hostile or broken endpoint cannot make gameday hold an unbounded answer.
size_t Append(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t len = size * count;
  if (sink->body.size() + len > kMaxBody) {
    sink->overflow = true;
    return 0;
  }
  sink->body.append(data, len);
  return len;
}

std::string Trim(const std::string& url) {
  std::string u = url;
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u;
}

// etcd's gateway writes uint64 fields as strings; accept numbers too.
uint64_t U64(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return 0;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return 0;
  if (it->value.IsUint64()) return it->value.GetUint64();
  if (it->value.IsString()) {
    try {
      return std::stoull(it->value.GetString());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

std::string Str(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return "";
  if (it->value.IsString()) return it->value.GetString();
  if (it->value.IsUint64()) return std::to_string(it->value.GetUint64());
  return "";
}

}  // namespace

Result<std::string> EtcdPost(const std::string& client_url, const std::string& path,
                             const std::string& body, Duration timeout, const EtcdTls& tls) {
  EnsureCurl();
  CURL* easy = curl_easy_init();
  if (easy == nullptr) return Status::Internal("cannot create a libcurl handle");
  const std::string url = Trim(client_url) + path;
  BodySink sink;
  std::string& response = sink.body;
  char errbuf[CURL_ERROR_SIZE] = {};
  const long ms = static_cast<long>(std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()));
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
  if (!tls.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) curl_easy_setopt(easy, CURLOPT_SSLCERT, tls.cert_file.c_str());
  if (!tls.key_file.empty()) curl_easy_setopt(easy, CURLOPT_SSLKEY, tls.key_file.c_str());
  const CURLcode code = curl_easy_perform(easy);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(easy);
  curl_slist_free_all(headers);
  if (code == CURLE_OPERATION_TIMEDOUT) {
    return Status::DeadlineExceeded("etcd " + RedactSecrets(url) + ": no answer within " +
                                    FormatDuration(timeout));
  }
  if (sink.overflow) {
    return Status::FailedPrecondition("etcd " + url + ": the answer is larger than " +
                                      std::to_string(kMaxBody) + " bytes");
  }
  if (code != CURLE_OK) {
    return Status::Unavailable("etcd " + RedactSecrets(url) + ": " +
                               (errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code)));
  }
  if (status != 200) {
    return Status::FailedPrecondition("etcd " + RedactSecrets(url) + ": HTTP " +
                                      std::to_string(status) + ": " + response.substr(0, 300));
  }
  return response;
}

Result<EtcdMemberStatus> GetEtcdStatus(const std::string& client_url, Duration timeout,
                                       const EtcdTls& tls) {
  Result<std::string> body = EtcdPost(client_url, "/v3/maintenance/status", "{}", timeout, tls);
  if (!body.ok()) return body.status();
  return ParseEtcdStatusAnswer(client_url, *body);
}

Result<EtcdMemberStatus> ParseEtcdStatusAnswer(const std::string& client_url,
                                               const std::string& body) {
  rapidjson::Document doc;
  const Status parsed = ParseJson(body, &doc);
  if (!parsed.ok()) {
    return Status::FailedPrecondition("etcd " + client_url +
                                      ": unreadable status answer: " + parsed.message());
  }
  if (!doc.IsObject() || !doc.HasMember("header")) {
    return Status::FailedPrecondition("etcd " + client_url +
                                      ": unexpected status answer: " + body.substr(0, 200));
  }
  EtcdMemberStatus s;
  s.url = client_url;
  s.member_id = Str(doc["header"], "member_id");
  s.leader = Str(doc, "leader");
  s.raft_term = U64(doc, "raftTerm");
  s.raft_index = U64(doc, "raftIndex");
  s.raft_applied_index = U64(doc, "raftAppliedIndex");
  s.version = Str(doc, "version");
  return s;
}

Result<std::vector<EtcdMember>> ListEtcdMembers(const std::string& client_url, Duration timeout,
                                                const EtcdTls& tls) {
  Result<std::string> body = EtcdPost(client_url, "/v3/cluster/member/list", "{}", timeout, tls);
  if (!body.ok()) return body.status();
  return ParseEtcdMemberList(client_url, *body);
}

Result<std::vector<EtcdMember>> ParseEtcdMemberList(const std::string& client_url,
                                                    const std::string& body) {
  rapidjson::Document doc;
  const Status parsed = ParseJson(body, &doc);
  if (!parsed.ok()) {
    return Status::FailedPrecondition("etcd " + client_url +
                                      ": unreadable member list: " + parsed.message());
  }
  if (!doc.IsObject() || !doc.HasMember("members") || !doc["members"].IsArray()) {
    return Status::FailedPrecondition("etcd " + client_url +
                                      ": unexpected member list: " + body.substr(0, 200));
  }
  std::vector<EtcdMember> members;
  for (const auto& m : doc["members"].GetArray()) {
    // A member that is not an object is not one etcd writes; it has nothing to offer.
    if (!m.IsObject()) continue;
    EtcdMember member;
    member.id = Str(m, "ID");
    member.name = Str(m, "name");
    for (const char* key : {"clientURLs", "peerURLs"}) {
      auto it = m.FindMember(key);
      if (it == m.MemberEnd() || !it->value.IsArray()) continue;
      for (const auto& u : it->value.GetArray()) {
        if (!u.IsString()) continue;
        (key[0] == 'c' ? member.client_urls : member.peer_urls).push_back(u.GetString());
      }
    }
    members.push_back(std::move(member));
  }
  return members;
}

Result<size_t> FindEtcdLeader(const std::vector<std::string>& client_urls, Duration timeout,
                              const std::vector<EtcdTls>& tls) {
  if (client_urls.empty()) return Status::InvalidArgument("no etcd members to ask");
  std::vector<Result<EtcdMemberStatus>> answers(
      client_urls.size(), Result<EtcdMemberStatus>(Status::Internal("not asked")));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < client_urls.size(); ++i) {
    threads.emplace_back([&, i] {
      // On this thread an exception would std::terminate the run: it becomes this answer.
      answers[i] = Guarded("asking etcd at " + client_urls[i], [&] {
        return GetEtcdStatus(client_urls[i], timeout, i < tls.size() ? tls[i] : EtcdTls{});
      });
    });
  }
  for (std::thread& t : threads) t.join();
  size_t best = client_urls.size();
  std::string report;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok()) {
      report += "; " + answers[i].status().message();
      continue;
    }
    const EtcdMemberStatus& s = *answers[i];
    report += "; " + client_urls[i] + " follows leader " + (s.leader.empty() ? "none" : s.leader) +
              " in term " + std::to_string(s.raft_term);
    if (s.IsLeader() && (best == client_urls.size() || s.raft_term > answers[best]->raft_term)) {
      best = i;
    }
  }
  if (best == client_urls.size()) {
    return Status::Unavailable("no etcd member reports itself leader" + report);
  }
  return best;
}

std::string Base64Encode(const std::string& data) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  const auto* d = reinterpret_cast<const unsigned char*>(data.data());
  for (; i + 2 < data.size(); i += 3) {
    const unsigned v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (data.size() - i == 1) {
    const unsigned v = d[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (data.size() - i == 2) {
    const unsigned v = (d[i] << 16) | (d[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool Base64Decode(const std::string& text, std::string* out) {
  out->clear();
  unsigned buffer = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      ++padding;
      continue;
    } else {
      return false;
    }
    if (padding > 0) return false;  // data after padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return padding <= 2;
}

}  // namespace gameday
