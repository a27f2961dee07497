#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "experiments/clock.h"
#include "experiments/yaml_guard.h"

namespace gameday {

// One problem found in an input file: where it is and what was expected.
struct Diagnostic {
  std::string file;
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;    // 1-based; 0 when unknown
  std::string path;  // field path such as "experiments[0].method[2].select.mode"
  std::string message;
  // "plan.yaml:12:7: method[2].select.mode: expected one of ...".
  std::string ToString() const;
};

// Collects every problem instead of stopping at the first.
class Diagnostics {
 public:
  void Add(Diagnostic d) { items_.push_back(std::move(d)); }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  std::string ToString() const;  // one line per problem

 private:
  std::vector<Diagnostic> items_;
};

// A read-only view of one node of a YAML (or JSON) document that knows its field path and
// position, reports typed-access errors into Diagnostics, and remembers which keys were read so
// Finish() can reject unknown fields (typos) with a suggestion.
class SpecNode {
 public:
  SpecNode(const YAML::Node& node, std::string path, std::shared_ptr<const std::string> file,
           Diagnostics* diags);

  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }
  Diagnostics* diagnostics() const { return diags_; }
  const YAML::Node& yaml() const { return node_; }
  bool defined() const { return node_.IsDefined() && !node_.IsNull(); }
  bool IsMap() const { return node_.IsMap(); }
  bool IsSequence() const { return node_.IsSequence(); }
  bool IsScalar() const { return node_.IsScalar(); }
  bool Has(const std::string& key) const;

  // The child at `key` (marked as known). Undefined if absent.
  SpecNode Child(const std::string& key);
  // Elements of a sequence node; an error if this node is defined but not a sequence.
  std::vector<SpecNode> Items();
  // Keys of a map node in document order (does not mark them known).
  std::vector<std::string> Keys() const;

  // Reports a problem at this node.
  void Error(const std::string& message) const;
  // Reports a problem at field `key` (at its position when present, else at this node).
  void ErrorAt(const std::string& key, const std::string& message);

  // This node must be a map; reports otherwise. Returns IsMap().
  bool ExpectMap();

  // Typed fields. Missing optional fields give the default; missing required ones an error.
  std::optional<std::string> OptString(const std::string& key);
  std::string String(const std::string& key, const std::string& fallback);
  std::string RequiredString(const std::string& key);
  std::optional<double> OptNumber(const std::string& key, double min, double max);
  double Number(const std::string& key, double fallback, double min, double max);
  std::optional<long long> OptInt(const std::string& key, long long min, long long max);
  long long Int(const std::string& key, long long fallback, long long min, long long max);
  bool Bool(const std::string& key, bool fallback);
  std::optional<bool> OptBool(const std::string& key);
  // Durations: "20ms", "1.5s", "2m", "1h", "500us", or a bare number of seconds.
  std::optional<Duration> OptDuration(const std::string& key, Duration min, Duration max);
  Duration DurationField(const std::string& key, Duration fallback, Duration min, Duration max);
  // One of `choices`; the error lists them.
  std::string Enum(const std::string& key, const std::vector<std::string>& choices,
                   const std::string& fallback);
  std::vector<std::string> StringList(const std::string& key);
  std::map<std::string, std::string> StringMap(const std::string& key);

  // This node's own scalar value as a string (an error if it is not a scalar).
  std::optional<std::string> AsString();

  // Reports every key of this map that no accessor read, naming the closest known key.
  // `also_known` lists keys that are valid even though they were not read.
  void Finish(const std::vector<std::string>& also_known = {});

 private:
  Diagnostic At(const YAML::Node& n) const;

  YAML::Node node_;
  // Where problems with this node are reported: its own position, or for a missing field the
  // position of the map that should have held it.
  YAML::Mark mark_;
  std::string path_;
  std::shared_ptr<const std::string> file_;
  Diagnostics* diags_;
  std::set<std::string> read_;
};

// Parses "250ms"-style durations. Returns nullopt when malformed.
std::optional<Duration> ParseDuration(const std::string& text);
// Formats a duration the way ParseDuration reads it ("1.5s", "20ms").
std::string FormatDuration(Duration d);

// "a, b, c" for Join({"a", "b", "c"}, ", ").
std::string Join(const std::vector<std::string>& v, const std::string& sep);
// A node as messages name what was found: "a map", "a list", "'text'" or "nothing".
std::string Describe(const YAML::Node& n);

// Loads a YAML or JSON document. It first passes CheckDocument (experiments/yaml_guard.h) with
// `limits`: nothing reaches yaml-cpp that is too large, too deep, holds too many nodes or uses
// anchors. On any problem adds a diagnostic (file:line:col) and returns nullopt.
std::optional<YAML::Node> LoadDocument(const std::string& text, const std::string& file,
                                       Diagnostics* diags,
                                       const DocumentLimits& limits = kPlanLimits);

}  // namespace gameday
