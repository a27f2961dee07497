#include "clients/ssh/remote_shell.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "clients/ssh/ssh_client.h"

namespace gameday {
namespace {

bool IsIpLiteral(const std::string& s) {
  in6_addr buf;
  return inet_pton(AF_INET, s.c_str(), &buf) == 1 || inet_pton(AF_INET6, s.c_str(), &buf) == 1;
}

// A port as decimal digits, 1-65535, no sign or leading zero; 0 when it is not one.
int ParsePort(const std::string& s) {
  if (s.empty() || s.size() > 5 || s[0] == '0') return 0;
  int port = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    port = port * 10 + (c - '0');
  }
  return port <= 65535 ? port : 0;
}

std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 80)) out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  return s.size() > 80 ? out + "..." : out;
}

bool HasControl(const std::string& s) {
  return s.find('\0') != std::string::npos || s.find('\n') != std::string::npos;
}

// Where the pids come from, then the common filter: gd_seen holds the candidates.
std::string FilterScript() {
  return "gd_pids=; gd_skipped=\n"
         "for gd_p in $gd_seen; do if gd_protected \"$gd_p\"; then gd_skipped=\"$gd_skipped "
         "$gd_p\"; else gd_pids=\"$gd_pids $gd_p\"; fi; done\n"
         "gd_pids=${gd_pids# }; gd_skipped=${gd_skipped# }\n";
}

}  // namespace

std::string ProcessNameProblem(const std::string& name) {
  const std::string rule =
      "expected the process name as `pgrep -x` matches it: 1-15 letters, digits or . _ - + : @, "
      "not starting with '-'";
  if (name.empty() || name.size() > 15) {
    return "'" + Printable(name) + "' is " + std::to_string(name.size()) + " characters; " + rule +
           " (the kernel keeps 15)";
  }
  if (name[0] == '-') return "'" + Printable(name) + "' would be read as an option; " + rule;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '+' || c == ':' || c == '@';
    if (!ok) return "'" + Printable(name) + "' holds a character outside the alphabet; " + rule;
  }
  return "";
}

std::string FileNameProblem(const std::string& name) {
  if (name.empty()) return "expected a file name, got nothing";
  if (name.find('/') != std::string::npos) {
    return "expected a file name inside the folder, not the path '" + Printable(name) + "'";
  }
  if (name.find("..") != std::string::npos) {
    return "expected a file name without '..', got '" + Printable(name) + "'";
  }
  if (HasControl(name)) {
    return "expected a file name without NUL or newline, got '" + Printable(name) + "'";
  }
  return "";
}

std::string AbsolutePathProblem(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return "'" + Printable(path) + "': expected an absolute path (starting with '/')";
  }
  if (HasControl(path)) return "'" + Printable(path) + "': a path must not hold NUL or newline";
  return "";
}

std::string OperandProblem(const std::string& word) {
  if (word.empty()) return "expected a name, got nothing";
  if (word[0] == '-') return "'" + Printable(word) + "' would be read as an option";
  if (HasControl(word)) return "'" + Printable(word) + "' must not hold NUL or newline";
  return "";
}

std::string HostAddressProblem(const std::string& address) {
  if (IsIpLiteral(address)) return "";
  bool ok = !address.empty() && address.size() <= 253 && address[0] != '-' && address[0] != '.';
  for (char c : address) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.');
  }
  if (ok) return "";
  return "'" + Printable(address) +
         "' is not one host's address (an IP address or a host name; no range, no option)";
}

std::string ShellValueProblem(const std::string& value) {
  if (value.find('\0') != std::string::npos) {
    return "'" + Printable(value) + "' holds a NUL byte";
  }
  return "";
}

std::string ProcessNamePattern(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '.' || c == '+') out += '\\';
    out += c;
  }
  return out;
}

Result<SshConnection> ParseSshConnection(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> fields;
  for (std::string f; in >> f && fields.size() < 5;) fields.push_back(f);
  SshConnection c;
  if (fields.size() == 4) {
    c.client_address = fields[0];
    c.client_port = ParsePort(fields[1]);
    c.server_address = fields[2];
    c.server_port = ParsePort(fields[3]);
  }
  if (fields.size() != 4 || !IsIpLiteral(c.client_address) || !IsIpLiteral(c.server_address) ||
      c.client_port == 0 || c.server_port == 0) {
    return Status::InvalidArgument("$SSH_CONNECTION on the host reads '" + Printable(text) +
                                   "', not '<client address> <port> <server address> <port>' "
                                   "with IP addresses and ports 1-65535");
  }
  return c;
}

std::string PidShellFunctions() {
  // The ancestors are walked once per script (gd_protect caches them); a pid's state and parent
  // are the fields after the last ") " of /proc/PID/stat, which a comm with ") " cannot fool.
  // Builtins only where a loop runs (read, parameter expansion): every fork costs milliseconds.
  return R"SH(gd_pid_ok() {
  case $1 in ''|0*|*[!0-9]*) return 1;; esac
  [ -n "${gd_pid_max:-}" ] || gd_pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 4194304)
  [ ${#1} -le 7 ] && [ "$1" -gt 1 ] && [ "$1" -lt "$gd_pid_max" ]
}
gd_stat() {
  gd_st_state=; gd_st_ppid=; gd_l=
  { read -r gd_l < "/proc/$1/stat"; } 2>/dev/null || [ -n "$gd_l" ] || return 1
  gd_l=${gd_l##*") "}; gd_st_state=${gd_l%% *}; gd_l=${gd_l#* }; gd_st_ppid=${gd_l%% *}
}
gd_protected() {
  if [ -z "${gd_protect:-}" ]; then
    gd_protect=" 1 "; gd_a=$$; gd_n=0
    while gd_pid_ok "$gd_a" && [ $gd_n -lt 256 ]; do
      gd_protect="$gd_protect$gd_a "; gd_stat "$gd_a" || break; gd_a=$gd_st_ppid; gd_n=$((gd_n+1))
    done
  fi
  case $gd_protect in *" $1 "*) return 0;; esac
  gd_c=; { read -r gd_c < "/proc/$1/comm"; } 2>/dev/null
  case $gd_c in sshd|sshd-session|sshd-auth) return 0;; esac
  gd_c=$(tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline")
  [ -n "$gd_c" ] || return 0
  case $gd_c in *gameday-expiry-*) return 0;; esac
  gd_stat "$1" || return 0
  gd_pid_ok "$gd_st_ppid" || return 1
  gd_c=$(tr '\0' ' ' 2>/dev/null < "/proc/$gd_st_ppid/cmdline")
  case $gd_c in *gameday-expiry-*) return 0;; esac
  return 1
}
gd_alive() {
  for gd_p in "$@"; do
    if gd_stat "$gd_p" && [ "$gd_st_state" != Z ]; then return 0; fi
  done
  return 1
}
gd_start_time() {
  gd_st_state=; gd_st_start=; gd_l=
  { read -r gd_l < "/proc/$1/stat"; } 2>/dev/null || [ -n "$gd_l" ] || return 1
  gd_l=${gd_l##*") "}
  set -f; set -- $gd_l; set +f
  [ $# -ge 20 ] || return 1
  gd_st_state=$1; shift 19; gd_st_start=$1
  case $gd_st_start in ''|*[!0-9]*) return 1;; esac
}
)SH";
}

std::string PidsFromFileScript(const std::string& pid_file) {
  const std::string f = ShellQuote(pid_file);
  // At most 33 bytes are read: a longer file is no pid anyway. Control bytes (NUL first, which a
  // shell would silently drop) become '?' so they can neither vanish nor reach a message raw.
  return "gd_seen=; gd_bad=\n"
         "if [ -f " +
         f +
         " ]; then\n"
         "  gd_raw=$( { head -c 33 | tr '\\000-\\011\\013-\\037\\177-\\377' '?'; } 2>/dev/null < " +
         f +
         "; echo x)\n"
         "  gd_nl=$(printf '\\nx'); gd_raw=${gd_raw%x}; gd_raw=${gd_raw%\"${gd_nl%x}\"}\n"
         "  if [ -z \"$gd_raw\" ]; then :; elif gd_pid_ok \"$gd_raw\"; then gd_seen=$gd_raw; else\n"
         "    gd_bad=\"pid file \"" +
         f +
         "\" holds '$(printf '%s' \"$gd_raw\" | tr '\\n' '?' | "
         "cut -c1-32)', not a process id (one decimal number above 1, below the kernel's "
         "pid_max)\"\n"
         "  fi\n"
         "elif [ -e " +
         f + " ]; then gd_bad=\"pid file \"" + f +
         "\" is not a regular file\"\n"
         "fi\n" +
         FilterScript();
}

std::string PidsFromNameScript(const std::string& name) {
  if (std::string problem = ProcessNameProblem(name); !problem.empty()) {
    return "gd_seen=; gd_pids=; gd_skipped=; gd_bad=" + ShellQuote("process name " + problem) +
           "\n";
  }
  // `--`: whatever the name, pgrep never reads it as an option.
  return "gd_seen=; gd_bad=\n"
         "for gd_p in $(pgrep -x -- " +
         ShellQuote(ProcessNamePattern(name)) +
         " || true); do if gd_pid_ok \"$gd_p\"; then gd_seen=\"$gd_seen $gd_p\"; fi; done\n"
         "gd_seen=${gd_seen# }\n" +
         FilterScript();
}

std::string RecordSignalledScript(const std::string& file, int code) {
  const std::string f = ShellQuote(file);
  const std::string tmp = ShellQuote(file + ".tmp");
  const std::string dir = ShellQuote(file.substr(0, std::max<size_t>(1, file.rfind('/'))));
  return "{ mkdir -p -- " + dir + " && rm -f -- " + tmp +
         " && ( set -C; for gd_p in $gd_pids; do if gd_start_time \"$gd_p\"; then "
         "printf '%s %s\\n' \"$gd_p\" \"$gd_st_start\"; fi; done > " +
         tmp + " ) && mv -f -- " + tmp + " " + f +
         "; } || { printf 'cannot record the pids to signal in %s; nothing was signalled\\n' " + f +
         " >&2; exit " + std::to_string(code) + "; }\n";
}

std::string WaitForSignalledScript(const std::string& file, long long timeout_s) {
  const std::string f = ShellQuote(file);
  // The records are read once, checked, and kept as "pid:start" words; the loop polls with
  // builtins only. A line is two numbers or it is skipped: the file sits on the host.
  return "gd_wait=\n"
         "if [ -f " +
         f + " ] && [ ! -L " + f + " ]; then\n  gd_recs=$(head -c 65536 < " + f +
         " 2>/dev/null || true)\n"
         "  while read -r gd_rp gd_rs gd_rest; do\n"
         "    gd_pid_ok \"$gd_rp\" && [ -z \"$gd_rest\" ] || continue\n"
         "    case $gd_rs in ''|*[!0-9]*) continue;; esac\n"
         "    [ ${#gd_rs} -le 20 ] && gd_wait=\"$gd_wait $gd_rp:$gd_rs\"\n"
         "  done <<GD_EOF\n$gd_recs\nGD_EOF\n"
         "fi\n"
         "gd_dying() {\n"
         "  for gd_w in $gd_wait; do\n"
         "    if gd_start_time \"${gd_w%%:*}\" && [ \"$gd_st_start\" = \"${gd_w#*:}\" ] && "
         "[ \"$gd_st_state\" != Z ]; then return 0; fi\n"
         "  done\n"
         "  return 1\n"
         "}\n"
         "gd_i=0; while [ -n \"$gd_wait\" ] && gd_dying && [ $gd_i -lt " +
         std::to_string(std::max<long long>(1, timeout_s) * 10) +
         " ]; do gd_i=$((gd_i+1)); sleep 0.1; done\n";
}

}  // namespace gameday
