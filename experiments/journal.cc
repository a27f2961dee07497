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
#include <cstdlib>
#include <cstring>

#include "experiments/clock.h"

namespace gameday {
namespace {

constexpr char kSuffix[] = ".journal";
constexpr size_t kCrcHexLen = 8;

// CRC-32 (IEEE 802.3, reflected, the one zlib computes). Our own so the core needs no zlib.
const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

uint32_t Crc32(const char* data, size_t n) {
  const auto& table = CrcTable();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ static_cast<uint8_t>(data[i])) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

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

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
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

// One decoded line.
struct Entry {
  bool clear = false;
  JournalRecord record;  // for a clear, only fault_id is set
};

// Decodes one line without its '\n'. False means corrupt (which ends the readable journal).
bool DecodeLine(const char* line, size_t n, Entry* entry) {
  if (n < kCrcHexLen + 2 || line[kCrcHexLen] != ' ') return false;
  uint32_t want = 0;
  if (!ParseHex8(line, &want)) return false;
  const char* json = line + kCrcHexLen + 1;
  const size_t json_len = n - kCrcHexLen - 1;
  if (Crc32(json, json_len) != want) return false;

  rapidjson::Document doc;
  doc.Parse(json, json_len);
  if (doc.HasParseError() || !doc.IsObject()) return false;
  std::string op;
  if (!GetString(doc, "op", &op)) return false;
  JournalRecord& r = entry->record;
  if (!GetString(doc, "fault_id", &r.fault_id) || r.fault_id.empty()) return false;
  if (op == "clear") {
    entry->clear = true;
    return true;
  }
  if (op != "inject") return false;
  entry->clear = false;
  return GetString(doc, "run_id", &r.run_id) && GetString(doc, "kind", &r.kind) &&
         GetString(doc, "target_id", &r.target_id) &&
         GetString(doc, "target_display", &r.target_display) &&
         GetString(doc, "revert", &r.revert) &&
         GetInt64(doc, "injected_unix_ms", &r.injected_unix_ms) &&
         GetInt64(doc, "expires_unix_ms", &r.expires_unix_ms);
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

// Replays `content` up to the first torn or corrupt line. `valid_len` is the length of the
// readable prefix, where the next append must start.
std::vector<JournalRecord> Replay(const std::string& content, size_t* valid_len) {
  std::vector<JournalRecord> live;
  size_t pos = 0;
  while (pos < content.size()) {
    const size_t nl = content.find('\n', pos);
    if (nl == std::string::npos) break;  // torn tail: the write never completed
    Entry e;
    if (!DecodeLine(content.data() + pos, nl - pos, &e)) break;
    Apply(e, &live);
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

bool ValidRunId(const std::string& run_id) {
  if (run_id.empty() || run_id == "." || run_id == "..") return false;
  return std::none_of(run_id.begin(), run_id.end(),
                      [](char c) { return c == '/' || c == '\0' || c == '\n'; });
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             Clock::Real().WallNow().time_since_epoch())
      .count();
}

}  // namespace

std::vector<JournalRecord> ParseJournal(const std::string& content) {
  return Replay(content, nullptr);
}

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& dir, const std::string& run_id) {
  if (!ValidRunId(run_id)) return Status::InvalidArgument("invalid run id '" + run_id + "'");
  Status s = MakeDirs(dir);
  if (!s.ok()) return s;
  const std::string path = dir + "/" + run_id + kSuffix;

  struct stat before;
  const bool existed = ::stat(path.c_str(), &before) == 0;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot open journal", path, errno);
  std::unique_ptr<Journal> journal(new Journal(path, fd));  // closes fd on every error path

  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition("journal " + path + " is held by a running gameday");
    }
    return IoError("cannot lock journal", path, errno);
  }
  // The lock is ours, but the owner we raced with may have deleted the file (nothing live) just
  // before: then our fd names an unlinked inode. Refuse rather than record into a ghost.
  struct stat by_fd, by_path;
  if (::fstat(fd, &by_fd) != 0) return IoError("cannot stat journal", path, errno);
  if (::stat(path.c_str(), &by_path) != 0 || by_fd.st_ino != by_path.st_ino ||
      by_fd.st_dev != by_path.st_dev) {
    return Status::Unavailable("journal " + path + " was removed while opening it; retry");
  }
  if (!existed) {
    s = SyncDir(dir);
    if (!s.ok()) return s;
  }

  Result<std::string> content = ReadAll(fd, path);
  if (!content.ok()) return content.status();
  size_t valid_len = 0;
  journal->live_ = Replay(*content, &valid_len);
  if (valid_len < content->size()) {
    // New lines must follow the last readable one, or a reader would stop before them. A torn
    // last line was never acknowledged, so it is simply dropped; whole lines behind a corrupt
    // one may be real faults, so a copy is kept next to the journal for a person to read.
    const std::string dropped = content->substr(valid_len);
    if (dropped.find('\n') != std::string::npos) {
      const std::string keep = path + ".corrupt-" + std::to_string(NowUnixMs());
      const int kfd = ::open(keep.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (kfd < 0) return IoError("cannot save corrupt journal tail to", keep, errno);
      s = WriteAll(kfd, dropped, keep);
      if (s.ok() && ::fsync(kfd) != 0) s = IoError("cannot fsync", keep, errno);
      ::close(kfd);
      if (!s.ok()) return s;
    }
    if (::ftruncate(fd, static_cast<off_t>(valid_len)) != 0 || ::fsync(fd) != 0) {
      return IoError("cannot truncate torn journal", path, errno);
    }
  }
  return journal;
}

Journal::~Journal() {
  // No Close(): like a crash, the file stays for `recover`. Closing the fd drops the lock.
  if (fd_ >= 0) ::close(fd_);
}

Status Journal::Append(const std::string& line) {
  if (fd_ < 0) return Status::FailedPrecondition("journal " + path_ + " is closed");
  struct stat st;
  if (::fstat(fd_, &st) != 0) return IoError("cannot stat journal", path_, errno);
  Status s = WriteAll(fd_, line, path_);
  if (s.ok() && ::fsync(fd_) != 0) s = IoError("cannot fsync journal", path_, errno);
  if (!s.ok()) {
    // Cut a partial line off so later appends stay readable; if even that fails, the reader
    // still stops at the torn line, which errs on the side of the faults recorded before it.
    if (::ftruncate(fd_, st.st_size) == 0) ::fsync(fd_);
  }
  return s;
}

Status Journal::Record(const JournalRecord& record) {
  if (record.fault_id.empty()) return Status::InvalidArgument("journal record without fault id");
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
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

  std::lock_guard lock(mu_);
  Status s = Append(EncodeLine(buf));
  if (!s.ok()) return s;
  Apply(Entry{false, record}, &live_);
  return Status::Ok();
}

Status Journal::Clear(const std::string& fault_id) {
  if (fault_id.empty()) return Status::InvalidArgument("journal clear without fault id");
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  PutString(w, "op", "clear");
  PutString(w, "fault_id", fault_id);
  w.EndObject();

  std::lock_guard lock(mu_);
  Status s = Append(EncodeLine(buf));
  if (!s.ok()) return s;
  Entry e;
  e.clear = true;
  e.record.fault_id = fault_id;
  Apply(e, &live_);
  return Status::Ok();
}

std::vector<JournalRecord> Journal::Live() const {
  std::lock_guard lock(mu_);
  return live_;
}

Status Journal::Close() {
  std::lock_guard lock(mu_);
  if (fd_ < 0) return Status::Ok();
  Status s;
  if (live_.empty()) {
    // Unlink while still holding the lock, so nobody adopts a file that is going away.
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      s = IoError("cannot remove journal", path_, errno);
    } else {
      s = SyncDir(DirName(path_));
    }
  }
  if (::close(fd_) != 0 && s.ok()) s = IoError("cannot close journal", path_, errno);
  fd_ = -1;
  return s;
}

Result<std::vector<JournalFile>> ReadJournals(const std::string& dir) {
  std::vector<JournalFile> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return IoError("cannot read journal directory", dir, errno);
  }
  std::vector<std::string> names;
  while (const dirent* ent = ::readdir(d)) {
    const std::string name = ent->d_name;
    if (name.size() > sizeof(kSuffix) - 1 && EndsWith(name, kSuffix)) names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());

  for (const std::string& name : names) {
    JournalFile file;
    file.path = dir;
    file.path += "/" + name;
    file.run_id = name.substr(0, name.size() - (sizeof(kSuffix) - 1));
    const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      // Gone: its run finished and removed it since the listing. ELOOP: a symlink, which
      // gameday never writes, so it is nobody's journal.
      if (errno == ENOENT || errno == ELOOP) continue;
      return IoError("cannot open journal", file.path, errno);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      continue;
    }
    // A shared lock conflicts only with the running owner's exclusive one.
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
      file.locked = errno == EWOULDBLOCK;
    } else {
      ::flock(fd, LOCK_UN);
    }
    Result<std::string> content = ReadAll(fd, file.path);
    ::close(fd);
    if (!content.ok()) return content.status();
    file.live = ParseJournal(*content);
    out.push_back(std::move(file));
  }
  return out;
}

Result<std::unique_ptr<Journal>> AdoptJournal(const std::string& path) {
  const std::string name = BaseName(path);
  if (name.size() <= sizeof(kSuffix) - 1 || !EndsWith(name, kSuffix)) {
    return Status::InvalidArgument(path + " is not a journal file (*" + kSuffix + ")");
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return IoError("cannot adopt journal", path, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + " is not a regular file");
  // Open() continues an existing file: it takes the lock (failing if the owner still runs),
  // truncates a torn tail and loads the live faults.
  return Journal::Open(DirName(path), name.substr(0, name.size() - (sizeof(kSuffix) - 1)));
}

std::string DefaultStateDir() {
  const char* explicit_dir = std::getenv("GAMEDAY_STATE_DIR");
  if (explicit_dir && *explicit_dir) return explicit_dir;
  if (::geteuid() == 0) return "/var/lib/gameday";
  // The XDG spec says relative values are invalid and must be ignored.
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg && xdg[0] == '/') return std::string(xdg) + "/gameday";
  std::string home;
  if (const char* h = std::getenv("HOME"); h && *h) {
    home = h;
  } else if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) {
    home = pw->pw_dir;
  }
  if (!home.empty()) return home + "/.local/state/gameday";
  return "/var/tmp/gameday-" + std::to_string(::getuid());
}

}  // namespace gameday
