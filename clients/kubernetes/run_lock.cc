#include "clients/kubernetes/run_lock.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <iostream>
#include <set>
#include <utility>

#include "clients/kubernetes/cluster.h"
#include "clients/kubernetes/credentials.h"
#include "experiments/format.h"
#include "experiments/journal.h"

namespace gameday {
namespace {

constexpr const char* kCluster = "cluster";

ResourceRef Leases(const std::string& ns, const std::string& name = "") {
  return ResourceRef::Group("coordination.k8s.io", "v1", "leases", ns, name);
}

bool Mutating(const std::string& verb) {
  return verb == "create" || verb == "update" || verb == "patch" || verb == "delete" ||
         verb == "deletecollection";
}

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Put(JsonWriter& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

// A whole Lease held by `identity` from `now`; with `resource_version` it replaces the object
// read at that version (a take-over), without it it is created.
std::string LeaseBody(const std::string& ns, const std::string& name, const std::string& identity,
                      int duration_s, WallTime now, const std::string& resource_version) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  Put(w, "apiVersion", "coordination.k8s.io/v1");
  Put(w, "kind", "Lease");
  w.Key("metadata");
  w.StartObject();
  Put(w, "name", name);
  Put(w, "namespace", ns);
  if (!resource_version.empty()) Put(w, "resourceVersion", resource_version);
  w.Key("labels");
  w.StartObject();
  Put(w, "app.kubernetes.io/managed-by", "gameday");
  w.EndObject();
  w.EndObject();
  w.Key("spec");
  w.StartObject();
  Put(w, "holderIdentity", identity);
  w.Key("leaseDurationSeconds");
  w.Int(duration_s);
  Put(w, "acquireTime", FormatKubeTime(now, true));
  Put(w, "renewTime", FormatKubeTime(now, true));
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

}  // namespace

std::vector<std::string> LockScopes(const std::vector<ApiAccess>& accesses) {
  std::set<std::string> scopes;
  for (const ApiAccess& a : accesses) {
    if (a.optional || a.resource.empty() || a.resource == "events") continue;
    if (std::none_of(a.verbs.begin(), a.verbs.end(), Mutating)) continue;
    scopes.insert(a.ns.empty() || a.ns == ApiAccess::kEveryNamespace ? kCluster : a.ns);
  }
  return {scopes.begin(), scopes.end()};
}

std::string LockLeaseName(const std::string& scope) { return "gameday-lock-" + scope; }

bool LockHolder::Holds(WallTime now) const {
  if (identity.empty()) return false;
  const std::optional<WallTime> since = renewed ? renewed : acquired;
  if (!since) return false;
  return now < *since + std::chrono::seconds(duration_s);
}

std::string LockHolder::Describe(WallTime now) const {
  std::string out = "run " + (identity.empty() ? std::string("(nobody)") : identity);
  if (acquired) out += " since " + FormatKubeTime(*acquired);
  if (renewed) {
    out += " (renewed " + FormatSeconds(std::chrono::duration<double>(now - *renewed).count()) +
           " ago, for " + std::to_string(duration_s) + " s)";
  }
  return out;
}

LockHolder ReadLockHolder(const rapidjson::Value& lease) {
  LockHolder h;
  // Printed in messages; anything but a plain name as an excerpt (never equal to a run's own).
  h.identity = PlainOrExcerpt(JsonPathString(lease, {"spec", "holderIdentity"}), 256);
  h.acquired = ParseKubeTime(JsonPathString(lease, {"spec", "acquireTime"}));
  h.renewed = ParseKubeTime(JsonPathString(lease, {"spec", "renewTime"}));
  if (const rapidjson::Value* d = JsonPath(lease, {"spec", "leaseDurationSeconds"});
      d && d->IsInt() && d->GetInt() > 0) {
    h.duration_s = std::min(d->GetInt(), 24 * 3600);
  }
  return h;
}

std::vector<ApiAccess> RunLock::Accesses(const std::string& ns) {
  return {AccessTo(Leases(ns), {"get", "create", "update", "patch", "delete"},
                   "run lock: one Lease per namespace a run changes (--lock-namespace)")};
}

Result<std::unique_ptr<RunLock>> RunLock::Acquire(std::shared_ptr<KubeClient> client,
                                                  const std::vector<std::string>& scopes,
                                                  RunLockOptions options) {
  if (!IsDns1123Label(options.ns)) {
    return Status::InvalidArgument("lock namespace '" + options.ns +
                                   "' is not a valid namespace name");
  }
  if (options.ttl < std::chrono::seconds(3)) {
    return Status::InvalidArgument("lock ttl must be at least 3 s");
  }
  std::unique_ptr<RunLock> lock(new RunLock(std::move(client), std::move(options)));
  const RunLockOptions& opts = lock->options_;
  std::vector<std::string> sorted = scopes;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  Clock& clock = lock->client_->clock();
  const MonoTime deadline = clock.Now() + opts.wait;
  for (const std::string& scope : sorted) {
    const std::string name = LockLeaseName(scope);
    int races = 0;
    while (true) {
      const Status st = lock->TryTake(name);
      if (st.ok()) break;
      // Somebody wrote the lease between our read and our write: read it again.
      if (st.code() == Status::Code::kAborted && ++races < 10) continue;
      const bool held = st.code() == Status::Code::kFailedPrecondition;
      if (!held || clock.Now() >= deadline || opts.stop.stop_requested()) {
        lock->Release();
        const std::string what =
            scope == kCluster ? "the cluster's shared objects" : "namespace " + scope;
        return Status(st.code(), "cannot lock " + what + " (lease " + opts.ns + "/" + name +
                                     "): " + st.message());
      }
      std::unique_lock wait_lock(lock->mu_);
      lock->wake_.wait_for(wait_lock, opts.stop, opts.poll, [] { return false; });
    }
    std::lock_guard guard(lock->mu_);
    lock->held_.push_back({name, false});
  }
  lock->renewer_ =
      std::jthread([l = lock.get()](const std::stop_token& stop) { l->Renewer(stop); });
  return lock;
}

Status RunLock::TryTake(const std::string& name) {
  KubeRequest get;
  get.ref = Leases(options_.ns, name);
  auto got = client_->Send(get);
  if (!got.ok()) return got.status();
  const WallTime now = client_->clock().WallNow();
  const int duration_s =
      static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(options_.ttl).count());
  KubeRequest write;
  if (got->status == 404) {
    write.verb = "create";
    write.ref = Leases(options_.ns);
    write.body = LeaseBody(options_.ns, name, options_.identity, duration_s, now, "");
  } else if (got->status == 200) {
    rapidjson::Document doc;
    if (doc.Parse(got->body.c_str(), got->body.size()).HasParseError() || !doc.IsObject()) {
      return Status::Internal("lease " + name + ": the API server's answer is not JSON");
    }
    const LockHolder holder = ReadLockHolder(doc);
    if (holder.identity == options_.identity) return Status::Ok();
    if (holder.Holds(now)) return Status::FailedPrecondition("held by " + holder.Describe(now));
    write.verb = "update";
    write.ref = Leases(options_.ns, name);
    write.body = LeaseBody(options_.ns, name, options_.identity, duration_s, now,
                           JsonPathString(doc, {"metadata", "resourceVersion"}));
  } else {
    return client_->ErrorFor(get, *got);
  }
  write.max_attempts = 1;
  auto wrote = client_->Send(write);
  if (!wrote.ok()) return wrote.status();
  if (wrote->status == 409) return Status::Aborted("lease " + name + " changed meanwhile");
  if (wrote->status < 200 || wrote->status >= 300) return client_->ErrorFor(write, *wrote);
  return Status::Ok();
}

Status RunLock::Renew(const std::string& name) {
  KubeRequest req;
  req.verb = "patch";
  req.ref = Leases(options_.ns, name);
  req.content_type = "application/json-patch+json";
  // The test makes the patch fail (422) when somebody else holds the lease now.
  req.body = R"([{"op":"test","path":"/spec/holderIdentity","value":)" +
             JsonQuote(options_.identity) +
             R"(},{"op":"replace","path":"/spec/renewTime","value":)" +
             JsonQuote(FormatKubeTime(client_->clock().WallNow(), true)) + "}]";
  req.timeout = options_.ttl / 3;
  req.max_attempts = 1;
  auto r = client_->Send(req);
  if (!r.ok()) return r.status();
  if (r->status == 422 || r->status == 404) {
    return Status::FailedPrecondition("lease " + options_.ns + "/" + name +
                                      " is no longer this run's");
  }
  if (r->status < 200 || r->status >= 300) return client_->ErrorFor(req, *r);
  return Status::Ok();
}

void RunLock::Renewer(const std::stop_token& stop) {
  while (true) {
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, stop, options_.ttl / 3, [] { return false; });
    }
    if (stop.stop_requested()) return;
    std::vector<std::string> names;
    {
      std::lock_guard lock(mu_);
      for (const Held& h : held_) {
        if (!h.lost) names.push_back(h.name);
      }
    }
    for (const std::string& name : names) {
      const Status st = Renew(name);
      if (st.code() != Status::Code::kFailedPrecondition) continue;  // transient: next round
      std::cerr << "gameday: WARNING: " << st.message()
                << "; another game day may now change what this one changes\n";
      std::lock_guard lock(mu_);
      for (Held& h : held_) {
        if (h.name == name) h.lost = true;
      }
    }
  }
}

void RunLock::Delete(const std::string& name) {
  KubeRequest get;
  get.ref = Leases(options_.ns, name);
  get.max_attempts = 2;
  auto got = client_->CallJson(get);
  if (!got.ok()) return;
  if (ReadLockHolder(*got).identity != options_.identity) return;
  KubeRequest del;
  del.verb = "delete";
  del.ref = Leases(options_.ns, name);
  del.max_attempts = 2;
  del.body = R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":)" +
             JsonQuote(JsonPathString(*got, {"metadata", "resourceVersion"})) + "}}";
  if (auto r = client_->Call(del); !r.ok()) {
    std::cerr << "gameday: cannot release lease " << options_.ns << "/" << name << " ("
              << r.status().message() << "); it lapses by itself in "
              << std::chrono::duration_cast<std::chrono::seconds>(options_.ttl).count() << " s\n";
  }
}

void RunLock::Release() {
  if (renewer_.joinable()) {
    renewer_.request_stop();
    renewer_.join();
  }
  std::vector<Held> held;
  {
    std::lock_guard lock(mu_);
    held.swap(held_);
  }
  for (const Held& h : held) {
    if (!h.lost) Delete(h.name);
  }
}

std::vector<std::string> RunLock::Lost() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const Held& h : held_) {
    if (h.lost) out.push_back(h.name);
  }
  return out;
}

RunLock::~RunLock() { Release(); }

}  // namespace gameday
