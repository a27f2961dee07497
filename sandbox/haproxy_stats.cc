#include "sandbox/haproxy_stats.h"

#include <sstream>
#include <vector>

#include "sandbox/loopback_http.h"

namespace gameday::local_sandbox {

using std::chrono::milliseconds;

Result<std::map<std::string, ServerState>> HaproxyServers(const Layout& l) {
  auto reply = HttpGet(l.StatsBase() + "/stats;csv", milliseconds(500));
  if (!reply.ok()) return reply.status();
  if (reply->code != 200) {
    return Status::Unavailable("stats answered HTTP " + std::to_string(reply->code));
  }
  std::istringstream in(reply->body);
  std::string header;
  std::getline(in, header);
  if (header.rfind("# ", 0) == 0) header = header.substr(2);
  std::map<std::string, size_t> col;
  {
    std::istringstream h(header);
    size_t i = 0;
    for (std::string name; std::getline(h, name, ',');) col[name] = i++;
  }
  if (!col.count("pxname") || !col.count("svname") || !col.count("status")) {
    return Status::Internal("unexpected HAProxy stats CSV header");
  }
  std::map<std::string, ServerState> out;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream row(line);
    for (std::string v; std::getline(row, v, ',');) f.push_back(v);
    auto at = [&](const std::string& name) {
      auto it = col.find(name);
      return it != col.end() && it->second < f.size() ? f[it->second] : std::string();
    };
    if (at("pxname") != kBackend) continue;
    const std::string sv = at("svname");
    if (sv == "BACKEND" || sv == "FRONTEND") continue;
    out[sv] = {at("status"), at("check_status"), at("check_desc")};
  }
  return out;
}

}  // namespace gameday::local_sandbox
