#include "experiments/plan.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <system_error>
#include <tuple>

#include "experiments/edit_distance.h"

namespace gameday {
namespace {

// No phase of an experiment is meant to last longer than a day; larger values are typos
// ("60m" meant as seconds) and would only hang a game day.
constexpr Duration kMaxPhase = std::chrono::hours(24);
constexpr Duration kMinInterval = std::chrono::milliseconds(1);
constexpr Duration kMaxInterval = std::chrono::hours(1);
constexpr long long kMaxCount = 1000000;
// A repeated step with more rounds than this is a typo (every: 1ms for: 1h), not a game day.
constexpr long long kMaxRounds = 10000;
constexpr size_t kMaxNameLength = 63;

const std::vector<std::string> kSelectModes = {"one", "all", "fixed", "fixed-percent",
                                               "random-max-percent"};
const std::vector<std::string> kStepKinds = {"inject", "wait", "parallel"};

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string FormatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// Where every node of the document sits, by field path, so diagnostics about a missing field
// (which has no position of its own) can point at the map that lacks it, and diagnostics about
// an empty value (`name:`) at its key rather than at whatever token follows it.
class MarkIndex {
 public:
  explicit MarkIndex(const YAML::Node& root) { Walk(root, "", root.Mark()); }

  // Map keys that are not plain names ("? [a, b]: x"); nothing else can read such a map.
  const std::vector<Diagnostic>& bad_keys() const { return bad_keys_; }

  void Fix(Diagnostic* d) const {
    auto own = marks_.find(d->path);
    if (d->line > 0) {
      // yaml-cpp places an empty value at the next token, often on a later line.
      if (own != marks_.end() && own->second.null_value && d->line == own->second.node.line + 1 &&
          d->column == own->second.node.column + 1) {
        Set(d, own->second.key);
      }
      return;
    }
    std::string path = d->path;
    while (true) {
      auto it = marks_.find(path);
      if (it != marks_.end()) {
        Set(d, it->second.null_value ? it->second.key : it->second.node);
        return;
      }
      if (path.empty()) return;
      path = Parent(path);
    }
  }

 private:
  struct Entry {
    YAML::Mark node;
    YAML::Mark key;  // for map values: where their key is
    bool null_value = false;
  };

  static std::string Parent(const std::string& path) {
    if (!path.empty() && path.back() == ']') {
      size_t open = path.rfind('[');
      if (open != std::string::npos) return path.substr(0, open);
    }
    size_t dot = path.rfind('.');
    return dot == std::string::npos ? "" : path.substr(0, dot);
  }

  static void Set(Diagnostic* d, const YAML::Mark& m) {
    if (m.is_null() || m.line < 0) return;
    d->line = m.line + 1;
    d->column = m.column + 1;
  }

  void Walk(const YAML::Node& n, const std::string& path, const YAML::Mark& key) {
    if (!n.IsDefined()) return;
    marks_[path] = Entry{n.Mark(), key, n.IsNull()};
    if (n.IsMap()) {
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) {
          bad_keys_.push_back(Diagnostic{"", kv.first.Mark().line + 1, kv.first.Mark().column + 1,
                                         path, "expected a field name, got " + Describe(kv.first)});
          continue;
        }
        const std::string& k = kv.first.Scalar();
        Walk(kv.second, path.empty() ? k : path + "." + k, kv.first.Mark());
      }
    } else if (n.IsSequence()) {
      for (size_t i = 0; i < n.size(); ++i) {
        Walk(n[i], path + "[" + std::to_string(i) + "]", n[i].Mark());
      }
    }
  }

  std::map<std::string, Entry> marks_;
  std::vector<Diagnostic> bad_keys_;
};

struct Phases {
  std::optional<Duration> warmup;
  std::optional<Duration> stable_for;
  std::optional<Duration> recovery_timeout;
  std::optional<Duration> cooldown;
};

struct Defaults {
  std::optional<TargetSpec> target;
  Phases phases;
};

// Per-experiment state while walking its method.
struct MethodContext {
  const TargetSpec* target = nullptr;
  int injects = 0;   // injects seen so far, for default step names
  size_t steps = 0;  // steps seen so far, nested ones included (kMaxSteps)
  bool too_many = false;
  struct NameUse {
    std::string path;
    bool is_default = false;
  };
  std::map<std::string, NameUse> step_names;
};

class PlanParser {
 public:
  PlanParser(std::string file, const Registries& registries, const PlanOptions& options,
             Diagnostics* diags)
      : file_(std::make_shared<const std::string>(std::move(file))),
        registries_(registries),
        options_(options),
        diags_(diags) {
    base_dir_ = std::filesystem::path(*file_).parent_path().string();
  }

  Plan Parse(const YAML::Node& doc) {
    Plan plan;
    plan.file = *file_;
    if (!doc.IsDefined() || doc.IsNull()) {
      Diagnostic d;
      d.file = *file_;
      d.message =
          "the plan is empty; expected a map with experiments: (a suite) or method: (a single "
          "experiment)";
      diags_->Add(std::move(d));
      return plan;
    }
    SpecNode root(doc, "", file_, diags_);
    if (!root.ExpectMap()) return plan;

    const std::vector<std::string> keys = root.Keys();
    auto has_key = [&](const char* k) {
      return std::find(keys.begin(), keys.end(), k) != keys.end();
    };
    const bool has_method = has_key("method");
    const bool has_experiments = has_key("experiments");

    if (has_method && !has_experiments) {
      ExperimentSpec e = ParseExperiment(root, Defaults{});
      plan.name = e.name;
      plan.experiments.push_back(std::move(e));
      return plan;
    }
    if (has_method) {
      root.ErrorAt("method",
                   "a plan has either experiments: (a suite) or method: (a single experiment), "
                   "not both");
    }

    plan.name = root.String("name", std::filesystem::path(*file_).stem().string());
    root.OptString("description");
    Defaults defaults;
    SpecNode defaults_node = root.Child("defaults");
    if (defaults_node.defined() && defaults_node.ExpectMap()) {
      RejectEmpty(defaults_node, {"target"});
      SpecNode target = defaults_node.Child("target");
      if (target.defined()) defaults.target = ParseTarget(target);
      defaults.phases = ParsePhases(defaults_node);
      defaults_node.Finish();
    }

    if (!has_experiments) {
      root.Error(
          "expected experiments: (a list of experiments) or method: (the steps of a single "
          "experiment)");
      root.Finish({"experiments", "method"});
      return plan;
    }
    std::map<std::string, std::string> names;  // experiment name -> path of its name field
    std::vector<SpecNode> experiments = RequiredList(root, "experiments", "experiment");
    Cap(root, "experiments", &experiments, kMaxExperiments, "experiments");
    for (SpecNode& item : experiments) {
      if (!item.ExpectMap()) continue;
      ExperimentSpec e = ParseExperiment(item, defaults);
      if (!e.name.empty()) {
        auto [it, inserted] = names.emplace(e.name, e.path + ".name");
        if (!inserted) {
          item.ErrorAt("name",
                       "duplicate experiment name '" + e.name + "'; also used at " + it->second);
        }
      }
      plan.experiments.push_back(std::move(e));
    }
    root.Finish(has_method ? std::vector<std::string>{"method"} : std::vector<std::string>{});
    return plan;
  }

 private:
  // A list field that must hold at least one entry.
  std::vector<SpecNode> RequiredList(SpecNode& parent, const std::string& key,
                                     const std::string& what) {
    SpecNode list = parent.Child(key);
    if (!list.defined()) {
      list.Error(list.yaml().IsDefined()
                     ? "expected a list of at least one " + what + ", got nothing"
                     : "required field is missing (expected a list of at least one " + what + ")");
      return {};
    }
    std::vector<SpecNode> items = list.Items();
    if (list.IsSequence() && items.empty()) list.Error("expected at least one " + what);
    return items;
  }

  // Keeps a list within `limit` entries: beyond it, one error at the list, and the rest is not
  // read (so a huge list costs no more than the limit).
  void Cap(SpecNode& parent, const std::string& key, std::vector<SpecNode>* items, size_t limit,
           const std::string& what) {
    if (items->size() <= limit) return;
    parent.ErrorAt(key, std::to_string(items->size()) + " " + what + "; at most " +
                            std::to_string(limit) + " are allowed");
    items->erase(items->begin() + static_cast<std::ptrdiff_t>(limit), items->end());
  }

  // An optional field written with nothing after it (`duration:`) reads as absent, which would
  // quietly turn a timed fault into a one-shot one, drop an assertion or lift a bound. Only
  // `spec`, `description` and `labels` may be empty; every other field must be left out instead.
  void RejectEmpty(SpecNode& node, std::initializer_list<const char*> keys) {
    if (!node.IsMap()) return;
    for (const char* key : keys) {
      SpecNode c = node.Child(key);
      if (c.yaml().IsDefined() && c.yaml().IsNull()) {
        c.Error("expected a value, got nothing (leave the field out to use its default)");
      }
    }
  }

  // Durations that must be strictly positive (a zero stable_for would call any sample recovery).
  std::optional<Duration> OptPositiveDuration(SpecNode& node, const std::string& key,
                                              Duration max) {
    std::optional<Duration> d = node.OptDuration(key, Duration::zero(), max);
    if (d && *d <= Duration::zero()) {
      SpecNode c = node.Child(key);
      c.Error("expected a duration greater than 0, got " + Describe(c.yaml()));
      return std::nullopt;
    }
    return d;
  }

  Phases ParsePhases(SpecNode& node) {
    RejectEmpty(node, {"warmup", "stable_for", "recovery_timeout", "cooldown"});
    Phases p;
    p.warmup = node.OptDuration("warmup", Duration::zero(), kMaxPhase);
    p.stable_for = OptPositiveDuration(node, "stable_for", kMaxPhase);
    p.recovery_timeout = OptPositiveDuration(node, "recovery_timeout", kMaxPhase);
    p.cooldown = node.OptDuration("cooldown", Duration::zero(), kMaxPhase);
    return p;
  }

  std::string ResolvePath(const std::string& p) const {
    if (p.empty() || base_dir_.empty() || std::filesystem::path(p).is_absolute()) return p;
    return (std::filesystem::path(base_dir_) / p).string();
  }

  TargetSpec ParseTarget(SpecNode& node) {
    TargetSpec t;
    if (!node.ExpectMap()) return t;
    RejectEmpty(node, {"kind", "kubeconfig", "context", "known_hosts", "insecure_ignore_host_key",
                       "allow_protected"});
    SpecNode kind_node = node.Child("kind");
    t.kind = node.Enum("kind", {"local", "kubernetes", "ssh"}, "local");
    const bool kind_ok = !kind_node.defined() || kind_node.yaml().Scalar() == t.kind;

    auto only_for = [&](const std::string& key, const std::string& kind) -> std::string {
      std::optional<std::string> v = node.OptString(key);
      if (!v) return "";
      if (kind_ok && t.kind != kind) {
        node.ErrorAt(key,
                     "only allowed when the target kind is " + kind + "; kind is '" + t.kind + "'");
      }
      return *v;
    };
    t.kubeconfig = only_for("kubeconfig", "kubernetes");
    t.context = only_for("context", "kubernetes");
    t.inventory = ResolvePath(only_for("inventory", "ssh"));
    // Left out, the sandbox's inventory is used (EffectiveInventory); an empty string is a slip.
    if (SpecNode inv = node.Child("inventory"); inv.defined() && t.inventory.empty()) {
      inv.Error(
          "expected the path of an inventory file, got an empty string (leave the field "
          "out to use $GAMEDAY_INVENTORY or the sandbox's inventory)");
    }
    t.known_hosts = ResolvePath(only_for("known_hosts", "ssh"));
    if (std::optional<bool> insecure = node.OptBool("insecure_ignore_host_key")) {
      t.insecure_ignore_host_key = *insecure;
      if (kind_ok && t.kind != "ssh") {
        node.ErrorAt("insecure_ignore_host_key",
                     "only allowed when the target kind is ssh; kind is '" + t.kind + "'");
      }
    }
    // A list given replaces the default one. Only an explicit [] protects nothing: an empty
    // value is far more likely a slip than a wish to expose kube-system.
    SpecNode namespaces = node.Child("protected_namespaces");
    if (namespaces.defined()) {
      t.protected_namespaces = node.StringList("protected_namespaces");
    } else if (namespaces.yaml().IsDefined()) {
      namespaces.Error("expected a list of namespaces, got nothing (write [] to protect none)");
    }
    t.allow_protected = node.Bool("allow_protected", false);
    t.check_inventory = options_.check_inventory;
    if (t.kind == "ssh" && !options_.inventory_override.empty()) {
      t.inventory = options_.inventory_override;
    }
    node.Finish();
    return t;
  }

  ExperimentSpec ParseExperiment(SpecNode& node, const Defaults& defaults) {
    ExperimentSpec e;
    e.path = node.path();
    e.name = node.RequiredString("name");
    if (node.IsMap() && node.yaml()["name"].IsDefined()) {
      const YAML::Mark mark = node.yaml()["name"].Mark();
      if (!mark.is_null() && mark.line >= 0) {
        e.name_line = mark.line + 1;
        e.name_column = mark.column + 1;
      }
    }
    if (!e.name.empty() && !IsValidName(e.name)) {
      node.ErrorAt("name",
                   "expected a lowercase name of at most 63 characters matching "
                   "[a-z0-9][a-z0-9._-]*, got '" +
                       e.name + "'");
    }
    RejectEmpty(node, {"target", "objectives", "abort", "expected_failure"});
    e.description = node.String("description", "");
    if (std::optional<std::string> why = node.OptString("expected_failure")) {
      if (why->find_first_not_of(" \t\r\n") == std::string::npos) {
        node.ErrorAt("expected_failure",
                     "expected a non-empty text saying why the experiment must fail");
      } else {
        e.expected_failure = *why;
      }
    }
    e.labels = node.StringMap("labels");

    SpecNode target = node.Child("target");
    if (target.defined()) {
      e.target = ParseTarget(target);
    } else if (defaults.target) {
      e.target = *defaults.target;
    }
    e.target.check_inventory = options_.check_inventory;

    Phases own = ParsePhases(node);
    e.warmup = own.warmup.value_or(defaults.phases.warmup.value_or(e.warmup));
    e.stable_for = own.stable_for.value_or(defaults.phases.stable_for.value_or(e.stable_for));
    e.recovery_timeout = own.recovery_timeout.value_or(
        defaults.phases.recovery_timeout.value_or(e.recovery_timeout));
    e.cooldown = own.cooldown.value_or(defaults.phases.cooldown.value_or(e.cooldown));

    std::map<std::string, std::string> verifier_names;  // name -> path
    std::vector<SpecNode> verify = RequiredList(node, "verify", "verifier");
    Cap(node, "verify", &verify, kMaxVerifiers, "verifiers");
    for (SpecNode& item : verify) {
      if (!item.ExpectMap()) continue;
      VerifierSpec v = ParseVerifier(item, e.target);
      if (!v.name.empty()) {
        auto [it, inserted] = verifier_names.emplace(v.name, v.path);
        if (!inserted) {
          item.ErrorAt("name",
                       "duplicate verifier name '" + v.name + "'; also used by " + it->second);
        }
      }
      e.verifiers.push_back(std::move(v));
    }
    std::vector<std::string> known_verifiers;
    for (const auto& [name, path] : verifier_names) known_verifiers.push_back(name);

    std::vector<SpecNode> watch = node.Child("watch").Items();
    Cap(node, "watch", &watch, kMaxListEntries, "watches");
    for (SpecNode& item : watch) {
      if (!item.ExpectMap()) continue;
      WatchSpec w;
      w.path = item.path();
      w.kind = item.RequiredString("kind");
      if (const WatchKind* kind = registries_.watches.Find(w.kind)) {
        w.watch = ParseKindSpec<Watch>(*kind, item, e.target, "watch");
      } else {
        item.Child("spec");
        if (!w.kind.empty()) {
          const std::vector<std::string> names = registries_.watches.Names();
          item.ErrorAt("kind", "unknown watch kind '" + w.kind + "'" + DidYouMean(w.kind, names) +
                                   "; registered kinds: " +
                                   (names.empty() ? std::string("(none)") : Join(names, ", ")));
        }
      }
      item.Finish();
      e.watches.push_back(std::move(w));
    }

    MethodContext ctx;
    ctx.target = &e.target;
    for (SpecNode& item : RequiredList(node, "method", "step")) {
      if (auto step = ParseStep(item, &ctx, 0)) e.method.push_back(std::move(*step));
      if (ctx.too_many) break;
    }

    SpecNode objectives = node.Child("objectives");
    std::map<std::string, std::string> must_detect_at, no_impact_at;  // verifier -> field path
    std::vector<SpecNode> objective_items = objectives.Items();
    Cap(node, "objectives", &objective_items, kMaxListEntries, "objectives");
    for (SpecNode& item : objective_items) {
      ParseObjectives(item, e, known_verifiers, &must_detect_at, &no_impact_at);
    }

    SpecNode aborts = node.Child("abort");
    std::vector<SpecNode> abort_items = aborts.Items();
    Cap(node, "abort", &abort_items, kMaxListEntries, "abort conditions");
    for (SpecNode& item : abort_items) {
      if (!item.ExpectMap()) continue;
      AbortSpec a;
      a.path = item.path();
      a.verifier = VerifierRef(item, known_verifiers);
      SpecNode failing_for = item.Child("failing_for");
      if (!failing_for.defined()) {
        failing_for.Error("required field is missing (expected a duration greater than 0)");
      } else if (auto d = OptPositiveDuration(item, "failing_for", kMaxPhase)) {
        a.failing_for = *d;
      }
      item.Finish();
      e.aborts.push_back(std::move(a));
    }
    if (!e.expected_failure.empty() && e.objectives.empty() &&
        !(objectives.IsSequence() && objectives.yaml().size() > 0)) {
      // Without an objective nothing can fail as expected, so the run could only ever fail.
      node.ErrorAt("expected_failure",
                   "an expected failure needs at least one objective that can fail; add "
                   "objectives: or remove expected_failure");
    }

    node.Finish();
    return e;
  }

  // The `verifier:` field of an objective or abort entry; it must name one of this experiment's.
  std::string VerifierRef(SpecNode& item, const std::vector<std::string>& known) {
    std::string name = item.RequiredString("verifier");
    if (!name.empty() && std::find(known.begin(), known.end(), name) == known.end()) {
      item.ErrorAt("verifier", "no verifier named '" + name + "' in this experiment" +
                                   DidYouMean(name, known) + "; expected one of " +
                                   (known.empty() ? std::string("(none)") : Join(known, ", ")));
    }
    return name;
  }

  void ParseObjectives(SpecNode& item, ExperimentSpec& e, const std::vector<std::string>& known,
                       std::map<std::string, std::string>* must_detect_at,
                       std::map<std::string, std::string>* no_impact_at) {
    if (!item.ExpectMap()) return;
    const std::string verifier = VerifierRef(item, known);
    auto add = [&](const std::string& key, ObjectiveSpec::Type type, double limit) {
      ObjectiveSpec o;
      o.path = item.path() + "." + key;
      o.verifier = verifier;
      o.type = type;
      o.limit = limit;
      e.objectives.push_back(std::move(o));
    };
    RejectEmpty(item, {"recover_within", "must_detect", "expect_no_impact", "max_downtime",
                       "min_availability"});
    int checks = 0;
    const std::vector<std::string> keys = item.Keys();
    for (const char* key : {"recover_within", "must_detect", "expect_no_impact", "max_downtime",
                            "min_availability"}) {
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) ++checks;
    }
    if (checks == 0) {
      item.Error(
          "an objective needs at least one check: recover_within, must_detect, "
          "expect_no_impact, max_downtime or min_availability");
    }

    if (auto d = OptPositiveDuration(item, "recover_within", kMaxPhase)) {
      if (*d > e.recovery_timeout) {
        item.ErrorAt("recover_within", "recover_within (" + FormatDuration(*d) +
                                           ") exceeds the experiment's recovery_timeout (" +
                                           FormatDuration(e.recovery_timeout) +
                                           "), so recovery would never be awaited that long");
      }
      add("recover_within", ObjectiveSpec::Type::kRecoverWithin, ToSeconds(*d));
    }
    if (item.OptBool("must_detect").value_or(false)) {
      add("must_detect", ObjectiveSpec::Type::kMustDetect, 0);
      const std::string at = item.path() + ".must_detect";
      if (auto it = no_impact_at->find(verifier); it != no_impact_at->end()) {
        item.ErrorAt("must_detect", "contradicts expect_no_impact: true at " + it->second +
                                        " for verifier '" + verifier + "'");
      }
      must_detect_at->emplace(verifier, at);
    }
    if (item.OptBool("expect_no_impact").value_or(false)) {
      add("expect_no_impact", ObjectiveSpec::Type::kMustNotDetect, 0);
      const std::string at = item.path() + ".expect_no_impact";
      if (auto it = must_detect_at->find(verifier); it != must_detect_at->end()) {
        item.ErrorAt("expect_no_impact", "contradicts must_detect: true at " + it->second +
                                             " for verifier '" + verifier + "'");
      }
      no_impact_at->emplace(verifier, at);
    }
    if (auto d = item.OptDuration("max_downtime", Duration::zero(), kMaxPhase)) {
      add("max_downtime", ObjectiveSpec::Type::kMaxDowntime, ToSeconds(*d));
    }
    if (auto r = item.OptNumber("min_availability", 0, 1)) {
      add("min_availability", ObjectiveSpec::Type::kMinAvailability, *r);
    }
    item.Finish();
  }

  // Parses a kind's own `spec:` with the kind's parser. Returns null when the spec is invalid.
  template <typename Product, typename Kind>
  std::shared_ptr<Product> ParseKindSpec(const Kind& kind, SpecNode& parent,
                                         const TargetSpec& target, const char* what) {
    SpecNode spec = parent.Child("spec");
    if (spec.defined() && !spec.IsMap()) {
      spec.Error("expected a map (the " + std::string(what) + " kind's settings), got " +
                 Describe(spec.yaml()));
      return nullptr;
    }
    const size_t before = diags_->size();
    std::unique_ptr<Product> product;
    try {
      product = kind.Parse(spec, target);
    } catch (const std::exception& ex) {
      spec.Error(std::string(what) + " kind '" + kind.Name() + "' failed: " + ex.what());
      return nullptr;
    }
    if (!product && diags_->size() == before) {
      spec.Error(std::string(what) + " kind '" + kind.Name() + "' rejected this spec");
    }
    if (diags_->size() != before) return nullptr;
    return std::shared_ptr<Product>(std::move(product));
  }

  VerifierSpec ParseVerifier(SpecNode& item, const TargetSpec& target) {
    VerifierSpec v;
    v.path = item.path();
    v.name = item.RequiredString("name");
    v.kind = item.RequiredString("kind");
    RejectEmpty(item, {"interval", "slo"});
    v.interval = item.DurationField("interval", v.interval, kMinInterval, kMaxInterval);
    SpecNode slo = item.Child("slo");
    if (slo.defined() && slo.ExpectMap()) {
      RejectEmpty(slo, {"success_ratio"});
      v.slo.success_ratio = slo.Number("success_ratio", v.slo.success_ratio, 0, 1);
      slo.Finish();
    }
    // A verifier may look at the system through another target than the faults act on: stop
    // an API server over SSH, watch /readyz through the Kubernetes API.
    TargetSpec own_target = target;
    if (SpecNode t = item.Child("target"); t.defined()) own_target = ParseTarget(t);
    if (!v.kind.empty()) {
      const std::vector<std::string> names = registries_.verifiers.Names();
      if (const VerifierKind* kind = registries_.verifiers.Find(v.kind)) {
        v.verifier = ParseKindSpec<Verifier>(*kind, item, own_target, "verifier");
      } else {
        item.Child("spec");  // known field; its contents depend on the kind
        item.ErrorAt("kind", "unknown verifier kind '" + v.kind + "'" + DidYouMean(v.kind, names) +
                                 "; registered kinds: " +
                                 (names.empty() ? std::string("(none)") : Join(names, ", ")));
      }
    } else {
      item.Child("spec");
    }
    item.Finish();
    return v;
  }

  // `depth` counts the parallel steps around this one.
  std::optional<Step> ParseStep(SpecNode& node, MethodContext* ctx, size_t depth) {
    if (ctx->too_many) return std::nullopt;
    if (++ctx->steps > kMaxSteps) {
      ctx->too_many = true;
      node.Error("this experiment has more than " + std::to_string(kMaxSteps) +
                 " steps (counting those inside parallel); at most " + std::to_string(kMaxSteps) +
                 " are allowed");
      return std::nullopt;
    }
    if (!node.ExpectMap()) return std::nullopt;
    const std::vector<std::string> keys = node.Keys();
    std::vector<std::string> present;
    for (const std::string& k : kStepKinds) {
      if (std::find(keys.begin(), keys.end(), k) != keys.end()) present.push_back(k);
    }
    if (present.size() != 1) {
      node.Error(present.empty() ? "a step needs exactly one of inject, wait, parallel; got none"
                                 : "a step needs exactly one of inject, wait, parallel; got " +
                                       Join(present, " and "));
      // Mark the step's possible fields known so only real typos are reported.
      node.Finish({"inject", "wait", "parallel", "name", "select", "duration", "repeat", "spec"});
      return std::nullopt;
    }
    Step step;
    step.path = node.path();
    if (present[0] == "wait") {
      WaitStep w;
      SpecNode value = node.Child("wait");
      if (!value.defined()) {
        value.Error("expected a duration such as 2s, got nothing");
      } else if (auto d = node.OptDuration("wait", Duration::zero(), kMaxPhase)) {
        w.duration = *d;
      }
      step.action = w;
    } else if (present[0] == "parallel") {
      ParallelStep p;
      SpecNode list = node.Child("parallel");
      if (depth >= kMaxParallelDepth) {
        list.Error("parallel steps nested more than " + std::to_string(kMaxParallelDepth) +
                   " deep; at most " + std::to_string(kMaxParallelDepth) + " are allowed");
      } else if (!list.defined()) {
        list.Error("expected a list of at least one step, got nothing");
      } else {
        std::vector<SpecNode> items = list.Items();
        if (list.IsSequence() && items.empty()) list.Error("expected at least one step");
        for (SpecNode& item : items) {
          if (auto s = ParseStep(item, ctx, depth + 1)) p.steps.push_back(std::move(*s));
        }
      }
      step.action = std::move(p);
    } else {
      step.action = ParseInject(node, ctx);
    }
    node.Finish();
    return step;
  }

  InjectStep ParseInject(SpecNode& node, MethodContext* ctx) {
    InjectStep s;
    ++ctx->injects;
    s.kind = node.RequiredString("inject");
    RejectEmpty(node, {"name", "select", "duration", "repeat"});
    std::optional<std::string> name = node.OptString("name");
    if (name && name->empty()) node.ErrorAt("name", "expected a non-empty string");
    const bool is_default = !name || name->empty();
    s.name = is_default ? (s.kind.empty() ? std::string("inject") : s.kind) + "-" +
                              std::to_string(ctx->injects)
                        : *name;
    auto [it, inserted] =
        ctx->step_names.emplace(s.name, MethodContext::NameUse{node.path(), is_default});
    if (!inserted) {
      const std::string other =
          it->second.path + (it->second.is_default ? " (its default name)" : "");
      if (is_default) {
        node.ErrorAt("inject", "this step's default name '" + s.name + "' is already used by " +
                                   other + "; give it a name:");
      } else {
        node.ErrorAt("name", "duplicate step name '" + s.name + "'; also used by " + other);
      }
    }
    s.select = ParseSelect(node);
    s.duration = OptPositiveDuration(node, "duration", kMaxPhase);
    s.repeat = ParseRepeat(node, s.duration);
    if (!s.kind.empty()) {
      const std::vector<std::string> names = registries_.injectors.Names();
      if (const InjectorKind* kind = registries_.injectors.Find(s.kind)) {
        s.injector = ParseKindSpec<Injector>(*kind, node, *ctx->target, "injector");
      } else {
        node.Child("spec");
        node.ErrorAt("inject", "unknown injector kind '" + s.kind + "'" +
                                   DidYouMean(s.kind, names) + "; registered kinds: " +
                                   (names.empty() ? std::string("(none)") : Join(names, ", ")));
      }
    } else {
      node.Child("spec");
    }
    return s;
  }

  // `repeat: {every, for}`: both required, every > 0, for >= every, every > the step's duration.
  std::optional<RepeatSpec> ParseRepeat(SpecNode& step, const std::optional<Duration>& duration) {
    SpecNode node = step.Child("repeat");
    if (!node.defined() || !node.ExpectMap()) return std::nullopt;
    auto required = [&](const std::string& key) -> std::optional<Duration> {
      SpecNode c = node.Child(key);
      if (!c.defined()) {
        c.Error(c.yaml().IsDefined()
                    ? "expected a duration greater than 0, got nothing"
                    : "required field is missing (expected a duration greater than 0)");
        return std::nullopt;
      }
      return OptPositiveDuration(node, key, kMaxPhase);
    };
    std::optional<Duration> every = required("every");
    std::optional<Duration> span = required("for");
    node.Finish();
    if (!every || !span) return std::nullopt;
    bool ok = true;
    if (*span < *every) {
      node.ErrorAt("for", "for (" + FormatDuration(*span) + ") is shorter than every (" +
                              FormatDuration(*every) +
                              "); expected for >= every (rounds start at 0, every, 2*every, ... "
                              "before for has elapsed)");
      ok = false;
    }
    if (duration && *every <= *duration) {
      node.ErrorAt("every", "every (" + FormatDuration(*every) +
                                ") must be longer than the step's duration (" +
                                FormatDuration(*duration) +
                                "): each round is reverted before the next one starts");
      ok = false;
    }
    const long long rounds = (span->count() + every->count() - 1) / every->count();
    if (ok && rounds > kMaxRounds) {
      node.ErrorAt("every", "every " + FormatDuration(*every) + " for " + FormatDuration(*span) +
                                " would inject " + std::to_string(rounds) + " rounds; at most " +
                                std::to_string(kMaxRounds) + " are allowed");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return RepeatSpec{*every, *span};
  }

  SelectSpec ParseSelect(SpecNode& step) {
    SelectSpec s;
    SpecNode node = step.Child("select");
    if (!node.defined() || !node.ExpectMap()) return s;
    RejectEmpty(node, {"mode", "max"});
    SpecNode mode_node = node.Child("mode");
    const std::string mode = node.Enum("mode", kSelectModes, "one");
    const bool mode_ok = !mode_node.defined() || mode_node.yaml().Scalar() == mode;
    s.mode = static_cast<SelectMode>(std::find(kSelectModes.begin(), kSelectModes.end(), mode) -
                                     kSelectModes.begin());

    SpecNode value = node.Child("value");
    if (mode_ok) {
      switch (s.mode) {
        case SelectMode::kOne:
        case SelectMode::kAll:
          if (value.yaml().IsDefined()) {
            value.Error("not allowed when mode is " + mode +
                        "; only fixed, fixed-percent and random-max-percent take a value");
          }
          break;
        case SelectMode::kFixed:
          if (!value.defined()) {
            value.Error("required when mode is fixed (expected an integer from 1 to " +
                        std::to_string(kMaxCount) + ")");
          } else if (auto n = node.OptInt("value", 1, kMaxCount)) {
            s.value = static_cast<double>(*n);
          }
          break;
        case SelectMode::kFixedPercent:
        case SelectMode::kRandomMaxPercent:
          if (!value.defined()) {
            value.Error("required when mode is " + mode +
                        " (expected a percentage greater than 0 and at most 100)");
          } else if (auto p = node.OptNumber("value", -std::numeric_limits<double>::infinity(),
                                             std::numeric_limits<double>::infinity())) {
            if (!(*p > 0 && *p <= 100)) {
              value.Error("expected a percentage greater than 0 and at most 100, got " +
                          value.yaml().Scalar());
            } else {
              s.value = *p;
            }
          }
          break;
      }
    }
    if (auto max = node.OptInt("max", 1, kMaxCount)) {
      s.max = static_cast<int>(*max);
      if (s.mode == SelectMode::kFixed && s.value > *max) {
        node.ErrorAt("max", "max (" + std::to_string(*max) + ") is less than value (" +
                                FormatNumber(s.value) + "); fixed would select more than max");
      }
    }
    node.Finish();
    return s;
  }

  std::shared_ptr<const std::string> file_;
  std::string base_dir_;
  const Registries& registries_;
  const PlanOptions& options_;
  Diagnostics* diags_;
};

}  // namespace

const char* SelectModeName(SelectMode m) {
  switch (m) {
    case SelectMode::kOne:
      return "one";
    case SelectMode::kAll:
      return "all";
    case SelectMode::kFixed:
      return "fixed";
    case SelectMode::kFixedPercent:
      return "fixed-percent";
    case SelectMode::kRandomMaxPercent:
      return "random-max-percent";
  }
  return "unknown";
}

const char* ObjectiveTypeName(ObjectiveSpec::Type t) {
  switch (t) {
    case ObjectiveSpec::Type::kRecoverWithin:
      return "recover_within";
    case ObjectiveSpec::Type::kMustDetect:
      return "must_detect";
    case ObjectiveSpec::Type::kMustNotDetect:
      return "expect_no_impact";
    case ObjectiveSpec::Type::kMaxDowntime:
      return "max_downtime";
    case ObjectiveSpec::Type::kMinAvailability:
      return "min_availability";
  }
  return "unknown";
}

Plan ParsePlan(const std::string& text, const std::string& file, const Registries& registries,
               Diagnostics* diags, const PlanOptions& options) {
  // Problems are collected locally first so positions can be completed and the whole list put
  // in document order before the caller sees it.
  Diagnostics local;
  Plan plan;
  plan.file = file;
  if (std::optional<YAML::Node> doc = LoadDocument(text, file, &local)) {
    const MarkIndex index(*doc);
    for (Diagnostic d : index.bad_keys()) {
      d.file = file;
      local.Add(std::move(d));
    }
    if (local.empty()) {
      try {
        plan = PlanParser(file, registries, options, &local).Parse(*doc);
      } catch (const std::exception& e) {
        // Defensive: yaml-cpp throws on shapes its accessors do not expect.
        Diagnostic d;
        d.file = file;
        d.message = std::string("cannot read this plan: ") + e.what();
        local.Add(std::move(d));
      }
    }
    std::vector<Diagnostic> items = local.items();
    for (Diagnostic& d : items) index.Fix(&d);
    std::stable_sort(items.begin(), items.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    for (Diagnostic& d : items) diags->Add(std::move(d));
  } else {
    for (const Diagnostic& d : local.items()) diags->Add(d);
  }
  return plan;
}

Plan LoadPlans(const std::vector<std::string>& paths, const Registries& registries,
               Diagnostics* diags, const PlanOptions& options) {
  if (paths.size() == 1) return LoadPlan(paths[0], registries, diags, options);
  Plan merged;
  struct Seen {
    std::string file;
    std::string path;
    int line = 0, column = 0;
  };
  std::map<std::string, Seen> seen;  // experiment name -> where it was first used
  auto where = [](const Seen& s) {
    std::string out = s.file;
    if (s.line > 0) out += ":" + std::to_string(s.line) + ":" + std::to_string(s.column);
    return out + " (" + s.path + ")";
  };
  std::vector<std::string> names;
  for (const std::string& path : paths) {
    Plan plan = LoadPlan(path, registries, diags, options);
    names.push_back(plan.name.empty() ? std::filesystem::path(path).stem().string() : plan.name);
    merged.file += (merged.file.empty() ? "" : ", ") + path;
    for (ExperimentSpec& e : plan.experiments) {
      if (!e.name.empty()) {
        Seen here{path, e.path.empty() ? "name" : e.path + ".name", e.name_line, e.name_column};
        auto [it, inserted] = seen.emplace(e.name, here);
        if (!inserted) {
          Diagnostic d;
          d.file = path;
          d.line = here.line;
          d.column = here.column;
          d.path = here.path;
          d.message = "duplicate experiment name '" + e.name + "' across plans; also used in " +
                      where(it->second) + " (experiment names must be unique in one run)";
          diags->Add(std::move(d));
        }
      }
      merged.experiments.push_back(std::move(e));
    }
  }
  merged.name = Join(names, "+");
  return merged;
}

Plan LoadPlan(const std::string& path, const Registries& registries, Diagnostics* diags,
              const PlanOptions& options) {
  Result<std::string> text = ReadDocumentFile(path, kPlanLimits);
  if (!text.ok()) {
    Diagnostic d;
    d.file = path;
    d.message = text.status().message();
    diags->Add(std::move(d));
    Plan plan;
    plan.file = path;
    return plan;
  }
  return ParsePlan(*text, path, registries, diags, options);
}

}  // namespace gameday
