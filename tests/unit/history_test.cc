// The run history in a real SQLite file (Poco::Data) in a temporary folder: record, list,
// compare, trends.

#include "reports/history.h"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "reports/html_report.h"
#include "tests/unit/report_fixture.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/gameday-history-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/state/sub/history.db";  // folders are created on open
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A run of plan `plan` started `day` days after a fixed date, whose frontend recovered after
  // `recover` seconds (negative: never), and whose error-rate saw no impact.
  static RunResult Run(const std::string& id, const std::string& plan, int day, double recover) {
    RunResult run;
    run.run_id = id;
    run.plan_name = plan;
    run.plan_file = "plans/" + plan + ".yaml";
    run.gameday_version = "0.1.0";
    run.seed = 1000 + day;
    run.start_wall = testing::WallMs(1741944612000LL + day * 86400000LL);
    run.end_wall = run.start_wall + std::chrono::seconds(60);
    ExperimentResult e;
    e.name = "checkout-pod-kill";
    e.duration_s = 40.5;
    e.status = recover > 0 && recover <= 5 ? ExperimentStatus::kPassed : ExperimentStatus::kFailed;
    VerifierResult v;
    v.name = "frontend";
    v.kind = "http";
    v.overall.impact = true;
    v.overall.time_to_detect_s = 0.06;
    v.overall.downtime_s = recover > 0 ? recover - 0.06 : 30;
    v.overall.availability = recover > 0 ? 1 - recover / 40 : 0.25;
    v.overall.samples = 2000;
    if (recover > 0) {
      v.overall.recovered = true;
      v.overall.time_to_recover_s = recover;
      v.overall.recover_bound_s = std::make_pair(recover - 0.02, recover + 0.001);
    }
    e.verifiers.push_back(v);
    VerifierResult quiet;
    quiet.name = "error-rate";
    quiet.kind = "prometheus";
    e.verifiers.push_back(quiet);
    run.experiments.push_back(e);
    return run;
  }

  std::string dir_;
  std::string db_;
};

TEST_F(HistoryTest, RecordsListsAndComparesRuns) {
  ASSERT_TRUE(RecordRun(Run("run-1", "checkout", 0, 4.1), db_).ok());
  ASSERT_TRUE(RecordRun(Run("run-2", "checkout", 1, 9.8), db_).ok());
  ASSERT_TRUE(RecordRun(Run("run-3", "checkout", 2, -1), db_).ok());
  ASSERT_TRUE(RecordRun(Run("other-1", "payments", 3, 1.5), db_).ok());
  ASSERT_TRUE(fs::exists(db_));

  auto store = HistoryStore::Open(db_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto runs = (*store)->Runs("", 0);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 4u);
  EXPECT_EQ((*runs)[0].run_id, "other-1");  // newest first
  EXPECT_EQ((*runs)[3].run_id, "run-1");
  EXPECT_EQ((*runs)[3].plan, "checkout");
  EXPECT_EQ((*runs)[3].started, "2025-03-14T09:30:12.000Z");
  EXPECT_EQ((*runs)[3].status, "passed");
  EXPECT_EQ((*runs)[3].seed, "1000");
  EXPECT_EQ((*runs)[1].status, "failed");
  auto limited = (*store)->Runs("checkout-pod-kill", 2);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[1].run_id, "run-3");
  auto none = (*store)->Runs("no-such-experiment", 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto metrics = (*store)->Metrics("run-1");
  ASSERT_TRUE(metrics.ok());
  ASSERT_EQ(metrics->size(), 2u);
  const HistoryMetric& m = (*metrics)[0];
  EXPECT_EQ(m.experiment, "checkout-pod-kill");
  EXPECT_EQ(m.verifier, "frontend");
  EXPECT_EQ(m.kind, "http");
  EXPECT_DOUBLE_EQ(*m.time_to_recover_s, 4.1);
  EXPECT_DOUBLE_EQ(m.recover_bound_s->first, 4.08);
  EXPECT_DOUBLE_EQ(*m.time_to_detect_s, 0.06);
  EXPECT_DOUBLE_EQ(m.downtime_s, 4.04);
  EXPECT_TRUE(m.impact && m.recovered);
  EXPECT_FALSE((*metrics)[1].impact);
  EXPECT_FALSE((*metrics)[1].time_to_recover_s);  // NULL, not 0
  auto exps = (*store)->Experiments("run-1");
  ASSERT_TRUE(exps.ok());
  ASSERT_EQ(exps->size(), 1u);
  EXPECT_DOUBLE_EQ((*exps)[0].duration_s, 40.5);

  // run-2 against the run of its plan before it.
  auto lines = CompareRuns(**store, "run-2", "previous");
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  // Nothing about the unchanged detection, nor about error-rate (no impact in either run).
  ASSERT_EQ(lines->size(), 5u);
  EXPECT_EQ((*lines)[0],
            "run run-2 (2025-03-15T09:30:12.000Z, failed) against run-1 "
            "(2025-03-14T09:30:12.000Z, passed)");
  EXPECT_EQ((*lines)[1], "checkout-pod-kill went from passed to failed");
  EXPECT_EQ((*lines)[2],
            "recovery of checkout-pod-kill/frontend went from 4.10 s to 9.80 s (+139%)");
  EXPECT_EQ((*lines)[3],
            "downtime of checkout-pod-kill/frontend went from 4.04 s to 9.74 s (+141%)");
  EXPECT_EQ((*lines)[4],
            "availability of checkout-pod-kill/frontend went from 89.75 % to 75.50 % (-14.25 "
            "points)");

  // "latest" is other-1 (plan payments, which has no earlier run); run-3 never recovered.
  auto latest = CompareRuns(**store, "latest", "previous");
  ASSERT_FALSE(latest.ok());
  EXPECT_EQ(latest.status().code(), Status::Code::kNotFound);
  EXPECT_NE(latest.status().message().find("no run of plan 'payments' before other-1"),
            std::string::npos);
  auto worse = CompareRuns(**store, "run-3", "run-1");
  ASSERT_TRUE(worse.ok());
  EXPECT_EQ((*worse)[2],
            "recovery of checkout-pod-kill/frontend went from 4.10 s to not recovered");
  auto missing = CompareRuns(**store, "run-9", "previous");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
}

TEST_F(HistoryTest, RecordingAgainReplacesAndDryRunsAreNotKept) {
  ASSERT_TRUE(RecordRun(Run("run-1", "checkout", 0, 4.1), db_).ok());
  ASSERT_TRUE(RecordRun(Run("run-1", "checkout", 0, 5.5), db_).ok());
  RunResult dry = Run("dry-1", "checkout", 1, 4.1);
  dry.dry_run = true;
  ASSERT_TRUE(RecordRun(dry, db_).ok());
  auto store = HistoryStore::Open(db_);
  ASSERT_TRUE(store.ok());
  auto runs = (*store)->Runs("", 0);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  auto metrics = (*store)->Metrics("run-1");
  ASSERT_TRUE(metrics.ok());
  ASSERT_EQ(metrics->size(), 2u);
  EXPECT_DOUBLE_EQ(*(*metrics)[0].time_to_recover_s, 5.5);
}

TEST_F(HistoryTest, TrendsFeedTheHtmlReport) {
  // A database that does not exist yet is an empty history.
  auto empty = LoadRunHistory(db_, Run("run-0", "checkout", 0, 1));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->recovery.empty());
  EXPECT_FALSE(fs::exists(db_));

  const double recoveries[] = {4.1, 4.3, -1, 3.9, 9.8};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(RecordRun(Run("run-" + std::to_string(i), "checkout", i, recoveries[i]), db_).ok());
  }
  RunResult current = Run("run-4", "checkout", 4, 9.8);
  auto history = LoadRunHistory(db_, current, 3);
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  const auto& frontend = history->recovery["checkout-pod-kill"]["frontend"];
  ASSERT_EQ(frontend.size(), 3u);  // the newest three, oldest first
  EXPECT_EQ(frontend[0].run_id, "run-2");
  EXPECT_FALSE(frontend[0].recovered);
  EXPECT_TRUE(frontend[0].impact);
  EXPECT_EQ(frontend[0].status, "failed");
  EXPECT_DOUBLE_EQ(*frontend[1].time_to_recover_s, 3.9);
  EXPECT_EQ(frontend[2].run_id, "run-4");
  EXPECT_EQ(frontend[2].started, current.start_wall);
  EXPECT_DOUBLE_EQ(frontend[2].recover_bound_s->second, 9.801);
  EXPECT_EQ(history->recovery["checkout-pod-kill"]["error-rate"].size(), 3u);

  std::string html = RenderHtml(current, &*history);
  EXPECT_NE(html.find("<h3>Trend: recovery over the last 3 runs</h3>"), std::string::npos);
  EXPECT_NE(html.find("frontend in run run-2 (2025-03-16T09:30:12.000Z, failed): not recovered"),
            std::string::npos);
}

TEST_F(HistoryTest, RefusesANewerSchemaAndFilesThatAreNotDatabases) {
  ASSERT_TRUE(HistoryStore::Open(db_).ok());
  {
    // A later gameday may change the schema: this one must not write into it.
    Poco::Data::SQLite::Connector::registerConnector();
    Poco::Data::Session s("SQLite", db_);
    s << "PRAGMA user_version = 99", Poco::Data::Keywords::now;
  }
  auto newer = HistoryStore::Open(db_);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(newer.status().message().find("schema version 99"), std::string::npos);
  EXPECT_FALSE(RecordRun(Run("run-1", "checkout", 0, 4.1), db_).ok());

  const std::string junk = dir_ + "/junk.db";
  std::ofstream(junk) << "this is not an SQLite database, just text long enough to be read\n";
  auto bad = HistoryStore::Open(junk);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(junk), std::string::npos) << bad.status().message();
}

// SQLite opens the history by name, as root: a symlink planted in its place, a file of another
// user or a folder others can write into would let them aim that write anywhere.
TEST_F(HistoryTest, IsPrivateAndRefusesSymlinksAndOtherUsersFiles) {
  ASSERT_TRUE(RecordRun(Run("run-1", "checkout", 0, 4.1), db_).ok());
  struct stat st {};
  ASSERT_EQ(::stat(db_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ + "/state/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);

  const std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "precious";
  const std::string link = dir_ + "/state/sub/linked.db";
  ASSERT_EQ(::symlink(victim.c_str(), link.c_str()), 0);
  Status s = RecordRun(Run("run-2", "checkout", 1, 4.1), link);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("symlink"), std::string::npos) << s.message();
  EXPECT_FALSE(LoadRunHistory(link, Run("run-2", "checkout", 1, 4.1)).ok());
  std::ifstream in(victim);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "precious");

  const std::string open_dir = dir_ + "/open";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  EXPECT_EQ(RecordRun(Run("run-3", "checkout", 2, 4.1), open_dir + "/history.db").code(),
            Status::Code::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(open_dir + "/history.db"));

  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(db_.c_str(), 65534, 65534), 0);
    s = RecordRun(Run("run-4", "checkout", 3, 4.1), db_);
    EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("uid 65534"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace gameday
