#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>

#include "experiments/registry.h"
#include "experiments/spec_reader.h"
#include "injectors/process/proc.h"
#include "injectors/process/process_injector.h"
#include "injectors/registry.h"

namespace gameday {
namespace {

// Parses `yaml` as a process spec; `diags` receives every problem.
struct Parsed {
  Diagnostics diags;
  std::unique_ptr<Injector> injector;
  bool HasError(const std::string& path, const std::string& text) const {
    for (const auto& d : diags.items()) {
      if (d.path == path && d.message.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

Parsed Parse(const std::string& yaml, const std::string& target_kind = "local") {
  Parsed p;
  auto node = LoadDocument(yaml, "plan.yaml", &p.diags);
  EXPECT_TRUE(node) << p.diags.ToString();
  if (!node) return p;
  SpecNode spec(*node, "spec", std::make_shared<const std::string>("plans/plan.yaml"), &p.diags);
  TargetSpec target;
  target.kind = target_kind;
  p.injector = MakeProcessInjectorKind()->Parse(spec, target);
  return p;
}

FaultTarget SampleTarget() {
  FaultTarget t;
  t.id = "pid:1234:5678";
  t.display = "pid 1234 gameday-demo --port 18081";
  t.attributes = {
      {"pid", "1234"}, {"name", "gameday-demo"}, {"cmdline", "gameday-demo --port 18081"}};
  return t;
}

TEST(ProcessInjectorSpecTest, ValidSpecsParse) {
  auto kill = Parse("match: {name: gameday-demo}");
  ASSERT_TRUE(kill.injector) << kill.diags.ToString();
  EXPECT_TRUE(kill.diags.empty());
  EXPECT_FALSE(kill.injector->Reversible());
  EXPECT_EQ(kill.injector->DescribeAction(SampleTarget()),
            "SIGKILL pid 1234 (gameday-demo --port 18081)");

  auto term = Parse("match: {pattern: 'demo.*--port 1808[12]'}\naction: kill\nsignal: TERM");
  ASSERT_TRUE(term.injector) << term.diags.ToString();
  EXPECT_EQ(term.injector->DescribeAction(SampleTarget()),
            "SIGTERM pid 1234 (gameday-demo --port 18081)");

  auto freeze = Parse("match: {pid_file: /run/x.pid}\naction: freeze");
  ASSERT_TRUE(freeze.injector) << freeze.diags.ToString();
  EXPECT_TRUE(freeze.injector->Reversible());
  EXPECT_EQ(freeze.injector->DescribeAction(SampleTarget()),
            "freeze (SIGSTOP) pid 1234 (gameday-demo --port 18081)");

  auto stop = Parse("match: {name: gameday-demo}\naction: stop\nstop_timeout: 5s");
  ASSERT_TRUE(stop.injector) << stop.diags.ToString();
  EXPECT_TRUE(stop.injector->Reversible());
  EXPECT_EQ(stop.injector->DescribeAction(SampleTarget()),
            "stop (SIGTERM, SIGKILL after 5s) then restart pid 1234 (gameday-demo --port 18081)");
  auto stop_default = Parse("match: {name: gameday-demo}\naction: stop");
  ASSERT_TRUE(stop_default.injector);
  EXPECT_NE(stop_default.injector->DescribeAction(SampleTarget()).find("after 5s"),
            std::string::npos);
  auto stop_quick = Parse("match: {name: x}\naction: stop\nstop_timeout: 250ms");
  ASSERT_TRUE(stop_quick.injector);
  EXPECT_NE(stop_quick.injector->DescribeAction(SampleTarget()).find("after 250ms"),
            std::string::npos);

  for (const char* sig : {"SIGTERM", "TERM", "term", "15", "SIGHUP", "9", "SIGUSR1"}) {
    auto p = Parse(std::string("match: {name: x}\nsignal: ") + sig);
    EXPECT_TRUE(p.injector) << sig << ": " << p.diags.ToString();
  }
}

TEST(ProcessInjectorSpecTest, MatchIsRequired) {
  auto p = Parse("action: kill");
  EXPECT_FALSE(p.injector);
  EXPECT_TRUE(p.HasError("spec.match", "required field is missing")) << p.diags.ToString();
}

TEST(ProcessInjectorSpecTest, MatchWithNoneOfTheThree) {
  auto empty = Parse("match: {}");
  EXPECT_FALSE(empty.injector);
  EXPECT_TRUE(empty.HasError("spec.match", "exactly one of pid_file, name, pattern; got none"))
      << empty.diags.ToString();
  auto other = Parse("match: {nmae: demo}");
  EXPECT_FALSE(other.injector);
  EXPECT_TRUE(other.HasError("spec.match", "got none")) << other.diags.ToString();
  EXPECT_TRUE(other.HasError("spec.match.nmae", "did you mean 'name'")) << other.diags.ToString();
  auto scalar = Parse("match: demo");
  EXPECT_FALSE(scalar.injector);
  EXPECT_TRUE(scalar.HasError("spec.match", "expected a map")) << scalar.diags.ToString();
}

TEST(ProcessInjectorSpecTest, MatchWithTwoOrThree) {
  auto two = Parse("match: {name: demo, pattern: demo}");
  EXPECT_FALSE(two.injector);
  EXPECT_TRUE(two.HasError("spec.match", "got name and pattern")) << two.diags.ToString();
  auto three = Parse("match: {pid_file: /x.pid, name: demo, pattern: demo}");
  EXPECT_FALSE(three.injector);
  EXPECT_TRUE(three.HasError("spec.match", "got pid_file and name and pattern"))
      << three.diags.ToString();
}

TEST(ProcessInjectorSpecTest, EmptyOrMalformedMatchValues) {
  auto name = Parse("match: {name: ''}");
  EXPECT_FALSE(name.injector);
  EXPECT_TRUE(name.HasError("spec.match.name", "non-empty")) << name.diags.ToString();
  auto slash = Parse("match: {name: /usr/bin/demo}");
  EXPECT_FALSE(slash.injector);
  EXPECT_TRUE(slash.HasError("spec.match.name", "use pattern")) << slash.diags.ToString();
  auto pattern = Parse("match: {pattern: ''}");
  EXPECT_FALSE(pattern.injector);
  EXPECT_TRUE(pattern.HasError("spec.match.pattern", "non-empty")) << pattern.diags.ToString();
  auto list = Parse("match: {name: [a, b]}");
  EXPECT_FALSE(list.injector);
  EXPECT_TRUE(list.HasError("spec.match.name", "expected a string")) << list.diags.ToString();
}

TEST(ProcessInjectorSpecTest, BadRegex) {
  // The last two are valid ECMAScript that RE2 leaves out to match in linear time.
  for (const char* bad : {"demo(", "[a-", "*x", "a{2,1}", "(a)\\1", "demo(?!-canary)"}) {
    auto p = Parse(std::string("match: {pattern: '") + bad + "'}");
    EXPECT_FALSE(p.injector) << bad;
    EXPECT_TRUE(p.HasError("spec.match.pattern", "invalid regular expression (RE2 syntax)"))
        << bad << ": " << p.diags.ToString();
  }
  auto p = Parse("match: {pattern: 'demo(?!-canary)'}");
  ASSERT_EQ(p.diags.items().size(), 1u) << p.diags.ToString();
  const Diagnostic& d = p.diags.items()[0];
  EXPECT_EQ(
      d.message,
      "invalid regular expression (RE2 syntax) 'demo(?!-canary)': invalid perl operator: (?!");
  EXPECT_EQ(d.line, 1);
}

TEST(ProcessInjectorSpecTest, BadSignal) {
  for (const char* bad : {"SIGFOO", "0", "-9", "999", "65", "KILLL", "SIG", "9.5"}) {
    auto p = Parse(std::string("match: {name: x}\nsignal: '") + bad + "'");
    EXPECT_FALSE(p.injector) << bad;
    EXPECT_TRUE(p.HasError("spec.signal", "unknown signal")) << bad << ": " << p.diags.ToString();
  }
}

TEST(ProcessInjectorSpecTest, SignalOnlyWithKill) {
  auto freeze = Parse("match: {name: x}\naction: freeze\nsignal: SIGTERM");
  EXPECT_FALSE(freeze.injector);
  EXPECT_TRUE(freeze.HasError("spec.signal", "applies only to action: kill"))
      << freeze.diags.ToString();
  auto stop = Parse("match: {name: x}\naction: stop\nsignal: SIGKILL");
  EXPECT_FALSE(stop.injector);
  EXPECT_TRUE(stop.HasError("spec.signal", "applies only to action: kill"))
      << stop.diags.ToString();
}

TEST(ProcessInjectorSpecTest, StopTimeoutRangeAndAction) {
  auto too_long = Parse("match: {name: x}\naction: stop\nstop_timeout: 11m");
  EXPECT_FALSE(too_long.injector);
  EXPECT_TRUE(too_long.HasError("spec.stop_timeout", "expected a duration from 0s to 10m"))
      << too_long.diags.ToString();
  auto malformed = Parse("match: {name: x}\naction: stop\nstop_timeout: soon");
  EXPECT_FALSE(malformed.injector);
  EXPECT_TRUE(malformed.HasError("spec.stop_timeout", "expected a duration"))
      << malformed.diags.ToString();
  auto negative = Parse("match: {name: x}\naction: stop\nstop_timeout: -1s");
  EXPECT_FALSE(negative.injector);
  EXPECT_TRUE(negative.HasError("spec.stop_timeout", "expected a duration"))
      << negative.diags.ToString();
  auto with_kill = Parse("match: {name: x}\nstop_timeout: 1s");
  EXPECT_FALSE(with_kill.injector);
  EXPECT_TRUE(with_kill.HasError("spec.stop_timeout", "applies only to action: stop"))
      << with_kill.diags.ToString();
  auto zero = Parse("match: {name: x}\naction: stop\nstop_timeout: 0s");
  EXPECT_TRUE(zero.injector) << zero.diags.ToString();
}

TEST(ProcessInjectorSpecTest, BadActionUnknownFieldsAndTarget) {
  auto action = Parse("match: {name: x}\naction: pause");
  EXPECT_FALSE(action.injector);
  EXPECT_TRUE(action.HasError("spec.action", "expected one of kill, freeze, stop"))
      << action.diags.ToString();
  auto typo = Parse("match: {name: x}\nacton: freeze");
  EXPECT_FALSE(typo.injector);
  EXPECT_TRUE(typo.HasError("spec.acton", "did you mean 'action'")) << typo.diags.ToString();
  auto remote = Parse("match: {name: x}", "ssh");
  EXPECT_FALSE(remote.injector);
  EXPECT_TRUE(remote.HasError("spec", "target kind 'local'")) << remote.diags.ToString();
  auto not_map = Parse("[1, 2]");
  EXPECT_FALSE(not_map.injector);
  EXPECT_TRUE(not_map.HasError("spec", "expected a map")) << not_map.diags.ToString();
}

TEST(ProcessInjectorSpecTest, CollectsEveryErrorWithPositions) {
  auto p = Parse(
      "match:\n"
      "  name: a\n"
      "  pattern: 'b('\n"
      "action: freeze\n"
      "signal: TERM\n"
      "stop_timeout: 1s\n"
      "colour: red\n");
  EXPECT_FALSE(p.injector);
  EXPECT_TRUE(p.HasError("spec.match", "got name and pattern"));
  EXPECT_TRUE(p.HasError("spec.signal", "applies only to action: kill"));
  EXPECT_TRUE(p.HasError("spec.stop_timeout", "applies only to action: stop"));
  EXPECT_TRUE(p.HasError("spec.colour", "unknown field"));
  EXPECT_GE(p.diags.size(), 4u) << p.diags.ToString();
  for (const auto& d : p.diags.items()) {
    EXPECT_EQ(d.file, "plans/plan.yaml");
    EXPECT_GT(d.line, 0) << d.ToString();
  }
  for (const auto& d : p.diags.items()) {
    if (d.path == "spec.signal") {
      EXPECT_EQ(d.line, 5);
    }
  }
}

TEST(ProcessInjectorSpecTest, RevertRejectsMalformedRecords) {
  auto kind = MakeProcessInjectorKind();
  InjectorEnv env;
  for (const char* bad :
       {"", "not json", "[]", "{}", R"({"action":"freeze"})", R"({"action":"freeze","pid":"1"})",
        R"({"action":"explode","pid":1,"starttime":1})",
        R"({"action":"stop","pid":1,"starttime":1})",
        R"({"action":"stop","pid":1,"starttime":1,"argv":[],"cwd":"/","env":[]})"}) {
    Status s = kind->Revert(bad, env);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << bad << " -> " << s.ToString();
  }
  // A kill has nothing to undo, whatever process the record names; but a record naming pid 1,
  // which gameday never targets, is not one it wrote.
  EXPECT_TRUE(kind->Revert(R"({"action":"kill","pid":4242,"starttime":1,"signal":9})", env).ok());
  EXPECT_EQ(kind->Revert(R"({"action":"kill","pid":1,"starttime":1,"signal":9})", env).code(),
            Status::Code::kInvalidArgument);
}

TEST(ProcessInjectorSpecTest, SignalNamesAndNumbers) {
  EXPECT_EQ(ParseSignal("SIGKILL"), SIGKILL);
  EXPECT_EQ(ParseSignal("kill"), SIGKILL);
  EXPECT_EQ(ParseSignal("SigTerm"), SIGTERM);
  EXPECT_EQ(ParseSignal("2"), SIGINT);
  EXPECT_EQ(ParseSignal("SIGIOT"), SIGABRT);
  EXPECT_FALSE(ParseSignal(""));
  EXPECT_FALSE(ParseSignal("0"));
  EXPECT_FALSE(ParseSignal("1000000000000"));
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(SIGABRT), "SIGABRT");
  EXPECT_EQ(SignalName(SIGRTMIN + 1), "signal " + std::to_string(SIGRTMIN + 1));
}

TEST(ProcessInjectorSpecTest, ParsesProcStatWithAwkwardNames) {
  const std::string fields =
      " S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615";
  auto st = ParseProcStat("4242 (we ird) (x) name)" + fields);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->comm, "we ird) (x) name");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->starttime, 987654u);
  EXPECT_FALSE(st->kernel_thread());
  EXPECT_FALSE(st->zombie());
  auto kthread = ParseProcStat("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0");
  ASSERT_TRUE(kthread);
  EXPECT_TRUE(kthread->kernel_thread());
  const std::vector<std::string> bad_stats = {"", "12", "x (a) S", "12 (a) S 1 2 3",
                                              "-5 (a)" + fields};
  for (const std::string& bad : bad_stats) EXPECT_FALSE(ParseProcStat(bad)) << bad;
}

TEST(ProcessInjectorSpecTest, RegistryHoldsTheKindAndTheExamplePlanParses) {
  Registry<InjectorKind> registry;
  RegisterBuiltinInjectors(registry);
  const InjectorKind* kind = registry.Find("process");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->Name(), "process");

  // The example's fault spec is valid for the kind (the whole-plan check is the conformance
  // test's job).
  const std::string path = std::string(GAMEDAY_SOURCE_DIR) + "/injectors/process/example.yaml";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  Diagnostics diags;
  auto doc = LoadDocument(text.str(), path, &diags);
  ASSERT_TRUE(doc) << diags.ToString();
  YAML::Node method = (*doc)["method"];
  ASSERT_TRUE(method.IsSequence());
  int process_steps = 0;
  for (size_t i = 0; i < method.size(); ++i) {
    if (!method[i]["inject"] || method[i]["inject"].as<std::string>() != "process") continue;
    ++process_steps;
    SpecNode spec(method[i]["spec"], "method[" + std::to_string(i) + "].spec",
                  std::make_shared<const std::string>(path), &diags);
    EXPECT_TRUE(kind->Parse(spec, TargetSpec{}));
  }
  EXPECT_EQ(process_steps, 1);
  EXPECT_TRUE(diags.empty()) << diags.ToString();
}

}  // namespace
}  // namespace gameday
