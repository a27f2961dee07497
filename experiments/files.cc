#include "experiments/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace gameday {
namespace {

Status Errno(const std::string& what, const std::string& path, int err) {
  const std::string text = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(text);
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(text);
  return Status::Internal(text);
}

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// The trust rule on an open folder.
Status CheckDirStat(const std::string& dir, const struct stat& st) {
  if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(dir + " is not a directory");
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return Status::FailedPrecondition(
        "refusing to write into " + dir + ": it belongs to uid " + std::to_string(st.st_uid) +
        ", not to uid " + std::to_string(me) +
        " (its owner could plant a symlink there and have this process overwrite any file it "
        "points at); use a folder of your own");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return Status::FailedPrecondition(
        "refusing to write into " + dir + ": its mode " + Octal(st.st_mode) +
        " lets group or others write there without the sticky bit (they could plant a symlink "
        "and have this process overwrite any file it points at); chmod go-w " +
        dir + " or use another folder");
  }
  return Status::Ok();
}

// Opens `dir` itself (never a symlink in its place) and checks it.
Result<int> OpenTrustedDir(const std::string& dir) {
  const std::string name = dir.empty() ? "." : dir;
  const int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      struct stat lst;
      if (::lstat(name.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
        return Status::FailedPrecondition("refusing to write into " + name +
                                          ": it is a symlink; name the real folder");
      }
    }
    return Errno("cannot open folder", name, err);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Errno("cannot stat folder", name, err);
  }
  Status s = CheckDirStat(name, st);
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  return fd;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string DirOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Status CheckTrustedDir(const std::string& dir) {
  auto fd = OpenTrustedDir(dir);
  if (!fd.ok()) return fd.status();
  ::close(*fd);
  return Status::Ok();
}

Status EnsureTrustedDir(const std::string& dir, mode_t mode) {
  if (dir.empty()) return Status::InvalidArgument("empty folder name");
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return Errno("cannot stat", dir, errno);
    const std::string parent = DirOf(dir);
    if (parent != dir) {
      // Only the parents we create get `mode`; existing ones are left as they are. A new folder
      // goes only into a trusted one: in another user's folder they could swap it for theirs.
      struct stat pst;
      Status s = ::stat(parent.c_str(), &pst) != 0 ? EnsureTrustedDir(parent, mode)
                                                   : CheckTrustedDir(parent);
      if (!s.ok()) return s;
    }
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
      return Errno("cannot create folder", dir, errno);
    }
  }
  return CheckTrustedDir(dir);
}

Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode) {
  const std::string dir = DirOf(path);
  const std::string base = BaseOf(path);
  if (base.empty() || base == "." || base == "..") {
    return Status::InvalidArgument("not a file name: '" + path + "'");
  }
  auto opened = OpenTrustedDir(dir);
  if (!opened.ok()) return opened.status();
  Fd dirfd{*opened};

  // A name nobody can predict, so nobody can plant anything under it first (O_EXCL refuses an
  // existing entry anyway, a symlink included).
  std::random_device rd;
  std::string tmp;
  Fd out;
  for (int attempt = 0; attempt < 16 && out.fd < 0; ++attempt) {
    char suffix[24];
    std::snprintf(suffix, sizeof suffix, ".tmp-%08x%08x", rd(), rd());
    tmp = "." + base + suffix;
    out.fd = ::openat(dirfd.fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      mode & 0777);
    if (out.fd < 0 && errno != EEXIST) return Errno("cannot create", dir + "/" + tmp, errno);
  }
  if (out.fd < 0) return Errno("cannot create a temporary file in", dir, EEXIST);

  auto fail = [&](const std::string& what, int err) {
    ::unlinkat(dirfd.fd, tmp.c_str(), 0);
    return Errno(what, path, err);
  };
  // The umask narrowed the mode at creation; the mode asked for is the one the file gets.
  if (::fchmod(out.fd, mode & 0777) != 0) return fail("cannot set the mode of", errno);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(out.fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write", errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(out.fd) != 0) return fail("cannot fsync", errno);
  const int closed = ::close(out.fd);
  out.fd = -1;
  if (closed != 0) return fail("cannot write", errno);
  // rename replaces whatever entry `base` is, a symlink included, without following it.
  if (::renameat(dirfd.fd, tmp.c_str(), dirfd.fd, base.c_str()) != 0) {
    return fail("cannot replace", errno);
  }
  // Durable entry; some file systems refuse fsync on folders, which is as durable as they allow.
  ::fsync(dirfd.fd);
  return Status::Ok();
}

Status OverwriteFileInPlace(const std::string& path, std::string_view content, mode_t mode) {
  const std::string base = BaseOf(path);
  if (base.empty() || base == "." || base == "..") {
    return Status::InvalidArgument("not a file name: '" + path + "'");
  }
  auto opened = OpenTrustedDir(DirOf(path));
  if (!opened.ok()) return opened.status();
  Fd dirfd{*opened};
  Fd out{::openat(dirfd.fd, base.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                  mode & 0777)};
  if (out.fd < 0) {
    if (errno == ELOOP) {
      return Status::FailedPrecondition("refusing to write " + path +
                                        ": it is a symlink; name the real file");
    }
    return Errno("cannot open", path, errno);
  }
  struct stat st;
  if (::fstat(out.fd, &st) != 0) return Errno("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Status::FailedPrecondition("refusing to write " + path + ": not a regular file");
  }
  if (::ftruncate(out.fd, 0) != 0) return Errno("cannot truncate", path, errno);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(out.fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  const int closed = ::close(out.fd);
  out.fd = -1;
  if (closed != 0) return Errno("cannot write", path, errno);
  return Status::Ok();
}

Status CheckOwnedFile(const std::string& path) {
  auto dirfd = OpenTrustedDir(DirOf(path));
  if (!dirfd.ok()) return dirfd.status();
  Fd closer{*dirfd};
  struct stat st;
  if (::fstatat(closer.fd, BaseOf(path).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Errno("cannot stat", path, errno);
  }
  if (S_ISLNK(st.st_mode)) {
    return Status::FailedPrecondition("refusing to open " + path +
                                      ": it is a symlink; name the real file");
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::FailedPrecondition("refusing to open " + path + ": not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    return Status::FailedPrecondition("refusing to open " + path + ": it belongs to uid " +
                                      std::to_string(st.st_uid) + ", not to uid " +
                                      std::to_string(::geteuid()));
  }
  return Status::Ok();
}

Status EnsureOwnedFile(const std::string& path, mode_t mode) {
  auto opened = OpenTrustedDir(DirOf(path));
  if (!opened.ok()) return opened.status();
  Fd dirfd{*opened};
  const std::string base = BaseOf(path);
  const int fd =
      ::openat(dirfd.fd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd >= 0) {
    ::fchmod(fd, mode & 0777);
    ::close(fd);
  } else if (errno != EEXIST) {
    return Errno("cannot create", path, errno);
  }
  return CheckOwnedFile(path);
}

std::optional<mode_t> ParseFileMode(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  mode_t mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<mode_t>(c - '0');
  }
  if (mode > 0777) return std::nullopt;
  return mode;
}

mode_t DirModeFor(mode_t file_mode) {
  mode_t mode = 0700;
  if (file_mode & 0040) mode |= 0050;
  if (file_mode & 0004) mode |= 0005;
  return mode;
}

}  // namespace gameday
