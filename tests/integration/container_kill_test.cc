// container-kill end to end without a kubelet: a pod on the test plane whose status (patched
// through the status subresource, as a kubelet would) names a containerID, bound to a node named
// after an SSH test host; on the machine a process is started inside a cgroup named after that
// container id, laid out as the kubelet's cgroupfs driver does on cgroup v1
// (<controller>/gameday-test-<random>/kubepods/pod<uid>/<id>). Then `gameday run` kills or
// freezes it, and the test checks that exactly that process got the signal, that the revert
// record was in the journal when the signal was seen, the freeze's revert (also by `gameday
// recover` after a kill -9 of the run), and the restartCount before and after in result.json.
// The cgroups, the processes and the bed are removed on every path.

// testbed.h first: k8s_plane.h's calls then pick its own RunShell.
#include "tests/integration/ssh_test_util.h"
// clang-format off
#include "tests/integration/k8s_test_util.h"
// clang-format on

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "experiments/journal.h"
#include "tests/integration/child_process.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BedTest;
using testing::ChildProcess;
using testing::Quote;
using testing::WaitFor;

std::string RandomHex(size_t n) {
  std::random_device rd;
  std::string s;
  while (s.size() < n) s += "0123456789abcdef"[rd() % 16];
  return s;
}

// The state letter of /proc/PID/stat ('T' stopped, 'Z' zombie), or 0 when there is no process.
char ProcState(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(in, s);
  const size_t paren = s.rfind(") ");
  return paren == std::string::npos || paren + 2 >= s.size() ? 0 : s[paren + 2];
}
bool Alive(int pid) {
  const char st = ProcState(pid);
  return st != 0 && st != 'Z' && st != 'X';
}

int ReadPid(const std::string& file) {
  std::ifstream in(file);
  int pid = 0;
  in >> pid;
  return pid;
}

// One "container": a cgroup named after the container id, holding a main process (parent
// outside the cgroup, as the shim is) and a child of it (inside, as a worker of the container).
// Everything is removed by the destructor, pass or fail.
class FakeContainer {
 public:
  FakeContainer(std::string cgroup_root, const std::string& pod_uid, std::string id,
                const std::string& dir, const std::string& netns)
      : root_(std::move(cgroup_root)), id_(std::move(id)) {
    path_ = root_ + "/kubepods/pod" + pod_uid + "/" + id_;
    std::error_code ec;
    std::filesystem::create_directories(path_, ec);
    if (ec) {
      error_ = "cannot create cgroup " + path_ + ": " + ec.message();
      return;
    }
    const std::string main_pid = dir + "/" + id_.substr(0, 8) + ".main";
    const std::string child_pid = dir + "/" + id_.substr(0, 8) + ".child";
    // The process joins the cgroup, then becomes the host's process (exec keeps the pid); the
    // popen shell that started it exits, so its parent is outside the cgroup.
    const std::string inner =
        "echo $$ > " + Quote(main_pid) + "; sleep 3000 & echo $! > " + Quote(child_pid) + "; wait";
    const std::string outer = "echo $$ > " + Quote(path_ + "/cgroup.procs") +
                              " && exec ip netns exec " + netns + " sh -c " + Quote(inner);
    testing::RunShell("sh -c " + Quote(outer) + " </dev/null >/dev/null 2>&1 &", nullptr);
    if (!WaitFor([&] { return ReadPid(main_pid) > 0 && ReadPid(child_pid) > 0; }, seconds(10))) {
      error_ = "the container's processes did not start";
      return;
    }
    main_ = ReadPid(main_pid);
    child_ = ReadPid(child_pid);
  }
  ~FakeContainer() {
    for (int pid : {main_, child_}) {
      if (pid > 0 && InCgroup(pid)) {
        ::kill(pid, SIGCONT);
        ::kill(pid, SIGKILL);
      }
    }
    WaitFor([&] { return !Alive(main_) && !Alive(child_); }, seconds(5));
    // Deepest first: the container's dir, then pod<uid>, kubepods and the test root (shared by
    // the containers of one test; the last one out removes it).
    std::filesystem::path p = path_;
    std::error_code ec;
    while (p.string().size() > root_.size() - 1 && p.string().rfind(root_, 0) == 0) {
      if (::rmdir(p.c_str()) != 0 && errno != ENOENT && errno != EBUSY && errno != ENOTEMPTY) break;
      p = p.parent_path();
    }
  }

  bool InCgroup(int pid) const {
    return testing::ReadFileText("/proc/" + std::to_string(pid) + "/cgroup").find(id_) !=
           std::string::npos;
  }
  const std::string& error() const { return error_; }
  int main_pid() const { return main_; }
  int child_pid() const { return child_; }
  const std::string& id() const { return id_; }

 private:
  std::string root_;
  std::string id_;
  std::string path_;
  std::string error_;
  int main_ = 0;
  int child_ = 0;
};

class ContainerKillTest : public BedTest {
 protected:
  void SetUp() override {
    BedTest::SetUp();
    if (IsSkipped()) return;
    GAMEDAY_REQUIRE_K8S_PLANE();
    plane_ = testing::K8sPlane::Get();
    admin_ = testing::AdminClient();
    ASSERT_NE(admin_, nullptr);
    // cgroup v1 here (a controller of its own, pids); on a v2 machine the unified root.
    const std::string controller = std::filesystem::exists("/sys/fs/cgroup/pids/cgroup.procs")
                                       ? "/sys/fs/cgroup/pids"
                                       : "/sys/fs/cgroup";
    cgroup_root_ = controller + "/gameday-test-" + RandomHex(10);
    ASSERT_TRUE(Up("ckill", 1));
  }

  void TearDown() override {
    containers_.clear();  // processes and cgroups, before the bed goes
    std::error_code ec;
    if (!cgroup_root_.empty()) {
      std::filesystem::remove(cgroup_root_ + "/kubepods", ec);
      std::filesystem::remove(cgroup_root_, ec);
      EXPECT_FALSE(std::filesystem::exists(cgroup_root_)) << "left cgroup " << cgroup_root_;
    }
    BedTest::TearDown();
  }

  Status Call(const std::string& verb, ResourceRef ref, const std::string& body,
              const std::string& content_type = "application/json") {
    KubeRequest req;
    req.verb = verb;
    req.ref = std::move(ref);
    req.body = body;
    req.content_type = content_type;
    return admin_->Call(req).status();
  }

  // A Running pod on node h1 (the bed's host) whose app container has id `id`; returns its uid.
  std::string MakePod(const std::string& ns, const std::string& id) {
    EXPECT_TRUE(testing::CreateNamespace(*admin_, ns).ok());
    // A plain Node, not one KWOK manages, so nothing but the test writes its pods' status.
    Status node = Call("create", ResourceRef::Core("nodes"),
                       R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"h1"}})");
    EXPECT_TRUE(node.ok() || node.code() == Status::Code::kFailedPrecondition) << node.ToString();
    Status pod = Call(
        "create", ResourceRef::Core("pods", ns),
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":")" + ns +
            R"(","labels":{"app":"web"}},"spec":{"nodeName":"h1","terminationGracePeriodSeconds":0,)"
            R"("containers":[{"name":"app","image":"fake-image"},{"name":"side","image":"fake-image"}]}})");
    EXPECT_TRUE(pod.ok()) << pod.ToString();
    std::vector<testing::PodInfo> pods = testing::ListPods(*admin_, ns);
    if (pods.size() != 1) return "";
    EXPECT_TRUE(SetStatus(ns, id, 0).ok());
    return pods[0].uid;
  }

  // What a kubelet would write: Running, the container's id and its restart count.
  Status SetStatus(const std::string& ns, const std::string& id, int restarts) {
    ResourceRef ref = ResourceRef::Core("pods", ns, "web-1");
    ref.subresource = "status";
    auto entry = [&](const std::string& name, const std::string& cid, int n) {
      return R"({"name":")" + name + R"(","containerID":"containerd://)" + cid +
             R"(","restartCount":)" + std::to_string(n) +
             R"(,"ready":true,"image":"fake-image","imageID":"","state":{"running":{"startedAt":"2026-01-01T00:00:00Z"}}})";
    };
    return Call("patch", ref,
                R"({"status":{"phase":"Running","containerStatuses":[)" +
                    entry("app", id, restarts) + "," + entry("side", side_id_, 0) + "]}}",
                "application/merge-patch+json");
  }

  FakeContainer& Start(const std::string& uid, const std::string& id) {
    containers_.push_back(std::make_unique<FakeContainer>(cgroup_root_, uid, id, bed_->dir(),
                                                          bed_->hosts()[0].netns));
    return *containers_.back();
  }

  std::string WritePlan(const std::string& ns, const std::string& name, const std::string& spec,
                        const std::string& duration) {
    std::string path = bed_->dir() + "/" + name + ".yaml";
    std::ofstream(path) << "name: " << name << "\n"
                        << "target: {kind: kubernetes, kubeconfig: " << plane_->kubeconfig << "}\n"
                        << "warmup: 200ms\nstable_for: 200ms\nrecovery_timeout: 10s\n"
                        << "verify:\n  - name: h1-ssh\n    kind: tcp\n    interval: 100ms\n"
                        << "    spec: {host: " << Host(0).ssh.address
                        << ", port: 22, timeout: 300ms}\n"
                        << "method:\n  - inject: container-kill\n    select: {mode: all}\n"
                        << duration << "    spec: {namespace: " << ns
                        << ", inventory: " << bed_->inventory_path()
                        << ", known_hosts: " << bed_->known_hosts_path() << ", " << spec << "}\n";
    return path;
  }

  ChildProcess Run(const std::string& plan, const std::string& tag) {
    const std::string dir = bed_->dir();
    return ChildProcess({bin_, "run", plan, "--journal-dir", dir + "/journal", "--report-dir",
                         dir + "/report-" + tag, "--no-history"},
                        dir + "/" + tag + ".log");
  }

  // The live container-kill record of the run's journal that names `pid`, or "".
  std::string JournalRecordFor(int pid) const {
    Result<std::vector<JournalFile>> files = ReadJournals(bed_->dir() + "/journal");
    if (!files.ok()) return "";
    for (const JournalFile& f : *files) {
      for (const JournalRecord& r : f.live) {
        if (r.kind == "container-kill" &&
            r.revert.find("\"pid\":" + std::to_string(pid) + ",") != std::string::npos) {
          return r.revert;
        }
      }
    }
    return "";
  }

  const testing::K8sPlane* plane_ = nullptr;
  std::shared_ptr<KubeClient> admin_;
  std::string cgroup_root_;
  std::string side_id_ = RandomHex(64);
  std::vector<std::unique_ptr<FakeContainer>> containers_;
  const std::string bin_ = std::string(GAMEDAY_BINARY_DIR) + "/bin/gameday";
};

TEST_F(ContainerKillTest, KillSignalsOnlyTheContainersMainProcessAndReportsTheRestart) {
  const std::string id = RandomHex(64);
  const std::string uid = MakePod("ckill-kill", id);
  ASSERT_FALSE(uid.empty());
  FakeContainer& app = Start(uid, id);
  ASSERT_EQ(app.error(), "");
  FakeContainer& side = Start(uid, side_id_);  // the pod's other container: never touched
  ASSERT_EQ(side.error(), "");

  const std::string plan =
      WritePlan("ckill-kill", "kill", "container: app, action: kill, restart_wait: 20s", "");
  ChildProcess run = Run(plan, "kill");
  // The kill is seen; the journal already holds its record, with the pid and start time.
  ASSERT_TRUE(WaitFor([&] { return !Alive(app.main_pid()); }, seconds(60), milliseconds(5)))
      << run.LogText();
  const std::string record = JournalRecordFor(app.main_pid());
  EXPECT_NE(record, "") << "no journal record named pid " << app.main_pid() << " when it died";
  EXPECT_NE(record.find("\"container_id\":\"containerd://" + id), std::string::npos) << record;
  EXPECT_NE(record.find("\"action\":\"kill\""), std::string::npos) << record;
  EXPECT_NE(record.find("\"restart_count_before\":0"), std::string::npos) << record;
  // Only the main process: its child in the same container, and the other container, live on.
  EXPECT_TRUE(Alive(app.child_pid()));
  EXPECT_TRUE(Alive(side.main_pid()));
  EXPECT_TRUE(Alive(side.child_pid()));
  // The kubelet restarts it (simulated: the count goes up) while the revert waits for that.
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_TRUE(SetStatus("ckill-kill", id, 1).ok());

  auto status = run.Wait(milliseconds(60000));
  ASSERT_TRUE(status.has_value()) << run.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << run.LogText();
  const std::string result = testing::ReadFileText(bed_->dir() + "/report-kill/result.json");
  EXPECT_NE(result.find("\"kind\": \"container-kill\""), std::string::npos) << result;
  EXPECT_NE(result.find("container app of pod ckill-kill/web-1: restartCount 0 -> 1"),
            std::string::npos)
      << result;
  EXPECT_NE(run.LogText().find("restartCount 0 -> 1"), std::string::npos) << run.LogText();
  EXPECT_EQ(JournalRecordFor(app.main_pid()), "") << "cleared after the run";
  const std::string log = run.LogText();
  const size_t injected = log.find("injected 1 of 1");
  if (injected != std::string::npos) {
    std::printf("kill: %s\n", log.substr(injected, log.find('\n', injected) - injected).c_str());
  }
  const size_t note = result.find("\"observed\"");
  if (note != std::string::npos) {
    std::printf("kill: %s\n", result.substr(note, result.find('\n', note) - note).c_str());
  }
}

TEST_F(ContainerKillTest, FreezeStopsOnlyTheMainProcessAndTheRevertResumesIt) {
  const std::string id = RandomHex(64);
  const std::string uid = MakePod("ckill-freeze", id);
  ASSERT_FALSE(uid.empty());
  FakeContainer& app = Start(uid, id);
  ASSERT_EQ(app.error(), "");

  const std::string plan = WritePlan("ckill-freeze", "freeze", "action: freeze, expiry_margin: 30s",
                                     "    duration: 2s\n");
  ChildProcess run = Run(plan, "freeze");
  ASSERT_TRUE(
      WaitFor([&] { return ProcState(app.main_pid()) == 'T'; }, seconds(60), milliseconds(5)))
      << run.LogText();
  const std::string record = JournalRecordFor(app.main_pid());
  EXPECT_NE(record, "") << "no journal record named pid " << app.main_pid() << " when it stopped";
  EXPECT_NE(record.find("\"action\":\"freeze\""), std::string::npos) << record;
  EXPECT_NE(record.find("gameday-expiry-"), std::string::npos) << "the on-host expiry" << record;
  EXPECT_NE(GamedayLeftovers(), "") << "the expiry timer runs on the host during the freeze";
  EXPECT_NE(ProcState(app.child_pid()), 'T') << "only the main process is frozen";

  auto status = run.Wait(milliseconds(60000));
  ASSERT_TRUE(status.has_value()) << run.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << run.LogText();
  EXPECT_TRUE(Alive(app.main_pid()));
  EXPECT_NE(ProcState(app.main_pid()), 'T') << "the revert resumed it";
  EXPECT_EQ(GamedayLeftovers(), "") << "the revert cancelled the expiry timer";
  const std::string result = testing::ReadFileText(bed_->dir() + "/report-freeze/result.json");
  EXPECT_NE(result.find("\"revert_status\": \"reverted\""), std::string::npos) << result;
  EXPECT_NE(result.find("container app of pod ckill-freeze/web-1: restartCount 0 -> 0"),
            std::string::npos)
      << result;
}

TEST_F(ContainerKillTest, RecoverResumesAFreezeLeftByARunKilledWithSigkill) {
  const std::string id = RandomHex(64);
  const std::string uid = MakePod("ckill-recover", id);
  ASSERT_FALSE(uid.empty());
  FakeContainer& app = Start(uid, id);
  ASSERT_EQ(app.error(), "");

  const std::string plan = WritePlan("ckill-recover", "recover",
                                     "action: freeze, expiry_margin: 60s", "    duration: 60s\n");
  ChildProcess run = Run(plan, "recover");
  ASSERT_TRUE(
      WaitFor([&] { return ProcState(app.main_pid()) == 'T'; }, seconds(60), milliseconds(5)))
      << run.LogText();
  run.Kill();
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(ProcState(app.main_pid()), 'T') << "the freeze outlives the killed run";

  ChildProcess recover({bin_, "recover", "--journal-dir", bed_->dir() + "/journal"},
                       bed_->dir() + "/recover.log");
  auto status = recover.Wait(milliseconds(30000));
  ASSERT_TRUE(status.has_value()) << recover.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << recover.LogText();
  EXPECT_NE(ProcState(app.main_pid()), 'T') << recover.LogText();
  EXPECT_TRUE(Alive(app.main_pid()));
  EXPECT_NE(recover.LogText().find("reverted container-kill"), std::string::npos)
      << recover.LogText();
  EXPECT_TRUE(WaitFor([&] { return GamedayLeftovers().empty(); }, seconds(5)))
      << GamedayLeftovers();
}

TEST_F(ContainerKillTest, ATargetWithoutItsProcessOrNodeHostFailsAndNothingIsSignalled) {
  const std::string id = RandomHex(64);
  const std::string uid = MakePod("ckill-missing", id);
  ASSERT_FALSE(uid.empty());
  // The pod's container id names no cgroup on the host: the search finds nothing, and the run
  // stops before the journal (exit 3: a person must look).
  const std::string plan =
      WritePlan("ckill-missing", "missing", "action: freeze", "    duration: 1s\n");
  ChildProcess run = Run(plan, "missing");
  auto status = run.Wait(milliseconds(60000));
  ASSERT_TRUE(status.has_value()) << run.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << run.LogText();
  EXPECT_NE(run.LogText().find("no process on the node is in the cgroup of container "
                               "containerd://" +
                               id),
            std::string::npos)
      << run.LogText();

  // A pod whose node no inventory host stands for.
  ASSERT_TRUE(testing::CreateNamespace(*admin_, "ckill-nohost").ok());
  ASSERT_TRUE(Call("create", ResourceRef::Core("pods", "ckill-nohost"),
                   R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1"},"spec":{)"
                   R"("nodeName":"ckill-elsewhere","containers":[{"name":"app","image":"x"}]}})")
                  .ok());
  ResourceRef ref = ResourceRef::Core("pods", "ckill-nohost", "web-1");
  ref.subresource = "status";
  ASSERT_TRUE(Call("patch", ref,
                   R"({"status":{"phase":"Running","containerStatuses":[{"name":"app",)"
                   R"("containerID":"containerd://)" +
                       id +
                       R"(","restartCount":0,"ready":true,"image":"x","imageID":"",)"
                       R"("state":{"running":{}}}]}})",
                   "application/merge-patch+json")
                  .ok());
  ChildProcess nohost = Run(WritePlan("ckill-nohost", "nohost", "action: kill", ""), "nohost");
  status = nohost.Wait(milliseconds(60000));
  ASSERT_TRUE(status.has_value()) << nohost.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << nohost.LogText();
  EXPECT_NE(nohost.LogText().find("node ckill-elsewhere has no host in inventory"),
            std::string::npos)
      << nohost.LogText();

  // A spec error: nothing runs at all (exit 2), the container's process is untouched.
  FakeContainer& app = Start(uid, id);
  ASSERT_EQ(app.error(), "");
  ChildProcess typo = Run(WritePlan("ckill-missing", "typo", "sginal: TERM", ""), "typo");
  status = typo.Wait(milliseconds(30000));
  ASSERT_TRUE(status.has_value()) << typo.LogText();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << typo.LogText();
  EXPECT_NE(typo.LogText().find("typo.yaml:"), std::string::npos) << typo.LogText();
  EXPECT_NE(typo.LogText().find("method[0].spec.sginal"), std::string::npos) << typo.LogText();
  EXPECT_TRUE(Alive(app.main_pid()));
  EXPECT_NE(ProcState(app.main_pid()), 'T');
  EXPECT_EQ(GamedayLeftovers(), "");
}

}  // namespace
}  // namespace gameday
