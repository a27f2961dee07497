// etcd answers: a member's status (ParseEtcdStatusAnswer), the member list
// (ParseEtcdMemberList) and the base64 the gateway wraps keys and values in (Base64Decode).
#include <cstddef>
#include <cstdint>
#include <string>

#include "clients/etcd/etcd_answers.h"
#include "clients/etcd/etcd_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const std::string url = "http://127.0.0.1:2379";
  if (auto status = gameday::ParseEtcdStatusAnswer(url, body); status.ok()) {
    (void)status->IsLeader();
  }
  (void)gameday::ParseEtcdMemberList(url, body);
  std::string decoded;
  if (gameday::Base64Decode(body, &decoded)) {
    // What decodes must encode back to a string that decodes to the same bytes.
    std::string again;
    if (!gameday::Base64Decode(gameday::Base64Encode(decoded), &again) || again != decoded) {
      __builtin_trap();
    }
  }
  return 0;
}
