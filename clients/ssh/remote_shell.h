#pragma once

// The values that SSH fault kinds put into the shell scripts they run on hosts as root, and the
// pieces of those scripts that pick processes to signal. Plans, inventories, journals and the
// hosts themselves are all untrusted here: every value is either checked below before it is
// used, or passed as one word quoted with ShellQuote (clients/ssh/ssh_client.h), never both
// skipped. The local process injector (injectors/process) follows the same rules in C++.

#include <string>

#include "experiments/status.h"

namespace gameday {

// ---- checks on values before they reach a script: "" when fine, else the problem ----

// A process name as `pgrep -x` matches it (the kernel's comm): 1-15 of [A-Za-z0-9_.:@+-], not
// starting with '-' (it would be read as an option: `-u0` matches every root process).
std::string ProcessNameProblem(const std::string& name);
// A file name inside a folder: not empty, no '/', no "..", no NUL or newline.
std::string FileNameProblem(const std::string& name);
// A path from '/': not relative (to a working directory nobody chose), no NUL or newline.
std::string AbsolutePathProblem(const std::string& path);
// A word given to a command as an operand (a systemd unit, a runit service): not empty, not
// starting with '-', no NUL or newline.
std::string OperandProblem(const std::string& word);
// One host's address for an iptables rule: an IPv4 or IPv6 literal or a host name (letters,
// digits, '-', '.'; not starting with '-'), never a range ("198.18.0.0/15" would cut a network).
std::string HostAddressProblem(const std::string& address);
// Any value quoted into a script: no NUL (the remote command line would end there).
std::string ShellValueProblem(const std::string& value);

// The extended regular expression that `pgrep -x` needs to match exactly `name` (a name without
// a ProcessNameProblem): its '.' and '+' escaped.
std::string ProcessNamePattern(const std::string& name);

// $SSH_CONNECTION as a host reports it: "<client address> <client port> <server address>
// <server port>". Both addresses must be IPv4 or IPv6 literals and both ports 1-65535; anything
// else (a host or a login script can set the variable) is InvalidArgument naming the text.
struct SshConnection {
  std::string client_address;
  int client_port = 0;
  std::string server_address;
  int server_port = 0;
};
Result<SshConnection> ParseSshConnection(const std::string& text);

// ---- shell (POSIX sh: dash, bash, busybox) ----

// Defines the functions below; include once before using them (defining them twice is harmless).
//   gd_pid_ok V     true when V is a pid we may act on: decimal digits only, no sign, no leading
//                   zero, from 2 up to (not including) the kernel's pid_max.
//   gd_protected P  true for a pid that is never signalled: pid 1, this shell and every ancestor
//                   (sudo, the SSH session), sshd, a kernel thread, a gameday expiry timer
//                   (and its sleep).
//   gd_alive P...   true while any of the pids lives and is no zombie.
//   gd_start_time P sets gd_st_state and gd_st_start (the pid's start time in clock ticks since
//                   boot, /proc/PID/stat field 22); false when there is no such process.
std::string PidShellFunctions();

// Sets, from the pid file `pid_file` (checked as it is read: one pid, an optional newline,
// nothing else; a missing or empty file is no pid):
//   gd_seen     the pid it holds ("" if none)
//   gd_pids     the same unless gd_protected
//   gd_skipped  the protected pid left out
//   gd_bad      a message when the file exists but holds no valid pid, else ""
// Needs PidShellFunctions().
std::string PidsFromFileScript(const std::string& pid_file);
// The same from the processes `pgrep -x` finds under `name` (which has no ProcessNameProblem).
std::string PidsFromNameScript(const std::string& name);

// Records in `file` each pid of $gd_pids with its start time, one "PID START" line each, before
// they are signalled: a revert after a killed run waits for exactly those processes (a reused pid
// has another start time). Written to a fresh temporary file (noclobber, so never through a
// planted file or link) and renamed into place; the script exits with `code` when it cannot.
// Needs PidShellFunctions().
std::string RecordSignalledScript(const std::string& file, int code);
// Waits, at most `timeout_s` seconds, until no process `file` records (same pid, same start time)
// is still alive (a zombie counts as gone). A missing file waits for nothing; the file is read
// as untrusted (at most 64 KiB, lines that are not two numbers skipped, pids checked with
// gd_pid_ok). Never fails: whoever outlives the wait is judged by gd_alive afterwards.
// Needs PidShellFunctions().
std::string WaitForSignalledScript(const std::string& file, long long timeout_s);

}  // namespace gameday
