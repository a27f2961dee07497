#pragma once

// The one gate every YAML or JSON document gameday reads (plans, inventories, kubeconfigs) passes
// before yaml-cpp sees it. yaml-cpp expands aliases into copies and parses recursively, so a few
// hundred bytes of nested aliases ("billion laughs") need gigabytes, and "[[[[..." overflows the
// stack. The check below runs libyaml's event parser, which keeps its own stacks on the heap and
// builds nothing, and stops at the first limit crossed: the cost is bounded by the limits, not by
// the input.

#include <cstddef>
#include <string>

#include "experiments/status.h"

namespace gameday {

struct DocumentLimits {
  const char* what;  // "plan", "inventory", "kubeconfig": named in messages
  size_t max_bytes;
  size_t max_depth;  // nesting of maps and lists
  size_t max_nodes;  // maps, lists and scalars together
};

// Generous for real files, small enough that yaml-cpp's copy of a document stays in the tens of
// megabytes. A plan of 50,000 nodes is hundreds of experiments; docs/plans.md lists these.
inline constexpr DocumentLimits kPlanLimits{"plan", size_t{1} << 20, 64, 50000};
// Inventories list thousands of hosts (about 20 nodes and 300 bytes each).
inline constexpr DocumentLimits kInventoryLimits{"inventory", size_t{8} << 20, 64, 500000};
// Kubeconfigs carry base64 certificates inline, and sometimes many clusters.
inline constexpr DocumentLimits kKubeconfigLimits{"kubeconfig", size_t{4} << 20, 64, 100000};

// Where the check stopped: a 1-based position (0 when the whole text is at fault) and why.
struct DocumentProblem {
  int line = 0;
  int column = 0;
  std::string message;
};

// Checks `text` against `limits` without building it: its size, one document at most, no anchors
// or aliases, nesting depth and node count, at most 1,000 keys in any map, and YAML syntax as
// libyaml reads it. Returns true when
// yaml-cpp may load it; otherwise fills `problem`.
bool CheckDocument(const std::string& text, const DocumentLimits& limits, DocumentProblem* problem);

// Reads `path` whole, but refuses (InvalidArgument, naming the limit) a file longer than
// limits.max_bytes without reading more than one byte past it. NotFound when it cannot be opened
// or read ("cannot open plan: No such file or directory"). Messages leave the path to the caller.
Result<std::string> ReadDocumentFile(const std::string& path, const DocumentLimits& limits);

}  // namespace gameday
