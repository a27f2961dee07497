#pragma once

#include <rapidjson/document.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "clients/kubernetes/client.h"
#include "experiments/plugins/api_access.h"
#include "experiments/status.h"

namespace gameday {

// Which locks a run takes: one per namespace its plans change something in (a mutating verb on
// a resource other than Events), and "cluster" for changes to cluster-scoped resources or to
// every namespace at once.
std::vector<std::string> LockScopes(const std::vector<ApiAccess>& accesses);

// The Lease behind one scope: "gameday-lock-NAMESPACE", or "gameday-lock-cluster".
std::string LockLeaseName(const std::string& scope);

// Who holds a lock, as its Lease says.
struct LockHolder {
  std::string identity;  // "RUN_ID@HOST"
  std::optional<WallTime> acquired;
  std::optional<WallTime> renewed;
  int duration_s = 0;
  // Whether the holder's lease still runs at `now`.
  bool Holds(WallTime now) const;
  // "run 2026...@runner-7 since 06:40:20 UTC (renewed 2 s ago)".
  std::string Describe(WallTime now) const;
};
// Reads a Lease object (exposed for tests and fuzzing).
LockHolder ReadLockHolder(const rapidjson::Value& lease);

struct RunLockOptions {
  std::string ns = "gameday";  // where the Leases live
  std::string identity;        // RUN_ID@HOST
  Duration ttl = std::chrono::seconds(30);
  // How long to wait for a held lock; 0 = refuse at once, naming the holder.
  Duration wait{0};
  Duration poll = std::chrono::seconds(1);
  std::stop_token stop;  // gives up waiting
};

// Two game days never break the same namespace at once: a run takes one coordination.k8s.io
// Lease per scope (LockScopes) in one namespace, in sorted order, all or none; renews them every
// ttl/3 while it runs (a JSON patch that tests the holder first, so a lease somebody else took
// over is never renewed), and deletes them when it is done. A lease whose holder stopped renewing
// for its duration is taken over.
class RunLock {
 public:
  // Takes every lock of `scopes`, waiting up to options.wait for held ones. FailedPrecondition
  // naming the holder when one stays held (and none is kept).
  static Result<std::unique_ptr<RunLock>> Acquire(std::shared_ptr<KubeClient> client,
                                                  const std::vector<std::string>& scopes,
                                                  RunLockOptions options);
  ~RunLock();  // Release()
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  // Stops renewing and deletes every Lease still ours.
  void Release();
  // Leases whose renewal found somebody else holding them (then a warning was printed).
  std::vector<std::string> Lost() const;

  // What a run that locks needs: leases in `ns`.
  static std::vector<ApiAccess> Accesses(const std::string& ns);

 private:
  struct Held {
    std::string name;
    bool lost = false;
  };
  RunLock(std::shared_ptr<KubeClient> client, RunLockOptions options)
      : client_(std::move(client)), options_(std::move(options)) {}
  // One attempt at the lease `name`: OK when ours now; FailedPrecondition naming the holder.
  Status TryTake(const std::string& name);
  Status Renew(const std::string& name);
  void Delete(const std::string& name);
  void Renewer(const std::stop_token& stop);

  std::shared_ptr<KubeClient> client_;
  RunLockOptions options_;
  mutable std::mutex mu_;
  std::vector<Held> held_;
  std::condition_variable_any wake_;
  std::jthread renewer_;
};

}  // namespace gameday
