#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "experiments/status.h"

namespace gameday {

// The version written in every record ("v"). Records without one are version 1 (gameday before
// versioning: the same fields); a record of a later version is unreadable to this one.
constexpr int kJournalFormatVersion = 2;

// A fault that is (or may be) live, with everything needed to revert it.
struct JournalRecord {
  std::string fault_id;
  std::string run_id;
  std::string kind;  // injector kind, to find its Revert
  std::string target_id;
  std::string target_display;
  std::string revert;  // the injector's RevertRecord (JSON object text)
  int64_t injected_unix_ms = 0;
  int64_t expires_unix_ms = 0;  // 0 = none
  size_t line = 0;              // 1-based line of the file that recorded it (0 = not read back)
};

// A line (or a whole file) that could not be read, so it was not acted on. A person must look:
// a fault it described may still be in place.
struct JournalProblem {
  size_t line = 0;      // 1-based; 0 = the file as a whole (then `reason` names the file)
  std::string reason;   // "checksum mismatch ...", "refusing journal PATH: owned by uid 65534 ..."
  std::string excerpt;  // what was there: escaped (printable ASCII only), truncated
  // "PATH:LINE: REASON: \"EXCERPT\"" (just REASON for the whole file; no excerpt when empty).
  std::string ToString(const std::string& path) const;
};

// `text` as a quoted, printable-ASCII, at most `max`-byte-long excerpt for a message.
std::string JournalExcerpt(std::string_view text, size_t max = 120);
// `text` as it is when it is a plain token (printable ASCII, no space, at most `max` bytes), else
// its JournalExcerpt (quoted, so it never equals a plain token): for names read from outside
// that are printed and compared (a run id, a holder).
std::string PlainOrExcerpt(std::string_view text, size_t max = 253);

// What a journal has written since it was opened: to see that a batch costs one fsync.
struct JournalStats {
  uint64_t writes = 0;  // write(2) calls (more than one per batch only when the kernel split it)
  uint64_t syncs = 0;   // fsyncs of the file after appending a batch
  uint64_t lines = 0;   // lines appended and acknowledged
};

// The journal line of an inject record, exactly as Journal::Record appends it ("CRC32HEX JSON\n"):
// also what a JournalMirror stores per fault, so that ParseJournal reads both.
std::string EncodeJournalRecord(const JournalRecord& record);

// A second copy of a journal that outlives the machine or pod gameday runs on (for example a
// ConfigMap in the cluster: clients/kubernetes/cluster_journal.h). A Journal with a mirror
// records in the mirror first and then in its file, so a fault is only injected once both hold
// it; it clears the file first and then the mirror (a record the mirror still holds is reverted
// again by whoever reads it, which is harmless: reverts are idempotent).
class JournalMirror {
 public:
  virtual ~JournalMirror() = default;
  virtual Status Record(const std::vector<JournalRecord>& records) = 0;
  virtual Status Clear(const std::vector<std::string>& fault_ids) = 0;
  // The journal closes; `nothing_live` when every fault it recorded was cleared. With faults
  // still live, the mirror hands them over to whoever recovers from it.
  virtual Status Close(bool nothing_live) = 0;
  // "configmap gameday/gameday-run-RUN", for messages.
  virtual std::string Where() const = 0;
};

// An on-disk, fsync'd record of live faults: one append-only file per run, one line per entry
// ("inject" or "clear"), each line "CRC32HEX JSON\n" with "v" the format version. A batch of
// entries (group commit) is one write and one fsync and still one line per entry, so a reader
// cannot tell batches from single entries. An incomplete last line (a crash in the middle of a
// write: no '\n' yet; of a batch, the lines before it are complete and read as written) reads as
// the end of the file and is cut off when the file is opened again; it was never acknowledged. A
// complete line that cannot be read (checksum, JSON, unknown op or version, invalid fields) is
// skipped and reported as a JournalProblem, and replay goes on: it is never dropped, moved aside or
// deleted by gameday. The live run holds an exclusive lock on its file, so `recover` never reverts
// faults of a run that is still going.
//
// Trust: gameday acts as root on what a journal says, so a journal directory and its files must
// be owned by the effective user and not writable by group or others, and neither may be a
// symlink (opened with O_NOFOLLOW). Anything else is refused (PermissionDenied) and never read.
class Journal {
 public:
  // Creates `dir` if needed and opens the journal of `run_id` in it.
  static Result<std::unique_ptr<Journal>> Open(const std::string& dir, const std::string& run_id);
  ~Journal();

  // Appends and fsyncs; returns only when the record is durable. Call before injecting.
  Status Record(const JournalRecord& record);
  // Appends every record with one write and one fsync; returns only when all are durable. On an
  // error none of them is acknowledged (what was written is cut off again where possible).
  Status Record(const std::vector<JournalRecord>& records);
  // Appends a clear for `fault_id` and fsyncs. Call after the revert succeeded.
  Status Clear(const std::string& fault_id);
  // Appends a clear for each of `fault_ids` with one write and one fsync.
  Status Clear(const std::vector<std::string>& fault_ids);
  // Copies every later Record and Clear to `mirror` (see JournalMirror); Close closes it.
  void SetMirror(std::unique_ptr<JournalMirror> mirror);
  // Faults recorded and not cleared.
  std::vector<JournalRecord> Live() const;
  // Lines read when the file was opened that could not be read.
  std::vector<JournalProblem> Problems() const;
  const std::string& path() const { return path_; }
  JournalStats Stats() const;
  // Closes; deletes the file when nothing is live and every line of it was readable.
  Status Close();

 private:
  friend Result<std::unique_ptr<Journal>> AdoptJournal(const std::string& path);
  Journal(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  // Opens `name` in `dir`: created (and `dir` with it) when `create`, else it must exist.
  static Result<std::unique_ptr<Journal>> OpenFile(const std::string& dir, const std::string& name,
                                                   bool create);
  // Writes `lines` (whole lines) with one write(2) as far as the kernel allows, then fsyncs.
  Status Append(const std::string& lines);

  std::string path_;
  int fd_ = -1;
  std::string name_;
  int dir_fd_ = -1;  // the directory it was opened in, checked once, for the unlink at Close
  mutable std::mutex mu_;
  std::vector<JournalRecord> live_;
  std::vector<JournalProblem> problems_;
  JournalStats stats_;
  std::unique_ptr<JournalMirror> mirror_;
};

// A journal file found on disk: RUN.journal, or RUN.journal.corrupt-MS, the unreadable rest of a
// journal that gameday before format version 2 cut off and set aside (read like a journal).
struct JournalFile {
  std::string path;
  std::string run_id;
  bool set_aside = false;  // a *.corrupt-* file
  bool locked = false;     // a live process holds it
  std::vector<JournalRecord> live;
  // Lines that could not be read; or one problem with line 0 when the file itself was refused
  // (not trusted, not readable), and then `live` is empty because nothing of it was read.
  std::vector<JournalProblem> problems;
  bool refused = false;
};

// Reads every journal in `dir` (missing dir = none). An untrusted `dir` (see Journal) is an error
// (PermissionDenied); an untrusted file in it is listed with refused = true.
Result<std::vector<JournalFile>> ReadJournals(const std::string& dir);

// Takes over an orphaned journal file or a set-aside *.corrupt-* file (locks it) so its faults
// can be reverted and cleared. Refuses untrusted directories and files like ReadJournals.
Result<std::unique_ptr<Journal>> AdoptJournal(const std::string& path);

// Deletes a journal file (RUN.journal or a *.corrupt-* file) that a person has inspected, whatever
// it still holds: `recover --forget`. Refuses a file of a running gameday, a file that is not a
// journal, and untrusted directories and files.
Status ForgetJournal(const std::string& path);

// Parses a journal file's content (exposed for tests and fuzzing): the live faults, and the
// complete lines that could not be read into `problems` when given.
std::vector<JournalRecord> ParseJournal(const std::string& content,
                                        std::vector<JournalProblem>* problems = nullptr);

// Checks the ownership and mode of an open journal directory or file: owned by the effective
// user, not writable by group or others, a directory or a regular file as `want_dir` says.
// PermissionDenied naming `path` and what is wrong.
Status CheckTrusted(int fd, const std::string& path, bool want_dir);

// $GAMEDAY_STATE_DIR, else /var/lib/gameday as root, else $XDG_STATE_HOME/gameday or
// ~/.local/state/gameday (HOME, else the password database), else /var/tmp/gameday-EUID, which
// the trust check refuses if anybody but the user made it. The journal lives in its "journal"
// subfolder.
std::string DefaultStateDir();

}  // namespace gameday
