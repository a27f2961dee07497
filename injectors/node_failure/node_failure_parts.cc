#include "injectors/node_failure/node_failure_parts.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "experiments/format.h"
#include "experiments/shell_quote.h"

namespace gameday {
namespace {

constexpr size_t kMaxText = 120;
constexpr size_t kMaxAddresses = 16;

// A string member, cut to a printable excerpt; "" when absent or not a string.
std::string Text(const rapidjson::Value& o, const char* key) {
  if (!o.IsObject()) return "";
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || !it->value.IsString()) return "";
  std::string s(it->value.GetString(), std::min<size_t>(it->value.GetStringLength(), kMaxText));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

const rapidjson::Value* Member(const rapidjson::Value& o, const char* key) {
  if (!o.IsObject()) return nullptr;
  auto it = o.FindMember(key);
  return it == o.MemberEnd() ? nullptr : &it->value;
}

// A decimal 0..max without sign, leading zeros or anything else.
std::optional<int> Decimal(std::string_view s, int max) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0 || v > max) return std::nullopt;
  return v;
}

bool IsIpv4(const std::string& s) {
  int parts = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view part = std::string_view(s).substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!Decimal(part, 255)) return false;
    ++parts;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

std::string Secs(const std::optional<double>& v) {
  return v ? FormatFixed(*v, 2) + "s" : std::string("none");
}

}  // namespace

const char* ToString(NodeReady r) {
  switch (r) {
    case NodeReady::kTrue:
      return "True";
    case NodeReady::kFalse:
      return "False";
    case NodeReady::kUnknown:
      return "Unknown";
    case NodeReady::kMissing:
      return "missing";
  }
  return "?";
}

NodeState ReadNodeState(const rapidjson::Value& node) {
  NodeState s;
  if (const rapidjson::Value* meta = Member(node, "metadata")) s.uid = Text(*meta, "uid");
  const rapidjson::Value* status = Member(node, "status");
  if (status != nullptr) {
    if (const rapidjson::Value* conds = Member(*status, "conditions"); conds && conds->IsArray()) {
      for (const rapidjson::Value& c : conds->GetArray()) {
        if (Text(c, "type") != "Ready") continue;
        const std::string v = Text(c, "status");
        s.ready = v == "True"    ? NodeReady::kTrue
                  : v == "False" ? NodeReady::kFalse
                                 : NodeReady::kUnknown;
        s.reason = Text(c, "reason");
        break;
      }
    }
    if (const rapidjson::Value* addrs = Member(*status, "addresses"); addrs && addrs->IsArray()) {
      for (const rapidjson::Value& a : addrs->GetArray()) {
        if (s.addresses.size() >= kMaxAddresses) break;
        std::string address = Text(a, "address");
        if (!address.empty()) s.addresses.push_back(std::move(address));
      }
    }
  }
  if (const rapidjson::Value* spec = Member(node, "spec")) {
    if (const rapidjson::Value* taints = Member(*spec, "taints"); taints && taints->IsArray()) {
      for (const rapidjson::Value& t : taints->GetArray()) {
        const std::string key = Text(t, "key");
        if ((key == "node.kubernetes.io/unreachable" || key == "node.kubernetes.io/not-ready") &&
            Text(t, "effect") == "NoExecute") {
          s.lost_taint = key;
          break;
        }
      }
    }
  }
  return s;
}

Result<ApiEndpoint> ParseApiEndpoint(const std::string& text) {
  const std::string expected = "expected IPV4_ADDRESS:PORT (like 198.18.5.1:6443)";
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument(expected + ", got '" + text.substr(0, 60) + "' (no port)");
  }
  ApiEndpoint e;
  e.address = text.substr(0, colon);
  if (!IsIpv4(e.address)) {
    return Status::InvalidArgument(expected + ", got '" + text.substr(0, 60) +
                                   "' (the address must be a dotted IPv4 address)");
  }
  std::optional<int> port = Decimal(std::string_view(text).substr(colon + 1), 65535);
  if (!port || *port < 1) {
    return Status::InvalidArgument(expected + ", got '" + text.substr(0, 60) +
                                   "' (the port must be 1-65535)");
  }
  e.port = *port;
  return e;
}

Result<ApiEndpoint> ApiEndpointOfServer(const std::string& url) {
  std::string rest = url;
  int default_port = 443;
  if (rest.rfind("https://", 0) == 0) {
    rest = rest.substr(8);
  } else if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
    default_port = 80;
  }
  rest = rest.substr(0, rest.find('/'));
  if (rest.find(':') == std::string::npos) rest += ":" + std::to_string(default_port);
  Result<ApiEndpoint> e = ParseApiEndpoint(rest);
  if (!e.ok()) {
    return Status::FailedPrecondition("the kubeconfig's server '" + url.substr(0, 80) +
                                      "' is not an IPv4 address and port; set api_server to the "
                                      "address the nodes reach the API server at");
  }
  return e;
}

std::vector<std::string> ApiCutRules(const std::vector<ApiEndpoint>& endpoints) {
  std::vector<std::string> rules;
  for (const ApiEndpoint& e : endpoints) {
    const std::string a = ShellQuote(e.address);
    const std::string p = ShellQuote(std::to_string(e.port));
    rules.push_back("-d " + a + " -p tcp --dport " + p + " -j DROP");
    rules.push_back("-s " + a + " -p tcp --sport " + p + " -j DROP");
  }
  return rules;
}

bool FailsEveryReadyNode(const std::set<std::string>& ready, const std::set<std::string>& failing) {
  if (ready.empty()) return false;
  return std::all_of(ready.begin(), ready.end(),
                     [&](const std::string& n) { return failing.count(n) != 0; });
}

std::string NodeTimesNote(const NodeTimes& t) {
  std::string s =
      "node " + t.node + " (" + t.fault + "): not_ready_after=" + Secs(t.not_ready_after);
  if (t.not_ready_after && !t.not_ready_as.empty()) s += " (Ready " + t.not_ready_as + ")";
  if (!t.not_ready_after && !t.not_measured.empty()) s += " (" + t.not_measured + ")";
  s += ", tainted_after=" + Secs(t.tainted_after);
  if (t.tainted_after && !t.taint.empty()) s += " (" + t.taint + ")";
  s += " after the inject; ready_again_after=" + Secs(t.ready_again_after) + " after the revert";
  if (!t.ready_again_after && !t.ready_problem.empty()) s += " (" + t.ready_problem + ")";
  if (t.poll_s > 0) s += "; polled every " + FormatFixed(t.poll_s, 2) + "s";
  if (!t.expectation.empty()) s += "; " + t.expectation;
  return s;
}

bool ValidContainersCgroup(const std::string& path) {
  if (path.size() > 256 || !path.starts_with(kCgroupRoot) || path.size() == kCgroupRoot.size()) {
    return false;
  }
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
        return false;
      }
    }
    start = end + 1;
  }
  return true;
}

std::string FreezeContainersScript(const std::string& cgroup) {
  const std::string c = ShellQuote(cgroup);
  return "if [ -f " + c + "/freezer.state ]; then echo FROZEN > " + c +
         "/freezer.state; elif [ -f " + c + "/cgroup.freeze ]; then echo 1 > " + c +
         "/cgroup.freeze; else echo 'node-failure: no cgroup freezer at '" + c +
         "' (containers_cgroup)' >&2; exit 3; fi\n";
}

std::string ThawContainersScript(const std::string& cgroup) {
  const std::string c = ShellQuote(cgroup);
  return "if [ -f " + c + "/freezer.state ]; then echo THAWED > " + c +
         "/freezer.state; elif [ -f " + c + "/cgroup.freeze ]; then echo 0 > " + c +
         "/cgroup.freeze; fi\n";
}

}  // namespace gameday
