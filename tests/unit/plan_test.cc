#include "experiments/plan.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace gameday {
namespace {

// ---------------------------------------------------------------------------------------------
// In-test kinds: each reads a couple of fields through SpecNode (so their errors carry paths and
// positions) and calls Finish(), exactly as a real kind must.

class FakeInjector : public Injector {
 public:
  explicit FakeInjector(std::string description) : description_(std::move(description)) {}
  Result<std::vector<FaultTarget>> Discover(const InjectorEnv&) override {
    return std::vector<FaultTarget>{};
  }
  Result<std::string> RevertRecord(const FaultTarget&, const InjectorEnv&) override {
    return std::string("{}");
  }
  Status Inject(const FaultTarget&, const InjectorEnv&) override { return Status::Ok(); }
  bool Reversible() const override { return false; }
  std::string DescribeAction(const FaultTarget&) const override { return description_; }

 private:
  std::string description_;
};

// "process": pattern (required), signal (TERM|KILL, default KILL).
class FakeProcessKind : public InjectorKind {
 public:
  std::string Name() const override { return "process"; }
  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    std::string pattern = spec.RequiredString("pattern");
    std::string signal = spec.Enum("signal", {"TERM", "KILL"}, "KILL");
    spec.Finish();
    return std::make_unique<FakeInjector>("process pattern=" + pattern + " signal=" + signal +
                                          " target=" + target.kind);
  }
  Status Revert(const std::string&, const InjectorEnv&) const override { return Status::Ok(); }
};

// "network": port (optional integer).
class FakeNetworkKind : public InjectorKind {
 public:
  std::string Name() const override { return "network"; }
  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec& target) const override {
    long long port = spec.Int("port", 0, 1, 65535);
    spec.Finish();
    return std::make_unique<FakeInjector>("network port=" + std::to_string(port) +
                                          " target=" + target.kind);
  }
  Status Revert(const std::string&, const InjectorEnv&) const override { return Status::Ok(); }
};

// "broken": rejects every spec without saying why (the plan must still be invalid).
class RejectingKind : public InjectorKind {
 public:
  std::string Name() const override { return "broken"; }
  std::unique_ptr<Injector> Parse(SpecNode& spec, const TargetSpec&) const override {
    spec.Finish();
    return nullptr;
  }
  Status Revert(const std::string&, const InjectorEnv&) const override { return Status::Ok(); }
};

class FakeVerifier : public Verifier {
 public:
  explicit FakeVerifier(std::string description) : description_(std::move(description)) {}
  void Begin(ProbeIo&, std::function<void(ProbeOutcome)> done) override { done({}); }
  std::string Describe() const override { return description_; }

 private:
  std::string description_;
};

// "http": url (required), expect_status (100..599, default 200).
class FakeHttpKind : public VerifierKind {
 public:
  std::string Name() const override { return "http"; }
  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec&) const override {
    std::string url = spec.RequiredString("url");
    long long status = spec.Int("expect_status", 200, 100, 599);
    spec.Finish();
    return std::make_unique<FakeVerifier>("GET " + url + " -> " + std::to_string(status));
  }
};

// "tcp": address (required).
class FakeTcpKind : public VerifierKind {
 public:
  std::string Name() const override { return "tcp"; }
  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec&) const override {
    std::string address = spec.RequiredString("address");
    spec.Finish();
    return std::make_unique<FakeVerifier>("connect " + address);
  }
};

Registries MakeRegistries() {
  Registries r;
  EXPECT_TRUE(r.injectors.Register(std::make_unique<FakeProcessKind>()).ok());
  EXPECT_TRUE(r.injectors.Register(std::make_unique<FakeNetworkKind>()).ok());
  EXPECT_TRUE(r.injectors.Register(std::make_unique<RejectingKind>()).ok());
  EXPECT_TRUE(r.verifiers.Register(std::make_unique<FakeHttpKind>()).ok());
  EXPECT_TRUE(r.verifiers.Register(std::make_unique<FakeTcpKind>()).ok());
  return r;
}

const Registries& TestRegistries() {
  static const Registries* r = new Registries(MakeRegistries());
  return *r;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

std::string Dur(Duration d) { return FormatDuration(d); }

void DumpSteps(const std::vector<Step>& steps, const std::string& indent, std::ostream& out) {
  for (const Step& s : steps) {
    out << indent << s.path << ": ";
    if (const auto* i = std::get_if<InjectStep>(&s.action)) {
      out << "inject " << i->kind << " name=" << i->name
          << " mode=" << SelectModeName(i->select.mode) << " value=" << i->select.value
          << " max=" << i->select.max << " duration=" << (i->duration ? Dur(*i->duration) : "none")
          << " injector=" << (i->injector ? i->injector->DescribeAction({}) : "null") << "\n";
    } else if (const auto* w = std::get_if<WaitStep>(&s.action)) {
      out << "wait " << Dur(w->duration) << "\n";
    } else {
      out << "parallel\n";
      DumpSteps(std::get<ParallelStep>(s.action).steps, indent + "  ", out);
    }
  }
}

// Every field of the model as text, so two plans can be compared as a whole.
std::string Dump(const Plan& plan) {
  std::ostringstream out;
  out << "plan " << plan.name << "\n";
  for (const ExperimentSpec& e : plan.experiments) {
    out << "experiment " << e.path << " name=" << e.name << " description=" << e.description
        << "\n";
    for (const auto& [k, v] : e.labels) out << "  label " << k << "=" << v << "\n";
    out << "  target kind=" << e.target.kind << " kubeconfig=" << e.target.kubeconfig
        << " context=" << e.target.context << " inventory=" << e.target.inventory
        << " known_hosts=" << e.target.known_hosts
        << " allow_protected=" << e.target.allow_protected << " protected=";
    for (const auto& ns : e.target.protected_namespaces) out << ns << ",";
    out << "\n  warmup=" << Dur(e.warmup) << " stable_for=" << Dur(e.stable_for)
        << " recovery_timeout=" << Dur(e.recovery_timeout) << " cooldown=" << Dur(e.cooldown)
        << "\n";
    for (const VerifierSpec& v : e.verifiers) {
      out << "  verifier " << v.path << " " << v.name << " kind=" << v.kind
          << " interval=" << Dur(v.interval) << " slo=" << v.slo.success_ratio
          << " verifier=" << (v.verifier ? v.verifier->Describe() : "null") << "\n";
    }
    DumpSteps(e.method, "  ", out);
    for (const ObjectiveSpec& o : e.objectives) {
      out << "  objective " << o.path << " " << o.verifier << " " << ObjectiveTypeName(o.type)
          << " " << o.limit << "\n";
    }
    for (const AbortSpec& a : e.aborts) {
      out << "  abort " << a.path << " " << a.verifier << " " << Dur(a.failing_for) << "\n";
    }
  }
  return out.str();
}

Plan Parse(const std::string& text, Diagnostics* diags, const std::string& file = "plan.yaml") {
  return ParsePlan(text, file, TestRegistries(), diags);
}

// True when some diagnostic starts with `where` ("file:line:col: path: ") and contains `what`.
::testing::AssertionResult HasDiag(const Diagnostics& diags, const std::string& where,
                                   const std::string& what) {
  for (const Diagnostic& d : diags.items()) {
    const std::string s = d.ToString();
    if (s.rfind(where, 0) == 0 && s.find(what) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure()
         << "no diagnostic at '" << where << "' containing '" << what << "'; got:\n"
         << diags.ToString();
}

// The one diagnostic a plan produced.
::testing::AssertionResult OnlyDiag(const Diagnostics& diags, const std::string& where,
                                    const std::string& what) {
  if (diags.size() != 1) {
    return ::testing::AssertionFailure()
           << "expected exactly one diagnostic, got " << diags.size() << ":\n"
           << diags.ToString();
  }
  return HasDiag(diags, where, what);
}

// ---------------------------------------------------------------------------------------------
// Valid plans.

const char kSuiteYaml[] = R"(name: local-replicas
description: Kill replicas of the demo service
defaults:
  target: {kind: ssh, inventory: hosts.yaml, known_hosts: /etc/gameday/known_hosts}
  warmup: 3s
  cooldown: 500ms
experiments:
  - name: kill-one-replica
    description: One replica dies; the proxy routes around it.
    labels: {team: sre, tier: web}
    target:
      kind: local
    stable_for: 2s
    recovery_timeout: 30s
    verify:
      - name: frontend
        kind: http
        interval: 20ms
        slo: {success_ratio: 0.99}
        spec: {url: "http://127.0.0.1:8080/", expect_status: 204}
      - name: backend
        kind: tcp
        spec: {address: "127.0.0.1:9000"}
    method:
      - inject: process
        name: kill-one
        select: {mode: one}
        spec: {pattern: demo-replica, signal: TERM}
      - wait: 2s
      - parallel:
          - inject: process
            select: {mode: fixed, value: 2, max: 3}
            duration: 5s
            spec: {pattern: demo-replica}
          - parallel:
              - inject: network
                select: {mode: fixed-percent, value: 50}
                spec: {port: 9000}
              - wait: 100ms
      - inject: network
        select: {mode: random-max-percent, value: 12.5, max: 4}
        spec: {}
      - inject: process
        select: {mode: all}
        spec: {pattern: x}
    objectives:
      - verifier: frontend
        recover_within: 10s
        must_detect: true
        max_downtime: 2s
        min_availability: 0.9
      - verifier: backend
        expect_no_impact: true
    abort:
      - verifier: frontend
        failing_for: 30s
  - name: second.one_2
    verify:
      - {name: web, kind: http, spec: {url: "http://127.0.0.1:8081/"}}
    method:
      - wait: 1s
)";

const char kSuiteJson[] = R"({
  "name": "local-replicas",
  "description": "Kill replicas of the demo service",
  "defaults": {
    "target": {"kind": "ssh", "inventory": "hosts.yaml", "known_hosts": "/etc/gameday/known_hosts"},
    "warmup": "3s",
    "cooldown": "500ms"
  },
  "experiments": [
    {
      "name": "kill-one-replica",
      "description": "One replica dies; the proxy routes around it.",
      "labels": {"team": "sre", "tier": "web"},
      "target": {"kind": "local"},
      "stable_for": "2s",
      "recovery_timeout": "30s",
      "verify": [
        {"name": "frontend", "kind": "http", "interval": "20ms", "slo": {"success_ratio": 0.99},
         "spec": {"url": "http://127.0.0.1:8080/", "expect_status": 204}},
        {"name": "backend", "kind": "tcp", "spec": {"address": "127.0.0.1:9000"}}
      ],
      "method": [
        {"inject": "process", "name": "kill-one", "select": {"mode": "one"},
         "spec": {"pattern": "demo-replica", "signal": "TERM"}},
        {"wait": "2s"},
        {"parallel": [
          {"inject": "process", "select": {"mode": "fixed", "value": 2, "max": 3},
           "duration": "5s", "spec": {"pattern": "demo-replica"}},
          {"parallel": [
            {"inject": "network", "select": {"mode": "fixed-percent", "value": 50},
             "spec": {"port": 9000}},
            {"wait": "100ms"}
          ]}
        ]},
        {"inject": "network", "select": {"mode": "random-max-percent", "value": 12.5, "max": 4},
         "spec": {}},
        {"inject": "process", "select": {"mode": "all"}, "spec": {"pattern": "x"}}
      ],
      "objectives": [
        {"verifier": "frontend", "recover_within": "10s", "must_detect": true,
         "max_downtime": "2s", "min_availability": 0.9},
        {"verifier": "backend", "expect_no_impact": true}
      ],
      "abort": [{"verifier": "frontend", "failing_for": "30s"}]
    },
    {
      "name": "second.one_2",
      "verify": [{"name": "web", "kind": "http", "spec": {"url": "http://127.0.0.1:8081/"}}],
      "method": [{"wait": "1s"}]
    }
  ]
})";

TEST(PlanTest, FullYamlSuiteBuildsTheModel) {
  Diagnostics diags;
  Plan plan = Parse(kSuiteYaml, &diags, "plans/suite.yaml");
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  EXPECT_EQ(plan.file, "plans/suite.yaml");
  EXPECT_EQ(plan.name, "local-replicas");
  ASSERT_EQ(plan.experiments.size(), 2u);

  const ExperimentSpec& e = plan.experiments[0];
  EXPECT_EQ(e.path, "experiments[0]");
  EXPECT_EQ(e.name, "kill-one-replica");
  EXPECT_EQ(e.description, "One replica dies; the proxy routes around it.");
  EXPECT_EQ(e.labels, (std::map<std::string, std::string>{{"team", "sre"}, {"tier", "web"}}));
  EXPECT_EQ(e.target.kind, "local");
  EXPECT_EQ(e.target.inventory, "");  // its own target replaces the default one as a whole
  EXPECT_EQ(e.warmup, std::chrono::seconds(3));
  EXPECT_EQ(e.stable_for, std::chrono::seconds(2));
  EXPECT_EQ(e.recovery_timeout, std::chrono::seconds(30));
  EXPECT_EQ(e.cooldown, std::chrono::milliseconds(500));

  ASSERT_EQ(e.verifiers.size(), 2u);
  EXPECT_EQ(e.verifiers[0].path, "experiments[0].verify[0]");
  EXPECT_EQ(e.verifiers[0].name, "frontend");
  EXPECT_EQ(e.verifiers[0].kind, "http");
  EXPECT_EQ(e.verifiers[0].interval, std::chrono::milliseconds(20));
  EXPECT_DOUBLE_EQ(e.verifiers[0].slo.success_ratio, 0.99);
  ASSERT_NE(e.verifiers[0].verifier, nullptr);
  EXPECT_EQ(e.verifiers[0].verifier->Describe(), "GET http://127.0.0.1:8080/ -> 204");
  EXPECT_EQ(e.verifiers[1].interval, std::chrono::milliseconds(100));
  EXPECT_DOUBLE_EQ(e.verifiers[1].slo.success_ratio, 1.0);
  EXPECT_EQ(e.verifiers[1].verifier->Describe(), "connect 127.0.0.1:9000");

  ASSERT_EQ(e.method.size(), 5u);
  const auto& kill = std::get<InjectStep>(e.method[0].action);
  EXPECT_EQ(e.method[0].path, "experiments[0].method[0]");
  EXPECT_EQ(kill.name, "kill-one");
  EXPECT_EQ(kill.kind, "process");
  EXPECT_EQ(kill.select.mode, SelectMode::kOne);
  EXPECT_FALSE(kill.duration.has_value());
  ASSERT_NE(kill.injector, nullptr);
  EXPECT_EQ(kill.injector->DescribeAction({}),
            "process pattern=demo-replica signal=TERM target=local");
  EXPECT_EQ(std::get<WaitStep>(e.method[1].action).duration, std::chrono::seconds(2));

  const auto& par = std::get<ParallelStep>(e.method[2].action);
  ASSERT_EQ(par.steps.size(), 2u);
  EXPECT_EQ(par.steps[0].path, "experiments[0].method[2].parallel[0]");
  const auto& fixed = std::get<InjectStep>(par.steps[0].action);
  EXPECT_EQ(fixed.select.mode, SelectMode::kFixed);
  EXPECT_EQ(fixed.select.value, 2);
  EXPECT_EQ(fixed.select.max, 3);
  EXPECT_EQ(fixed.duration, std::optional<Duration>(std::chrono::seconds(5)));
  const auto& inner = std::get<ParallelStep>(par.steps[1].action);
  ASSERT_EQ(inner.steps.size(), 2u);
  EXPECT_EQ(inner.steps[1].path, "experiments[0].method[2].parallel[1].parallel[1]");
  const auto& pct = std::get<InjectStep>(inner.steps[0].action);
  EXPECT_EQ(pct.select.mode, SelectMode::kFixedPercent);
  EXPECT_EQ(pct.select.value, 50);
  EXPECT_EQ(pct.select.max, 0);
  EXPECT_EQ(pct.injector->DescribeAction({}), "network port=9000 target=local");
  const auto& rnd = std::get<InjectStep>(e.method[3].action);
  EXPECT_EQ(rnd.select.mode, SelectMode::kRandomMaxPercent);
  EXPECT_EQ(rnd.select.value, 12.5);
  EXPECT_EQ(rnd.select.max, 4);
  EXPECT_EQ(std::get<InjectStep>(e.method[4].action).select.mode, SelectMode::kAll);

  ASSERT_EQ(e.objectives.size(), 5u);
  EXPECT_EQ(e.objectives[0].path, "experiments[0].objectives[0].recover_within");
  EXPECT_EQ(e.objectives[0].verifier, "frontend");
  EXPECT_EQ(e.objectives[0].type, ObjectiveSpec::Type::kRecoverWithin);
  EXPECT_DOUBLE_EQ(e.objectives[0].limit, 10);
  EXPECT_EQ(e.objectives[1].type, ObjectiveSpec::Type::kMustDetect);
  EXPECT_EQ(e.objectives[1].path, "experiments[0].objectives[0].must_detect");
  EXPECT_EQ(e.objectives[2].type, ObjectiveSpec::Type::kMaxDowntime);
  EXPECT_DOUBLE_EQ(e.objectives[2].limit, 2);
  EXPECT_EQ(e.objectives[3].type, ObjectiveSpec::Type::kMinAvailability);
  EXPECT_DOUBLE_EQ(e.objectives[3].limit, 0.9);
  EXPECT_EQ(e.objectives[4].type, ObjectiveSpec::Type::kMustNotDetect);
  EXPECT_EQ(e.objectives[4].verifier, "backend");
  EXPECT_EQ(e.objectives[4].path, "experiments[0].objectives[1].expect_no_impact");

  ASSERT_EQ(e.aborts.size(), 1u);
  EXPECT_EQ(e.aborts[0].path, "experiments[0].abort[0]");
  EXPECT_EQ(e.aborts[0].verifier, "frontend");
  EXPECT_EQ(e.aborts[0].failing_for, std::chrono::seconds(30));

  // The second experiment inherits every default it does not set.
  const ExperimentSpec& s = plan.experiments[1];
  EXPECT_EQ(s.path, "experiments[1]");
  EXPECT_EQ(s.name, "second.one_2");
  EXPECT_EQ(s.target.kind, "ssh");
  EXPECT_EQ(s.target.inventory, "plans/hosts.yaml");  // relative to the plan file
  EXPECT_EQ(s.target.known_hosts, "/etc/gameday/known_hosts");
  EXPECT_EQ(s.target.protected_namespaces, std::vector<std::string>{"kube-system"});
  EXPECT_EQ(s.warmup, std::chrono::seconds(3));
  EXPECT_EQ(s.stable_for, std::chrono::seconds(1));
  EXPECT_EQ(s.recovery_timeout, std::chrono::seconds(60));
  EXPECT_EQ(s.cooldown, std::chrono::milliseconds(500));
  EXPECT_TRUE(s.objectives.empty());
  EXPECT_TRUE(s.aborts.empty());
}

TEST(PlanTest, JsonAndYamlGiveTheSameModel) {
  Diagnostics yaml_diags, json_diags;
  Plan from_yaml = Parse(kSuiteYaml, &yaml_diags, "plans/suite.yaml");
  Plan from_json = Parse(kSuiteJson, &json_diags, "plans/suite.json");
  ASSERT_TRUE(yaml_diags.empty()) << yaml_diags.ToString();
  ASSERT_TRUE(json_diags.empty()) << json_diags.ToString();
  EXPECT_EQ(from_json.file, "plans/suite.json");
  EXPECT_EQ(Dump(from_yaml), Dump(from_json));
  EXPECT_NE(Dump(from_yaml).find("inject network name=network-4 mode=random-max-percent"),
            std::string::npos);
}

TEST(PlanTest, DefaultStepNamesCountEveryInjectSoFar) {
  Diagnostics diags;
  Plan plan = Parse(kSuiteYaml, &diags);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  const auto& m = plan.experiments[0].method;
  EXPECT_EQ(std::get<InjectStep>(m[0].action).name, "kill-one");
  const auto& par = std::get<ParallelStep>(m[2].action);
  EXPECT_EQ(std::get<InjectStep>(par.steps[0].action).name, "process-2");
  const auto& inner = std::get<ParallelStep>(par.steps[1].action);
  EXPECT_EQ(std::get<InjectStep>(inner.steps[0].action).name, "network-3");
  EXPECT_EQ(std::get<InjectStep>(m[3].action).name, "network-4");
  EXPECT_EQ(std::get<InjectStep>(m[4].action).name, "process-5");
}

TEST(PlanTest, SingleExperimentDocument) {
  const char* text = R"(name: solo
description: just one
target: {kind: kubernetes, context: staging, kubeconfig: kube.yaml}
warmup: 0s
verify:
  - name: web
    kind: http
    spec: {url: "http://127.0.0.1:1/"}
method:
  - inject: process
    spec: {pattern: p}
  - wait: 1.5s
objectives:
  - verifier: web
    recover_within: 5s
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags, "dir/solo.yaml");
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  EXPECT_EQ(plan.name, "solo");
  ASSERT_EQ(plan.experiments.size(), 1u);
  const ExperimentSpec& e = plan.experiments[0];
  EXPECT_EQ(e.path, "");
  EXPECT_EQ(e.name, "solo");
  EXPECT_EQ(e.description, "just one");
  EXPECT_EQ(e.target.kind, "kubernetes");
  EXPECT_EQ(e.target.context, "staging");
  EXPECT_EQ(e.target.kubeconfig, "kube.yaml");  // kubeconfig paths are taken as written
  EXPECT_EQ(e.warmup, Duration::zero());
  EXPECT_EQ(e.stable_for, std::chrono::seconds(1));
  EXPECT_EQ(e.verifiers[0].path, "verify[0]");
  ASSERT_EQ(e.method.size(), 2u);
  EXPECT_EQ(e.method[0].path, "method[0]");
  EXPECT_EQ(std::get<InjectStep>(e.method[0].action).name, "process-1");
  EXPECT_EQ(std::get<InjectStep>(e.method[0].action).injector->DescribeAction({}),
            "process pattern=p signal=KILL target=kubernetes");
  EXPECT_EQ(std::get<WaitStep>(e.method[1].action).duration, std::chrono::milliseconds(1500));
  ASSERT_EQ(e.objectives.size(), 1u);
  EXPECT_EQ(e.objectives[0].path, "objectives[0].recover_within");
}

TEST(PlanTest, SingleExperimentErrorsHaveTopLevelPaths) {
  const char* text = R"(name: solo
verify:
  - name: web
    kind: http
    spec: {url: "http://127.0.0.1:1/"}
method:
  - inject: process
    select: {mode: some}
    spec: {pattern: p}
defaults: {warmup: 1s}
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:8:20: method[0].select.mode: ",
                      "expected one of one, all, fixed, fixed-percent, random-max-percent; got "
                      "'some'"));
  // defaults only exist in suites.
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:10:1: defaults: ", "unknown field"));
}

TEST(PlanTest, DefaultsApplyOnlyWhereTheExperimentIsSilent) {
  const char* text = R"(defaults:
  target:
    kind: kubernetes
    context: prod
    protected_namespaces: [kube-system, monitoring]
    allow_protected: true
  warmup: 4s
  stable_for: 3s
  recovery_timeout: 2m
  cooldown: 0s
experiments:
  - name: inherits
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: overrides
    target: {kind: ssh, inventory: /abs/inventory.yaml}
    warmup: 1s
    stable_for: 250ms
    recovery_timeout: 10s
    cooldown: 5s
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags, "/srv/plans/p.yaml");
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  EXPECT_EQ(plan.name, "p");  // a suite without a name is named after its file
  ASSERT_EQ(plan.experiments.size(), 2u);
  const ExperimentSpec& a = plan.experiments[0];
  EXPECT_EQ(a.target.kind, "kubernetes");
  EXPECT_EQ(a.target.context, "prod");
  EXPECT_EQ(a.target.protected_namespaces, (std::vector<std::string>{"kube-system", "monitoring"}));
  EXPECT_TRUE(a.target.allow_protected);
  EXPECT_EQ(a.warmup, std::chrono::seconds(4));
  EXPECT_EQ(a.stable_for, std::chrono::seconds(3));
  EXPECT_EQ(a.recovery_timeout, std::chrono::minutes(2));
  EXPECT_EQ(a.cooldown, Duration::zero());
  const ExperimentSpec& b = plan.experiments[1];
  EXPECT_EQ(b.target.kind, "ssh");
  EXPECT_EQ(b.target.inventory, "/abs/inventory.yaml");  // absolute paths stay as they are
  EXPECT_EQ(b.target.context, "");
  EXPECT_FALSE(b.target.allow_protected);
  EXPECT_EQ(b.target.protected_namespaces, std::vector<std::string>{"kube-system"});
  EXPECT_EQ(b.warmup, std::chrono::seconds(1));
  EXPECT_EQ(b.stable_for, std::chrono::milliseconds(250));
  EXPECT_EQ(b.recovery_timeout, std::chrono::seconds(10));
  EXPECT_EQ(b.cooldown, std::chrono::seconds(5));
}

TEST(PlanTest, BuiltInDefaultsWithoutADefaultsSection) {
  const char* text = R"(experiments:
  - name: e
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{inject: process, spec: {pattern: p}}]
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  const ExperimentSpec& e = plan.experiments[0];
  EXPECT_EQ(e.target.kind, "local");
  EXPECT_EQ(e.target.protected_namespaces, std::vector<std::string>{"kube-system"});
  EXPECT_EQ(e.warmup, std::chrono::seconds(2));
  EXPECT_EQ(e.stable_for, std::chrono::seconds(1));
  EXPECT_EQ(e.recovery_timeout, std::chrono::seconds(60));
  EXPECT_EQ(e.cooldown, std::chrono::seconds(2));
  const auto& step = std::get<InjectStep>(e.method[0].action);
  EXPECT_EQ(step.select.mode, SelectMode::kOne);
  EXPECT_EQ(step.select.value, 0);
  EXPECT_EQ(step.select.max, 0);
  EXPECT_FALSE(step.duration.has_value());
}

TEST(PlanTest, NamesOfModesAndObjectiveTypes) {
  EXPECT_STREQ(SelectModeName(SelectMode::kOne), "one");
  EXPECT_STREQ(SelectModeName(SelectMode::kAll), "all");
  EXPECT_STREQ(SelectModeName(SelectMode::kFixed), "fixed");
  EXPECT_STREQ(SelectModeName(SelectMode::kFixedPercent), "fixed-percent");
  EXPECT_STREQ(SelectModeName(SelectMode::kRandomMaxPercent), "random-max-percent");
  EXPECT_STREQ(ObjectiveTypeName(ObjectiveSpec::Type::kRecoverWithin), "recover_within");
  EXPECT_STREQ(ObjectiveTypeName(ObjectiveSpec::Type::kMustDetect), "must_detect");
  EXPECT_STREQ(ObjectiveTypeName(ObjectiveSpec::Type::kMustNotDetect), "expect_no_impact");
  EXPECT_STREQ(ObjectiveTypeName(ObjectiveSpec::Type::kMaxDowntime), "max_downtime");
  EXPECT_STREQ(ObjectiveTypeName(ObjectiveSpec::Type::kMinAvailability), "min_availability");
}

// ---------------------------------------------------------------------------------------------
// Whole-document errors.

TEST(PlanErrorTest, EmptyFile) {
  for (const char* text : {"", "   \n", "# only a comment\n"}) {
    Diagnostics diags;
    Plan plan = Parse(text, &diags);
    EXPECT_TRUE(OnlyDiag(diags, "plan.yaml: ", "the plan is empty")) << "text: " << text;
    EXPECT_TRUE(plan.experiments.empty());
  }
}

TEST(PlanErrorTest, SyntaxError) {
  Diagnostics diags;
  Parse("experiments:\n  - name: [unclosed\n", &diags);
  ASSERT_EQ(diags.size(), 1u) << diags.ToString();
  EXPECT_NE(diags.items()[0].message.find("syntax error"), std::string::npos);
  EXPECT_GT(diags.items()[0].line, 0);
}

TEST(PlanErrorTest, TopLevelMustBeAMap) {
  Diagnostics diags;
  Parse("- name: a\n- name: b\n", &diags);
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:1:1: ", "expected a map, got a list"));
}

TEST(PlanErrorTest, NeitherExperimentsNorMethod) {
  Diagnostics diags;
  Parse("name: x\nexperimnets: []\n", &diags);
  EXPECT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:1:1: ", "expected experiments: (a list of experiments)"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:2:1: experimnets: ", "did you mean 'experiments'?"));
}

TEST(PlanErrorTest, BothExperimentsAndMethod) {
  const char* text = R"(experiments:
  - name: e
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_TRUE(
      OnlyDiag(diags, "plan.yaml:5:9: method: ", "either experiments: (a suite) or method:"));
}

TEST(PlanErrorTest, ZeroExperiments) {
  Diagnostics diags;
  Plan plan = Parse("name: nothing\nexperiments: []\n", &diags);
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:2:14: experiments: ", "expected at least one experiment"));
  EXPECT_TRUE(plan.experiments.empty());

  Diagnostics null_diags;
  Parse("name: nothing\nexperiments:\n", &null_diags);
  EXPECT_TRUE(OnlyDiag(null_diags, "plan.yaml:2:1: experiments: ",
                       "expected a list of at least one experiment, got nothing"));

  Diagnostics map_diags;
  Parse("experiments: {name: x}\n", &map_diags);
  EXPECT_TRUE(OnlyDiag(map_diags, "plan.yaml:1:14: experiments: ", "expected a list, got a map"));
}

TEST(PlanErrorTest, ExperimentEntryMustBeAMap) {
  Diagnostics diags;
  Parse("experiments:\n  - just-a-name\n", &diags);
  EXPECT_TRUE(
      OnlyDiag(diags, "plan.yaml:2:5: experiments[0]: ", "expected a map, got 'just-a-name'"));
}

// ---------------------------------------------------------------------------------------------
// Experiment fields.

TEST(PlanErrorTest, ExperimentNameMissingInvalidOrDuplicate) {
  const char* text = R"(experiments:
  - verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: Kill_One
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: same
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: same
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: -leading-dash
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name:
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 5u) << diags.ToString();
  // A missing field has no place of its own: the message points at the map that lacks it.
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:2:5: experiments[0].name: ",
                      "required field is missing (expected a string)"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:4:11: experiments[1].name: ",
                      "expected a lowercase name of at most 63 characters matching "
                      "[a-z0-9][a-z0-9._-]*, got 'Kill_One'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:10:11: experiments[3].name: ",
                      "duplicate experiment name 'same'; also used at experiments[2].name"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:13:11: experiments[4].name: ", "got '-leading-dash'"));
  // An empty value is reported at its key, not at the token that follows it.
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:16:5: experiments[5].name: ", "required field is missing"));
}

TEST(PlanErrorTest, ExperimentNameTooLong) {
  const std::string name(64, 'a');
  const std::string text = "experiments:\n  - name: " + name +
                           "\n    verify: [{name: w, kind: http, spec: {url: u}}]\n"
                           "    method: [{wait: 1s}]\n";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:2:11: experiments[0].name: ", "at most 63 characters"));
}

TEST(PlanErrorTest, UnknownFieldSuggestsTheClosestOne) {
  const char* text = R"(experiments:
  - name: e
    stabel_for: 2s
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:3:5: experiments[0].stabel_for: ",
                       "unknown field (did you mean 'stable_for'?); expected one of"));
  EXPECT_NE(diags.items()[0].message.find("recovery_timeout"), std::string::npos);
}

TEST(PlanErrorTest, PhaseDurations) {
  const char* text = R"(defaults:
  warmup: soon
  recovery_timeout: 0s
  cooldwn: 1s
experiments:
  - name: e
    warmup: -1s
    stable_for: 0
    recovery_timeout: 25h
    cooldown: [1s]
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 7u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:2:11: defaults.warmup: ",
                      "expected a duration such as 20ms, 1.5s or 2m, got 'soon'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:3:21: defaults.recovery_timeout: ",
                      "expected a duration greater than 0, got '0s'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:4:3: defaults.cooldwn: ", "did you mean 'cooldown'?"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:13: experiments[0].warmup: ", "got '-1s'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:8:17: experiments[0].stable_for: ",
                      "expected a duration greater than 0, got '0'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:9:23: experiments[0].recovery_timeout: ",
                      "expected a duration from 0s to 24h, got 25h"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:10:15: experiments[0].cooldown: ", "got a list"));
}

TEST(PlanErrorTest, LabelsAndDescriptionTypes) {
  const char* text = R"(experiments:
  - name: e
    description: [a, b]
    labels: [team]
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_TRUE(HasDiag(
      diags, "plan.yaml:3:18: experiments[0].description: ", "expected a string, got a list"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:4:13: experiments[0].labels: ", "expected a map, got a list"));
}

// ---------------------------------------------------------------------------------------------
// Target.

TEST(PlanErrorTest, TargetFields) {
  const char* text = R"(experiments:
  - name: a
    target: {kind: cloud}
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: b
    target: {kind: ssh, kubeconfig: k.yaml, context: c}
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: c
    target: {kind: local, inventory: i.yaml, known_hosts: kh, alow_protected: true}
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: d
    target: {kind: kubernetes, allow_protected: maybe, protected_namespaces: {a: b}}
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: e
    target: local
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 9u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:3:20: experiments[0].target.kind: ",
                      "expected one of local, kubernetes, ssh; got 'cloud'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:37: experiments[1].target.kubeconfig: ",
                      "only allowed when the target kind is kubernetes; kind is 'ssh'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:54: experiments[1].target.context: ",
                      "only allowed when the target kind is kubernetes"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:11:38: experiments[2].target.inventory: ",
                      "only allowed when the target kind is ssh; kind is 'local'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:11:59: experiments[2].target.known_hosts: ",
                      "only allowed when the target kind is ssh"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:11:63: experiments[2].target.alow_protected: ",
                      "did you mean 'allow_protected'?"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:15:49: experiments[3].target.allow_protected: ",
                      "expected true or false, got 'maybe'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:15:78: experiments[3].target.protected_namespaces: ",
                      "expected a list, got a map"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:19:13: experiments[4].target: ", "expected a map, got 'local'"));
}

TEST(PlanTest, SshTargetOptions) {
  const char* text = R"(name: a
target:
  kind: ssh
  inventory: inv/hosts.yaml
  known_hosts: keys/known_hosts
  insecure_ignore_host_key: true
verify: [{name: w, kind: http, spec: {url: u}}]
method: [{wait: 1s}]
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags, "plans/a.yaml");
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  const TargetSpec& t = plan.experiments[0].target;
  EXPECT_EQ(t.kind, "ssh");
  EXPECT_EQ(t.inventory, "plans/inv/hosts.yaml");
  EXPECT_EQ(t.known_hosts, "plans/keys/known_hosts");
  EXPECT_TRUE(t.insecure_ignore_host_key);

  // Without a directory in the plan's name, relative paths stay relative (to the working dir).
  Diagnostics bare_diags;
  Plan bare = Parse(text, &bare_diags, "a.yaml");
  ASSERT_TRUE(bare_diags.empty()) << bare_diags.ToString();
  EXPECT_EQ(bare.experiments[0].target.inventory, "inv/hosts.yaml");
}

TEST(PlanErrorTest, HostKeyOptionOnlyForSsh) {
  const char* text = R"(name: a
target: {kind: kubernetes, insecure_ignore_host_key: true}
verify: [{name: w, kind: http, spec: {url: u}}]
method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:2:54: target.insecure_ignore_host_key: ",
                       "only allowed when the target kind is ssh; kind is 'kubernetes'"));
}

TEST(PlanErrorTest, SshInventoryMustNotBeEmpty) {
  Diagnostics diags;
  Parse(
      "name: a\ntarget: {kind: ssh, inventory: \"\"}\nverify: [{name: w, kind: http, spec: "
      "{url: u}}]\nmethod: [{wait: 1s}]\n",
      &diags);
  EXPECT_TRUE(OnlyDiag(
      diags, "plan.yaml:2:32: target.inventory: ", "expected the path of an inventory file"));
}

TEST(PlanErrorTest, EmptyValuesAreErrorsNotDefaults) {
  const char* text = R"(name: a
stable_for:
abort:
verify:
  - name: w
    kind: http
    interval:
    spec:
      url: u
method:
  - inject: process
    duration:
    select: {mode: all, max: }
    spec: {pattern: p}
objectives:
  - verifier: w
    recover_within:
    must_detect: true
labels:
description:
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  const std::string msg = "expected a value, got nothing (leave the field out to use its default)";
  EXPECT_EQ(diags.size(), 6u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:2:1: stable_for: ", msg));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:3:1: abort: ", msg));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:5: verify[0].interval: ", msg));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:12:5: method[0].duration: ", msg));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:13:25: method[0].select.max: ", msg));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:17:5: objectives[0].recover_within: ", msg));
}

TEST(PlanErrorTest, MapKeysMustBeNames) {
  Diagnostics diags;
  Parse("name: a\n? [complex, key]\n: value\nmethod: []\n", &diags);
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:2:3: ", "expected a field name, got a list"));
}

TEST(PlanTest, ProtectedNamespaces) {
  const char* text = R"(experiments:
  - name: a
    target: {kind: kubernetes, protected_namespaces: []}
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: b
    target: {kind: kubernetes, protected_namespaces: kube-public}
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
  - name: c
    target:
      kind: kubernetes
      protected_namespaces:
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  // An empty value must not silently drop the default protection.
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:13:7: experiments[2].target.protected_namespaces: ",
                       "expected a list of namespaces, got nothing (write [] to protect none)"));
  ASSERT_EQ(plan.experiments.size(), 3u);
  EXPECT_TRUE(plan.experiments[0].target.protected_namespaces.empty());
  EXPECT_EQ(plan.experiments[1].target.protected_namespaces,
            std::vector<std::string>{"kube-public"});
  EXPECT_EQ(plan.experiments[2].target.protected_namespaces,
            std::vector<std::string>{"kube-system"});
}

// ---------------------------------------------------------------------------------------------
// Verifiers.

TEST(PlanErrorTest, VerifyMissingOrEmpty) {
  const char* text = R"(experiments:
  - name: a
    method: [{wait: 1s}]
  - name: b
    verify: []
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:2:5: experiments[0].verify: ",
                      "required field is missing (expected a list of at least one verifier)"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:5:13: experiments[1].verify: ", "expected at least one verifier"));
}

TEST(PlanErrorTest, VerifierFields) {
  const char* text = R"(experiments:
  - name: a
    verify:
      - kind: http
        spec: {url: u}
      - name: web
        kind: htp
        spec: {anything: goes}
      - name: web
        kind: tcp
        interval: 500us
        spec: {address: a}
      - name: slow
        kind: http
        interval: 2h
        slo: {success_ratio: 1.5, sucess_ratio: 1}
        spec: {url: u}
      - name: nokind
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 8u) << diags.ToString();
  EXPECT_TRUE(HasDiag(
      diags, "plan.yaml:4:9: experiments[0].verify[0].name: ", "required field is missing"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:15: experiments[0].verify[1].kind: ",
                      "unknown verifier kind 'htp' (did you mean 'http'?); registered kinds: "
                      "http, tcp"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:9:15: experiments[0].verify[2].name: ",
                      "duplicate verifier name 'web'; also used by experiments[0].verify[1]"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:11:19: experiments[0].verify[2].interval: ",
                      "expected a duration from 1ms to 1h, got 500us"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:15:19: experiments[0].verify[3].interval: ",
                      "expected a duration from 1ms to 1h, got 2h"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:16:30: experiments[0].verify[3].slo.success_ratio: ",
                      "expected a number from 0 to 1, got 1.5"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:16:35: experiments[0].verify[3].slo.sucess_ratio: ",
                      "did you mean 'success_ratio'?"));
  EXPECT_TRUE(HasDiag(
      diags, "plan.yaml:18:9: experiments[0].verify[4].kind: ", "required field is missing"));
}

TEST(PlanErrorTest, VerifierKindErrorsCarryTheirPaths) {
  const char* text = R"(experiments:
  - name: a
    verify:
      - name: present-but-wrong
        kind: http
        spec: {expect_status: 700, urll: x}
      - name: absent
        kind: tcp
      - name: not-a-map
        kind: tcp
        spec: [address]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  EXPECT_EQ(diags.size(), 5u) << diags.ToString();
  // A required field missing from a present spec: at the spec map.
  EXPECT_TRUE(HasDiag(
      diags, "plan.yaml:6:15: experiments[0].verify[0].spec.url: ", "required field is missing"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:6:31: experiments[0].verify[0].spec.expect_status: ",
                      "expected an integer from 100 to 599, got 700"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:6:36: experiments[0].verify[0].spec.urll: ",
                      "unknown field (did you mean 'url'?)"));
  // No spec at all: the kind still sees an (undefined) spec and reports what it needs, placed
  // at the verifier entry.
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:9: experiments[0].verify[1].spec.address: ",
                      "required field is missing"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:11:15: experiments[0].verify[2].spec: ",
                      "expected a map (the verifier kind's settings), got a list"));
  ASSERT_EQ(plan.experiments.size(), 1u);
  for (const VerifierSpec& v : plan.experiments[0].verifiers) EXPECT_EQ(v.verifier, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Method.

TEST(PlanErrorTest, MethodMissingOrEmpty) {
  const char* text = R"(experiments:
  - name: a
    verify: [{name: w, kind: http, spec: {url: u}}]
  - name: b
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: []
  - name: c
    verify: [{name: w, kind: http, spec: {url: u}}]
    method: {wait: 1s}
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 3u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:2:5: experiments[0].method: ",
                      "required field is missing (expected a list of at least one step)"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:6:13: experiments[1].method: ", "expected at least one step"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:9:13: experiments[2].method: ", "expected a list, got a map"));
}

TEST(PlanErrorTest, StepShapes) {
  const char* text = R"(experiments:
  - name: a
    verify: [{name: w, kind: http, spec: {url: u}}]
    method:
      - name: nothing-to-do
      - inject: process
        wait: 1s
        spec: {pattern: p}
      - wait: forever
      - wait:
      - parallel: []
      - parallel:
      - parallel: [{wait: 1s, sleep: 2s}]
      - wait: 1s
        name: pause
      - inject: process
        spec: {pattern: p}
        duraton: 5s
      - kill
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 10u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:5:9: experiments[0].method[0]: ",
                      "a step needs exactly one of inject, wait, parallel; got none"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:6:9: experiments[0].method[1]: ",
                      "a step needs exactly one of inject, wait, parallel; got inject and wait"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:9:15: experiments[0].method[2].wait: ",
                      "expected a duration such as 20ms, 1.5s or 2m, got 'forever'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:10:9: experiments[0].method[3].wait: ",
                      "expected a duration such as 2s, got nothing"));
  EXPECT_TRUE(HasDiag(
      diags, "plan.yaml:11:19: experiments[0].method[4].parallel: ", "expected at least one step"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:12:9: experiments[0].method[5].parallel: ",
                      "expected a list of at least one step, got nothing"));
  EXPECT_TRUE(HasDiag(
      diags, "plan.yaml:13:31: experiments[0].method[6].parallel[0].sleep: ", "unknown field"));
  // A wait step takes nothing but its duration.
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:15:9: experiments[0].method[7].name: ", "unknown field"));
  EXPECT_TRUE(HasDiag(
      diags, "plan.yaml:18:9: experiments[0].method[8].duraton: ", "did you mean 'duration'?"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:19:9: experiments[0].method[9]: ", "expected a map, got 'kill'"));
}

TEST(PlanErrorTest, InjectKindAndDuration) {
  const char* text = R"(experiments:
  - name: a
    verify: [{name: w, kind: http, spec: {url: u}}]
    method:
      - inject: proces
        spec: {whatever: 1}
      - inject: chaos-monkey
      - inject: process
        duration: 0s
        spec: {pattern: p}
      - inject: process
        duration: 2d
        spec: {pattern: p}
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 4u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:5:17: experiments[0].method[0].inject: ",
                      "unknown injector kind 'proces' (did you mean 'process'?); registered "
                      "kinds: broken, network, process"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:17: experiments[0].method[1].inject: ",
                      "unknown injector kind 'chaos-monkey'; registered kinds: broken, network, "
                      "process"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:9:19: experiments[0].method[2].duration: ",
                      "expected a duration greater than 0, got '0s'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:12:19: experiments[0].method[3].duration: ",
                      "expected a duration such as 20ms, 1.5s or 2m, got '2d'"));
}

TEST(PlanErrorTest, UnknownKindsWithAnEmptyRegistry) {
  Registries empty;
  Diagnostics diags;
  ParsePlan("name: e\nverify: [{name: w, kind: http}]\nmethod: [{inject: process}]\n", "p.yaml",
            empty, &diags);
  EXPECT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "p.yaml:2:26: verify[0].kind: ",
                      "unknown verifier kind 'http'; registered kinds: (none)"));
  EXPECT_TRUE(HasDiag(diags, "p.yaml:3:19: method[0].inject: ",
                      "unknown injector kind 'process'; registered kinds: (none)"));
}

TEST(PlanErrorTest, InjectorKindErrorsCarryTheirPaths) {
  const char* text = R"(experiments:
  - name: a
    verify: [{name: w, kind: http, spec: {url: u}}]
    method:
      - parallel:
          - inject: process
            spec:
              signal: HUP
              patern: x
          - inject: network
      - inject: broken
        spec: {}
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  EXPECT_EQ(diags.size(), 4u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:8:15: experiments[0].method[0].parallel[0].spec.pattern: ",
                      "required field is missing"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:8:23: experiments[0].method[0].parallel[0].spec.signal: ",
                      "expected one of TERM, KILL; got 'HUP'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:9:15: experiments[0].method[0].parallel[0].spec.patern: ",
                      "unknown field (did you mean 'pattern'?)"));
  // A kind that returns nothing without saying why still makes the plan invalid.
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:12:15: experiments[0].method[1].spec: ",
                      "injector kind 'broken' rejected this spec"));
  // network's spec is optional as a whole; with no spec it parsed fine.
  const auto& par = std::get<ParallelStep>(plan.experiments[0].method[0].action);
  EXPECT_NE(std::get<InjectStep>(par.steps[1].action).injector, nullptr);
  EXPECT_EQ(std::get<InjectStep>(par.steps[0].action).injector, nullptr);
}

TEST(PlanErrorTest, StepNamesMustBeUniqueAcrossNesting) {
  const char* text = R"(experiments:
  - name: a
    verify: [{name: w, kind: http, spec: {url: u}}]
    method:
      - inject: process
        name: kill
        spec: {pattern: p}
      - parallel:
          - parallel:
              - inject: network
                name: kill
      - inject: network
        name: process-1
      - inject: network
        name: network-5
      - inject: network
      - inject: network
        name: ""
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  EXPECT_EQ(diags.size(), 3u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags,
                      "plan.yaml:11:23: experiments[0].method[1].parallel[0].parallel[0].name: ",
                      "duplicate step name 'kill'; also used by experiments[0].method[0]"));
  // The fifth inject would default to "network-5", which an earlier step took explicitly.
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:16:17: experiments[0].method[4].inject: ",
                      "this step's default name 'network-5' is already used by "
                      "experiments[0].method[3]; give it a name:"));
  EXPECT_TRUE(HasDiag(
      diags, "plan.yaml:18:15: experiments[0].method[5].name: ", "expected a non-empty string"));
  // method[0] is named 'kill', so its default name 'process-1' was never taken and is free.
  const auto& m = plan.experiments[0].method;
  EXPECT_EQ(std::get<InjectStep>(m[2].action).name, "process-1");
  EXPECT_EQ(std::get<InjectStep>(m[5].action).name, "network-6");
}

TEST(PlanErrorTest, ExplicitNameCollidingWithAnEarlierDefault) {
  const char* text = R"(name: a
verify: [{name: w, kind: http, spec: {url: u}}]
method:
  - inject: process
    spec: {pattern: p}
  - inject: network
    name: process-1
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:7:11: method[1].name: ",
                       "duplicate step name 'process-1'; also used by method[0] (its default "
                       "name)"));
}

// ---------------------------------------------------------------------------------------------
// Select.

TEST(PlanErrorTest, SelectModeIsReportedWithExpectedValues) {
  const char* text = R"(experiments:
  - name: kill-one-replica
    verify:
      - name: frontend
        kind: http
        spec: {url: u}
    method:
      - wait: 1s
      - inject: process
        spec: {pattern: p}
        select:
          max: 2
          value: 3
          mode: some
)";
  Diagnostics diags;
  Parse(text, &diags);
  // With an unknown mode, value is not judged (its rules depend on the mode).
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:14:17: experiments[0].method[1].select.mode: ",
                       "expected one of one, all, fixed, fixed-percent, random-max-percent; got "
                       "'some'"));
  EXPECT_EQ(diags.items()[0].ToString(),
            "plan.yaml:14:17: experiments[0].method[1].select.mode: expected one of one, all, "
            "fixed, fixed-percent, random-max-percent; got 'some'");
}

TEST(PlanErrorTest, SelectValueRules) {
  const char* text = R"(name: a
verify: [{name: w, kind: http, spec: {url: u}}]
method:
  - {inject: process, spec: {pattern: p}, select: {mode: one, value: 1}}
  - {inject: process, spec: {pattern: p}, select: {mode: all, value: 100}}
  - {inject: process, spec: {pattern: p}, select: {mode: fixed}}
  - {inject: process, spec: {pattern: p}, select: {mode: fixed, value: 0}}
  - {inject: process, spec: {pattern: p}, select: {mode: fixed, value: 2.5}}
  - {inject: process, spec: {pattern: p}, select: {mode: fixed-percent}}
  - {inject: process, spec: {pattern: p}, select: {mode: fixed-percent, value: 0}}
  - {inject: process, spec: {pattern: p}, select: {mode: random-max-percent, value: 100.5}}
  - {inject: process, spec: {pattern: p}, select: {mode: random-max-percent, value: lots}}
  - {inject: process, spec: {pattern: p}, select: {mode: all, max: 0}}
  - {inject: process, spec: {pattern: p}, select: {mode: fixed, value: 5, max: 4}}
  - {inject: process, spec: {pattern: p}, select: {mode: all, maximum: 4}}
  - {inject: process, spec: {pattern: p}, select: all}
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 13u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:4:70: method[0].select.value: ",
                      "not allowed when mode is one; only fixed, fixed-percent and "
                      "random-max-percent take a value"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:5:70: method[1].select.value: ", "not allowed when mode is all"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:6:51: method[2].select.value: ",
                      "required when mode is fixed (expected an integer from 1 to 1000000)"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:72: method[3].select.value: ",
                      "expected an integer from 1 to 1000000, got 0"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:8:72: method[4].select.value: ", "expected an integer, got '2.5'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:9:51: method[5].select.value: ",
                      "required when mode is fixed-percent (expected a percentage greater than 0 "
                      "and at most 100)"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:10:80: method[6].select.value: ",
                      "expected a percentage greater than 0 and at most 100, got 0"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:11:85: method[7].select.value: ",
                      "expected a percentage greater than 0 and at most 100, got 100.5"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:12:85: method[8].select.value: ", "expected a number, got 'lots'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:13:68: method[9].select.max: ",
                      "expected an integer from 1 to 1000000, got 0"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:14:80: method[10].select.max: ", "max (4) is less than value (5)"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:15:63: method[11].select.maximum: ",
                      "unknown field; expected one of max, mode, value"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:16:51: method[12].select: ", "expected a map, got 'all'"));
}

// ---------------------------------------------------------------------------------------------
// Objectives and abort.

TEST(PlanErrorTest, ObjectiveErrors) {
  const char* text = R"(experiments:
  - name: a
    recovery_timeout: 20s
    verify:
      - {name: web, kind: http, spec: {url: u}}
      - {name: db, kind: tcp, spec: {address: a}}
    method: [{wait: 1s}]
    objectives:
      - verifier: web
        must_detect: true
      - verifier: wbe
        recover_within: 5s
      - verifier: db
      - verifier: web
        expect_no_impact: true
      - verifier: db
        must_detect: true
        expect_no_impact: true
      - verifier: db
        min_availability: 1.5
        max_downtime: -2s
        recover_within: 30s
      - recover_within: 1s
        must_detetc: true
      - verifier: db
        must_detect: yes please
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  EXPECT_EQ(diags.size(), 10u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:11:19: experiments[0].objectives[1].verifier: ",
                      "no verifier named 'wbe' in this experiment (did you mean 'web'?); "
                      "expected one of db, web"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:13:9: experiments[0].objectives[2]: ",
                      "an objective needs at least one check: recover_within, must_detect, "
                      "expect_no_impact, max_downtime or min_availability"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:15:27: experiments[0].objectives[3].expect_no_impact: ",
                      "contradicts must_detect: true at experiments[0].objectives[0].must_detect "
                      "for verifier 'web'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:18:27: experiments[0].objectives[4].expect_no_impact: ",
                      "contradicts must_detect: true at experiments[0].objectives[4].must_detect "
                      "for verifier 'db'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:20:27: experiments[0].objectives[5].min_availability: ",
                      "expected a number from 0 to 1, got 1.5"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.yaml:21:23: experiments[0].objectives[5].max_downtime: ", "got '-2s'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:22:25: experiments[0].objectives[5].recover_within: ",
                      "recover_within (30s) exceeds the experiment's recovery_timeout (20s)"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:23:9: experiments[0].objectives[6].verifier: ",
                      "required field is missing"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:24:9: experiments[0].objectives[6].must_detetc: ",
                      "did you mean 'must_detect'?"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:26:22: experiments[0].objectives[7].must_detect: ",
                      "expected true or false, got 'yes please'"));
  EXPECT_FALSE(plan.experiments.empty());
}

TEST(PlanErrorTest, ContradictionIsFoundInEitherOrder) {
  const char* text = R"(name: a
verify: [{name: web, kind: http, spec: {url: u}}]
method: [{wait: 1s}]
objectives:
  - {verifier: web, expect_no_impact: true}
  - {verifier: web, max_downtime: 0s, must_detect: true}
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_TRUE(OnlyDiag(diags, "plan.yaml:6:52: objectives[1].must_detect: ",
                       "contradicts expect_no_impact: true at objectives[0].expect_no_impact for "
                       "verifier 'web'"));
}

TEST(PlanTest, FalseChecksAddNoObjective) {
  const char* text = R"(name: a
verify: [{name: web, kind: http, spec: {url: u}}]
method: [{wait: 1s}]
objectives:
  - {verifier: web, must_detect: false}
  - {verifier: web, expect_no_impact: false, max_downtime: 0s}
  - {verifier: web, expect_no_impact: true}
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  const auto& o = plan.experiments[0].objectives;
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0].type, ObjectiveSpec::Type::kMaxDowntime);
  EXPECT_EQ(o[0].limit, 0);
  EXPECT_EQ(o[0].path, "objectives[1].max_downtime");
  EXPECT_EQ(o[1].type, ObjectiveSpec::Type::kMustNotDetect);
}

TEST(PlanErrorTest, AbortErrors) {
  const char* text = R"(name: a
verify: [{name: web, kind: http, spec: {url: u}}]
method: [{wait: 1s}]
abort:
  - verifier: web
  - verifier: web
    failing_for: 0s
  - verifier: api
    failing_for: 1s
    failing: 2s
  - {failing_for: 5s}
)";
  Diagnostics diags;
  Plan plan = Parse(text, &diags);
  EXPECT_EQ(diags.size(), 5u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:5:5: abort[0].failing_for: ",
                      "required field is missing (expected a duration greater than 0)"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:7:18: abort[1].failing_for: ",
                      "expected a duration greater than 0, got '0s'"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:8:15: abort[2].verifier: ",
                      "no verifier named 'api' in this experiment; expected one of web"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:10:5: abort[2].failing: ", "unknown field"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:11:5: abort[3].verifier: ", "required field is missing"));
  ASSERT_EQ(plan.experiments[0].aborts.size(), 4u);
  EXPECT_EQ(plan.experiments[0].aborts[2].path, "abort[2]");
}

TEST(PlanErrorTest, ObjectivesAndAbortMustBeLists) {
  const char* text = R"(name: a
verify: [{name: web, kind: http, spec: {url: u}}]
method: [{wait: 1s}]
objectives: {verifier: web, must_detect: true}
abort: [web]
)";
  Diagnostics diags;
  Parse(text, &diags);
  EXPECT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:4:13: objectives: ", "expected a list, got a map"));
  EXPECT_TRUE(HasDiag(diags, "plan.yaml:5:9: abort[0]: ", "expected a map, got 'web'"));
}

// ---------------------------------------------------------------------------------------------
// Many problems at once, in document order.

TEST(PlanErrorTest, AllProblemsAreReportedTogetherInDocumentOrder) {
  const char* text = R"(name: many
defaults:
  warmup: 1x
experiments:
  - name: BAD
    stabel_for: 1s
    verify:
      - name: web
        kind: http
        spec: {}
    method:
      - inject: process
        select: {mode: fixed}
      - wait: 1s
        inject: network
    objectives:
      - verifier: nope
        recover_within: 1s
  - name: fine
    verify: [{name: w, kind: tcp, spec: {address: a}}]
    method: [{wait: 1s}]
  - name: fine
    verify: [{name: w, kind: tcp}]
    method: [{wait: 1s}]
)";
  Diagnostics diags;
  Parse(text, &diags);
  const std::vector<std::string> expected = {
      "plan.yaml:3:11: defaults.warmup: expected a duration such as 20ms, 1.5s or 2m, got '1x'",
      "plan.yaml:5:11: experiments[0].name: expected a lowercase name",
      "plan.yaml:6:5: experiments[0].stabel_for: unknown field (did you mean 'stable_for'?)",
      "plan.yaml:10:15: experiments[0].verify[0].spec.url: required field is missing",
      "plan.yaml:12:9: experiments[0].method[0].spec.pattern: required field is missing",
      "plan.yaml:13:17: experiments[0].method[0].select.value: required when mode is fixed",
      "plan.yaml:14:9: experiments[0].method[1]: a step needs exactly one of inject, wait, "
      "parallel; got inject and wait",
      "plan.yaml:17:19: experiments[0].objectives[0].verifier: no verifier named 'nope'",
      "plan.yaml:22:11: experiments[2].name: duplicate experiment name 'fine'",
      "plan.yaml:23:14: experiments[2].verify[0].spec.address: required field is missing",
  };
  ASSERT_EQ(diags.size(), expected.size()) << diags.ToString();
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(diags.items()[i].ToString().rfind(expected[i], 0), 0u)
        << "#" << i << ": " << diags.items()[i].ToString() << "\nexpected prefix: " << expected[i];
  }
}

TEST(PlanErrorTest, JsonErrorsHavePositionsToo) {
  const char* text = R"({
  "name": "j",
  "verify": [{"name": "w", "kind": "http", "spec": {"url": "u"}}],
  "method": [{"inject": "process", "select": {"mode": "half"}, "spec": {"pattern": "p"}}],
  "objectives": [{"verifier": "w"}]
})";
  Diagnostics diags;
  Parse(text, &diags, "plan.json");
  EXPECT_EQ(diags.size(), 2u) << diags.ToString();
  EXPECT_TRUE(HasDiag(diags, "plan.json:4:55: method[0].select.mode: ", "got 'half'"));
  EXPECT_TRUE(
      HasDiag(diags, "plan.json:5:18: objectives[0]: ", "an objective needs at least one check"));
}

TEST(PlanErrorTest, OddShapesAreDiagnosedNotThrown) {
  const std::vector<std::string> documents = {
      "42\n",
      "experiments: [[]]\n",
      "experiments: [{name: [a], verify: x, method: y}]\n",
      "name: a\nverify: [[w]]\nmethod: [[wait]]\n",
      "name: a\nverify: [{name: {x: 1}, kind: [http]}]\nmethod: [{inject: {k: v}}]\n",
      "name: a\nverify: [{name: w, kind: http, spec: {url: u}}]\nmethod: [{parallel: {a: b}}]\n",
      "name: a\n? [complex, key]\n: value\nmethod: []\n",
      "name: a\nmethod: [{wait: 1s}]\nobjectives: [[x]]\nabort: {a: b}\n",
      "defaults: [1]\nexperiments: [~]\n",
      "name: &n a\nverify: [{name: *n, kind: http, spec: {url: u}}]\nmethod: [{wait: *n}]\n",
  };
  for (const std::string& text : documents) {
    Diagnostics diags;
    EXPECT_NO_THROW(Parse(text, &diags)) << text;
    EXPECT_FALSE(diags.empty()) << text;
    for (const Diagnostic& d : diags.items()) {
      EXPECT_EQ(d.file, "plan.yaml");
      EXPECT_FALSE(d.message.empty());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The JSON Schema and the parser must agree on which fields exist at every level. The parser's
// unknown-field message lists the fields it knows; the schema lists its properties.

std::set<std::string> SchemaProperties(const rapidjson::Document& schema, const char* def) {
  std::set<std::string> out;
  const auto& props = schema["$defs"][def]["properties"];
  for (auto it = props.MemberBegin(); it != props.MemberEnd(); ++it) {
    out.insert(it->name.GetString());
  }
  return out;
}

// The field list from the "unknown field ...; expected one of a, b, c" diagnostic at `path`.
std::set<std::string> ParserFields(const std::string& text, const std::string& path) {
  Diagnostics diags;
  Parse(text, &diags);
  for (const Diagnostic& d : diags.items()) {
    if (d.path != path) continue;
    const std::string marker = "expected one of ";
    const size_t at = d.message.find(marker);
    if (at == std::string::npos) continue;
    std::set<std::string> out;
    std::stringstream list(d.message.substr(at + marker.size()));
    std::string field;
    while (std::getline(list, field, ',')) {
      out.insert(field.substr(field.find_first_not_of(' ')));
    }
    return out;
  }
  ADD_FAILURE() << "no unknown-field diagnostic at " << path << ":\n" << diags.ToString();
  return {};
}

TEST(PlanSchemaTest, SchemaIsValidJsonAndAgreesWithTheParser) {
  std::ifstream in(std::string(GAMEDAY_SOURCE_DIR) + "/experiments/plan.schema.json");
  ASSERT_TRUE(in.good());
  std::stringstream buf;
  buf << in.rdbuf();
  rapidjson::Document schema;
  schema.Parse(buf.str().c_str());
  ASSERT_FALSE(schema.HasParseError()) << "offset " << schema.GetErrorOffset();
  EXPECT_STREQ(schema["$schema"].GetString(), "https://json-schema.org/draft/2020-12/schema");

  const std::string v = "verify: [{name: w, kind: http, zz: 1, slo: {zz: 1}, spec: {url: u}}]\n";
  const std::string m =
      "method: [{inject: process, zz: 1, select: {zz: 1}, spec: {pattern: p}}, {wait: 1s, zz: 1}, "
      "{parallel: [{wait: 1s}], zz: 1}]\n";
  const std::string single = "name: e\nzz: 1\ntarget: {zz: 1}\n" + v + m +
                             "objectives: [{verifier: w, must_detect: true, zz: 1}]\n"
                             "abort: [{verifier: w, failing_for: 1s, zz: 1}]\n";
  EXPECT_EQ(ParserFields(single, "zz"), SchemaProperties(schema, "experiment"));
  EXPECT_EQ(ParserFields(single, "target.zz"), SchemaProperties(schema, "target"));
  EXPECT_EQ(ParserFields(single, "verify[0].zz"), SchemaProperties(schema, "verifier"));
  EXPECT_EQ(ParserFields(single, "verify[0].slo.zz"), (std::set<std::string>{"success_ratio"}));
  EXPECT_EQ(ParserFields(single, "method[0].zz"), SchemaProperties(schema, "inject_step"));
  EXPECT_EQ(ParserFields(single, "method[0].select.zz"), SchemaProperties(schema, "select"));
  EXPECT_EQ(ParserFields(single, "method[1].zz"), SchemaProperties(schema, "wait_step"));
  EXPECT_EQ(ParserFields(single, "method[2].zz"), SchemaProperties(schema, "parallel_step"));
  EXPECT_EQ(ParserFields(single, "objectives[0].zz"), SchemaProperties(schema, "objective"));
  EXPECT_EQ(ParserFields(single, "abort[0].zz"), SchemaProperties(schema, "abort"));

  const std::string suite =
      "zz: 1\ndefaults: {zz: 1}\nexperiments: [{name: e, " + v.substr(0, v.size() - 1) + "}]\n";
  EXPECT_EQ(ParserFields(suite, "zz"), SchemaProperties(schema, "suite"));
  EXPECT_EQ(ParserFields(suite, "defaults.zz"), SchemaProperties(schema, "defaults"));
}

// ---------------------------------------------------------------------------------------------
// LoadPlan.

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("plan_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(LoadPlanTest, ReadsTheFileAndResolvesPathsAgainstIt) {
  TempDir dir;
  const std::string file = (dir.path() / "suite.yaml").string();
  {
    std::ofstream out(file);
    out << kSuiteYaml;
  }
  Diagnostics diags;
  Plan plan = LoadPlan(file, TestRegistries(), &diags);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  EXPECT_EQ(plan.file, file);
  ASSERT_EQ(plan.experiments.size(), 2u);
  EXPECT_EQ(plan.experiments[1].target.inventory, (dir.path() / "hosts.yaml").string());
}

TEST(LoadPlanTest, ErrorsNameTheFile) {
  TempDir dir;
  const std::string file = (dir.path() / "bad.yaml").string();
  {
    std::ofstream out(file);
    out << "name: a\nverify: [{name: w, kind: http, spec: {url: u}}]\nmethod: [{wait: 1h1m}]\n";
  }
  Diagnostics diags;
  LoadPlan(file, TestRegistries(), &diags);
  EXPECT_TRUE(OnlyDiag(diags, file + ":3:17: method[0].wait: ", "got '1h1m'"));
}

TEST(LoadPlanTest, MissingFileIsOneDiagnosticWithErrnoText) {
  TempDir dir;
  const std::string file = (dir.path() / "nope.yaml").string();
  Diagnostics diags;
  Plan plan = LoadPlan(file, TestRegistries(), &diags);
  ASSERT_EQ(diags.size(), 1u) << diags.ToString();
  EXPECT_EQ(diags.items()[0].ToString(), file + ": cannot open plan: No such file or directory");
  EXPECT_EQ(plan.file, file);
  EXPECT_TRUE(plan.experiments.empty());
}

TEST(LoadPlanTest, DirectoryIsOneDiagnosticWithErrnoText) {
  TempDir dir;
  Diagnostics diags;
  LoadPlan(dir.path().string(), TestRegistries(), &diags);
  ASSERT_EQ(diags.size(), 1u) << diags.ToString();
  EXPECT_EQ(diags.items()[0].ToString(),
            dir.path().string() + ": cannot read plan: Is a directory");
}

}  // namespace
}  // namespace gameday
