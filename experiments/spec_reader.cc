#include "experiments/spec_reader.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "experiments/edit_distance.h"

namespace gameday {

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string Describe(const YAML::Node& n) {
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  return "nothing";
}

std::string Diagnostic::ToString() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ":" << line << ":" << column;
  out << ": ";
  if (!path.empty()) out << path << ": ";
  out << message;
  return out.str();
}

std::string Diagnostics::ToString() const {
  std::string out;
  for (const auto& d : items_) out += d.ToString() + "\n";
  return out;
}

SpecNode::SpecNode(const YAML::Node& node, std::string path,
                   std::shared_ptr<const std::string> file, Diagnostics* diags)
    : node_(node), path_(std::move(path)), file_(std::move(file)), diags_(diags) {
  if (node_.IsDefined()) mark_ = node_.Mark();
}

Diagnostic SpecNode::At(const YAML::Node& n) const {
  Diagnostic d;
  d.file = *file_;
  const YAML::Mark mark = n.IsDefined() && !n.Mark().is_null() ? n.Mark() : mark_;
  if (mark.line >= 0 && !mark.is_null()) {
    d.line = mark.line + 1;
    d.column = mark.column + 1;
  }
  d.path = path_;
  return d;
}

bool SpecNode::Has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
}

SpecNode SpecNode::Child(const std::string& key) {
  read_.insert(key);
  std::string child_path = path_.empty() ? key : path_ + "." + key;
  YAML::Node child;
  if (node_.IsMap()) child = node_[key];
  SpecNode out(child.IsDefined() ? child : YAML::Node(YAML::NodeType::Undefined), child_path, file_,
               diags_);
  if (!child.IsDefined() || child.Mark().is_null()) out.mark_ = mark_;
  return out;
}

std::vector<SpecNode> SpecNode::Items() {
  std::vector<SpecNode> out;
  if (!defined()) return out;
  if (!node_.IsSequence()) {
    Error("expected a list, got " + Describe(node_));
    return out;
  }
  for (size_t i = 0; i < node_.size(); ++i) {
    out.emplace_back(node_[i], path_ + "[" + std::to_string(i) + "]", file_, diags_);
  }
  return out;
}

std::vector<std::string> SpecNode::Keys() const {
  std::vector<std::string> keys;
  if (!node_.IsMap()) return keys;
  for (const auto& kv : node_) keys.push_back(kv.first.as<std::string>());
  return keys;
}

void SpecNode::Error(const std::string& message) const {
  Diagnostic d = At(node_);
  d.message = message;
  diags_->Add(std::move(d));
}

void SpecNode::ErrorAt(const std::string& key, const std::string& message) {
  Child(key).Error(message);
}

bool SpecNode::ExpectMap() {
  if (node_.IsMap()) return true;
  Error("expected a map, got " + Describe(node_));
  return false;
}

std::optional<std::string> SpecNode::AsString() {
  if (!node_.IsScalar()) {
    Error("expected a string, got " + Describe(node_));
    return std::nullopt;
  }
  return node_.Scalar();
}

std::optional<std::string> SpecNode::OptString(const std::string& key) {
  SpecNode c = Child(key);
  if (!c.defined()) return std::nullopt;
  return c.AsString();
}

std::string SpecNode::String(const std::string& key, const std::string& fallback) {
  return OptString(key).value_or(fallback);
}

std::string SpecNode::RequiredString(const std::string& key) {
  SpecNode c = Child(key);
  if (!c.defined()) {
    c.Error("required field is missing (expected a string)");
    return "";
  }
  auto s = c.AsString();
  if (s && s->empty()) c.Error("expected a non-empty string");
  return s.value_or("");
}

std::optional<double> SpecNode::OptNumber(const std::string& key, double min, double max) {
  SpecNode c = Child(key);
  if (!c.defined()) return std::nullopt;
  double v = 0;
  if (!c.node_.IsScalar() || !YAML::convert<double>::decode(c.node_, v) || std::isnan(v)) {
    c.Error("expected a number, got " + Describe(c.node_));
    return std::nullopt;
  }
  if (v < min || v > max) {
    std::ostringstream m;
    m << "expected a number from " << min << " to " << max << ", got " << c.node_.Scalar();
    c.Error(m.str());
    return std::nullopt;
  }
  return v;
}

double SpecNode::Number(const std::string& key, double fallback, double min, double max) {
  return OptNumber(key, min, max).value_or(fallback);
}

std::optional<long long> SpecNode::OptInt(const std::string& key, long long min, long long max) {
  SpecNode c = Child(key);
  if (!c.defined()) return std::nullopt;
  long long v = 0;
  if (!c.node_.IsScalar() || !YAML::convert<long long>::decode(c.node_, v)) {
    c.Error("expected an integer, got " + Describe(c.node_));
    return std::nullopt;
  }
  if (v < min || v > max) {
    c.Error("expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
            ", got " + c.node_.Scalar());
    return std::nullopt;
  }
  return v;
}

long long SpecNode::Int(const std::string& key, long long fallback, long long min, long long max) {
  return OptInt(key, min, max).value_or(fallback);
}

std::optional<bool> SpecNode::OptBool(const std::string& key) {
  SpecNode c = Child(key);
  if (!c.defined()) return std::nullopt;
  bool v = false;
  if (!c.node_.IsScalar() || !YAML::convert<bool>::decode(c.node_, v)) {
    c.Error("expected true or false, got " + Describe(c.node_));
    return std::nullopt;
  }
  return v;
}

bool SpecNode::Bool(const std::string& key, bool fallback) {
  return OptBool(key).value_or(fallback);
}

std::optional<Duration> SpecNode::OptDuration(const std::string& key, Duration min, Duration max) {
  SpecNode c = Child(key);
  if (!c.defined()) return std::nullopt;
  std::optional<Duration> d;
  if (c.node_.IsScalar()) d = ParseDuration(c.node_.Scalar());
  if (!d) {
    c.Error("expected a duration such as 20ms, 1.5s or 2m, got " + Describe(c.node_));
    return std::nullopt;
  }
  if (*d < min || *d > max) {
    c.Error("expected a duration from " + FormatDuration(min) + " to " + FormatDuration(max) +
            ", got " + c.node_.Scalar());
    return std::nullopt;
  }
  return d;
}

Duration SpecNode::DurationField(const std::string& key, Duration fallback, Duration min,
                                 Duration max) {
  return OptDuration(key, min, max).value_or(fallback);
}

std::string SpecNode::Enum(const std::string& key, const std::vector<std::string>& choices,
                           const std::string& fallback) {
  SpecNode c = Child(key);
  if (!c.defined()) return fallback;
  auto s = c.AsString();
  if (!s) return fallback;
  if (std::find(choices.begin(), choices.end(), *s) == choices.end()) {
    c.Error("expected one of " + Join(choices, ", ") + "; got '" + *s + "'");
    return fallback;
  }
  return *s;
}

std::vector<std::string> SpecNode::StringList(const std::string& key) {
  std::vector<std::string> out;
  SpecNode c = Child(key);
  if (!c.defined()) return out;
  if (c.node_.IsScalar()) return {c.node_.Scalar()};
  for (SpecNode& item : c.Items()) {
    if (auto s = item.AsString()) out.push_back(*s);
  }
  return out;
}

std::map<std::string, std::string> SpecNode::StringMap(const std::string& key) {
  std::map<std::string, std::string> out;
  SpecNode c = Child(key);
  if (!c.defined()) return out;
  if (!c.ExpectMap()) return out;
  for (const std::string& k : c.Keys()) {
    if (auto v = c.Child(k).AsString()) out[k] = *v;
  }
  return out;
}

void SpecNode::Finish(const std::vector<std::string>& also_known) {
  if (!node_.IsMap()) return;
  std::vector<std::string> known(read_.begin(), read_.end());
  known.insert(known.end(), also_known.begin(), also_known.end());
  for (const auto& kv : node_) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    Diagnostic d = At(kv.first);
    d.path = path_.empty() ? key : path_ + "." + key;
    std::vector<std::string> sorted = known;
    std::sort(sorted.begin(), sorted.end());
    d.message =
        "unknown field" + DidYouMean(key, known) + "; expected one of " + Join(sorted, ", ");
    diags_->Add(std::move(d));
  }
}

std::optional<Duration> ParseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (...) {
    return std::nullopt;
  }
  if (std::isnan(value) || value < 0) return std::nullopt;
  std::string unit = text.substr(pos);
  double seconds = 0;
  if (unit.empty() || unit == "s") {
    seconds = value;
  } else if (unit == "ms") {
    seconds = value / 1e3;
  } else if (unit == "us") {
    seconds = value / 1e6;
  } else if (unit == "m") {
    seconds = value * 60;
  } else if (unit == "h") {
    seconds = value * 3600;
  } else {
    return std::nullopt;
  }
  if (seconds > 1e7) return std::nullopt;
  return FromSeconds(seconds);
}

std::string FormatDuration(Duration d) {
  const double s = ToSeconds(d);
  std::ostringstream out;
  if (s != 0 && s < 1) {
    out << s * 1e3 << "ms";
  } else if (s >= 3600 && std::fmod(s, 3600) == 0) {
    out << s / 3600 << "h";
  } else if (s >= 60 && std::fmod(s, 60) == 0) {
    out << s / 60 << "m";
  } else {
    out << s << "s";
  }
  return out.str();
}

std::optional<YAML::Node> LoadDocument(const std::string& text, const std::string& file,
                                       Diagnostics* diags, const DocumentLimits& limits) {
  if (DocumentProblem problem; !CheckDocument(text, limits, &problem)) {
    Diagnostic d;
    d.file = file;
    d.line = problem.line;
    d.column = problem.column;
    d.message = std::move(problem.message);
    diags->Add(std::move(d));
    return std::nullopt;
  }
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    Diagnostic d;
    d.file = file;
    if (!e.mark.is_null()) {
      d.line = e.mark.line + 1;
      d.column = e.mark.column + 1;
    }
    d.message = "syntax error: " + e.msg;
    diags->Add(std::move(d));
    return std::nullopt;
  }
}

}  // namespace gameday
