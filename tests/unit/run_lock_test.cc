// The run lock's pure parts: which Leases a plan's API accesses make it take (LockScopes), and
// how a Lease read back from the API server is judged (ReadLockHolder, LockHolder::Holds).
#include "clients/kubernetes/run_lock.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>
#include <vector>

#include "clients/kubernetes/credentials.h"
#include "experiments/json.h"

namespace gameday {
namespace {

TEST(RunLockScopesTest, EveryNamespaceAPlanChangesAndTheClusterForClusterScopedChanges) {
  auto access = [](std::string resource, std::string ns, std::vector<std::string> verbs,
                   bool optional = false) {
    ApiAccess a;
    a.resource = std::move(resource);
    a.ns = std::move(ns);
    a.verbs = std::move(verbs);
    a.optional = optional;
    return a;
  };
  EXPECT_EQ(LockScopes({access("pods", "shop", {"list", "delete"}),
                        access("pods", "web", {"get", "list", "watch"}),
                        access("events", "web", {"create"}),
                        access("networkpolicies", "db", {"create", "delete"}),
                        access("pods", "cache", {"patch"}, true)}),
            (std::vector<std::string>{"db", "shop"}));
  EXPECT_EQ(LockScopes({access("nodes", "", {"patch"})}), std::vector<std::string>{"cluster"});
  EXPECT_EQ(LockScopes({access("pods", ApiAccess::kEveryNamespace, {"delete"})}),
            std::vector<std::string>{"cluster"});
}

rapidjson::Document Lease(const std::string& spec) {
  rapidjson::Document doc;
  EXPECT_TRUE(
      ParseJson(R"({"metadata":{"name":"gameday-lock-shop"},"spec":)" + spec + "}", &doc).ok());
  return doc;
}

TEST(LockHolderTest, AHolderHoldsUntilItsLastRenewalPlusItsDuration) {
  const WallTime renewed = *ParseKubeTime("2026-12-03T06:00:00.000000Z");
  const LockHolder h = ReadLockHolder(Lease(
      R"({"holderIdentity":"run-1@runner","leaseDurationSeconds":30,"acquireTime":"2026-12-03T05:59:00.000000Z","renewTime":"2026-12-03T06:00:00.000000Z"})"));
  EXPECT_EQ(h.identity, "run-1@runner");
  EXPECT_EQ(h.duration_s, 30);
  EXPECT_TRUE(h.Holds(renewed + std::chrono::seconds(29)));
  EXPECT_FALSE(h.Holds(renewed + std::chrono::seconds(30)));
  EXPECT_NE(h.Describe(renewed + std::chrono::seconds(5))
                .find("run run-1@runner since 2026-12-03T05:59:00Z (renewed 5"),
            std::string::npos)
      << h.Describe(renewed + std::chrono::seconds(5));
}

TEST(LockHolderTest, ALeaseWithoutAHolderATimeOrADurationHoldsNothing) {
  const WallTime now = *ParseKubeTime("2026-12-03T06:00:00Z");
  for (const char* spec :
       {R"({"leaseDurationSeconds":30,"renewTime":"2026-12-03T06:00:00Z"})",
        R"({"holderIdentity":"","leaseDurationSeconds":30,"renewTime":"2026-12-03T06:00:00Z"})",
        R"({"holderIdentity":"x","leaseDurationSeconds":30})",
        R"({"holderIdentity":"x","renewTime":"2026-12-03T06:00:00Z"})",
        R"({"holderIdentity":"x","leaseDurationSeconds":-5,"renewTime":"2026-12-03T06:00:00Z"})",
        R"({"holderIdentity":"x","leaseDurationSeconds":"30","renewTime":"soon"})", R"(7)"}) {
    EXPECT_FALSE(ReadLockHolder(Lease(spec)).Holds(now)) << spec;
  }
}

TEST(LockHolderTest, AHostileHolderIsShownEscapedAndADurationIsCappedAtADay) {
  const LockHolder h = ReadLockHolder(Lease(
      R"({"holderIdentity":"evil\u001b[2Jrun","leaseDurationSeconds":2000000000,"renewTime":"2026-12-03T06:00:00Z"})"));
  EXPECT_EQ(h.identity.find('\x1b'), std::string::npos) << h.identity;
  EXPECT_EQ(h.duration_s, 24 * 3600);
}

}  // namespace
}  // namespace gameday
