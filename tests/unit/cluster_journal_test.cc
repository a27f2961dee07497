// The journal's mirror (JournalMirror) and the cluster journal's reading of a run's ConfigMap
// (ParseClusterJournal): what a Journal hands its mirror and in which order, and every way a
// ConfigMap's content can be wrong, each named and never acted on.
#include "clients/kubernetes/cluster_journal.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "clients/kubernetes/client.h"
#include "experiments/journal.h"
#include "experiments/json.h"
#include "experiments/rbac.h"

namespace gameday {
namespace {

JournalRecord Record(const std::string& fault_id, const std::string& run_id = "run-1") {
  JournalRecord r;
  r.fault_id = fault_id;
  r.run_id = run_id;
  r.kind = "network-partition";
  r.target_id = "pod/shop/api-1";
  r.target_display = "pod shop/api-1";
  r.revert = R"({"namespace":"shop"})";
  r.injected_unix_ms = 1000;
  r.expires_unix_ms = 5000;
  return r;
}

// What a mirror was asked, in order; Record fails while `refuse` is set.
struct FakeMirror : JournalMirror {
  std::vector<std::string>* calls;
  bool refuse = false;
  explicit FakeMirror(std::vector<std::string>* c) : calls(c) {}
  Status Record(const std::vector<JournalRecord>& records) override {
    calls->push_back("record " + std::to_string(records.size()));
    return refuse ? Status::Unavailable("the API server is away") : Status::Ok();
  }
  Status Clear(const std::vector<std::string>& ids) override {
    calls->push_back("clear " + std::to_string(ids.size()));
    return Status::Ok();
  }
  Status Close(bool nothing_live) override {
    calls->push_back(nothing_live ? "close empty" : "close with faults");
    return Status::Ok();
  }
  std::string Where() const override { return "configmap gameday/fake"; }
};

class JournalMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/gameday-mirror-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(JournalMirrorTest, TheMirrorHoldsAFaultBeforeTheFileAndARefusalRecordsNothing) {
  std::vector<std::string> calls;
  auto journal = Journal::Open(dir_, "run-1");
  ASSERT_TRUE(journal.ok());
  auto mirror = std::make_unique<FakeMirror>(&calls);
  FakeMirror* fake = mirror.get();
  (*journal)->SetMirror(std::move(mirror));

  fake->refuse = true;
  const Status refused = (*journal)->Record({Record("e/p/1"), Record("e/p/2")});
  EXPECT_EQ(refused.code(), Status::Code::kUnavailable);
  EXPECT_NE(refused.message().find("cannot journal in configmap gameday/fake"), std::string::npos)
      << refused.message();
  EXPECT_TRUE((*journal)->Live().empty());
  EXPECT_EQ((*journal)->Stats().lines, 0u);

  fake->refuse = false;
  ASSERT_TRUE((*journal)->Record({Record("e/p/1"), Record("e/p/2")}).ok());
  EXPECT_EQ((*journal)->Live().size(), 2u);
  ASSERT_TRUE((*journal)->Clear(std::vector<std::string>{"e/p/1"}).ok());
  ASSERT_TRUE((*journal)->Close().ok());
  EXPECT_EQ(calls,
            (std::vector<std::string>{"record 2", "record 2", "clear 1", "close with faults"}));
}

TEST_F(JournalMirrorTest, AJournalWithNothingLiveClosesItsMirrorEmpty) {
  std::vector<std::string> calls;
  auto journal = Journal::Open(dir_, "run-1");
  ASSERT_TRUE(journal.ok());
  (*journal)->SetMirror(std::make_unique<FakeMirror>(&calls));
  ASSERT_TRUE((*journal)->Record(Record("e/p/1")).ok());
  ASSERT_TRUE((*journal)->Clear("e/p/1").ok());
  ASSERT_TRUE((*journal)->Close().ok());
  EXPECT_EQ(calls, (std::vector<std::string>{"record 1", "clear 1", "close empty"}));
}

TEST(ClusterJournalKeyTest, KeysAreValidConfigMapKeysAndDistinct) {
  const std::string a = ClusterJournalKey("checkout/partition zone-a/1");
  const std::string b = ClusterJournalKey("checkout/partition_zone-a/1");
  EXPECT_NE(a, b);
  for (const std::string& key : {a, b, ClusterJournalKey(std::string(1000, '/'))}) {
    EXPECT_LE(key.size(), 253u);
    EXPECT_EQ(
        key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._"),
        std::string::npos)
        << key;
  }
  EXPECT_EQ(ClusterJournal::NameFor("20261203T063712Z-A2a8"), "gameday-run-20261203t063712z-a2a8");
}

// A ConfigMap as the API server would answer, with `data` members given as JSON text.
rapidjson::Document ConfigMap(const std::string& data, const std::string& alive = "1700000000000",
                              const std::string& run_id = "run-1") {
  const std::string json =
      R"({"metadata":{"name":"gameday-run-run-1","namespace":"gameday","uid":"u-1",)"
      R"("annotations":{"gameday.io/run-id":)" +
      JsonQuote(run_id) + R"(,"gameday.io/holder":"runner-pod","gameday.io/alive-until":)" +
      JsonQuote(alive) + R"(}},"data":)" + data + "}";
  rapidjson::Document doc;
  EXPECT_TRUE(ParseJson(json, &doc).ok()) << json;
  return doc;
}

std::string Member(const JournalRecord& r) {
  return JsonQuote(ClusterJournalKey(r.fault_id)) + ":" + JsonQuote(EncodeJournalRecord(r));
}

TEST(ParseClusterJournalTest, ReadsWhatTheRunWrote) {
  const ClusterJournalRun run = ParseClusterJournal(
      ConfigMap("{" + Member(Record("e/p/1")) + "," + Member(Record("e/p/2")) + "}"));
  EXPECT_EQ(run.name, "gameday-run-run-1");
  EXPECT_EQ(run.uid, "u-1");
  EXPECT_EQ(run.run_id, "run-1");
  EXPECT_EQ(run.holder, "runner-pod");
  EXPECT_EQ(run.alive_until_unix_ms, 1700000000000);
  ASSERT_EQ(run.live.size(), 2u);
  EXPECT_EQ(run.live[0].record.fault_id, "e/p/1");
  EXPECT_EQ(run.live[0].record.expires_unix_ms, 5000);
  EXPECT_EQ(run.live[1].key, ClusterJournalKey("e/p/2"));
  EXPECT_TRUE(run.problems.empty());
}

TEST(ParseClusterJournalTest, AnUnreadableHeartbeatCountsAsLapsed) {
  for (const char* alive : {"", "soon", "-5", "1e12", "99999999999999999999"}) {
    EXPECT_EQ(ParseClusterJournal(ConfigMap("{}", alive)).alive_until_unix_ms, 0) << alive;
  }
}

TEST(ParseClusterJournalTest, EveryWrongValueIsNamedAndNotActedOn) {
  std::string line = EncodeJournalRecord(Record("e/p/1"));
  std::string tampered = line;
  tampered[tampered.find("shop")] = 'x';  // the checksum no longer matches
  const std::string key = ClusterJournalKey("e/p/1");
  const struct {
    std::string data;
    std::string why;
  } cases[] = {
      {"{" + JsonQuote(key) + ":" + JsonQuote(tampered) + "}", "checksum"},
      {"{" + JsonQuote(key) + ":17}", "not a string"},
      {"{" + JsonQuote(key) + ":" + JsonQuote(line + EncodeJournalRecord(Record("e/p/2"))) + "}",
       "exactly one"},
      {"{" + JsonQuote(key) + ":" + JsonQuote(line.substr(0, line.size() - 1)) + "}",
       "exactly one"},
      {"{" + JsonQuote(ClusterJournalKey("e/p/2")) + ":" + JsonQuote(line) + "}",
       "does not belong to this key"},
      {"{" + Member(Record("e/p/1", "run-2")) + "}", "not of this ConfigMap's run"},
      {"[1,2]", "data: not an object"},
  };
  for (const auto& c : cases) {
    const ClusterJournalRun run = ParseClusterJournal(ConfigMap(c.data));
    EXPECT_TRUE(run.live.empty()) << c.data;
    ASSERT_EQ(run.problems.size(), 1u) << c.data;
    EXPECT_NE(run.problems[0].find(c.why), std::string::npos) << run.problems[0];
  }
}

TEST(ParseClusterJournalTest, AHostileRunIdIsShownEscapedAndMatchesNoRecord) {
  const ClusterJournalRun run = ParseClusterJournal(ConfigMap(
      "{" + Member(Record("e/p/1", "run-1\nPASSED")) + "}", "1700000000000", "run-1\nPASSED"));
  EXPECT_EQ(run.run_id.find('\n'), std::string::npos) << run.run_id;
  EXPECT_TRUE(run.live.empty());
  ASSERT_EQ(run.problems.size(), 1u);
}

TEST(ParseClusterJournalTest, AnythingButAConfigMapReadsAsEmpty) {
  rapidjson::Document doc;
  ASSERT_TRUE(ParseJson(R"({"metadata":7,"data":null})", &doc).ok());
  const ClusterJournalRun run = ParseClusterJournal(doc);
  EXPECT_TRUE(run.live.empty());
  EXPECT_TRUE(run.problems.empty());
  EXPECT_EQ(run.alive_until_unix_ms, 0);
}

}  // namespace
}  // namespace gameday

namespace gameday {
namespace {

TEST(ClusterJournalRbacTest, TheRunnerAndTheReaperNeedConfigMapsInTheJournalNamespaceOnly) {
  std::vector<ApiAccess> accesses = ClusterJournal::RunnerAccesses("gameday");
  for (const ApiAccess& a : ClusterJournal::ReaperAccesses("gameday")) accesses.push_back(a);
  const RbacRules rules = MergeApiAccesses(accesses, true);
  EXPECT_TRUE(rules.cluster.empty());
  ASSERT_EQ(rules.namespaced.size(), 1u);
  const std::vector<RbacRule>& role = rules.namespaced.at("gameday");
  ASSERT_EQ(role.size(), 1u);
  EXPECT_EQ(role[0].group, "");
  EXPECT_EQ(role[0].resource, "configmaps");
  EXPECT_EQ(role[0].verbs, (std::set<std::string>{"create", "delete", "list", "patch"}));
  EXPECT_FALSE(role[0].optional);
}

}  // namespace
}  // namespace gameday
