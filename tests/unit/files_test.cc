// Writing files as root: never through a symlink, never into a folder another user controls,
// with exactly the mode asked for.

#include "experiments/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace gameday {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/gameday-files-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(FilesTest, WritesWithPrivateModeByDefaultAndTheModeAsked) {
  const std::string a = dir_ + "/result.json";
  ASSERT_TRUE(WriteFileAtomically(a, "{}\n").ok());
  EXPECT_EQ(Slurp(a), "{}\n");
  EXPECT_EQ(ModeOf(a), 0600u);
  // The umask does not narrow an explicit mode.
  const mode_t old = ::umask(077);
  const Status s = WriteFileAtomically(dir_ + "/report.html", "<html>", 0644);
  ::umask(old);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ModeOf(dir_ + "/report.html"), 0644u);
  // Replacing an existing file gives it the new mode and content, and leaves no temporary.
  ASSERT_TRUE(WriteFileAtomically(a, "[]", 0640).ok());
  EXPECT_EQ(Slurp(a), "[]");
  EXPECT_EQ(ModeOf(a), 0640u);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir_)) entries += e.exists() ? 1 : 0;
  EXPECT_EQ(entries, 2u);
}

TEST_F(FilesTest, ASymlinkAtTheTargetIsReplacedNotFollowed) {
  const std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "precious";
  ::chmod(victim.c_str(), 0644);
  const std::string link = dir_ + "/report.html";
  ASSERT_EQ(::symlink(victim.c_str(), link.c_str()), 0);
  ASSERT_TRUE(WriteFileAtomically(link, "<html>report</html>").ok());
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_EQ(ModeOf(victim), 0644u);
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(link)));
  EXPECT_EQ(Slurp(link), "<html>report</html>");
}

TEST_F(FilesTest, RefusesFoldersOthersCanWriteInto) {
  const std::string open_dir = dir_ + "/open";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  Status s = WriteFileAtomically(open_dir + "/result.json", "{}");
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("0777"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(open_dir + "/result.json"));
  // With the sticky bit (as on /tmp) nobody can replace another user's entries: accepted.
  ASSERT_EQ(::chmod(open_dir.c_str(), 01777), 0);
  EXPECT_TRUE(WriteFileAtomically(open_dir + "/result.json", "{}").ok());

  // A folder that is a symlink is refused, wherever it points.
  const std::string real = dir_ + "/real";
  ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(real.c_str(), (dir_ + "/linked").c_str()), 0);
  s = WriteFileAtomically(dir_ + "/linked/result.json", "{}");
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("symlink"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(real + "/result.json"));
}

TEST_F(FilesTest, RefusesAFolderOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a folder to uid 65534";
  const std::string theirs = dir_ + "/theirs";
  ASSERT_EQ(::mkdir(theirs.c_str(), 0755), 0);
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  const Status s = WriteFileAtomically(theirs + "/report.html", "x");
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("uid 65534"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(theirs + "/report.html"));
  EXPECT_EQ(EnsureTrustedDir(theirs).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(EnsureTrustedDir(theirs + "/sub").code(), Status::Code::kFailedPrecondition);
}

TEST_F(FilesTest, EnsureTrustedDirCreatesWithTheModeAsked) {
  const std::string deep = dir_ + "/a/b/c";
  ASSERT_TRUE(EnsureTrustedDir(deep, DirModeFor(0600)).ok());
  EXPECT_EQ(ModeOf(deep) & 0777 & ~0700u, 0u);
  const std::string shared = dir_ + "/shared";
  const mode_t old = ::umask(0);
  ASSERT_TRUE(EnsureTrustedDir(shared, DirModeFor(0644)).ok());
  ::umask(old);
  EXPECT_EQ(ModeOf(shared), 0755u);
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_FALSE(EnsureTrustedDir(dir_ + "/file").ok());
}

TEST_F(FilesTest, OwnedFileCheck) {
  const std::string db = dir_ + "/history.db";
  EXPECT_TRUE(CheckOwnedFile(db).ok());  // not there yet
  std::ofstream(db) << "";
  EXPECT_TRUE(CheckOwnedFile(db).ok());
  const std::string link = dir_ + "/link.db";
  ASSERT_EQ(::symlink(db.c_str(), link.c_str()), 0);
  const Status s = CheckOwnedFile(link);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("symlink"), std::string::npos);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(db.c_str(), 65534, 65534), 0);
    EXPECT_EQ(CheckOwnedFile(db).code(), Status::Code::kFailedPrecondition);
  }
}

// Kubernetes' /dev/termination-log: a file someone else made, in a folder gameday cannot write to,
// overwritten where it is (a rename would replace the bind mount, or be refused).
TEST_F(FilesTest, OverwriteInPlaceTruncatesKeepsTheInodeAndRefusesSymlinks) {
  const std::string log = dir_ + "/termination-log";
  std::ofstream(log) << "an older and much longer message";
  ::chmod(log.c_str(), 0666);
  struct stat before {};
  ASSERT_EQ(::stat(log.c_str(), &before), 0);
  ASSERT_TRUE(OverwriteFileInPlace(log, "passed\n").ok());
  EXPECT_EQ(Slurp(log), "passed\n");
  struct stat after {};
  ASSERT_EQ(::stat(log.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(ModeOf(log), 0666u);  // a file someone else made keeps its mode

  // Created with the mode asked for when missing.
  const mode_t old = ::umask(0);
  const Status created = OverwriteFileInPlace(dir_ + "/verdict", "failed\n", 0640);
  ::umask(old);
  ASSERT_TRUE(created.ok()) << created.message();
  EXPECT_EQ(Slurp(dir_ + "/verdict"), "failed\n");
  EXPECT_EQ(ModeOf(dir_ + "/verdict"), 0640u);

  const std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "precious";
  ASSERT_EQ(::symlink(victim.c_str(), (dir_ + "/link").c_str()), 0);
  Status s = OverwriteFileInPlace(dir_ + "/link", "x");
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("symlink"), std::string::npos) << s.message();
  EXPECT_EQ(Slurp(victim), "precious");
  s = OverwriteFileInPlace(dir_, "x");
  EXPECT_FALSE(s.ok());
  ASSERT_EQ(::mkdir((dir_ + "/open").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((dir_ + "/open").c_str(), 0777), 0);
  EXPECT_EQ(OverwriteFileInPlace(dir_ + "/open/log", "x").code(),
            Status::Code::kFailedPrecondition);
}

TEST(FileModeTest, Parse) {
  EXPECT_EQ(ParseFileMode("0644"), std::optional<mode_t>(0644));
  EXPECT_EQ(ParseFileMode("600"), std::optional<mode_t>(0600));
  EXPECT_EQ(ParseFileMode("0"), std::optional<mode_t>(0));
  EXPECT_FALSE(ParseFileMode("4755"));  // setuid
  EXPECT_FALSE(ParseFileMode("0648"));
  EXPECT_FALSE(ParseFileMode("rw-r--r--"));
  EXPECT_FALSE(ParseFileMode(""));
  EXPECT_FALSE(ParseFileMode("00644"));
  EXPECT_EQ(DirModeFor(0600), 0700u);
  EXPECT_EQ(DirModeFor(0640), 0750u);
  EXPECT_EQ(DirModeFor(0644), 0755u);
}

}  // namespace
}  // namespace gameday
