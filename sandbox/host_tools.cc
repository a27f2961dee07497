#include "sandbox/host_tools.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <vector>

namespace gameday::local_sandbox {

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir;
    candidate += "/";
    candidate += name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

Result<Tools> FindTools() {
  Tools t;
  t.runsvdir = FindOnPath("runsvdir");
  t.sv = FindOnPath("sv");
  t.haproxy = FindOnPath("haproxy");
  std::vector<std::string> missing;
  if (t.runsvdir.empty()) missing.emplace_back("runsvdir");
  if (FindOnPath("runsv").empty()) missing.emplace_back("runsv");  // runsvdir starts it by name
  if (t.sv.empty()) missing.emplace_back("sv");
  if (t.haproxy.empty()) missing.emplace_back("haproxy");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return Status::FailedPrecondition(
        "the local sandbox needs runsvdir, runsv and sv (Debian package runit) and haproxy "
        "(Debian package haproxy) on PATH; missing: " +
        list + ". Install them with scripts/setup.sh or `apt-get install runit haproxy`");
  }
  return t;
}

}  // namespace gameday::local_sandbox
