#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "experiments/status.h"

namespace gameday {

// Writing files as root into folders other people may reach. gameday runs as root, so a report
// folder or state folder that a less trusted user can write to would let them point a symlink at
// /etc/shadow and have gameday overwrite it. Every file gameday writes goes through here.
//
// Trust rule for a folder: it is a real directory (not a symlink), owned by the effective user or
// by root, and not writable by group or others unless the sticky bit is set (as on /tmp, where
// nobody can rename or delete another user's entries).

// Ok when `dir` passes the trust rule; FailedPrecondition naming the folder, its owner or mode
// and what to do otherwise; NotFound when it does not exist.
Status CheckTrustedDir(const std::string& dir);

// mkdir -p: creates the missing folders of `dir` with `mode` (before the umask), each inside a
// folder that passes CheckTrustedDir, then checks `dir` itself.
Status EnsureTrustedDir(const std::string& dir, mode_t mode = 0700);

// Replaces `path` with `content`, never through a symlink and never half-written: a new
// temporary file in the same folder (O_CREAT|O_EXCL|O_NOFOLLOW), written, fsync'd, given exactly
// `mode` (the umask does not narrow it) and renamed over `path`. A symlink at `path` is replaced,
// not followed. The folder must pass CheckTrustedDir; it is opened once and every step works
// relative to that handle, so swapping the folder meanwhile changes nothing.
Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode = 0600);

// Overwrites `path` in place (truncate, then write) for a file that another program provides and
// reads by name and that cannot be replaced by a rename: Kubernetes' /dev/termination-log is a
// bind mount in a folder gameday may not write to. Creates it with `mode` when it does not exist.
// Never through a symlink (O_NOFOLLOW), only a regular file, only in a folder that passes
// CheckTrustedDir. Not atomic: a reader may see it half-written.
Status OverwriteFileInPlace(const std::string& path, std::string_view content, mode_t mode = 0644);

// For a file a library opens by name (the SQLite history): Ok when it does not exist yet or is a
// regular file owned by the effective user; FailedPrecondition for a symlink, anything but a
// regular file, or a file of another user. Its folder must pass CheckTrustedDir.
Status CheckOwnedFile(const std::string& path);

// Creates `path` empty with `mode` when it does not exist (O_CREAT|O_EXCL|O_NOFOLLOW, so never
// through a symlink), then applies CheckOwnedFile: for a file a library then opens by name.
Status EnsureOwnedFile(const std::string& path, mode_t mode = 0600);

// "0644" or "644" -> 0644. Only permission bits (no setuid, setgid or sticky); nullopt otherwise.
std::optional<mode_t> ParseFileMode(std::string_view text);

// The folder mode that goes with files of `file_mode`: owner rwx, and r-x for group or others
// when they may read the files.
mode_t DirModeFor(mode_t file_mode);

}  // namespace gameday
