#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

// Client TLS settings for an etcd endpoint (all empty for plain http).
struct EtcdTls {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

// One member's view of the cluster, from POST /v3/maintenance/status on its client URL.
struct EtcdMemberStatus {
  std::string url;
  std::string member_id;  // etcd prints 64-bit ids as decimal strings in JSON
  std::string leader;     // the id of the leader this member follows; "0" or empty = none
  uint64_t raft_term = 0;
  uint64_t raft_index = 0;
  uint64_t raft_applied_index = 0;
  std::string version;

  bool IsLeader() const { return !member_id.empty() && member_id == leader; }
};

struct EtcdMember {
  std::string id;
  std::string name;
  std::vector<std::string> client_urls;
  std::vector<std::string> peer_urls;
};

// A blocking POST of a JSON body to `client_url` + `path` through etcd's v3 JSON gateway.
// Returns the response body of a 200 answer; an error otherwise (kUnavailable for transport
// failures, kDeadlineExceeded for a timeout, kFailedPrecondition for an error answer).
Result<std::string> EtcdPost(const std::string& client_url, const std::string& path,
                             const std::string& body, Duration timeout, const EtcdTls& tls = {});

Result<EtcdMemberStatus> GetEtcdStatus(const std::string& client_url, Duration timeout,
                                       const EtcdTls& tls = {});
Result<std::vector<EtcdMember>> ListEtcdMembers(const std::string& client_url, Duration timeout,
                                                const EtcdTls& tls = {});

// Asks every URL at once and returns the index of the member that reports itself leader (the
// highest raft term wins when a stale leader on the wrong side of a partition still thinks it
// is). kUnavailable, naming every member's answer, when none does.
Result<size_t> FindEtcdLeader(const std::vector<std::string>& client_urls, Duration timeout,
                              const std::vector<EtcdTls>& tls = {});

std::string Base64Encode(const std::string& data);
// Returns false when `text` is not valid base64.
bool Base64Decode(const std::string& text, std::string* out);

}  // namespace gameday
