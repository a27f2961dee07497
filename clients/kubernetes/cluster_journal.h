#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "clients/kubernetes/client.h"
#include "experiments/journal.h"
#include "experiments/plugins/api_access.h"
#include "experiments/status.h"

namespace gameday {

// A run's journal kept in the cluster, so that a fault is reverted even when the pod, the node or
// the disk of the run that put it in is gone: one ConfigMap per run,
//
//   gameday-run-RUNID   labels   app.kubernetes.io/managed-by=gameday, gameday.io/journal=v2
//                           annotations gameday.io/run-id, gameday.io/holder (host or pod name),
//                                       gameday.io/alive-until (unix ms: the heartbeat)
//                           data     one key per live fault (ClusterJournalKey), whose value is
//                                    the fault's journal line (EncodeJournalRecord)
//
// written before the fault goes in (Journal calls the mirror first) and cleared key by key with
// merge patches as faults are reverted. While the run lives, a thread renews alive-until every
// ttl/3; `gameday recover --cluster` reverts the faults of a run whose heartbeat lapsed and any
// fault past its own expiry, then clears them, and deletes the ConfigMap once it is empty.
class ClusterJournal final : public JournalMirror {
 public:
  static constexpr const char* kLabel = "gameday.io/journal";
  static constexpr const char* kAliveUntil = "gameday.io/alive-until";
  static constexpr const char* kHolder = "gameday.io/holder";
  static constexpr const char* kRunId = "gameday.io/run-id";

  // Creates the run's ConfigMap in `ns` and starts the heartbeat (alive for `ttl` at a time).
  static Result<std::unique_ptr<ClusterJournal>> Open(std::shared_ptr<KubeClient> client,
                                                      const std::string& ns,
                                                      const std::string& run_id, Duration ttl);
  ~ClusterJournal() override;  // stops the heartbeat; the ConfigMap stays as it is

  Status Record(const std::vector<JournalRecord>& records) override;
  Status Clear(const std::vector<std::string>& fault_ids) override;
  // Stops the heartbeat; deletes the ConfigMap when nothing is live, else marks it expired now so
  // the next `recover --cluster` takes over at once.
  Status Close(bool nothing_live) override;
  std::string Where() const override { return "configmap " + ns_ + "/" + name_; }

  // The ConfigMap name of a run: "gameday-run-" + the run id in lowercase.
  static std::string NameFor(const std::string& run_id);
  // What a run needs in `ns`: create, patch and delete its ConfigMap.
  static std::vector<ApiAccess> RunnerAccesses(const std::string& ns);
  // What `recover --cluster` needs in `ns`: list, patch and delete them.
  static std::vector<ApiAccess> ReaperAccesses(const std::string& ns);

 private:
  ClusterJournal(std::shared_ptr<KubeClient> client, std::string ns, std::string name,
                 Duration ttl);
  Status Patch(const std::string& body, int max_attempts = 0);
  std::string AliveUntilPatch(int64_t unix_ms) const;
  void Heartbeat(const std::stop_token& stop);
  void StopHeartbeat();

  std::shared_ptr<KubeClient> client_;
  const std::string ns_;
  const std::string name_;
  const Duration ttl_;
  std::mutex mu_;
  std::condition_variable_any wake_;
  std::jthread heartbeat_;
};

// The data key of a fault in a run's ConfigMap: its id with every character a ConfigMap key may
// not hold ([-._a-zA-Z0-9]) made '_', shortened, plus a hash of the whole id (ids stay distinct).
std::string ClusterJournalKey(const std::string& fault_id);

// One run's ConfigMap as `recover --cluster` reads it.
struct ClusterJournalRun {
  std::string ns;
  std::string name;
  std::string uid;
  std::string run_id;
  std::string holder;
  int64_t alive_until_unix_ms = 0;  // 0: no readable heartbeat (treated as lapsed)
  struct Fault {
    std::string key;
    JournalRecord record;
  };
  std::vector<Fault> live;
  // Keys that could not be read, each "KEY: why: \"excerpt\"": never acted on.
  std::vector<std::string> problems;

  std::string Where() const { return "configmap " + ns + "/" + name; }
};

// Reads every run journal in `ns` (label gameday.io/journal). Each ConfigMap, its keys and its
// values are checked like a journal file's lines; what cannot be read is listed in `problems`.
Result<std::vector<ClusterJournalRun>> ReadClusterJournals(KubeClient& client,
                                                           const std::string& ns);
// Parses one ConfigMap object (exposed for tests and fuzzing).
ClusterJournalRun ParseClusterJournal(const rapidjson::Value& config_map);
// Removes the keys of `faults` from the run's ConfigMap (one merge patch).
Status ClearClusterJournal(KubeClient& client, const ClusterJournalRun& run,
                           const std::vector<std::string>& keys);
// Deletes the run's ConfigMap (only that very object: a uid precondition).
Status RemoveClusterJournal(KubeClient& client, const ClusterJournalRun& run);

}  // namespace gameday
