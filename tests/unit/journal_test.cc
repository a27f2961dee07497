#include "experiments/journal.h"

#include <Poco/Checksum.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace gameday {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the test temp dir, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::path(testing::TempDir()) / "journal_test.XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (!p) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

JournalRecord MakeRecord(const std::string& fault_id, const std::string& run_id = "run1") {
  JournalRecord r;
  r.fault_id = fault_id;
  r.run_id = run_id;
  r.kind = "process";
  r.target_id = "pid:42:1234";
  r.target_display = "pid 42 demo --port 18081";
  r.revert = R"({"action":"freeze","pid":42,"starttime":1234})";
  r.injected_unix_ms = 1700000000123;
  r.expires_unix_ms = 1700000060123;
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::vector<std::string> FaultIds(const std::vector<JournalRecord>& records) {
  std::vector<std::string> ids;
  for (const auto& r : records) ids.push_back(r.fault_id);
  return ids;
}

// The journal of `run_id` as ReadJournals sees it, or nullopt if it has no such file.
std::optional<JournalFile> FindJournal(const std::string& dir, const std::string& run_id) {
  auto files = ReadJournals(dir);
  EXPECT_TRUE(files.ok()) << files.status().ToString();
  if (!files.ok()) return std::nullopt;
  for (const auto& f : *files) {
    if (f.run_id == run_id) return f;
  }
  return std::nullopt;
}

std::string Crc32Hex(const std::string& data) {
  Poco::Checksum crc(Poco::Checksum::TYPE_CRC32);
  crc.update(data);
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc.checksum());
  return buf;
}

TEST(JournalTest, RecordClearAndLive) {
  TempDir dir;
  auto journal = Journal::Open(dir.path() + "/nested/journal", "run1");
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  Journal& j = **journal;
  EXPECT_EQ(j.path(), dir.path() + "/nested/journal/run1.journal");

  ASSERT_TRUE(j.Record(MakeRecord("f1")).ok());
  ASSERT_TRUE(j.Record(MakeRecord("f2")).ok());
  ASSERT_TRUE(j.Record(MakeRecord("f3")).ok());
  ASSERT_TRUE(j.Clear("f2").ok());
  EXPECT_EQ(FaultIds(j.Live()), (std::vector<std::string>{"f1", "f3"}));

  // What is on disk says the same, and every field survives the round trip.
  auto parsed = ParseJournal(ReadFile(j.path()));
  ASSERT_EQ(parsed.size(), 2u);
  const JournalRecord want = MakeRecord("f1");
  EXPECT_EQ(parsed[0].fault_id, want.fault_id);
  EXPECT_EQ(parsed[0].run_id, want.run_id);
  EXPECT_EQ(parsed[0].kind, want.kind);
  EXPECT_EQ(parsed[0].target_id, want.target_id);
  EXPECT_EQ(parsed[0].target_display, want.target_display);
  EXPECT_EQ(parsed[0].revert, want.revert);
  EXPECT_EQ(parsed[0].injected_unix_ms, want.injected_unix_ms);
  EXPECT_EQ(parsed[0].expires_unix_ms, want.expires_unix_ms);
  ASSERT_TRUE(j.Clear("f1").ok());
  ASSERT_TRUE(j.Clear("f3").ok());
  EXPECT_TRUE(j.Live().empty());
  EXPECT_TRUE(j.Close().ok());
}

TEST(JournalTest, LinesAreCrc32PrefixedJsonObjects) {
  TempDir dir;
  auto journal = Journal::Open(dir.path(), "fmt");
  ASSERT_TRUE(journal.ok());
  JournalRecord odd = MakeRecord("odd\nid \"quoted\"");
  odd.revert = std::string("{\"x\":\"line\\nbreak\"}\n\xc3\xa9\0tail", 27);
  ASSERT_TRUE((*journal)->Record(odd).ok());
  ASSERT_TRUE((*journal)->Clear(odd.fault_id).ok());

  const std::string content = ReadFile((*journal)->path());
  std::istringstream lines(content);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    ASSERT_GT(line.size(), 10u);
    EXPECT_EQ(line[8], ' ');
    EXPECT_EQ(line[9], '{');
    // Checked against an independent CRC-32 implementation (Poco's, which is zlib's).
    EXPECT_EQ(line.substr(0, 8), Crc32Hex(line.substr(9))) << line;
  }
  EXPECT_EQ(n, 2);  // embedded newlines were escaped, not written raw
  EXPECT_EQ(content.back(), '\n');

  // Special characters round-trip exactly.
  const std::string without_clear = content.substr(0, content.find('\n') + 1);
  auto parsed = ParseJournal(without_clear);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].fault_id, odd.fault_id);
  EXPECT_EQ(parsed[0].revert, odd.revert);
  EXPECT_TRUE(ParseJournal(content).empty());
}

TEST(JournalTest, ReopenAfterCrashKeepsLiveFaults) {
  TempDir dir;
  std::string path;
  {
    auto journal = Journal::Open(dir.path(), "crashy");
    ASSERT_TRUE(journal.ok());
    path = (*journal)->path();
    ASSERT_TRUE((*journal)->Record(MakeRecord("a")).ok());
    ASSERT_TRUE((*journal)->Record(MakeRecord("b")).ok());
    ASSERT_TRUE((*journal)->Clear("a").ok());
    // Destroyed without Close(): what a crash leaves behind.
  }
  ASSERT_TRUE(fs::exists(path));
  auto found = FindJournal(dir.path(), "crashy");
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->locked);
  EXPECT_EQ(found->path, path);
  EXPECT_EQ(FaultIds(found->live), std::vector<std::string>{"b"});

  // The same run opening its journal again continues it.
  auto again = Journal::Open(dir.path(), "crashy");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(FaultIds((*again)->Live()), std::vector<std::string>{"b"});
  ASSERT_TRUE((*again)->Record(MakeRecord("c")).ok());
  EXPECT_EQ(FaultIds(ParseJournal(ReadFile(path))), (std::vector<std::string>{"b", "c"}));
}

TEST(JournalTest, KilledProcessReleasesLockAndKeepsRecords) {
  TempDir dir;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    auto journal = Journal::Open(dir.path(), "victim");
    if (!journal.ok() || !(*journal)->Record(MakeRecord("live-fault", "victim")).ok()) _exit(1);
    char c = 'x';
    if (::write(ready[1], &c, 1) != 1) _exit(1);
    ::pause();  // holds the lock until killed
    _exit(0);
  }
  ::close(ready[1]);
  struct Reaper {  // the child never outlives the test, even when an assertion fails
    pid_t pid;
    ~Reaper() {
      if (pid <= 0) return;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{child};
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);

  auto running = FindJournal(dir.path(), "victim");
  ASSERT_TRUE(running);
  EXPECT_TRUE(running->locked);
  EXPECT_EQ(FaultIds(running->live), std::vector<std::string>{"live-fault"});
  auto refused = AdoptJournal(running->path);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  reaper.pid = 0;  // reaped: its pid may be reused now

  auto orphan = FindJournal(dir.path(), "victim");
  ASSERT_TRUE(orphan);
  EXPECT_FALSE(orphan->locked);
  EXPECT_EQ(FaultIds(orphan->live), std::vector<std::string>{"live-fault"});
  auto adopted = AdoptJournal(orphan->path);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_EQ(FaultIds((*adopted)->Live()), std::vector<std::string>{"live-fault"});
}

TEST(JournalTest, TornTailReadsAsEndAndIsCutOnAdopt) {
  TempDir dir;
  std::string path;
  {
    auto journal = Journal::Open(dir.path(), "torn");
    ASSERT_TRUE(journal.ok());
    path = (*journal)->path();
    ASSERT_TRUE((*journal)->Record(MakeRecord("first")).ok());
    ASSERT_TRUE((*journal)->Record(MakeRecord("second")).ok());
  }
  const std::string full = ReadFile(path);
  const size_t first_end = full.find('\n') + 1;
  // Every cut inside the second line reads as if the second line was never written.
  for (size_t cut = first_end; cut < full.size(); cut += 7) {
    EXPECT_EQ(FaultIds(ParseJournal(full.substr(0, cut))), std::vector<std::string>{"first"})
        << "cut at " << cut;
  }
  const std::string torn = full.substr(0, first_end + (full.size() - first_end) / 2);
  WriteFile(path, torn);

  auto adopted = AdoptJournal(path);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_EQ(FaultIds((*adopted)->Live()), std::vector<std::string>{"first"});
  // Appends after the cut are readable: the torn bytes were removed, not appended after.
  ASSERT_TRUE((*adopted)->Record(MakeRecord("third")).ok());
  EXPECT_EQ(ReadFile(path).substr(0, first_end), full.substr(0, first_end));
  EXPECT_EQ(FaultIds(ParseJournal(ReadFile(path))), (std::vector<std::string>{"first", "third"}));
  // A torn line was never acknowledged: no copy of it is kept.
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().string().find(".corrupt"), std::string::npos) << e.path();
  }
}

std::vector<JournalRecord> ManyRecords(size_t n, const std::string& prefix = "batch") {
  std::vector<JournalRecord> out;
  for (size_t i = 0; i < n; ++i) out.push_back(MakeRecord(prefix + "-" + std::to_string(i)));
  return out;
}

TEST(JournalTest, BatchRecordAndClearAreOneWriteAndOneFsyncEach) {
  TempDir dir;
  auto journal = Journal::Open(dir.path(), "group");
  ASSERT_TRUE(journal.ok());
  Journal& j = **journal;
  const std::vector<JournalRecord> records = ManyRecords(100);
  ASSERT_TRUE(j.Record(records).ok());
  EXPECT_EQ(j.Stats().syncs, 1u);
  EXPECT_EQ(j.Stats().writes, 1u);
  EXPECT_EQ(j.Stats().lines, 100u);
  EXPECT_EQ(j.Live().size(), 100u);

  std::vector<std::string> clear;
  for (size_t i = 0; i < 60; ++i) clear.push_back(records[i].fault_id);
  ASSERT_TRUE(j.Clear(clear).ok());
  EXPECT_EQ(j.Stats().syncs, 2u);
  EXPECT_EQ(j.Stats().writes, 2u);
  EXPECT_EQ(j.Stats().lines, 160u);
  ASSERT_EQ(j.Live().size(), 40u);
  EXPECT_EQ(j.Live().front().fault_id, "batch-60");

  // An empty batch writes nothing.
  ASSERT_TRUE(j.Record(std::vector<JournalRecord>{}).ok());
  ASSERT_TRUE(j.Clear(std::vector<std::string>{}).ok());
  EXPECT_EQ(j.Stats().syncs, 2u);

  // The single forms still cost one fsync each.
  ASSERT_TRUE(j.Record(MakeRecord("single")).ok());
  ASSERT_TRUE(j.Clear("single").ok());
  EXPECT_EQ(j.Stats().syncs, 4u);

  // What a reader (recover) sees is what was acknowledged.
  auto file = FindJournal(dir.path(), "group");
  ASSERT_TRUE(file);
  EXPECT_EQ(FaultIds(file->live), FaultIds(j.Live()));
  EXPECT_TRUE(file->problems.empty());
}

TEST(JournalTest, ABatchIsWrittenExactlyAsItsLinesOneAtATime) {
  TempDir batched, single;
  const std::vector<JournalRecord> records = ManyRecords(5);
  const std::vector<std::string> ids = {"batch-1", "batch-3"};
  std::string batched_path, single_path;
  {
    auto j = Journal::Open(batched.path(), "same");
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Record(records).ok());
    ASSERT_TRUE((*j)->Clear(ids).ok());
    batched_path = (*j)->path();
  }
  {
    auto j = Journal::Open(single.path(), "same");
    ASSERT_TRUE(j.ok());
    for (const JournalRecord& r : records) ASSERT_TRUE((*j)->Record(r).ok());
    for (const std::string& id : ids) ASSERT_TRUE((*j)->Clear(id).ok());
    single_path = (*j)->path();
  }
  const std::string content = ReadFile(batched_path);
  EXPECT_EQ(content, ReadFile(single_path));
  EXPECT_EQ(std::count(content.begin(), content.end(), '\n'), 7);
  EXPECT_EQ(FaultIds(ParseJournal(content)),
            (std::vector<std::string>{"batch-0", "batch-2", "batch-4"}));
}

TEST(JournalTest, ABatchWithAnInvalidEntryWritesNothing) {
  TempDir dir;
  auto journal = Journal::Open(dir.path(), "invalid");
  ASSERT_TRUE(journal.ok());
  std::vector<JournalRecord> records = ManyRecords(3);
  records[2].fault_id.clear();
  EXPECT_EQ((*journal)->Record(records).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ((*journal)->Clear(std::vector<std::string>{"batch-0", ""}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ((*journal)->Stats().writes, 0u);
  EXPECT_TRUE((*journal)->Live().empty());
  EXPECT_EQ(ReadFile((*journal)->path()), "");
}

// A crash in the middle of a batch's write leaves a prefix of it on disk: every complete line of
// it reads as written, the incomplete last line as the end of the file, cut off when adopted.
TEST(JournalTest, TornBatchKeepsItsCompleteLines) {
  TempDir dir;
  std::string path;
  {
    auto journal = Journal::Open(dir.path(), "torn-batch");
    ASSERT_TRUE(journal.ok());
    path = (*journal)->path();
    ASSERT_TRUE((*journal)->Record(MakeRecord("before")).ok());
    ASSERT_TRUE((*journal)->Record(ManyRecords(8)).ok());
  }
  const std::string full = ReadFile(path);
  std::vector<size_t> line_ends;  // offsets just past each '\n'
  for (size_t p = full.find('\n'); p != std::string::npos; p = full.find('\n', p + 1)) {
    line_ends.push_back(p + 1);
  }
  ASSERT_EQ(line_ends.size(), 9u);
  for (size_t cut = line_ends[0]; cut <= full.size(); ++cut) {
    std::vector<std::string> want = {"before"};
    for (size_t i = 1; i < line_ends.size() && line_ends[i] <= cut; ++i) {
      want.push_back("batch-" + std::to_string(i - 1));
    }
    std::vector<JournalProblem> problems;
    EXPECT_EQ(FaultIds(ParseJournal(full.substr(0, cut), &problems)), want) << "cut at " << cut;
    EXPECT_TRUE(problems.empty()) << "cut at " << cut;
  }
  // Cut in the middle of the batch's fifth line (batch-4), as a crash mid-write would leave it.
  const size_t cut = (line_ends[4] + line_ends[5]) / 2;
  WriteFile(path, full.substr(0, cut));
  auto adopted = AdoptJournal(path);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_EQ(FaultIds((*adopted)->Live()),
            (std::vector<std::string>{"before", "batch-0", "batch-1", "batch-2", "batch-3"}));
  EXPECT_EQ(ReadFile(path), full.substr(0, line_ends[4]));
  EXPECT_TRUE((*adopted)->Problems().empty());
  // A batch appended after the cut reads on.
  ASSERT_TRUE((*adopted)->Clear(std::vector<std::string>{"before", "batch-1"}).ok());
  EXPECT_EQ(FaultIds(ParseJournal(ReadFile(path))),
            (std::vector<std::string>{"batch-0", "batch-2", "batch-3"}));
}

// Lines of the journal of `run_id`: the problems ParseJournal reports, as "LINE: REASON".
std::vector<std::string> ProblemLines(const std::vector<JournalProblem>& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(std::to_string(p.line) + ": " + p.reason);
  return out;
}

// A line as gameday before format version 2 wrote it (no "v"), byte for byte.
std::string V1Line(const std::string& json) { return Crc32Hex(json) + " " + json + "\n"; }

std::string V1Inject(const std::string& fault_id) {
  return V1Line(R"({"op":"inject","fault_id":")" + fault_id +
                R"(","run_id":"run1","kind":"process","target_id":"pid:42:1234",)"
                R"("target_display":"pid 42 demo --port 18081",)"
                R"("revert":"{\"action\":\"freeze\",\"pid\":42,\"starttime\":1234}",)"
                R"("injected_unix_ms":1700000000123,"expires_unix_ms":1700000060123})");
}

TEST(JournalTest, ReadsTheFormatWrittenBeforeVersions) {
  // Exactly what the writer before format version 2 produced: no "v" in any record.
  const std::string old =
      V1Inject("a") + V1Inject("b") + V1Line(R"({"op":"clear","fault_id":"a"})");
  std::vector<JournalProblem> problems;
  auto live = ParseJournal(old, &problems);
  EXPECT_TRUE(problems.empty()) << ProblemLines(problems)[0];
  ASSERT_EQ(FaultIds(live), std::vector<std::string>{"b"});
  EXPECT_EQ(live[0].revert, R"({"action":"freeze","pid":42,"starttime":1234})");
  EXPECT_EQ(live[0].line, 2u);

  // An old file is continued by the new writer and both read back together.
  TempDir dir;
  WriteFile(dir.path() + "/run1.journal", old);
  ::chmod((dir.path() + "/run1.journal").c_str(), 0600);
  auto adopted = AdoptJournal(dir.path() + "/run1.journal");
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  ASSERT_TRUE((*adopted)->Record(MakeRecord("c")).ok());
  const std::string content = ReadFile(dir.path() + "/run1.journal");
  EXPECT_NE(content.find("{\"v\":2,\"op\":\"inject\",\"fault_id\":\"c\""), std::string::npos);
  EXPECT_EQ(FaultIds(ParseJournal(content)), (std::vector<std::string>{"b", "c"}));

  // A record of a later format is not guessed at.
  const std::string v3 = R"({"v":3,"op":"inject","fault_id":"x"})";
  problems.clear();
  EXPECT_TRUE(ParseJournal(V1Line(v3), &problems).empty());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].reason.find("format version 3"), std::string::npos);
}

TEST(JournalTest, DamagedLineInTheMiddleIsSkippedAndReported) {
  TempDir dir;
  std::string path;
  {
    auto journal = Journal::Open(dir.path(), "corrupt");
    ASSERT_TRUE(journal.ok());
    path = (*journal)->path();
    for (const char* id : {"one", "two", "three"}) {
      ASSERT_TRUE((*journal)->Record(MakeRecord(id)).ok());
    }
  }
  std::string content = ReadFile(path);
  const size_t second = content.find('\n') + 1;
  const size_t third = content.find('\n', second) + 1;

  struct Case {
    const char* what;
    std::string text;
    const char* reason;
  };
  std::vector<Case> cases;
  std::string bad_crc = content;
  bad_crc[second] = bad_crc[second] == '0' ? '1' : '0';
  cases.push_back({"checksum digit", bad_crc, "checksum mismatch"});
  std::string bad_body = content;  // a flipped bit in the JSON, checksum untouched
  bad_body[second + 30] ^= 0x01;
  cases.push_back({"flipped bit", bad_body, "checksum mismatch"});
  std::string upper_hex = content;  // the writer only writes lowercase hex
  for (size_t i = second; i < second + 8; ++i) upper_hex[i] = 'A';
  cases.push_back({"upper hex", upper_hex, "no checksum"});
  // A checksummed record of an op this version does not know.
  cases.push_back({"unknown op",
                   content.substr(0, second) + V1Line(R"({"v":2,"op":"pause","fault_id":"two"})") +
                       content.substr(third),
                   "unknown op \"pause\""});
  // JSON that is fine, fields that are not.
  cases.push_back({"negative time",
                   content.substr(0, second) +
                       V1Line(R"({"op":"inject","fault_id":"two","run_id":"run1","kind":"process",)"
                              R"("target_id":"t","target_display":"d","revert":"{}",)"
                              R"("injected_unix_ms":-5,"expires_unix_ms":0})") +
                       content.substr(third),
                   "injected_unix_ms"});
  cases.push_back(
      {"kind with a shell command",
       content.substr(0, second) +
           V1Line(R"({"op":"inject","fault_id":"two","run_id":"run1","kind":"X; rm -rf /",)"
                  R"("target_id":"t","target_display":"d","revert":"{}",)"
                  R"("injected_unix_ms":5,"expires_unix_ms":0})") +
           content.substr(third),
       "invalid injector kind"});
  for (const Case& c : cases) {
    std::vector<JournalProblem> problems;
    EXPECT_EQ(FaultIds(ParseJournal(c.text, &problems)), (std::vector<std::string>{"one", "three"}))
        << c.what;
    ASSERT_EQ(problems.size(), 1u) << c.what;
    EXPECT_EQ(problems[0].line, 2u) << c.what;
    EXPECT_NE(problems[0].reason.find(c.reason), std::string::npos)
        << c.what << ": " << problems[0].reason;
    EXPECT_EQ(problems[0].excerpt.front(), '"') << c.what;
    EXPECT_NE(problems[0].ToString(path).find(path + ":2: "), std::string::npos);
  }

  WriteFile(path, bad_crc);
  auto found = FindJournal(dir.path(), "corrupt");
  ASSERT_TRUE(found);
  EXPECT_EQ(FaultIds(found->live), (std::vector<std::string>{"one", "three"}));
  ASSERT_EQ(found->problems.size(), 1u);

  // Adopting keeps the damaged line where it is (nothing moved aside), appends after it, and
  // Close never deletes a file with a line nobody could read.
  auto adopted = AdoptJournal(path);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_EQ(FaultIds((*adopted)->Live()), (std::vector<std::string>{"one", "three"}));
  EXPECT_EQ((*adopted)->Problems().size(), 1u);
  ASSERT_TRUE((*adopted)->Clear("one").ok());
  ASSERT_TRUE((*adopted)->Clear("three").ok());
  EXPECT_EQ(ReadFile(path).substr(0, bad_crc.size()), bad_crc);
  ASSERT_TRUE((*adopted)->Close().ok());
  EXPECT_TRUE(fs::exists(path));
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().string().find(".corrupt-"), std::string::npos) << e.path();
  }
  // Only a person removes it.
  ASSERT_TRUE(ForgetJournal(path).ok());
  EXPECT_FALSE(fs::exists(path));
}

TEST(JournalTest, ExcerptsAreEscapedAndTruncated) {
  EXPECT_EQ(JournalExcerpt(std::string("a\"b\\c\n\x01\xff", 8)), "\"a\\\"b\\\\c\\x0a\\x01\\xff\"");
  const std::string excerpt = JournalExcerpt(std::string(1000, 'x'), 10);
  EXPECT_EQ(excerpt, "\"xxxxxxxxxx\"... (1000 bytes)");
}

TEST(JournalTest, FilesSetAsideByOlderVersionsAreRead) {
  TempDir dir;
  // What gameday before format version 2 left when it met a damaged line: the journal cut at
  // that line, and the line with everything after it in RUN.journal.corrupt-MS.
  const std::string aside = dir.path() + "/run1.journal.corrupt-1700000000999";
  const std::string damaged = "0badc0de {\"op\":\"inject\",\"fault_id\":\"lost\"}\n";
  WriteFile(aside, damaged + V1Inject("behind") + V1Inject("gone") +
                       V1Line(R"({"op":"clear","fault_id":"gone"})"));
  ::chmod(aside.c_str(), 0600);
  WriteFile(dir.path() + "/run1.journal.corrupt-x", "not a set-aside file name\n");
  ::chmod((dir.path() + "/run1.journal.corrupt-x").c_str(), 0600);

  auto files = ReadJournals(dir.path());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 1u);
  const JournalFile& f = (*files)[0];
  EXPECT_EQ(f.path, aside);
  EXPECT_EQ(f.run_id, "run1");
  EXPECT_TRUE(f.set_aside);
  EXPECT_EQ(FaultIds(f.live), std::vector<std::string>{"behind"});
  EXPECT_EQ(f.live[0].line, 2u);
  ASSERT_EQ(f.problems.size(), 1u);
  EXPECT_EQ(f.problems[0].line, 1u);

  auto adopted = AdoptJournal(aside);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  ASSERT_TRUE((*adopted)->Clear("behind").ok());
  ASSERT_TRUE((*adopted)->Close().ok());
  EXPECT_TRUE(fs::exists(aside)) << "its damaged first line is for a person to judge";
  EXPECT_TRUE(FindJournal(dir.path(), "run1")->live.empty());
}

TEST(JournalTest, RefusesGroupOrOtherWritableDirectoriesAndFiles) {
  TempDir dir;
  const std::string jdir = dir.path() + "/journal";
  {
    auto j = Journal::Open(jdir, "r");
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Record(MakeRecord("f")).ok());
  }
  struct stat st;
  ASSERT_EQ(::stat(jdir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "gameday makes its journal directory private";
  ASSERT_EQ(::stat((jdir + "/r.journal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  for (mode_t mode : {0770, 0707, 0777}) {
    ASSERT_EQ(::chmod(jdir.c_str(), mode), 0);
    auto files = ReadJournals(jdir);
    ASSERT_FALSE(files.ok()) << std::oct << mode;
    EXPECT_EQ(files.status().code(), Status::Code::kPermissionDenied);
    EXPECT_NE(files.status().message().find("writable by"), std::string::npos)
        << files.status().message();
    EXPECT_FALSE(AdoptJournal(jdir + "/r.journal").ok());
    EXPECT_FALSE(Journal::Open(jdir, "new").ok()) << "a run does not journal there either";
    EXPECT_FALSE(ForgetJournal(jdir + "/r.journal").ok());
  }
  ASSERT_EQ(::chmod(jdir.c_str(), 0700), 0);

  ASSERT_EQ(::chmod((jdir + "/r.journal").c_str(), 0622), 0);
  auto files = ReadJournals(jdir);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_TRUE((*files)[0].refused);
  EXPECT_TRUE((*files)[0].live.empty()) << "nothing of a refused file is read";
  ASSERT_EQ((*files)[0].problems.size(), 1u);
  EXPECT_NE((*files)[0].problems[0].reason.find("mode 0622"), std::string::npos);
  auto adopt = AdoptJournal(jdir + "/r.journal");
  ASSERT_FALSE(adopt.ok());
  EXPECT_EQ(adopt.status().code(), Status::Code::kPermissionDenied);
}

TEST(JournalTest, RefusesSymlinks) {
  TempDir dir;
  const std::string real = dir.path() + "/real";
  {
    auto j = Journal::Open(real, "r");
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Record(MakeRecord("f")).ok());
  }
  // A symlinked journal directory.
  ASSERT_EQ(::symlink(real.c_str(), (dir.path() + "/link").c_str()), 0);
  auto files = ReadJournals(dir.path() + "/link");
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(files.status().message().find("symbolic link"), std::string::npos);
  EXPECT_FALSE(Journal::Open(dir.path() + "/link", "r2").ok());

  // A symlinked journal file: listed as refused, never followed, never adopted.
  const std::string target = dir.path() + "/elsewhere.journal";
  WriteFile(target, V1Inject("planted"));
  ASSERT_EQ(::symlink(target.c_str(), (real + "/planted.journal").c_str()), 0);
  files = ReadJournals(real);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].run_id, "planted");
  EXPECT_TRUE((*files)[0].refused);
  EXPECT_TRUE((*files)[0].live.empty());
  EXPECT_FALSE(AdoptJournal(real + "/planted.journal").ok());
  EXPECT_FALSE(Journal::Open(real, "planted").ok()) << "not even written through";
  EXPECT_EQ(ReadFile(target), V1Inject("planted"));
}

TEST(JournalTest, RefusesDirectoriesAndFilesOfOtherUsers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown to another user";
  TempDir dir;
  const std::string jdir = dir.path() + "/journal";
  {
    auto j = Journal::Open(jdir, "r");
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Record(MakeRecord("f")).ok());
  }
  ASSERT_EQ(::chown((jdir + "/r.journal").c_str(), 65534, 65534), 0);
  auto files = ReadJournals(jdir);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_TRUE((*files)[0].refused);
  EXPECT_NE((*files)[0].problems[0].reason.find("owned by uid 65534"), std::string::npos)
      << (*files)[0].problems[0].reason;
  EXPECT_FALSE(AdoptJournal(jdir + "/r.journal").ok());
  EXPECT_FALSE(ForgetJournal(jdir + "/r.journal").ok());

  ASSERT_EQ(::chown((jdir + "/r.journal").c_str(), 0, 0), 0);
  ASSERT_EQ(::chown(jdir.c_str(), 65534, 65534), 0);
  files = ReadJournals(jdir);
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(files.status().message().find("owned by uid 65534"), std::string::npos);
  EXPECT_FALSE(Journal::Open(jdir, "other").ok());
}

TEST(JournalTest, ForgetRefusesWhatIsNotAnOrphanedJournal) {
  TempDir dir;
  auto owner = Journal::Open(dir.path(), "held");
  ASSERT_TRUE(owner.ok());
  auto refused = ForgetJournal((*owner)->path());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition);
  WriteFile(dir.path() + "/notes.txt", "x");
  EXPECT_FALSE(ForgetJournal(dir.path() + "/notes.txt").ok());
  EXPECT_TRUE(fs::exists(dir.path() + "/notes.txt"));
}

TEST(JournalTest, LockPreventsAdoptionWhileHeld) {
  TempDir dir;
  auto owner = Journal::Open(dir.path(), "held");
  ASSERT_TRUE(owner.ok());
  ASSERT_TRUE((*owner)->Record(MakeRecord("f")).ok());

  auto found = FindJournal(dir.path(), "held");
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->locked);
  auto adopt = AdoptJournal((*owner)->path());
  ASSERT_FALSE(adopt.ok());
  EXPECT_EQ(adopt.status().code(), Status::Code::kFailedPrecondition);
  auto second_open = Journal::Open(dir.path(), "held");
  EXPECT_FALSE(second_open.ok());

  // Reading did not disturb the owner's lock or its appends.
  ASSERT_TRUE((*owner)->Record(MakeRecord("g")).ok());
  const std::string path = (*owner)->path();
  owner->reset();  // crash

  auto adopter = AdoptJournal(path);
  ASSERT_TRUE(adopter.ok()) << adopter.status().ToString();
  EXPECT_EQ(FaultIds((*adopter)->Live()), (std::vector<std::string>{"f", "g"}));
  // Now the adopter holds it: nobody else may take it.
  EXPECT_FALSE(AdoptJournal(path).ok());
  auto held = FindJournal(dir.path(), "held");
  ASSERT_TRUE(held);
  EXPECT_TRUE(held->locked);

  ASSERT_TRUE((*adopter)->Clear("f").ok());
  ASSERT_TRUE((*adopter)->Clear("g").ok());
  ASSERT_TRUE((*adopter)->Close().ok());
  EXPECT_FALSE(fs::exists(path));
}

TEST(JournalTest, CloseDeletesOnlyWhenNothingIsLive) {
  TempDir dir;
  auto busy = Journal::Open(dir.path(), "busy");
  ASSERT_TRUE(busy.ok());
  ASSERT_TRUE((*busy)->Record(MakeRecord("left-behind")).ok());
  ASSERT_TRUE((*busy)->Close().ok());
  EXPECT_TRUE(fs::exists((*busy)->path()));
  EXPECT_TRUE((*busy)->Close().ok());  // twice is harmless
  EXPECT_FALSE((*busy)->Record(MakeRecord("late")).ok());
  auto found = FindJournal(dir.path(), "busy");
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->locked);  // closing released the lock
  EXPECT_EQ(FaultIds(found->live), std::vector<std::string>{"left-behind"});

  auto clean = Journal::Open(dir.path(), "clean");
  ASSERT_TRUE(clean.ok());
  ASSERT_TRUE((*clean)->Record(MakeRecord("x")).ok());
  ASSERT_TRUE((*clean)->Clear("x").ok());
  ASSERT_TRUE((*clean)->Close().ok());
  EXPECT_FALSE(fs::exists((*clean)->path()));
  EXPECT_FALSE(FindJournal(dir.path(), "clean"));

  auto empty = Journal::Open(dir.path(), "empty");
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE((*empty)->Close().ok());
  EXPECT_FALSE(fs::exists((*empty)->path()));
}

TEST(JournalTest, RecordingAFaultAgainReplacesIt) {
  TempDir dir;
  auto journal = Journal::Open(dir.path(), "retry");
  ASSERT_TRUE(journal.ok());
  JournalRecord r = MakeRecord("f");
  ASSERT_TRUE((*journal)->Record(r).ok());
  r.revert = R"({"action":"stop"})";
  ASSERT_TRUE((*journal)->Record(r).ok());
  auto live = (*journal)->Live();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].revert, r.revert);
  auto parsed = ParseJournal(ReadFile((*journal)->path()));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].revert, r.revert);
  EXPECT_FALSE((*journal)->Record(MakeRecord("")).ok());
  EXPECT_FALSE((*journal)->Clear("").ok());
}

TEST(JournalTest, RejectsBadRunIdsAndPaths) {
  TempDir dir;
  const std::vector<std::string> bad_ids = {"",    ".",         "..",
                                            "a/b", "../escape", std::string("nul\0x", 5)};
  for (const std::string& bad : bad_ids) {
    EXPECT_FALSE(Journal::Open(dir.path(), bad).ok()) << bad;
  }
  EXPECT_FALSE(AdoptJournal(dir.path() + "/missing.journal").ok());
  WriteFile(dir.path() + "/notes.txt", "hello\n");
  EXPECT_FALSE(AdoptJournal(dir.path() + "/notes.txt").ok());
  // A file in the way of the directory is an error, not a crash.
  EXPECT_FALSE(Journal::Open(dir.path() + "/notes.txt/sub", "r").ok());
}

TEST(JournalTest, ReadJournalsOfMissingDirIsEmpty) {
  TempDir dir;
  auto files = ReadJournals(dir.path() + "/does/not/exist");
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(files->empty());
}

TEST(JournalTest, ReadJournalsListsEveryRun) {
  TempDir dir;
  auto a = Journal::Open(dir.path(), "run-a");
  auto b = Journal::Open(dir.path(), "run-b");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Record(MakeRecord("fa", "run-a")).ok());
  ASSERT_TRUE((*b)->Record(MakeRecord("fb", "run-b")).ok());
  b->reset();
  WriteFile(dir.path() + "/unrelated.txt", "x");
  auto files = ReadJournals(dir.path());
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].run_id, "run-a");
  EXPECT_TRUE((*files)[0].locked);
  EXPECT_EQ((*files)[1].run_id, "run-b");
  EXPECT_FALSE((*files)[1].locked);
  EXPECT_EQ(FaultIds((*files)[1].live), std::vector<std::string>{"fb"});
}

TEST(JournalTest, ParseJournalOnGarbageNeverCrashes) {
  const std::vector<std::string> garbage = {
      "",
      "\n",
      "\n\n\n",
      "00000000 \n",
      "00000000 {}\n",
      "zzzzzzzz {\"op\":\"inject\"}\n",
      "12345678",
      "1234567 {}\n",
      std::string(100000, 'a'),
      std::string(1000, '\n'),
      std::string("\0\0\0\0\0\0\0\0 \0\n", 11),
      "ffffffff " + std::string(5000, '[') + "\n",
  };
  for (const std::string& g : garbage) EXPECT_TRUE(ParseJournal(g).empty());

  // Lines with a valid checksum but content the reader must refuse.
  for (const std::string& json :
       {std::string("{}"), std::string("[]"), std::string("null"), std::string("{\"op\":1}"),
        std::string("{\"op\":\"inject\",\"fault_id\":\"x\"}"),
        std::string("{\"op\":\"clear\",\"fault_id\":\"\"}"),
        std::string("{\"op\":\"bogus\",\"fault_id\":\"x\"}"),
        std::string("{\"op\":\"inject\",\"fault_id\":\"x\",\"run_id\":\"r\",\"kind\":\"k\","
                    "\"target_id\":\"t\",\"target_display\":\"d\",\"revert\":\"{}\","
                    "\"injected_unix_ms\":1.5,\"expires_unix_ms\":0}"),
        std::string("{\"op\":\"clear\",\"fault_id\":\"x\"} trailing"), std::string(3000, '{')}) {
    EXPECT_TRUE(ParseJournal(Crc32Hex(json) + " " + json + "\n").empty()) << json;
  }
}

TEST(JournalTest, ParseJournalFuzz) {
  // A real journal to mutate, so the fuzzing reaches past the checksum too.
  TempDir dir;
  std::string valid;
  {
    auto journal = Journal::Open(dir.path(), "seed");
    ASSERT_TRUE(journal.ok());
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE((*journal)->Record(MakeRecord("f" + std::to_string(i))).ok());
    ASSERT_TRUE((*journal)->Clear("f1").ok());
    valid = ReadFile((*journal)->path());
  }
  ASSERT_EQ(ParseJournal(valid).size(), 3u);

  std::mt19937_64 rng(20251126);
  std::uniform_int_distribution<int> byte(0, 255);
  size_t survived = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::string input;
    switch (iter % 4) {
      case 0: {  // random bytes, biased towards the characters the format uses
        const size_t n = rng() % 512;
        for (size_t i = 0; i < n; ++i) {
          const int roll = byte(rng);
          input += roll < 20   ? '\n'
                   : roll < 40 ? ' '
                   : roll < 60 ? '{'
                               : static_cast<char>(byte(rng));
        }
        break;
      }
      case 1: {  // a valid journal with a few flipped bytes
        input = valid;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) input[rng() % input.size()] = static_cast<char>(byte(rng));
        break;
      }
      case 2:  // truncated anywhere
        input = valid.substr(0, rng() % (valid.size() + 1));
        break;
      case 3: {  // random JSON-ish bodies under a correct checksum
        std::string json = "{\"op\":\"inject\",\"fault_id\":\"";
        const size_t n = rng() % 64;
        for (size_t i = 0; i < n; ++i) json += static_cast<char>(byte(rng));
        if (rng() % 2) json += "\"}";
        input = valid + Crc32Hex(json) + " " + json + "\n";
        break;
      }
    }
    const auto live = ParseJournal(input);
    EXPECT_LE(live.size(), 4u);
    for (const auto& r : live) EXPECT_FALSE(r.fault_id.empty());
    survived += live.size();
  }
  // The mutations were not all rejected wholesale: prefixes of the valid journal still parse.
  EXPECT_GT(survived, 0u);
}

TEST(JournalTest, DefaultStateDirHonoursEnvironment) {
  const char* saved = std::getenv("GAMEDAY_STATE_DIR");
  const std::string saved_value = saved ? saved : "";
  ::setenv("GAMEDAY_STATE_DIR", "/some/where", 1);
  EXPECT_EQ(DefaultStateDir(), "/some/where");
  ::unsetenv("GAMEDAY_STATE_DIR");
  const std::string dflt = DefaultStateDir();
  if (::geteuid() == 0) {
    EXPECT_EQ(dflt, "/var/lib/gameday");
  } else {
    EXPECT_NE(dflt.find("gameday"), std::string::npos);
    EXPECT_EQ(dflt[0], '/');
  }
  if (saved) ::setenv("GAMEDAY_STATE_DIR", saved_value.c_str(), 1);
}

}  // namespace
}  // namespace gameday
