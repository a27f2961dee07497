#include "sandbox/port_check.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "sandbox/file_text.h"
#include "sandbox/proc_table.h"

namespace gameday::local_sandbox {

namespace {

// Who listens on `port` (any address), as "pid 123 (nginx)"; empty when it cannot tell (another
// user's process without privileges, or a socket in a different network namespace).
std::string PortOwner(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    auto text = ReadFile(table);
    if (!text) continue;
    std::istringstream in(*text);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
      const size_t colon = local.rfind(':');
      if (colon == std::string::npos || st != "0A") continue;  // 0A = LISTEN
      if (std::strtol(local.c_str() + colon + 1, nullptr, 16) == port) inodes.insert(inode);
    }
  }
  if (inodes.empty()) return "";
  for (pid_t pid : AllPids()) {
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(fd_dir.c_str());
    if (!d) continue;
    std::string found;
    while (dirent* e = readdir(d)) {
      const std::string link = ReadLink(fd_dir + "/" + e->d_name);
      if (link.rfind("socket:[", 0) == 0 && inodes.count(link.substr(8, link.size() - 9))) {
        auto info = ReadProc(pid);
        found = "pid " + std::to_string(pid) + " (" + (info ? info->comm : "?") + ")";
        break;
      }
    }
    closedir(d);
    if (!found.empty()) return found;
  }
  return "";
}

}  // namespace

Status CheckPortFree(int port, const std::string& what) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal("socket: " + std::string(std::strerror(errno)));
  // The same option HAProxy and the demo bind with: a port held only by connections in
  // TIME_WAIT is free for them.
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  close(fd);
  if (rc == 0) return Status::Ok();
  std::string msg = "port " + std::to_string(port) + " (" + what + ") on 127.0.0.1 is not free";
  if (err == EADDRINUSE) {
    const std::string owner = PortOwner(port);
    msg += owner.empty() ? ": it is in use by another process" : ": it is in use by " + owner;
    msg += "; stop that process or pick other ports (gameday sandbox up --local --port N)";
    return Status::FailedPrecondition(msg);
  }
  return Status::FailedPrecondition(msg + ": " + std::strerror(err));
}

}  // namespace gameday::local_sandbox
