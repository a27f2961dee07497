// container-kill without a cluster or a host: its spec errors (file:line:col and field path), the
// strict reading of containerIDs, pods and the on-host search's output (all hostile), the
// node-to-host mapping and the revert records it refuses.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "clients/inventory/inventory.h"
#include "experiments/json.h"
#include "experiments/spec_reader.h"
#include "injectors/container_kill/container_kill_injector.h"
#include "injectors/container_kill/container_process.h"
#include "injectors/ssh_fault/ssh_fault.h"

namespace gameday {
namespace {

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Parsed {
  Diagnostics diags;
  std::unique_ptr<Injector> injector;
  // The diagnostic at `path` whose message holds `text`, or null.
  const Diagnostic* Find(const std::string& path, const std::string& text) const {
    for (const auto& d : diags.items()) {
      if (d.path == path && d.message.find(text) != std::string::npos) return &d;
    }
    return nullptr;
  }
};

TargetSpec KubeTarget() {
  TargetSpec t;
  t.kind = "kubernetes";
  t.check_inventory = false;  // no inventory read unless a test asks for it
  return t;
}

Parsed Parse(const std::string& yaml, const TargetSpec& target = KubeTarget(),
             const std::string& file = "plans/plan.yaml") {
  Parsed p;
  auto node = LoadDocument(yaml, file, &p.diags);
  EXPECT_TRUE(node) << p.diags.ToString();
  if (!node) return p;
  SpecNode spec(*node, "spec", std::make_shared<const std::string>(file), &p.diags);
  p.injector = MakeContainerKillInjectorKind()->Parse(spec, target);
  return p;
}

TEST(ContainerKillSpecTest, ValidSpecsParse) {
  auto kill = Parse("namespace: shop\nlabel_selector: app=web\n");
  ASSERT_TRUE(kill.injector) << kill.diags.ToString();
  EXPECT_TRUE(kill.injector->Reversible()) << "the revert reads the restartCount after a kill";
  FaultTarget t;
  t.id = "shop/web-1/u1";
  t.attributes = {{"namespace", "shop"}, {"name", "web-1"}, {"uid", "u1"}, {"node", "n1"}};
  EXPECT_NE(kill.injector->DescribeAction(t).find("SIGKILL the main process of the first "
                                                  "container of pod shop/web-1 on node n1"),
            std::string::npos)
      << kill.injector->DescribeAction(t);

  auto freeze = Parse(
      "namespace: shop\ncontainer: app\naction: freeze\nexpiry_margin: 5s\non_host_expiry: true\n");
  ASSERT_TRUE(freeze.injector) << freeze.diags.ToString();
  EXPECT_NE(freeze.injector->DescribeAction(t).find("freeze (SIGSTOP) the main process of "
                                                    "container app"),
            std::string::npos);

  auto term = Parse("namespace: shop\nsignal: TERM\nrestart_wait: 0s\n");
  ASSERT_TRUE(term.injector) << term.diags.ToString();
  EXPECT_NE(term.injector->DescribeAction(t).find("SIGTERM"), std::string::npos);
}

TEST(ContainerKillSpecTest, EveryFieldErrorHasItsPlaceAndPath) {
  auto p = Parse(
      "namespace: shop\n"    // 1
      "container: App_1\n"   // 2
      "action: freeze\n"     // 3
      "signal: TERM\n"       // 4
      "restart_wait: 5s\n"   // 5
      "expiry_margin: 0s\n"  // 6
      "inventory: ''\n"      // 7
      "sginal: KILL\n");     // 8
  EXPECT_FALSE(p.injector);
  struct Want {
    std::string path, text;
    int line, column;
  };
  for (const Want& w : std::vector<Want>{
           {"spec.container", "expected a container name", 2, 12},
           {"spec.signal", "not used with action: freeze", 4, 9},
           {"spec.restart_wait", "not used with action: freeze", 5, 15},
           {"spec.expiry_margin", "", 6, 16},
           {"spec.inventory", "expected a file path", 7, 12},
           {"spec.sginal", "signal", 8, 1},
       }) {
    const Diagnostic* d = p.Find(w.path, w.text);
    ASSERT_NE(d, nullptr) << "no error at " << w.path << " with '" << w.text << "' in:\n"
                          << p.diags.ToString();
    EXPECT_EQ(d->file, "plans/plan.yaml");
    EXPECT_EQ(d->line, w.line) << d->ToString();
    EXPECT_EQ(d->column, w.column) << d->ToString();
  }
  EXPECT_NE(p.diags.ToString().find("plans/plan.yaml:4:9: spec.signal: "), std::string::npos)
      << p.diags.ToString();

  auto bad_values = Parse("namespace: shop\naction: crash\nsignal: STOP\non_host_expiry: false\n");
  EXPECT_FALSE(bad_values.injector);
  EXPECT_TRUE(bad_values.Find("spec.action", "kill, freeze")) << bad_values.diags.ToString();
  EXPECT_TRUE(bad_values.Find("spec.signal", "KILL")) << bad_values.diags.ToString();
  EXPECT_TRUE(bad_values.Find("spec.on_host_expiry", "only used with action: freeze"))
      << bad_values.diags.ToString();

  auto no_ns = Parse("label_selector: app=web\n");
  EXPECT_FALSE(no_ns.injector);
  EXPECT_TRUE(no_ns.Find("spec", "missing namespace")) << no_ns.diags.ToString();

  auto protected_ns = Parse("namespace: kube-system\n");
  EXPECT_FALSE(protected_ns.injector);
  EXPECT_TRUE(protected_ns.Find("spec.namespace", "protected")) << protected_ns.diags.ToString();

  TargetSpec ssh;
  ssh.kind = "ssh";
  auto wrong_target = Parse("namespace: shop\n", ssh);
  EXPECT_FALSE(wrong_target.injector);
  EXPECT_FALSE(wrong_target.diags.empty());
}

TEST(ContainerKillSpecTest, TheInventoryIsReadRelativeToThePlanAndItsErrorsArePlaced) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("gameday-ckill-spec-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "plans");
  std::ofstream(dir / "plans" / "nodes.yaml")
      << "hosts:\n  - name: n1\n    address: 198.18.0.21\n    prot: 22\n";
  TargetSpec target = KubeTarget();
  target.check_inventory = true;
  auto p = Parse("namespace: shop\ninventory: nodes.yaml\n", target,
                 (dir / "plans" / "plan.yaml").string());
  EXPECT_FALSE(p.injector);
  bool placed = false;
  for (const Diagnostic& d : p.diags.items()) {
    placed = placed || (d.file == (dir / "plans" / "nodes.yaml").string() && d.line == 4);
  }
  EXPECT_TRUE(placed) << "the inventory's own typo is reported in the inventory:\n"
                      << p.diags.ToString();

  auto missing = Parse("namespace: shop\ninventory: none.yaml\n", target,
                       (dir / "plans" / "plan.yaml").string());
  EXPECT_FALSE(missing.injector);
  EXPECT_NE(missing.diags.ToString().find("none.yaml"), std::string::npos)
      << missing.diags.ToString();

  std::ofstream(dir / "plans" / "nodes.yaml") << "hosts:\n  - name: n1\n    address: 198.18.0.21\n";
  auto ok = Parse("namespace: shop\ninventory: nodes.yaml\n", target,
                  (dir / "plans" / "plan.yaml").string());
  EXPECT_TRUE(ok.injector) << ok.diags.ToString();
  std::filesystem::remove_all(dir);
}

TEST(ContainerIdTest, AcceptsOnlyKnownRuntimesAnd64LowercaseHexDigits) {
  for (const char* runtime : {"containerd", "cri-o", "docker"}) {
    Result<ContainerId> id = ParseContainerId(std::string(runtime) + "://" + kHex);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_EQ(id->runtime, runtime);
    EXPECT_EQ(id->hex, kHex);
    EXPECT_EQ(id->ToString(), std::string(runtime) + "://" + kHex);
  }
  const std::string upper = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
  for (const std::string& bad : std::vector<std::string>{
           std::string(""),
           kHex,                                           // no runtime
           "containerd:/" + kHex,                          // not ://
           "rkt://" + kHex,                                // unknown runtime
           "Containerd://" + kHex,                         //
           "containerd://" + kHex.substr(1),               // 63 digits
           "containerd://" + kHex + "0",                   // 65
           "containerd://" + upper,                        // upper case
           "containerd://" + kHex + "\n",                  // a newline for the script
           "containerd://" + kHex.substr(3) + "';x",       // a quote
           "containerd://" + kHex.substr(0, 60) + "/../",  // a path
           "containerd://../../" + kHex.substr(6),
           std::string("containerd://\0", 14) + kHex.substr(1),
           "containerd://" + std::string(200, 'a'),
       }) {
    Result<ContainerId> id = ParseContainerId(bad);
    EXPECT_FALSE(id.ok()) << "accepted " << bad;
    if (id.ok()) continue;
    EXPECT_EQ(id.status().code(), Status::Code::kInvalidArgument);
    for (char c : id.status().message()) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f)
          << "the message echoes a raw byte: " << id.status().message();
    }
    EXPECT_LT(id.status().message().size(), 200u) << "the message echoes too much";
  }
}

TEST(FindOutputTest, ReadsTheInitAndRefusesHostileOutput) {
  const ContainerId id = *ParseContainerId("containerd://" + kHex);
  Result<HostProcess> one = ParseFindOutput("main 4242 987654\nend\n", id);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->pid, 4242);
  EXPECT_EQ(one->start_time, 987654u);

  // An exec'd process also has the shim for parent: the one that started first is the init.
  Result<HostProcess> two = ParseFindOutput("main 5000 2000\nmain 4000 1000\nend\n", id);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->pid, 4000);

  Result<HostProcess> max = ParseFindOutput("main 4194304 18446744073709551615\nend", id);
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_EQ(max->start_time, 18446744073709551615u);

  Result<HostProcess> none = ParseFindOutput("end\n", id);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Status::Code::kNotFound);
  EXPECT_NE(none.status().message().find("no process on the node is in the cgroup of container "
                                         "containerd://" +
                                         kHex),
            std::string::npos);

  std::string many;
  for (int i = 0; i < 65; ++i)
    many += "main " + std::to_string(100 + i) + " " + std::to_string(i) + "\n";
  for (const std::string& bad : std::vector<std::string>{
           std::string(""),                          // never ran
           "main 4242 987654\n",                     // cut short: no end
           "main 4242 987654\nend\nmain 1 2\n",      // after end
           "main 1 5\nend\n",                        // pid 1
           "main 0 5\nend\n",                        //
           "main -3 5\nend\n",                       //
           "main 04242 5\nend\n",                    // leading zero
           "main 4194305 5\nend\n",                  // above PID_MAX_LIMIT
           "main 99999999999999999999 5\nend\n",     //
           "main 4242 18446744073709551616\nend\n",  // 2^64
           "main 4242 -1\nend\n",                    //
           "main 4242 12 13\nend\n",                 // extra field
           "main 4242\nend\n",                       //
           "main  4242 5\nend\n",                    // double space
           "main 4242 5\r\nend\n",                   // CR
           "main 4242 5\nend\r\n",                   //
           "Main 4242 5\nend\n",                     //
           "main 4242 5\nEND\n",                     //
           "main 4242 5\n\nend\n",                   // empty line
           "main 4242 1e3\nend\n",                   //
           "main 0x10 5\nend\n",                     //
           std::string("main 4242 5\0\nend\n", 17),  // NUL
           "main 100 7\nmain 200 7\nend\n",          // a tie
           "sh: 1: grep: not found\nend\n",          //
           many + "end\n",                           // too many
           std::string(70000, 'x'),                  // huge
       }) {
    Result<HostProcess> r = ParseFindOutput(bad, id);
    EXPECT_FALSE(r.ok()) << "accepted: " << bad.substr(0, 80);
    if (r.ok()) continue;
    for (char c : r.status().message()) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "raw byte in: " << r.status().message();
    }
    EXPECT_LT(r.status().message().size(), 400u);
  }
}

TEST(FindScriptTest, NamesOnlyTheCheckedIdAndEndsWithEnd) {
  const ContainerId id = *ParseContainerId("cri-o://" + kHex);
  const std::string script = FindMainProcessScript(id);
  EXPECT_NE(script.find("[/-]" + kHex + "([.]scope)?$"), std::string::npos) << script;
  EXPECT_NE(script.find("echo end"), std::string::npos);
  const std::string signal = SignalScript({4242, 777}, id, "KILL", std::chrono::seconds(2));
  EXPECT_NE(signal.find("[ \"$gd_start\" = 777 ]"), std::string::npos) << signal;
  EXPECT_NE(signal.find("kill -KILL 4242"), std::string::npos);
  EXPECT_LT(signal.find("= 777 ]"), signal.find("kill -KILL 4242"))
      << "the start time is checked before the signal";
  const std::string resume = ResumeScript({4242, 777});
  EXPECT_NE(resume.find("kill -CONT 4242"), std::string::npos);
  EXPECT_LT(resume.find("= 777 ]"), resume.find("kill -CONT 4242"));

  // Every script parses as POSIX sh (and as bash, the usual login shell), alone and inside the
  // subshell the freeze runs it in.
  for (const std::string& sh : {std::string("sh"), std::string("bash")}) {
    if (::access(("/bin/" + sh).c_str(), X_OK) != 0) continue;
    for (const std::string& s :
         {script, signal, resume,
          "(\n" + SignalScript({9, 1}, id, "STOP", std::chrono::seconds(5)) + ")\n",
          SignalScript({9, 1}, id, "TERM", std::chrono::seconds(1))}) {
      FILE* p = ::popen(("/bin/" + sh + " -n >/dev/null 2>&1").c_str(), "w");
      ASSERT_NE(p, nullptr);
      std::fwrite(s.data(), 1, s.size(), p);
      EXPECT_EQ(::pclose(p), 0) << sh << " -n refuses:\n" << s;
    }
  }
}

// Whether `line` (one line of /proc/PID/cgroup) matches the pattern, as grep -E on a node sees it.
bool GrepMatches(const std::string& pattern, const std::string& line) {
  FILE* p = ::popen(("grep -qE '" + pattern + "'").c_str(), "w");
  if (p == nullptr) return false;
  std::fwrite(line.data(), 1, line.size(), p);
  std::fputc('\n', p);
  return ::pclose(p) == 0;
}

TEST(CgroupPatternTest, MatchesTheContainersCgroupInEveryLayoutAndNothingElse) {
  const ContainerId id = *ParseContainerId("containerd://" + kHex);
  const std::string pat = CgroupLinePattern(id);
  const std::string pod = "pod6b1c2f3e-0000-4000-8000-000000000001";
  for (const std::string& line : std::vector<std::string>{
           // cgroup v1, cgroupfs driver (this machine), any controller
           "4:pids:/kubepods/besteffort/" + pod + "/" + kHex,
           "11:memory:/kubepods/" + pod + "/" + kHex,
           // cgroup v1, systemd driver
           "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-" + pod +
               ".slice/cri-containerd-" + kHex + ".scope",
           // cgroup v2, systemd and cgroupfs drivers; CRI-O and Docker scopes
           "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-" + pod +
               ".slice/cri-containerd-" + kHex + ".scope",
           "0::/kubepods/burstable/" + pod + "/" + kHex,
           "0::/kubepods.slice/crio-" + kHex + ".scope",
           "0::/system.slice/docker-" + kHex + ".scope",
       }) {
    EXPECT_TRUE(GrepMatches(pat, line)) << line;
  }
  for (const std::string& line : std::vector<std::string>{
           "4:pids:/kubepods/besteffort/" + pod,                     // the pod, not the container
           "4:pids:/kubepods/besteffort/" + pod + "/" + kHex + "0",  // a longer id
           "4:pids:/kubepods/besteffort/" + pod + "/0" + kHex,
           "4:pids:/kubepods/" + pod + "/" + kHex + "/child",  // a cgroup below it
           "0::/kubepods.slice/cri-containerd-" + kHex + ".scope.d",
           "0::/kubepods.slice/cri-containerd-" + kHex + "xscope",
           "0::/" + kHex.substr(1),
           "0::/",
       }) {
    EXPECT_FALSE(GrepMatches(pat, line)) << line;
  }
}

// A pod as the API answers, with `status` replaced.
rapidjson::Document Pod(const std::string& container_status, const std::string& phase = "Running",
                        const std::string& uid = "u1") {
  rapidjson::Document d;
  const std::string text =
      R"({"metadata":{"namespace":"shop","name":"web-1","uid":")" + uid +
      R"("},"spec":{"nodeName":"n1","containers":[{"name":"app"},{"name":"side"}]},"status":{"phase":")" +
      phase + R"(","containerStatuses":[)" + container_status + "]}}";
  EXPECT_TRUE(ParseJson(text, &d).ok()) << text;
  return d;
}

std::string Running(const std::string& id, int restarts = 2) {
  return R"({"name":"app","containerID":")" + id + R"(","restartCount":)" +
         std::to_string(restarts) + R"(,"state":{"running":{}}})";
}

TEST(PodContainerTest, ReadsTheFirstOrTheNamedContainerAndSaysWhyNot) {
  Result<PodContainer> c = ReadPodContainer(Pod(Running("containerd://" + kHex)), "u1", "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "app");
  EXPECT_EQ(c->id.hex, kHex);
  EXPECT_EQ(c->restart_count, 2);
  EXPECT_EQ(c->node, "n1");

  struct Case {
    rapidjson::Document pod;
    std::string container, want;
  };
  std::vector<Case> cases;
  cases.push_back({Pod(Running("containerd://" + kHex), "Pending"), "",
                   "pod shop/web-1: is 'Pending', not Running"});
  cases.push_back({Pod(Running("containerd://" + kHex), "Running", "u2"), "", "was replaced"});
  cases.push_back({Pod(Running("containerd://" + kHex)), "db",
                   "has no container named db (its containers: 'app', 'side')"});
  cases.push_back(
      {Pod(Running("containerd://" + kHex)), "side", "container side has no status yet"});
  cases.push_back({Pod(R"({"name":"app","state":{"waiting":{"reason":"ContainerCreating"}}})"), "",
                   "container app has no containerID yet (waiting: 'ContainerCreating')"});
  cases.push_back({Pod(Running("containerd://" + kHex + "; reboot")), "", "does not end in 64"});
  cases.push_back({Pod(R"({"name":"app","containerID":"containerd://)" + kHex +
                       R"(","state":{"terminated":{"reason":"Error"}}})"),
                   "", "container app is not running (terminated: 'Error')"});
  cases.push_back({Pod(R"({"name":"app","containerID":"containerd://)" + kHex +
                       R"(","restartCount":-1,"state":{"running":{}}})"),
                   "", "restartCount is not a count"});
  for (Case& k : cases) {
    Result<PodContainer> r = ReadPodContainer(k.pod, "u1", k.container);
    ASSERT_FALSE(r.ok()) << k.want;
    EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
    EXPECT_NE(r.status().message().find(k.want), std::string::npos)
        << r.status().message() << "\nwanted: " << k.want;
  }
}

TEST(NodeHostTest, ByVarThenByNameAndNeverTwo) {
  Inventory inv;
  inv.file = "nodes.yaml";
  InventoryHost a;
  a.name = "n1";
  InventoryHost b;
  b.name = "w2";
  b.vars["k8s_node"] = "worker-2";
  InventoryHost c;
  c.name = "worker-3";
  c.vars["k8s_node"] = "other";
  inv.hosts = {a, b, c};
  EXPECT_EQ(FindNodeHost(inv, "n1")->name, "n1");
  EXPECT_EQ(FindNodeHost(inv, "worker-2")->name, "w2");
  EXPECT_EQ(FindNodeHost(inv, "other")->name, "worker-3");
  Result<InventoryHost> renamed = FindNodeHost(inv, "worker-3");
  ASSERT_FALSE(renamed.ok()) << "a host that names another node is not this one";
  EXPECT_NE(renamed.status().message().find("node worker-3 has no host in inventory nodes.yaml"),
            std::string::npos)
      << renamed.status().message();
  inv.hosts[0].vars["k8s_node"] = "worker-2";
  EXPECT_EQ(FindNodeHost(inv, "worker-2").status().code(), Status::Code::kInvalidArgument);
}

TEST(ContainerKillRevertTest, RefusesRecordsGamedayCouldNotHaveWritten) {
  auto kind = MakeContainerKillInjectorKind();
  const std::string ok_fields = R"("address":"198.18.0.21","port":22,"user":"root",)"
                                R"("kubeconfig":"","context":"","namespace":"shop","name":"web-1",)"
                                R"("uid":"u1","container":"app","node":"n1","host":"n1",)"
                                R"("restart_count_before":0,"restart_wait_ms":0,)";
  for (
      const std::string& bad : {
          std::string("not json"),
          std::string("{}"),
          "{" + ok_fields +
              R"("container_id":"containerd://abc","pid":5,"start_time":1,"action":"kill","signal":"KILL"})",
          "{" + ok_fields + R"("container_id":"containerd://)" + kHex +
              R"(","pid":1,"start_time":1,"action":"kill","signal":"KILL"})",
          "{" + ok_fields + R"("container_id":"containerd://)" + kHex +
              R"(","pid":5,"start_time":-1,"action":"kill","signal":"KILL"})",
          "{" + ok_fields + R"("container_id":"containerd://)" + kHex +
              R"(","pid":5,"start_time":1,"action":"freeze","signal":"KILL"})",
          "{" + ok_fields + R"("container_id":"containerd://)" + kHex +
              R"(","pid":5,"start_time":1,"action":"kill","signal":"STOP"})",
          "{" + ok_fields + R"("container_id":"containerd://)" + kHex +
              R"(","pid":5,"start_time":1,"action":"nuke","signal":"KILL"})",
      }) {
    Status s = kind->Revert(bad, InjectorEnv{});
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << bad << "\n" << s.ToString();
  }
}

}  // namespace
}  // namespace gameday
