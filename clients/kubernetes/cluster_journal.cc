#include "clients/kubernetes/cluster_journal.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>
#include <utility>

#include "clients/kubernetes/cluster.h"

namespace gameday {
namespace {

// A journal line is a few hundred bytes; a revert record at most 1 MiB (ParseRevertRecord), and
// a whole ConfigMap at most 1 MiB (the API server's limit). Anything longer was not written by
// gameday.
constexpr size_t kMaxValue = size_t{1} << 20;
constexpr size_t kMaxKeyStem = 200;

int64_t UnixMillis(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return host;
}

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Put(JsonWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

ResourceRef ConfigMaps(const std::string& ns, const std::string& name = "") {
  return ResourceRef::Core("configmaps", ns, name);
}

// A strictly decimal, non-negative int64 (annotation values are strings).
bool ParseMillis(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::string ClusterJournalKey(const std::string& fault_id) {
  std::string stem;
  for (char c : fault_id.substr(0, kMaxKeyStem)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    stem += ok ? c : '_';
  }
  return stem + "." + KubeNameHash(fault_id, 12);
}

std::string ClusterJournal::NameFor(const std::string& run_id) {
  std::string name = "gameday-run-";
  for (char c : run_id) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::vector<ApiAccess> ClusterJournal::RunnerAccesses(const std::string& ns) {
  return {AccessTo(ConfigMaps(ns), {"create", "patch", "delete"},
                   "the run's journal in the cluster (--cluster-journal)")};
}

std::vector<ApiAccess> ClusterJournal::ReaperAccesses(const std::string& ns) {
  return {AccessTo(ConfigMaps(ns), {"list", "patch", "delete"},
                   "recover --cluster: read and clear the journals runs left")};
}

ClusterJournal::ClusterJournal(std::shared_ptr<KubeClient> client, std::string ns, std::string name,
                               Duration ttl)
    : client_(std::move(client)), ns_(std::move(ns)), name_(std::move(name)), ttl_(ttl) {}

ClusterJournal::~ClusterJournal() { StopHeartbeat(); }

Result<std::unique_ptr<ClusterJournal>> ClusterJournal::Open(std::shared_ptr<KubeClient> client,
                                                             const std::string& ns,
                                                             const std::string& run_id,
                                                             Duration ttl) {
  if (!IsDns1123Label(ns)) {
    return Status::InvalidArgument("cluster journal namespace '" + ns +
                                   "' is not a valid namespace name");
  }
  if (ttl < std::chrono::seconds(1)) {
    return Status::InvalidArgument("cluster journal ttl must be at least 1 s");
  }
  const std::string name = NameFor(run_id);
  if (!IsDns1123Subdomain(name)) {
    return Status::InvalidArgument("run id '" + run_id + "' makes no valid ConfigMap name");
  }
  std::unique_ptr<ClusterJournal> journal(new ClusterJournal(std::move(client), ns, name, ttl));
  const int64_t alive_until = UnixMillis(journal->client_->clock().WallNow() + ttl);

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  Put(w, "apiVersion", "v1");
  Put(w, "kind", "ConfigMap");
  w.Key("metadata");
  w.StartObject();
  Put(w, "name", name);
  w.Key("labels");
  w.StartObject();
  Put(w, "app.kubernetes.io/managed-by", "gameday");
  Put(w, kLabel, "v" + std::to_string(kJournalFormatVersion));
  w.EndObject();
  w.Key("annotations");
  w.StartObject();
  Put(w, kRunId, run_id);
  Put(w, kHolder, HostName());
  Put(w, kAliveUntil, std::to_string(alive_until));
  w.EndObject();
  w.EndObject();
  w.Key("data");
  w.StartObject();
  w.EndObject();
  w.EndObject();

  KubeRequest req;
  req.verb = "create";
  req.ref = ConfigMaps(ns);
  req.body = buf.GetString();
  if (auto r = journal->client_->Call(req); !r.ok()) {
    return Status(r.status().code(),
                  "cannot create " + journal->Where() + ": " + r.status().message());
  }
  journal->heartbeat_ =
      std::jthread([j = journal.get()](const std::stop_token& stop) { j->Heartbeat(stop); });
  return journal;
}

Status ClusterJournal::Patch(const std::string& body, int max_attempts) {
  KubeRequest req;
  req.verb = "patch";
  req.ref = ConfigMaps(ns_, name_);
  req.content_type = "application/merge-patch+json";
  req.body = body;
  req.max_attempts = max_attempts;
  return client_->Call(req).status();
}

Status ClusterJournal::Record(const std::vector<JournalRecord>& records) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("data");
  w.StartObject();
  for (const JournalRecord& r : records)
    Put(w, ClusterJournalKey(r.fault_id).c_str(), EncodeJournalRecord(r));
  w.EndObject();
  w.EndObject();
  return Patch(buf.GetString());
}

Status ClusterJournal::Clear(const std::vector<std::string>& fault_ids) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("data");
  w.StartObject();
  for (const std::string& id : fault_ids) {
    w.Key(ClusterJournalKey(id).c_str());
    w.Null();
  }
  w.EndObject();
  w.EndObject();
  return Patch(buf.GetString());
}

std::string ClusterJournal::AliveUntilPatch(int64_t unix_ms) const {
  return std::string(R"({"metadata":{"annotations":{")") + kAliveUntil + R"(":")" +
         std::to_string(unix_ms) + R"("}}})";
}

void ClusterJournal::Heartbeat(const std::stop_token& stop) {
  bool warned = false;
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, stop, ttl_ / 3, [] { return false; });
    }
    if (stop.stop_requested()) return;
    // One attempt within a third of the ttl: a slow API server must not make the next renewal
    // late too.
    KubeRequest req;
    req.verb = "patch";
    req.ref = ConfigMaps(ns_, name_);
    req.content_type = "application/merge-patch+json";
    req.body = AliveUntilPatch(UnixMillis(client_->clock().WallNow() + ttl_));
    req.timeout = ttl_ / 3;
    req.max_attempts = 1;
    req.stop = stop;
    const Status s = client_->Call(req).status();
    if (!s.ok() && !warned && !stop.stop_requested()) {
      std::cerr << "gameday: cannot renew the heartbeat of " << Where() << " (" << s.message()
                << "); if it lapses, recover --cluster may revert this run's faults early\n";
      warned = true;
    } else if (s.ok()) {
      warned = false;
    }
  }
}

void ClusterJournal::StopHeartbeat() {
  if (!heartbeat_.joinable()) return;
  heartbeat_.request_stop();
  heartbeat_.join();
}

Status ClusterJournal::Close(bool nothing_live) {
  StopHeartbeat();
  if (!nothing_live) {
    // Hand over now: the faults left are the reaper's from this moment.
    return Patch(AliveUntilPatch(UnixMillis(client_->clock().WallNow())));
  }
  KubeRequest req;
  req.verb = "delete";
  req.ref = ConfigMaps(ns_, name_);
  auto r = client_->Send(req);
  if (!r.ok()) return r.status();
  if (r->status == 404 || (r->status >= 200 && r->status < 300)) return Status::Ok();
  return client_->ErrorFor(req, *r);
}

ClusterJournalRun ParseClusterJournal(const rapidjson::Value& cm) {
  ClusterJournalRun run;
  run.ns = JsonPathString(cm, {"metadata", "namespace"});
  run.name = JsonPathString(cm, {"metadata", "name"});
  run.uid = JsonPathString(cm, {"metadata", "uid"});
  // Printed, and the run id compared with the records' (an excerpt never equals one).
  run.run_id =
      PlainOrExcerpt(JsonPathString(cm, {"metadata", "annotations", ClusterJournal::kRunId}));
  run.holder =
      PlainOrExcerpt(JsonPathString(cm, {"metadata", "annotations", ClusterJournal::kHolder}));
  const std::string alive =
      JsonPathString(cm, {"metadata", "annotations", ClusterJournal::kAliveUntil});
  if (!ParseMillis(alive, &run.alive_until_unix_ms)) run.alive_until_unix_ms = 0;
  const rapidjson::Value* data = JsonPath(cm, {"data"});
  if (data == nullptr || data->IsNull()) return run;
  if (!data->IsObject()) {
    run.problems.push_back("data: not an object");
    return run;
  }
  for (auto it = data->MemberBegin(); it != data->MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    auto problem = [&](const std::string& why, const std::string& what) {
      run.problems.push_back(JournalExcerpt(key, 80) + ": " + why + ": " + JournalExcerpt(what));
    };
    if (!it->value.IsString()) {
      problem("not a string", "");
      continue;
    }
    const std::string value(it->value.GetString(), it->value.GetStringLength());
    if (value.size() > kMaxValue) {
      problem("longer than 1 MiB", value);
      continue;
    }
    std::vector<JournalProblem> problems;
    std::vector<JournalRecord> records = ParseJournal(value, &problems);
    if (!problems.empty()) {
      problem(problems.front().reason, value);
      continue;
    }
    if (records.size() != 1) {
      problem("expected exactly one inject record", value);
      continue;
    }
    if (ClusterJournalKey(records.front().fault_id) != key) {
      problem("the record's fault id does not belong to this key", value);
      continue;
    }
    if (!run.run_id.empty() && records.front().run_id != run.run_id) {
      problem("the record is of run '" + JournalExcerpt(records.front().run_id, 64) +
                  "', not of this ConfigMap's run",
              value);
      continue;
    }
    run.live.push_back({key, std::move(records.front())});
  }
  return run;
}

Result<std::vector<ClusterJournalRun>> ReadClusterJournals(KubeClient& client,
                                                           const std::string& ns) {
  if (!IsDns1123Label(ns)) {
    return Status::InvalidArgument("namespace '" + ns + "' is not a valid namespace name");
  }
  std::vector<ClusterJournalRun> runs;
  ListOptions options;
  options.label_selector = ClusterJournal::kLabel;
  auto listed = client.List(ConfigMaps(ns), options, [&](const rapidjson::Value& item) {
    runs.push_back(ParseClusterJournal(item));
    if (runs.back().ns.empty()) runs.back().ns = ns;
    return Status::Ok();
  });
  if (!listed.ok()) return listed.status();
  return runs;
}

Status ClearClusterJournal(KubeClient& client, const ClusterJournalRun& run,
                           const std::vector<std::string>& keys) {
  if (keys.empty()) return Status::Ok();
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("data");
  w.StartObject();
  for (const std::string& key : keys) {
    w.Key(key.c_str(), static_cast<rapidjson::SizeType>(key.size()));
    w.Null();
  }
  w.EndObject();
  w.EndObject();
  KubeRequest req;
  req.verb = "patch";
  req.ref = ConfigMaps(run.ns, run.name);
  req.content_type = "application/merge-patch+json";
  req.body = buf.GetString();
  return client.Call(req).status();
}

Status RemoveClusterJournal(KubeClient& client, const ClusterJournalRun& run) {
  KubeRequest req;
  req.verb = "delete";
  req.ref = ConfigMaps(run.ns, run.name);
  req.body = R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":)" +
             JsonQuote(run.uid) + "}}";
  auto r = client.Send(req);
  if (!r.ok()) return r.status();
  if (r->status == 404 || (r->status >= 200 && r->status < 300)) return Status::Ok();
  return client.ErrorFor(req, *r);
}

}  // namespace gameday
