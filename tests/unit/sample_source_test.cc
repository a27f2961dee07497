#include "experiments/sample_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "experiments/sample_store.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;

Sample At(double t, Health h = Health::kHealthy, std::string detail = "") {
  Sample s;
  s.t_send = t;
  s.t_done = t + 0.001;
  s.health = h;
  s.latency_ms = 1;
  s.detail = std::move(detail);
  return s;
}

// A run of two experiments: "inline" keeps its samples in the result, "stored" has two
// verifiers whose samples are streams 7 and 3 of a store in dir_.
class SampleSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "sample_source_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    run_.dir = dir_;
    run_.experiments.resize(2);
    ExperimentResult& a = run_.experiments[0];
    a.name = "inline";
    a.verifiers.resize(1);
    a.verifiers[0].name = "http";
    a.verifiers[0].samples = {At(0), At(1, Health::kUnhealthy, "503")};
    ExperimentResult& b = run_.experiments[1];
    b.name = "stored";
    b.verifiers.resize(2);
    b.verifiers[0].name = "tcp";
    b.verifiers[0].store = SampleStoreRef{kSampleStoreFileName, 7};
    b.verifiers[1].name = "etcd";
    b.verifiers[1].store = SampleStoreRef{kSampleStoreFileName, 3};

    auto w = SampleWriter::Create(dir_ + "/" + kSampleStoreFileName, 0600);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Declare({3, "stored", "etcd", 0.01}).ok());
    ASSERT_TRUE((*w)->Declare({7, "stored", "tcp", 0.01}).ok());
    for (int i = 0; i < 5000; ++i) {
      ASSERT_TRUE((*w)->Append(7, At(i * 0.01)).ok());
      if (i % 2) {
        ASSERT_TRUE((*w)->Append(3, At(i * 0.01, Health::kUnknown, "timeout")).ok());
      }
    }
    ASSERT_TRUE((*w)->Close().ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
  RunResult run_;
};

TEST_F(SampleSourceTest, InlineSamplesAreVisitedAsTheyAre) {
  std::vector<Sample> got;
  ASSERT_TRUE(VisitSamples(run_, run_.experiments[0].verifiers[0], [&](const Sample& s) {
                got.push_back(s);
              }).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].detail, "503");
}

TEST_F(SampleSourceTest, StoredSamplesComeFromTheirStreamInSendOrder) {
  std::vector<Sample> got;
  ASSERT_TRUE(VisitSamples(run_, run_.experiments[1].verifiers[1], [&](const Sample& s) {
                got.push_back(s);
              }).ok());
  ASSERT_EQ(got.size(), 2500u);
  EXPECT_EQ(got[0].t_send, 0.01);
  EXPECT_EQ(got[0].health, Health::kUnknown);
  EXPECT_EQ(got[0].detail, "timeout");
  for (size_t i = 1; i < got.size(); ++i) ASSERT_LT(got[i - 1].t_send, got[i].t_send);
}

TEST_F(SampleSourceTest, VisitAllSamplesVisitsEveryVerifier) {
  std::map<std::pair<size_t, size_t>, size_t> counts;
  ASSERT_TRUE(VisitAllSamples(run_, [&](size_t e, size_t v, const Sample&) {
                ++counts[{e, v}];
              }).ok());
  EXPECT_EQ(counts[std::make_pair(size_t{0}, size_t{0})], 2u);
  EXPECT_EQ(counts[std::make_pair(size_t{1}, size_t{0})], 5000u);
  EXPECT_EQ(counts[std::make_pair(size_t{1}, size_t{1})], 2500u);
}

TEST_F(SampleSourceTest, StorePathsOutsideTheResultFolderAreRefused) {
  for (const std::string& file :
       std::vector<std::string>{"/etc/passwd", "../samples.gdsamples", "sub/samples.gdsamples",
                                "..", ".", "", std::string("a\0b", 3)}) {
    run_.experiments[1].verifiers[0].store->file = file;
    Status s = VisitSamples(run_, run_.experiments[1].verifiers[0], [](const Sample&) {});
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << file;
    EXPECT_NE(s.message().find("expected a plain file name next to result.json"), std::string::npos)
        << s.message();
    EXPECT_FALSE(VisitAllSamples(run_, [](size_t, size_t, const Sample&) {}).ok()) << file;
  }
  EXPECT_TRUE(IsSampleStoreFileName("samples.gdsamples"));
  EXPECT_TRUE(IsSampleStoreFileName(".samples"));
  EXPECT_FALSE(IsSampleStoreFileName("a..b"));
}

TEST_F(SampleSourceTest, AStreamOfAnotherVerifierIsRefused) {
  run_.experiments[1].verifiers[0].store->stream = 3;  // etcd's
  Status s = VisitSamples(run_, run_.experiments[1].verifiers[0], [](const Sample&) {});
  EXPECT_EQ(s.message(), dir_ +
                             "/samples.gdsamples: stream 3 holds \"stored\" / \"etcd\", "
                             "result.json expects \"stored\" / \"tcp\"");
  EXPECT_EQ(VisitAllSamples(run_, [](size_t, size_t, const Sample&) {}).message(),
            dir_ + "/samples.gdsamples: stream 3 is named by both tcp and etcd");
}

TEST_F(SampleSourceTest, AMissingStoreOrStreamIsAnErrorNamingTheFile) {
  run_.experiments[1].verifiers[0].store->stream = 9;
  Status s = VisitSamples(run_, run_.experiments[1].verifiers[0], [](const Sample&) {});
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), dir_ + "/samples.gdsamples: no stream 9 in the store");
  run_.experiments[1].verifiers[0].store->file = "gone.gdsamples";
  s = VisitSamples(run_, run_.experiments[1].verifiers[0], [](const Sample&) {});
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), dir_ + "/gone.gdsamples: cannot open: No such file or directory");
}

TEST(LastErrorOfTest, IsTheLastSampleThatDidNotPass) {
  EXPECT_FALSE(LastErrorOf({}).has_value());
  EXPECT_FALSE(LastErrorOf({At(0), At(1)}).has_value());
  auto e = LastErrorOf({At(0, Health::kUnhealthy, "a"), At(1, Health::kUnknown, "b"), At(2)});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->t_send, 1);
  EXPECT_EQ(e->health, Health::kUnknown);
  EXPECT_EQ(e->detail, "b");
}

}  // namespace
}  // namespace gameday
