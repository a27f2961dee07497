#pragma once

// The pieces of node-failure that need neither a cluster nor a host: reading a Node's state from
// an API answer (hostile), the API server endpoints api-cut drops and the iptables rules it
// installs, the blast-radius rule for Ready nodes, and the sentence that carries the measured
// times into the result.

#include <rapidjson/document.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "experiments/status.h"

namespace gameday {

// A Node's Ready condition: True, False, Unknown (the node controller's "stopped posting node
// status"), or no such condition at all.
enum class NodeReady { kTrue, kFalse, kUnknown, kMissing };
const char* ToString(NodeReady r);

struct NodeState {
  std::string uid;
  NodeReady ready = NodeReady::kMissing;
  std::string reason;  // of the Ready condition, printable and bounded
  // The first of the node controller's NoExecute taints node.kubernetes.io/unreachable or
  // node.kubernetes.io/not-ready, "" when neither is there.
  std::string lost_taint;
  std::vector<std::string> addresses;  // status.addresses[].address (at most 16, bounded)
};

// Reads a core/v1 Node. Anything missing or of the wrong type reads as absent; strings are cut
// to a bounded, printable excerpt. Never fails.
NodeState ReadNodeState(const rapidjson::Value& node);

// An API server endpoint that api-cut drops traffic to: an IPv4 address and a TCP port.
struct ApiEndpoint {
  std::string address;
  int port = 0;
  std::string ToString() const { return address + ":" + std::to_string(port); }
};

// "198.18.5.1:6443": a dotted IPv4 address (every octet 0-255, no leading zeros) and a port
// 1-65535. InvalidArgument saying what was expected otherwise. Such a value goes into a root
// shell script.
Result<ApiEndpoint> ParseApiEndpoint(const std::string& text);
// The endpoint of a kubeconfig's `server` URL ("https://198.18.5.1:6443", default port 443).
// FailedPrecondition when its host is a name, not an IPv4 address (set `api_server` instead).
Result<ApiEndpoint> ApiEndpointOfServer(const std::string& url);

// The iptables rules (arguments after `iptables -w -A CHAIN`) that cut a node off `endpoints`:
// its TCP traffic to them (-d ADDR --dport PORT, seen in OUTPUT) and theirs back (-s ADDR
// --sport PORT, seen in INPUT) is dropped. Everything else, SSH included, passes.
std::vector<std::string> ApiCutRules(const std::vector<ApiEndpoint>& endpoints);

// Whether failing `failing` would leave none of the `ready` nodes Ready (an empty `ready` set
// has nothing left to protect).
bool FailsEveryReadyNode(const std::set<std::string>& ready, const std::set<std::string>& failing);

// What was measured for one node, in seconds; nullopt when not observed.
struct NodeTimes {
  std::string node;
  std::string fault;                        // "kubelet stopped" / "cut off the API server"
  std::optional<double> not_ready_after;    // after the inject: Ready went False or Unknown
  std::string not_ready_as;                 // "Unknown (NodeStatusUnknown)"
  std::optional<double> tainted_after;      // after the inject: the node controller's taint
  std::string taint;                        // node.kubernetes.io/unreachable
  std::optional<double> ready_again_after;  // after the revert: Ready True again
  double poll_s = 0;                        // the resolution of these times
  std::string not_measured;                 // why the fault window was not watched, if it was not
  std::string ready_problem;                // why ready_again_after is missing, if it is
  std::string expectation;                  // the expected timeline (node_expectation.h), if read
};
// One sentence for the fault's `observed` (the result), with the machine-readable fields spelled
// `not_ready_after=38.2s`, `tainted_after=...`, `ready_again_after=2.1s` (or `=none`).
std::string NodeTimesNote(const NodeTimes& t);

// `containers: freeze`: the cgroup that holds every container of the node (the kubelet's
// kubepods), as the freezer sees it: a v1 freezer directory (freezer.state) or a v2 cgroup
// (cgroup.freeze). A path gameday writes to as root: absolute, under /sys/fs/cgroup/, at most
// 256 characters of [A-Za-z0-9._/-], no empty, "." or ".." component.
bool ValidContainersCgroup(const std::string& path);
// Where every containers_cgroup lies: the cgroup file system as the node mounts it.
inline constexpr std::string_view kCgroupRoot = "/sys/fs/cgroup/";
constexpr const char* kDefaultContainersCgroup = "/sys/fs/cgroup/freezer/kubepods";
// Freezes every process in `cgroup` (exit 3, before anything else changed, when it has no
// freezer); ThawContainersScript thaws them (idempotent; nothing to do when the cgroup is gone).
std::string FreezeContainersScript(const std::string& cgroup);
std::string ThawContainersScript(const std::string& cgroup);

}  // namespace gameday
