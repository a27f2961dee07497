#pragma once

#include <string>
#include <vector>

#include "clients/etcd/etcd_client.h"
#include "experiments/status.h"

namespace gameday {

// Readers of etcd's v3 JSON-gateway answers, apart from the transport so that tests and the
// fuzzer (tests/fuzz/etcd_fuzz.cc) reach them without an etcd. Pure: `body` is whatever the
// member sent (any bytes), `client_url` only names the member in messages. An answer that is not
// the expected shape is kFailedPrecondition quoting its start; missing or mistyped fields read as
// empty / 0, as etcd omits zero values.
Result<EtcdMemberStatus> ParseEtcdStatusAnswer(const std::string& client_url,
                                               const std::string& body);
Result<std::vector<EtcdMember>> ParseEtcdMemberList(const std::string& client_url,
                                                    const std::string& body);

}  // namespace gameday
