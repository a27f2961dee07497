#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "experiments/status.h"

namespace gameday {

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
};

// An on-disk, fsync'd record of live faults: one append-only file per run, one line per entry
// ("inject" or "clear"), each line carrying a checksum. A torn or corrupt tail (a crash in the
// middle of a write) reads as the end of the file. The live run holds an exclusive lock on its
// file, so `recover` never reverts faults of a run that is still going.
class Journal {
 public:
  // Creates `dir` if needed and opens the journal of `run_id` in it.
  static Result<std::unique_ptr<Journal>> Open(const std::string& dir, const std::string& run_id);
  ~Journal();

  // Appends and fsyncs; returns only when the record is durable. Call before injecting.
  Status Record(const JournalRecord& record);
  // Appends a clear for `fault_id` and fsyncs. Call after the revert succeeded.
  Status Clear(const std::string& fault_id);
  // Faults recorded and not cleared.
  std::vector<JournalRecord> Live() const;
  const std::string& path() const { return path_; }
  // Closes; deletes the file when nothing is live.
  Status Close();

 private:
  Journal(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Status Append(const std::string& line);

  std::string path_;
  int fd_ = -1;
  mutable std::mutex mu_;
  std::vector<JournalRecord> live_;
};

// A journal file found on disk.
struct JournalFile {
  std::string path;
  std::string run_id;
  bool locked = false;  // a live process holds it
  std::vector<JournalRecord> live;
};

// Reads every journal in `dir` (missing dir = none).
Result<std::vector<JournalFile>> ReadJournals(const std::string& dir);

// Takes over an orphaned journal file (locks it) so its faults can be reverted and cleared.
Result<std::unique_ptr<Journal>> AdoptJournal(const std::string& path);

// Parses a journal file's content (exposed for tests and fuzzing).
std::vector<JournalRecord> ParseJournal(const std::string& content);

// $GAMEDAY_STATE_DIR, else /var/lib/gameday as root, else $XDG_STATE_HOME/gameday or
// ~/.local/state/gameday. The journal lives in its "journal" subfolder.
std::string DefaultStateDir();

}  // namespace gameday
