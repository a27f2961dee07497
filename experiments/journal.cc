#include "experiments/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "experiments/clock.h"
#include "experiments/crc32.h"
#include "experiments/json.h"

namespace gameday {
namespace {

constexpr char kSuffix[] = ".journal";
constexpr size_t kCrcHexLen = 8;

std::string Hex8(uint32_t v) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(kCrcHexLen, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) out[i] = kDigits[v & 0xF];
  return out;
}

// Lowercase hex only: the writer never produces anything else, so anything else is corruption.
bool ParseHex8(const char* p, uint32_t* out) {
  uint32_t v = 0;
  for (size_t i = 0; i < kCrcHexLen; ++i) {
    const char c = p[i];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  *out = v;
  return true;
}

std::string ErrnoText(int err) { return std::strerror(err); }

Status IoError(const std::string& what, const std::string& path, int err) {
  std::string m = what + " " + path + ": " + ErrnoText(err);
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(m);
  if (err == ENOENT) return Status::NotFound(m);
  return Status::Internal(m);
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Makes a directory entry (a new file or subfolder) durable.
Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems refuse fsync on directories; the entry is as durable as they allow.
  if (rc != 0 && err != EINVAL && err != EROFS) return IoError("cannot fsync directory", dir, err);
  return Status::Ok();
}

// mkdir -p, syncing each parent whose entry we add. Private (0700): revert records can name
// commands, paths and environment of the processes a run acted on.
Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("empty journal directory");
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(dir + " is not a directory");
    return Status::Ok();
  }
  const std::string parent = DirName(dir);
  if (parent != dir) {
    Status s = MakeDirs(parent);
    if (!s.ok()) return s;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError("cannot create directory", dir, errno);
  }
  return SyncDir(parent);
}

Result<std::string> ReadAll(int fd, const std::string& path) {
  std::string out;
  char buf[1 << 16];
  if (::lseek(fd, 0, SEEK_SET) < 0) return IoError("cannot seek", path, errno);
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Counts its write(2) calls in `*calls`: one unless the kernel took part of the data.
Status WriteAll(int fd, const std::string& data, const std::string& path, uint64_t* calls) {
  size_t done = 0;
  while (done < data.size()) {
    ++*calls;
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

const rapidjson::Value* Member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool GetString(const rapidjson::Value& obj, const char* name, std::string* out) {
  const rapidjson::Value* v = Member(obj, name);
  if (!v || !v->IsString()) return false;
  out->assign(v->GetString(), v->GetStringLength());
  return true;
}

bool GetInt64(const rapidjson::Value& obj, const char* name, int64_t* out) {
  const rapidjson::Value* v = Member(obj, name);
  if (!v || !v->IsInt64()) return false;
  *out = v->GetInt64();
  return true;
}

// A journal line is at most this long; a longer one is damage, not a record gameday wrote (the
// largest are process `stop` records: a command line and up to 32 KiB of environment).
constexpr size_t kMaxLineBytes = size_t{8} << 20;

// Injector kind names are lowercase words joined by '-'.
bool ValidKind(const std::string& kind) {
  if (kind.empty() || kind.size() > 64) return false;
  return std::all_of(kind.begin(), kind.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool ValidRunId(const std::string& run_id) {
  if (run_id.empty() || run_id == "." || run_id == ".." || run_id.size() > 255) return false;
  return std::none_of(run_id.begin(), run_id.end(),
                      [](char c) { return c == '/' || static_cast<unsigned char>(c) < 0x20; });
}

// One decoded line.
struct Entry {
  bool clear = false;
  JournalRecord record;  // for a clear, only fault_id is set
};

// Decodes one line without its '\n'. False means unreadable, with `*why` saying what is wrong.
bool DecodeLine(const char* line, size_t n, Entry* entry, std::string* why) {
  if (n == 0) {
    *why = "empty line";
    return false;
  }
  if (n > kMaxLineBytes) {
    *why = "line of " + std::to_string(n) + " bytes, longer than any record";
    return false;
  }
  uint32_t want = 0;
  if (n < kCrcHexLen + 2 || line[kCrcHexLen] != ' ' || !ParseHex8(line, &want)) {
    *why = "no checksum (expected 8 lowercase hex digits and a space)";
    return false;
  }
  const char* json = line + kCrcHexLen + 1;
  const size_t json_len = n - kCrcHexLen - 1;
  if (Crc32(json, json_len) != want) {
    *why = "checksum mismatch (the line was damaged)";
    return false;
  }

  rapidjson::Document doc;
  JsonLimits limits;
  limits.max_bytes = kMaxLineBytes;
  limits.max_depth = 8;
  if (Status s = ParseJson(std::string_view(json, json_len), &doc, limits); !s.ok()) {
    *why = s.message();
    return false;
  }
  if (!doc.IsObject()) {
    *why = "not a JSON object";
    return false;
  }
  int64_t version = 1;  // gameday before format versions wrote none
  if (Member(doc, "v") && (!GetInt64(doc, "v", &version) || version < 1)) {
    *why = "invalid format version";
    return false;
  }
  if (version > kJournalFormatVersion) {
    *why = "format version " + std::to_string(version) + ", newer than this gameday reads (" +
           std::to_string(kJournalFormatVersion) + ")";
    return false;
  }
  std::string op;
  if (!GetString(doc, "op", &op)) {
    *why = "no op";
    return false;
  }
  if (op != "clear" && op != "inject") {
    *why = "unknown op " + JournalExcerpt(op, 40);
    return false;
  }
  JournalRecord& r = entry->record;
  if (!GetString(doc, "fault_id", &r.fault_id) || r.fault_id.empty() || r.fault_id.size() > 1024) {
    *why = "no valid fault_id";
    return false;
  }
  if (op == "clear") {
    entry->clear = true;
    return true;
  }
  entry->clear = false;
  struct Field {
    const char* name;
    std::string* out;
  };
  for (const Field& f :
       {Field{"run_id", &r.run_id}, Field{"kind", &r.kind}, Field{"target_id", &r.target_id},
        Field{"target_display", &r.target_display}, Field{"revert", &r.revert}}) {
    if (!GetString(doc, f.name, f.out)) {
      *why = std::string("inject record without string field '") + f.name + "'";
      return false;
    }
  }
  if (!GetInt64(doc, "injected_unix_ms", &r.injected_unix_ms) ||
      !GetInt64(doc, "expires_unix_ms", &r.expires_unix_ms) || r.injected_unix_ms < 0 ||
      r.expires_unix_ms < 0) {
    *why = "inject record without valid injected_unix_ms and expires_unix_ms";
    return false;
  }
  if (!ValidRunId(r.run_id)) {
    *why = "invalid run_id";
    return false;
  }
  if (!ValidKind(r.kind)) {
    *why = "invalid injector kind";
    return false;
  }
  if (r.revert.empty()) {
    *why = "empty revert record";
    return false;
  }
  return true;
}

void Apply(const Entry& e, std::vector<JournalRecord>* live) {
  auto it = std::find_if(live->begin(), live->end(),
                         [&](const JournalRecord& r) { return r.fault_id == e.record.fault_id; });
  if (e.clear) {
    if (it != live->end()) live->erase(it);
  } else if (it != live->end()) {
    *it = e.record;  // a fault recorded again (retried inject): the newest record wins
  } else {
    live->push_back(e.record);
  }
}

// Replays every complete line of `content`; an unreadable one is skipped and reported in
// `problems`. An incomplete last line (no '\n': the write never completed, so it was never
// acknowledged) is the end of the file. `valid_len` is where that torn tail starts.
std::vector<JournalRecord> Replay(const std::string& content, size_t* valid_len,
                                  std::vector<JournalProblem>* problems) {
  std::vector<JournalRecord> live;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < content.size()) {
    const size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) break;  // torn tail
    ++line_no;
    Entry e;
    std::string why;
    if (DecodeLine(content.data() + pos, nl - pos, &e, &why)) {
      e.record.line = line_no;
      Apply(e, &live);
    } else if (problems) {
      problems->push_back(JournalProblem{
          line_no, why, JournalExcerpt(std::string_view(content).substr(pos, nl - pos))});
    }
    pos = nl + 1;
  }
  if (valid_len) *valid_len = pos;
  return live;
}

std::string EncodeLine(const rapidjson::StringBuffer& json) {
  std::string line = Hex8(Crc32(json.GetString(), json.GetSize()));
  line += ' ';
  line.append(json.GetString(), json.GetSize());
  line += '\n';
  return line;
}

void PutString(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key,
               const std::string& value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

constexpr char kSetAside[] = ".corrupt-";

// RUN.journal, or RUN.journal.corrupt-DIGITS (set aside by gameday before format version 2).
bool ParseJournalName(const std::string& name, std::string* run_id, bool* set_aside) {
  constexpr size_t kSuffixLen = sizeof(kSuffix) - 1;
  std::string base = name;
  *set_aside = false;
  const size_t mark = name.rfind(std::string(kSuffix) + kSetAside);
  if (mark != std::string::npos) {
    const std::string digits = name.substr(mark + kSuffixLen + sizeof(kSetAside) - 1);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return false;
    base = name.substr(0, mark + kSuffixLen);
    *set_aside = true;
  }
  if (base.size() <= kSuffixLen || !EndsWith(base, kSuffix)) return false;
  *run_id = base.substr(0, base.size() - kSuffixLen);
  return ValidRunId(*run_id);
}

// Closes a file descriptor on every path out of a scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string Octal(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Why `path` (which open refused with `err` under O_NOFOLLOW) is not usable.
Status OpenRefused(const std::string& what, const std::string& path, int err) {
  struct stat st;
  if ((err == ELOOP || err == ENOTDIR) && ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return Status::PermissionDenied("refusing " + what + " " + path +
                                    ": it is a symbolic link (gameday never makes one, and "
                                    "follows none); name the real path");
  }
  return IoError("cannot open " + what, path, err);
}

// Opens and checks a journal directory. NotFound when it does not exist.
Result<int> OpenTrustedDir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return OpenRefused("journal directory", dir, errno);
  if (Status s = CheckTrusted(fd.get(), dir, true); !s.ok()) return s;
  return fd.release();
}

Status SyncDirFd(int fd, const std::string& dir) {
  // Some file systems refuse fsync on directories; the entry is as durable as they allow.
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    return IoError("cannot fsync directory", dir, errno);
  }
  return Status::Ok();
}

}  // namespace

std::string JournalExcerpt(std::string_view text, size_t max) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '"';
  if (text.size() > max) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string PlainOrExcerpt(std::string_view text, size_t max) {
  const bool plain = text.size() <= max && std::all_of(text.begin(), text.end(),
                                                       [](char c) { return c > ' ' && c < 0x7f; });
  return plain ? std::string(text) : JournalExcerpt(text, 64);
}

std::string JournalProblem::ToString(const std::string& path) const {
  if (line == 0) return reason;  // a refusal of the whole file names it already
  std::string out = path;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": " + reason;
  if (!excerpt.empty()) out += ": " + excerpt;
  return out;
}

Status CheckTrusted(int fd, const std::string& path, bool want_dir) {
  const std::string what = want_dir ? "journal directory " : "journal ";
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError("cannot stat", path, errno);
  if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    return Status::PermissionDenied("refusing " + what + path + ": not a " +
                                    (want_dir ? "directory" : "regular file"));
  }
  const uid_t me = ::geteuid();
  if (st.st_uid != me) {
    return Status::PermissionDenied(
        "refusing " + what + path + ": owned by uid " + std::to_string(st.st_uid) +
        ", not by uid " + std::to_string(me) +
        " that runs gameday, so another user could have written what it says; use a "
        "directory only you own and can write (chown/chmod it, or another --journal-dir)");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Status::PermissionDenied(
        "refusing " + what + path + ": writable by " +
        ((st.st_mode & S_IWOTH) ? "others" : "its group") + " (mode " + Octal(st.st_mode) +
        "), so another user could have written what it says; chmod go-w it once you have "
        "checked " +
        (want_dir ? "what it holds" : "it"));
  }
  return Status::Ok();
}

std::vector<JournalRecord> ParseJournal(const std::string& content,
                                        std::vector<JournalProblem>* problems) {
  return Replay(content, nullptr, problems);
}

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& dir, const std::string& run_id) {
  if (!ValidRunId(run_id)) return Status::InvalidArgument("invalid run id '" + run_id + "'");
  return OpenFile(dir, run_id + kSuffix, true);
}

Result<std::unique_ptr<Journal>> Journal::OpenFile(const std::string& dir, const std::string& name,
                                                   bool create) {
  if (create) {
    Status s = MakeDirs(dir);
    if (!s.ok()) return s;
  }
  Result<int> dir_fd = OpenTrustedDir(dir);
  if (!dir_fd.ok()) return dir_fd.status();
  const std::string path = dir + "/" + name;
  std::unique_ptr<Journal> journal(new Journal(path, -1));  // closes both fds on every error path
  journal->dir_fd_ = *dir_fd;
  journal->name_ = name;

  struct stat before;
  const bool existed = ::fstatat(journal->dir_fd_, name.c_str(), &before, AT_SYMLINK_NOFOLLOW) == 0;
  if (!existed && !create) return IoError("cannot adopt journal", path, ENOENT);
  const int fd =
      ::openat(journal->dir_fd_, name.c_str(),
               O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
  if (fd < 0) {
    if (errno == ELOOP) {
      return Status::PermissionDenied("refusing journal " + path +
                                      ": it is a symbolic link (gameday never makes one)");
    }
    return IoError("cannot open journal", path, errno);
  }
  journal->fd_ = fd;
  if (Status s = CheckTrusted(fd, path, false); !s.ok()) return s;

  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition("journal " + path + " is held by a running gameday");
    }
    return IoError("cannot lock journal", path, errno);
  }
  // The lock is ours, but the owner we raced with may have deleted the file (nothing live) just
  // before: then our fd names an unlinked inode. Refuse rather than record into a ghost.
  struct stat by_fd, by_name;
  if (::fstat(fd, &by_fd) != 0) return IoError("cannot stat journal", path, errno);
  if (::fstatat(journal->dir_fd_, name.c_str(), &by_name, AT_SYMLINK_NOFOLLOW) != 0 ||
      by_fd.st_ino != by_name.st_ino || by_fd.st_dev != by_name.st_dev) {
    return Status::Unavailable("journal " + path + " was removed while opening it; retry");
  }
  if (!existed) {
    Status s = SyncDirFd(journal->dir_fd_, dir);
    if (!s.ok()) return s;
  }

  Result<std::string> content = ReadAll(fd, path);
  if (!content.ok()) return content.status();
  size_t valid_len = 0;
  journal->live_ = Replay(*content, &valid_len, &journal->problems_);
  if (valid_len < content->size()) {
    // Only an incomplete last line is cut off (new lines must start on a line of their own): it
    // was never acknowledged, so no fault depends on it. Unreadable complete lines stay where
    // they are, for a person to read.
    if (::ftruncate(fd, static_cast<off_t>(valid_len)) != 0 || ::fsync(fd) != 0) {
      return IoError("cannot truncate torn journal", path, errno);
    }
  }
  return journal;
}

Journal::~Journal() {
  // No Close(): like a crash, the file stays for `recover`. Closing the fd drops the lock.
  if (fd_ >= 0) ::close(fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

Status Journal::Append(const std::string& lines) {
  if (fd_ < 0) return Status::FailedPrecondition("journal " + path_ + " is closed");
  struct stat st;
  if (::fstat(fd_, &st) != 0) return IoError("cannot stat journal", path_, errno);
  Status s = WriteAll(fd_, lines, path_, &stats_.writes);
  if (s.ok()) {
    ++stats_.syncs;
    if (::fsync(fd_) != 0) s = IoError("cannot fsync journal", path_, errno);
  }
  if (!s.ok()) {
    // Cut the partial batch off so later appends stay readable; if even that fails, the reader
    // reports the damaged line and reads on. None of the batch was acknowledged.
    if (::ftruncate(fd_, st.st_size) == 0) ::fsync(fd_);
  }
  return s;
}

Status Journal::Record(const JournalRecord& record) {
  return Record(std::vector<JournalRecord>{record});
}

std::string EncodeJournalRecord(const JournalRecord& record) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("v");
  w.Int(kJournalFormatVersion);
  PutString(w, "op", "inject");
  PutString(w, "fault_id", record.fault_id);
  PutString(w, "run_id", record.run_id);
  PutString(w, "kind", record.kind);
  PutString(w, "target_id", record.target_id);
  PutString(w, "target_display", record.target_display);
  PutString(w, "revert", record.revert);
  w.Key("injected_unix_ms");
  w.Int64(record.injected_unix_ms);
  w.Key("expires_unix_ms");
  w.Int64(record.expires_unix_ms);
  w.EndObject();
  return EncodeLine(buf);
}

Status Journal::Record(const std::vector<JournalRecord>& records) {
  if (records.empty()) return Status::Ok();
  std::string lines;
  for (const JournalRecord& record : records) {
    if (record.fault_id.empty()) return Status::InvalidArgument("journal record without fault id");
    lines += EncodeJournalRecord(record);
  }
  // The mirror first: a fault the mirror does not hold is never injected. (mirror_ is set before
  // the first Record and never changes after, so it is read without the lock.)
  if (mirror_) {
    if (Status m = mirror_->Record(records); !m.ok()) {
      return Status(m.code(), "cannot journal in " + mirror_->Where() + ": " + m.message());
    }
  }

  std::lock_guard lock(mu_);
  Status s = Append(lines);
  if (!s.ok()) return s;
  stats_.lines += records.size();
  for (const JournalRecord& record : records) Apply(Entry{false, record}, &live_);
  return Status::Ok();
}

Status Journal::Clear(const std::string& fault_id) {
  return Clear(std::vector<std::string>{fault_id});
}

Status Journal::Clear(const std::vector<std::string>& fault_ids) {
  if (fault_ids.empty()) return Status::Ok();
  std::string lines;
  for (const std::string& fault_id : fault_ids) {
    if (fault_id.empty()) return Status::InvalidArgument("journal clear without fault id");
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("v");
    w.Int(kJournalFormatVersion);
    PutString(w, "op", "clear");
    PutString(w, "fault_id", fault_id);
    w.EndObject();
    lines += EncodeLine(buf);
  }

  std::lock_guard lock(mu_);
  Status s = Append(lines);
  if (!s.ok()) return s;
  stats_.lines += fault_ids.size();
  for (const std::string& fault_id : fault_ids) {
    Entry e;
    e.clear = true;
    e.record.fault_id = fault_id;
    Apply(e, &live_);
  }
  if (mirror_) {
    if (Status m = mirror_->Clear(fault_ids); !m.ok()) {
      return Status(m.code(),
                    "cleared in " + path_ + " but not in " + mirror_->Where() +
                        " (whoever recovers from it reverts again, harmlessly): " + m.message());
    }
  }
  return Status::Ok();
}

void Journal::SetMirror(std::unique_ptr<JournalMirror> mirror) { mirror_ = std::move(mirror); }

JournalStats Journal::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<JournalRecord> Journal::Live() const {
  std::lock_guard lock(mu_);
  return live_;
}

std::vector<JournalProblem> Journal::Problems() const {
  std::lock_guard lock(mu_);
  return problems_;
}

Status Journal::Close() {
  std::lock_guard lock(mu_);
  if (fd_ < 0) return Status::Ok();
  Status s;
  // A file with lines nobody could read stays, whatever else it holds: only a person may decide
  // that what they described is gone (`recover --forget`).
  if (live_.empty() && problems_.empty()) {
    // Unlink while still holding the lock, so nobody adopts a file that is going away.
    if (::unlinkat(dir_fd_, name_.c_str(), 0) != 0 && errno != ENOENT) {
      s = IoError("cannot remove journal", path_, errno);
    } else {
      s = SyncDirFd(dir_fd_, DirName(path_));
    }
  }
  if (::close(fd_) != 0 && s.ok()) s = IoError("cannot close journal", path_, errno);
  if (mirror_) {
    if (Status m = mirror_->Close(live_.empty()); !m.ok() && s.ok()) {
      s = Status(m.code(), "cannot close " + mirror_->Where() + ": " + m.message());
    }
  }
  fd_ = -1;
  ::close(dir_fd_);
  dir_fd_ = -1;
  return s;
}

Result<std::vector<JournalFile>> ReadJournals(const std::string& dir) {
  std::vector<JournalFile> out;
  Result<int> opened = OpenTrustedDir(dir);
  if (!opened.ok()) {
    if (opened.status().code() == Status::Code::kNotFound) return out;
    return opened.status();
  }
  Fd dir_fd(*opened);
  const int list_fd = ::dup(dir_fd.get());
  if (list_fd < 0) return IoError("cannot read journal directory", dir, errno);
  DIR* d = ::fdopendir(list_fd);
  if (!d) {
    ::close(list_fd);
    return IoError("cannot read journal directory", dir, errno);
  }
  std::vector<std::string> names;
  while (const dirent* ent = ::readdir(d)) {
    std::string run_id;
    bool set_aside = false;
    if (ParseJournalName(ent->d_name, &run_id, &set_aside)) names.push_back(ent->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());

  for (const std::string& name : names) {
    JournalFile file;
    file.path = dir + "/" + name;
    ParseJournalName(name, &file.run_id, &file.set_aside);
    auto refuse = [&](const Status& why) {
      file.refused = true;
      file.problems.push_back(JournalProblem{0, why.message(), ""});
      out.push_back(std::move(file));
    };
    // O_NONBLOCK: a FIFO under a journal's name must not hang `recover`.
    Fd fd(::openat(dir_fd.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (fd.get() < 0) {
      if (errno == ENOENT) continue;  // its run finished and removed it since the listing
      if (errno == ELOOP) {
        refuse(Status::PermissionDenied("refusing journal " + file.path +
                                        ": it is a symbolic link (gameday never makes one)"));
      } else {
        refuse(IoError("cannot open", file.path, errno));
      }
      continue;
    }
    if (Status s = CheckTrusted(fd.get(), file.path, false); !s.ok()) {
      refuse(s);
      continue;
    }
    // A shared lock conflicts only with the running owner's exclusive one.
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) != 0) {
      file.locked = errno == EWOULDBLOCK;
    } else {
      ::flock(fd.get(), LOCK_UN);
    }
    Result<std::string> content = ReadAll(fd.get(), file.path);
    if (!content.ok()) {
      refuse(content.status());
      continue;
    }
    file.live = ParseJournal(*content, &file.problems);
    out.push_back(std::move(file));
  }
  return out;
}

Result<std::unique_ptr<Journal>> AdoptJournal(const std::string& path) {
  const std::string name = BaseName(path);
  std::string run_id;
  bool set_aside = false;
  if (!ParseJournalName(name, &run_id, &set_aside)) {
    return Status::InvalidArgument(path + " is not a journal file (*" + kSuffix + " or *" +
                                   kSuffix + kSetAside + "*)");
  }
  // OpenFile continues an existing file: it takes the lock (failing if the owner still runs),
  // cuts a torn tail and loads the live faults and the unreadable lines.
  return Journal::OpenFile(DirName(path), name, false);
}

Status ForgetJournal(const std::string& path) {
  const std::string name = BaseName(path);
  std::string run_id;
  bool set_aside = false;
  if (!ParseJournalName(name, &run_id, &set_aside)) {
    return Status::InvalidArgument(path + " is not a journal file (*" + kSuffix + " or *" +
                                   kSuffix + kSetAside + "*)");
  }
  const std::string dir = DirName(path);
  Result<int> opened = OpenTrustedDir(dir);
  if (!opened.ok()) return opened.status();
  Fd dir_fd(*opened);
  Fd fd(::openat(dir_fd.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      return Status::PermissionDenied("refusing journal " + path + ": it is a symbolic link");
    }
    return IoError("cannot open journal", path, errno);
  }
  if (Status s = CheckTrusted(fd.get(), path, false); !s.ok()) return s;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition("journal " + path + " is held by a running gameday");
    }
    return IoError("cannot lock journal", path, errno);
  }
  struct stat by_fd, by_name;
  if (::fstat(fd.get(), &by_fd) != 0 ||
      ::fstatat(dir_fd.get(), name.c_str(), &by_name, AT_SYMLINK_NOFOLLOW) != 0 ||
      by_fd.st_ino != by_name.st_ino || by_fd.st_dev != by_name.st_dev) {
    return Status::Unavailable("journal " + path + " changed while opening it; retry");
  }
  if (::unlinkat(dir_fd.get(), name.c_str(), 0) != 0) {
    return IoError("cannot remove journal", path, errno);
  }
  return SyncDirFd(dir_fd.get(), dir);
}

std::string DefaultStateDir() {
  const char* explicit_dir = std::getenv("GAMEDAY_STATE_DIR");
  if (explicit_dir && *explicit_dir) return explicit_dir;
  const uid_t me = ::geteuid();
  if (me == 0) return "/var/lib/gameday";
  // The XDG spec says relative values are invalid and must be ignored.
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg && xdg[0] == '/') return std::string(xdg) + "/gameday";
  std::string home;
  if (const char* h = std::getenv("HOME"); h && h[0] == '/') {
    home = h;
  } else if (const passwd* pw = ::getpwuid(me); pw && pw->pw_dir && pw->pw_dir[0] == '/') {
    home = pw->pw_dir;
  }
  if (!home.empty() && home != "/") return home + "/.local/state/gameday";
  // A shared, world-writable place: anybody could have made this folder first. The journal's
  // trust check refuses it then (not owned by this user), and MakeDirs creates it 0700 otherwise.
  return "/var/tmp/gameday-" + std::to_string(me);
}

}  // namespace gameday
