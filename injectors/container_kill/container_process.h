#pragma once

// The pieces of container-kill that need neither a cluster nor a host: reading a container's id
// from a pod's status, the shell that finds the container's main process on its node, the reading
// of that shell's output, and the shell that signals (or resumes) exactly that process. Every
// value that reaches a script has been checked here first; the scripts quote nothing they did
// not build themselves.

#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "clients/inventory/inventory.h"
#include "experiments/clock.h"
#include "experiments/status.h"

namespace gameday {

// A container as a pod's status.containerStatuses[].containerID names it:
// "<runtime>://<64 lowercase hex digits>" with runtime containerd, cri-o or docker.
struct ContainerId {
  std::string runtime;
  std::string hex;  // the 64-digit id, as it appears in the container's cgroup path
  std::string ToString() const { return runtime + "://" + hex; }
};

// Checks `text` strictly (it comes from the API server, so it is hostile): InvalidArgument
// naming what is wrong, never echoing more than a short, printable excerpt of it.
Result<ContainerId> ParseContainerId(std::string_view text);

// The main process of a container on its node, as the find script reports it.
struct HostProcess {
  int64_t pid = 0;
  uint64_t start_time = 0;  // /proc/PID/stat field 22: clock ticks since boot
};

// Shell (POSIX sh, for the node) that prints one line "main PID START" for every process whose
// /proc/PID/cgroup names the container (a path ending in /<id> as cgroupfs and cgroup v2 lay it
// out, or in -<id>.scope as the systemd driver does: cri-containerd-, crio-, docker-) and whose
// parent is not in that cgroup, at most kMaxCandidates of them, then "end". Reads /proc only.
std::string FindMainProcessScript(const ContainerId& id);
// The extended regular expression (grep -E) a /proc/PID/cgroup line of the container matches.
std::string CgroupLinePattern(const ContainerId& id);
constexpr size_t kMaxCandidates = 64;

// Reads the find script's output (hostile: anything a node could print). Every line must be
// "main PID START" with PID in [2, 2^22] and START a decimal below 2^64, and the last one "end".
// With several candidates (a `kubectl exec` also has the shim for parent) the one that started
// first is the container's init; a tie is refused. NotFound when there is none.
Result<HostProcess> ParseFindOutput(const std::string& out, const ContainerId& id);

// The signals `action: kill` may send, by their names without SIG.
const std::vector<std::string>& KillSignals();

// Shell that sends SIG`signal` to `p` only while /proc/PID/stat still shows its start time and its
// cgroup still names the container; exits 3 (the fault cannot go in) otherwise. For KILL it then
// waits, at most `wait`, until the process is gone (or a zombie); for STOP, until it is stopped.
std::string SignalScript(const HostProcess& p, const ContainerId& id, const std::string& signal,
                         Duration wait);

// Shell that sends SIGCONT to `p` if it is still the same process (pid and start time); a process
// that is gone, or a pid now used by another process, is left alone and the script succeeds.
std::string ResumeScript(const HostProcess& p);

// Printable ASCII only (others become '?'), at most `max` characters and "..." after a cut: what
// a message may show of hostile input.
std::string Printable(std::string_view s, size_t max = 40);

// The container of a pod that the fault acts on, read from the pod's API object (hostile).
struct PodContainer {
  std::string name;
  ContainerId id;
  int64_t restart_count = 0;
  std::string node;  // spec.nodeName
};

// Reads container `container` ("" = the pod's first container) of `pod` (a core/v1 Pod), which
// must still have uid `uid`, be Running, bound to a node and not terminating, with that
// container running under a valid containerID. FailedPrecondition with the reason otherwise
// ("pod shop/web-1: container app has no containerID yet (waiting: ContainerCreating)").
Result<PodContainer> ReadPodContainer(const rapidjson::Value& pod, const std::string& uid,
                                      const std::string& container);

// The restartCount of container `container` in `pod`, checked (0 to 2^31-1); nullopt-like
// FailedPrecondition when the pod has no such status.
Result<int64_t> ReadRestartCount(const rapidjson::Value& pod, const std::string& container);

}  // namespace gameday
