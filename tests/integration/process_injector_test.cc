// The process injector against real child processes. Every child runs a program reached through a
// symlink in a private temp dir, so its name is unique to this test run and nothing else on the
// machine can match; the fixture kills (and reaps) every process started from that dir, including
// ones the injector restarted, whatever the test outcome.

#include "injectors/process/process_injector.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>

#include "experiments/clock.h"
#include "experiments/spec_reader.h"
#include "injectors/process/proc.h"

extern char** environ;

namespace gameday {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string FindInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return fs::canonical(candidate).string();
  }
  return "";
}

// Waits (bounded) for `done`, polling every 5 ms.
template <typename F>
bool WaitFor(F done, milliseconds timeout = milliseconds(2000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

// From the SigIgn mask in /proc/PID/status.
bool IgnoresSignal(pid_t pid, int sig) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigIgn:", 0) == 0) {
      const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      return (mask >> (sig - 1)) & 1;
    }
  }
  return false;
}

char StateOf(pid_t pid) {
  auto st = ReadProcStat(pid);
  return st ? st->state : '?';
}

// Alive and neither stopped nor a zombie (sleeping or running: `sleep` is briefly 'R').
bool Running(pid_t pid) {
  const char state = StateOf(pid);
  return state != '?' && state != 'T' && state != 't' && state != 'Z' && state != 'X';
}

class ProcessInjectorTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(testing::TempDir()) / "gdproc.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    sleep_ = FindInPath("sleep");
    sh_ = FindInPath("sh");
    ASSERT_FALSE(sleep_.empty());
    ASSERT_FALSE(sh_.empty());
    kind_ = MakeProcessInjectorKind();
    env_.clock = &Clock::Real();
    env_.run_id = "test";
  }

  void TearDown() override {
    // Only our own children are signalled: their pids cannot be reused before we reap them.
    // Restarted processes (own sessions) are our children too, found by their program's dir.
    for (int round = 0; round < 3; ++round) {
      for (pid_t pid : ListPids()) {
        auto argv = ReadProcArgv(pid);
        auto st = ReadProcStat(pid);
        if (st && st->ppid == ::getpid() && !argv.empty() && argv[0].rfind(dir_ + "/", 0) == 0) {
          ::kill(pid, SIGKILL);
        }
      }
      for (pid_t pid : children_) {
        if (reaped_.count(pid)) continue;
        ::kill(-pid, SIGKILL);  // the child's whole process group (e.g. a shell's sleeps)
        ::kill(pid, SIGKILL);
        if (::waitpid(pid, nullptr, 0) == pid) reaped_.insert(pid);
      }
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A unique short name (it must fit the 15-character comm) linked to `program`.
  std::string Link(const std::string& program) {
    static int counter = 0;
    const std::string name =
        "gdp" + std::to_string(::getpid() % 100000) + "x" + std::to_string(counter++);
    const std::string path = dir_ + "/" + name;
    fs::create_symlink(program, path);
    return path;
  }

  // Spawns `argv` (argv[0] is the program path) in its own process group.
  pid_t Spawn(const std::string& path, const std::vector<std::string>& argv,
              const std::vector<std::string>& env = {}, const std::string& cwd = "") {
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_copy = env;
    if (env.empty()) {
      for (char** e = environ; *e; ++e) env_copy.push_back(*e);
    }
    for (const auto& e : env_copy) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    // Never return a bogus pid: a later kill(-1) would hit every process we may signal.
    if (rc != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
    children_.push_back(pid);
    // Until exec has happened, /proc still shows the test binary under the child's pid.
    EXPECT_TRUE(WaitFor([&] { return ReadProcArgv(pid) == argv; })) << "pid " << pid;
    return pid;
  }

  // `sleep` under a unique name; extra numeric args just add seconds.
  pid_t SpawnSleeper(const std::string& link, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{link, "30"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Spawn(link, argv);
  }

  std::unique_ptr<Injector> MakeInjector(const std::string& yaml) {
    Diagnostics diags;
    auto node = LoadDocument(yaml, "test.yaml", &diags);
    EXPECT_TRUE(node);
    if (!node) return nullptr;
    SpecNode spec(*node, "spec", std::make_shared<const std::string>(dir_ + "/plan.yaml"), &diags);
    auto injector = kind_->Parse(spec, TargetSpec{});
    EXPECT_TRUE(diags.empty()) << diags.ToString();
    return injector;
  }

  std::vector<FaultTarget> Discover(Injector& injector) {
    auto targets = injector.Discover(env_);
    EXPECT_TRUE(targets.ok()) << targets.status().ToString();
    return targets.ok() ? *targets : std::vector<FaultTarget>{};
  }

  // The single target for `pid`, found through discovery.
  FaultTarget TargetFor(Injector& injector, pid_t pid) {
    for (auto& t : Discover(injector)) {
      if (t.attributes["pid"] == std::to_string(pid)) return t;
    }
    ADD_FAILURE() << "pid " << pid << " not discovered";
    return {};
  }

  static std::vector<pid_t> Pids(const std::vector<FaultTarget>& targets) {
    std::vector<pid_t> pids;
    for (const auto& t : targets) pids.push_back(std::stoi(t.attributes.at("pid")));
    std::sort(pids.begin(), pids.end());
    return pids;
  }

  std::vector<pid_t> PidsWithArgv(const std::vector<std::string>& argv) {
    std::vector<pid_t> pids;
    for (pid_t pid : ListPids()) {
      auto st = ReadProcStat(pid);
      if (st && !st->zombie() && ReadProcArgv(pid) == argv) pids.push_back(pid);
    }
    return pids;
  }

  // Reaps our child and returns the signal that ended it (0 if it exited normally).
  int ReapSignal(pid_t pid) {
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    reaped_.insert(pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }

  std::string dir_;
  std::string sleep_;
  std::string sh_;
  std::vector<pid_t> children_;
  std::set<pid_t> reaped_;
  std::unique_ptr<InjectorKind> kind_;
  InjectorEnv env_;
};

TEST_F(ProcessInjectorTest, DiscoverByNameFindsExactlyTheNamedProcesses) {
  const std::string a = Link(sleep_);
  const std::string b = Link(sleep_);
  const pid_t a1 = SpawnSleeper(a);
  const pid_t a2 = SpawnSleeper(a);
  const pid_t b1 = SpawnSleeper(b);
  // Same program under name `a` only by comm: argv[0] says something else.
  const pid_t a3 = Spawn(a, {"renamed-argv0", "30"});
  // Same name only by argv[0]: the program file itself is `sleep`.
  const pid_t a4 = Spawn(sleep_, {a, "30"});

  auto injector = MakeInjector("match: {name: " + fs::path(a).filename().string() + "}");
  ASSERT_TRUE(injector);
  auto targets = Discover(*injector);
  std::vector<pid_t> want{a1, a2, a3, a4};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Pids(targets), want);
  for (const auto& t : targets) {
    const pid_t pid = std::stoi(t.attributes.at("pid"));
    auto st = ReadProcStat(pid);
    ASSERT_TRUE(st);
    EXPECT_EQ(t.id, "pid:" + std::to_string(pid) + ":" + std::to_string(st->starttime));
    EXPECT_EQ(t.display, "pid " + std::to_string(pid) + " " + t.attributes.at("cmdline"));
    EXPECT_EQ(t.attributes.at("cmdline"), JoinArgs(ReadProcArgv(pid)));
    EXPECT_EQ(t.attributes.at("name"), st->comm);
  }
  EXPECT_EQ(Pids(Discover(*MakeInjector("match: {name: " + fs::path(b).filename().string() + "}"))),
            std::vector<pid_t>{b1});
}

TEST_F(ProcessInjectorTest, DiscoverByPatternSearchesTheWholeCommandLine) {
  const std::string link = Link(sleep_);
  const std::string name = fs::path(link).filename().string();
  const pid_t p1 = SpawnSleeper(link, {"18081"});
  const pid_t p2 = SpawnSleeper(link, {"18082"});
  SpawnSleeper(link, {"18083"});
  auto injector = MakeInjector("match: {pattern: '" + name + " 30 1808[12]$'}");
  ASSERT_TRUE(injector);
  std::vector<pid_t> want{p1, p2};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(Pids(Discover(*injector)), want);
}

TEST_F(ProcessInjectorTest, DiscoveryNeverOffersSelfAncestorsInitKernelThreadsOrZombies) {
  const std::string link = Link(sleep_);
  const pid_t zombie = SpawnSleeper(link);
  ASSERT_EQ(::kill(zombie, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return StateOf(zombie) == 'Z'; }));

  // "." matches every command line there is.
  auto everything = MakeInjector("match: {pattern: '.'}");
  ASSERT_TRUE(everything);
  const auto pids = Pids(Discover(*everything));
  EXPECT_FALSE(pids.empty());
  for (pid_t forbidden : SelfAndAncestors()) {
    EXPECT_FALSE(std::binary_search(pids.begin(), pids.end(), forbidden)) << forbidden;
  }
  EXPECT_FALSE(std::binary_search(pids.begin(), pids.end(), 1));
  EXPECT_FALSE(std::binary_search(pids.begin(), pids.end(), zombie));
  for (pid_t pid : pids) {
    auto st = ReadProcStat(pid);
    if (!st) continue;  // exited since
    EXPECT_FALSE(st->kernel_thread()) << pid;
  }
  // The test binary itself, found by its own name, is excluded too.
  auto self = MakeInjector("match: {name: " + ReadProcStat(::getpid())->comm + "}");
  ASSERT_TRUE(self);
  for (pid_t pid : Pids(Discover(*self))) EXPECT_NE(pid, ::getpid());
}

TEST_F(ProcessInjectorTest, DiscoverByPidFile) {
  const std::string link = Link(sleep_);
  const pid_t child = SpawnSleeper(link);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  };
  write("child.pid", std::to_string(child) + "\n");
  write("self.pid", std::to_string(::getpid()));
  write("parent.pid", std::to_string(::getppid()));
  write("init.pid", "1");
  write("junk.pid", "12abc\n");

  // Relative pid files resolve against the plan's folder (the test's plan lives in dir_).
  auto by_child = MakeInjector("match: {pid_file: child.pid}");
  ASSERT_TRUE(by_child);
  auto targets = Discover(*by_child);
  ASSERT_EQ(Pids(targets), std::vector<pid_t>{child});
  EXPECT_EQ(targets[0].attributes.at("cmdline"), link + " 30");

  for (const char* excluded : {"self.pid", "parent.pid", "init.pid"}) {
    auto injector = MakeInjector(std::string("match: {pid_file: ") + excluded + "}");
    ASSERT_TRUE(injector);
    EXPECT_TRUE(Discover(*injector).empty()) << excluded;
  }
  auto junk = MakeInjector("match: {pid_file: junk.pid}")->Discover(env_);
  EXPECT_EQ(junk.status().code(), Status::Code::kInvalidArgument) << junk.status().ToString();
  auto missing = MakeInjector("match: {pid_file: " + dir_ + "/nope.pid}")->Discover(env_);
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound) << missing.status().ToString();

  // A pid file naming a process that has died (a zombie here) offers nothing.
  ::kill(child, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return StateOf(child) == 'Z'; }));
  EXPECT_TRUE(Discover(*by_child).empty());
}

TEST_F(ProcessInjectorTest, KillDeliversTheSignal) {
  const std::string link = Link(sleep_);
  const std::string name = fs::path(link).filename().string();
  const pid_t victim = SpawnSleeper(link);
  auto injector = MakeInjector("match: {name: " + name + "}");
  ASSERT_TRUE(injector);
  EXPECT_FALSE(injector->Reversible());
  FaultTarget target = TargetFor(*injector, victim);
  auto record = injector->RevertRecord(target, env_);
  ASSERT_TRUE(record.ok());

  const auto t0 = std::chrono::steady_clock::now();
  Status s = injector->Inject(target, env_);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_LT(took, milliseconds(1000));
  // Confirmed on return: no longer a live process.
  EXPECT_EQ(StateOf(victim), 'Z');
  EXPECT_EQ(ReapSignal(victim), SIGKILL);
  std::cout << "[ measure ] kill+confirm took "
            << std::chrono::duration<double, std::milli>(took).count() << " ms\n";

  EXPECT_TRUE(kind_->Revert(*record, env_).ok());  // nothing to undo

  // Another signal, by name.
  const pid_t second = SpawnSleeper(link);
  auto term = MakeInjector("match: {name: " + name + "}\nsignal: TERM");
  ASSERT_TRUE(term);
  ASSERT_TRUE(term->Inject(TargetFor(*term, second), env_).ok());
  EXPECT_EQ(ReapSignal(second), SIGTERM);
  // Injecting into a process that is gone is an error, not a silent success.
  FaultTarget gone = target;
  EXPECT_EQ(injector->Inject(gone, env_).code(), Status::Code::kNotFound);
}

TEST_F(ProcessInjectorTest, FreezeStopsTheProcessAndRevertResumesIt) {
  const std::string link = Link(sleep_);
  const pid_t victim = SpawnSleeper(link);
  auto injector =
      MakeInjector("match: {name: " + fs::path(link).filename().string() + "}\naction: freeze");
  ASSERT_TRUE(injector);
  EXPECT_TRUE(injector->Reversible());
  FaultTarget target = TargetFor(*injector, victim);
  auto record = injector->RevertRecord(target, env_);
  ASSERT_TRUE(record.ok());

  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(injector->Inject(target, env_).ok());
  auto inject_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  EXPECT_EQ(StateOf(victim), 'T');  // confirmed before Inject returned

  // Reverted by a fresh kind object from the record alone, as `gameday recover` would.
  auto other_kind = MakeProcessInjectorKind();
  t0 = std::chrono::steady_clock::now();
  Status s = other_kind->Revert(*record, env_);
  auto revert_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_NE(StateOf(victim), 'T');
  EXPECT_NE(StateOf(victim), 'Z');
  std::cout << "[ measure ] freeze confirmed in " << inject_ms.count() << " ms, thaw in "
            << revert_ms.count() << " ms\n";

  // Twice is harmless, and leaves it running.
  EXPECT_TRUE(other_kind->Revert(*record, env_).ok());
  EXPECT_NE(StateOf(victim), 'T');
  EXPECT_EQ(::kill(victim, 0), 0);
}

TEST_F(ProcessInjectorTest, RevertOfFreezeWhoseProcessIsGoneSucceeds) {
  const std::string link = Link(sleep_);
  const pid_t victim = SpawnSleeper(link);
  auto injector =
      MakeInjector("match: {name: " + fs::path(link).filename().string() + "}\naction: freeze");
  ASSERT_TRUE(injector);
  FaultTarget target = TargetFor(*injector, victim);
  auto record = injector->RevertRecord(target, env_);
  ASSERT_TRUE(record.ok());
  ASSERT_TRUE(injector->Inject(target, env_).ok());
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return StateOf(victim) == 'Z'; }));
  EXPECT_TRUE(kind_->Revert(*record, env_).ok());  // a zombie: nothing left to thaw
  ReapSignal(victim);
  EXPECT_TRUE(kind_->Revert(*record, env_).ok());  // gone entirely
}

TEST_F(ProcessInjectorTest, StopThenRevertRestartsWithTheSameArgvCwdAndSafeEnvironment) {
  const std::string link = Link(sleep_);
  const std::string workdir = dir_ + "/work";
  fs::create_directory(workdir);
  const std::vector<std::string> argv{link, "30", "17"};
  const std::vector<std::string> env{
      "PATH=/usr/bin:/bin", "HOME=" + dir_,        "FOO=bar",
      "MY_API_KEY=hunter2", "DB_PASSWORD=hunter3", "github_token=hunter4"};
  const pid_t victim = Spawn(link, argv, env, workdir);
  auto injector = MakeInjector("match: {name: " + fs::path(link).filename().string() +
                               "}\naction: stop\nstop_timeout: 2s");
  ASSERT_TRUE(injector);
  EXPECT_TRUE(injector->Reversible());
  FaultTarget target = TargetFor(*injector, victim);
  auto record = injector->RevertRecord(target, env_);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->find("hunter"), std::string::npos) << *record;
  rapidjson::Document doc;
  doc.Parse(record->c_str());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["action"].GetString(), "stop");
  EXPECT_EQ(doc["pid"].GetInt(), victim);
  EXPECT_EQ(doc["cwd"].GetString(), workdir);
  ASSERT_EQ(doc["argv"].Size(), 3u);

  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(injector->Inject(target, env_).ok());
  const auto stop_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  EXPECT_EQ(ReapSignal(victim), SIGTERM);  // sleep dies of SIGTERM: no escalation needed
  EXPECT_TRUE(PidsWithArgv(argv).empty());

  Status s = kind_->Revert(*record, env_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const auto restarted = PidsWithArgv(argv);
  ASSERT_EQ(restarted.size(), 1u);
  const pid_t fresh = restarted[0];
  EXPECT_NE(fresh, victim);
  EXPECT_EQ(::getsid(fresh), fresh);  // detached into its own session
  EXPECT_EQ(ReadProcLink(fresh, "cwd").value(), workdir);
  EXPECT_EQ(ReadProcStat(fresh)->comm, fs::path(link).filename().string());
  auto fresh_env = ReadProcEnviron(fresh);
  ASSERT_TRUE(fresh_env.ok());
  const std::vector<std::string>& vars = *fresh_env;
  EXPECT_NE(std::find(vars.begin(), vars.end(), "FOO=bar"), vars.end());
  EXPECT_NE(std::find(vars.begin(), vars.end(), "PATH=/usr/bin:/bin"), vars.end());
  for (const auto& v : vars) EXPECT_EQ(v.find("hunter"), std::string::npos) << v;
  EXPECT_EQ(ReadProcLink(fresh, "fd/0").value(), "/dev/null");
  std::cout << "[ measure ] stop (SIGTERM) confirmed in " << stop_ms.count() << " ms\n";

  // Reverting again finds it running and starts no second copy.
  EXPECT_TRUE(kind_->Revert(*record, env_).ok());
  EXPECT_EQ(PidsWithArgv(argv).size(), 1u);

  ::kill(fresh, SIGKILL);
  ReapSignal(fresh);
}

// The secret-looking variables are never journaled, so the restart lacks them: the revert
// succeeds but says so (names only), instead of a plain "reverted".
TEST_F(ProcessInjectorTest, StopWhoseRestartDropsEnvironmentLeavesANote) {
  const std::string link = Link(sleep_);
  const std::vector<std::string> argv{link, "30", "19"};
  const std::vector<std::string> vars{"PATH=/usr/bin:/bin", "HOME=" + dir_, "DB_PASSWORD=hunter3",
                                      "BIG=" + std::string(5000, 'x')};
  const pid_t victim = Spawn(link, argv, vars);
  auto injector = MakeInjector("match: {name: " + fs::path(link).filename().string() +
                               "}\naction: stop\nstop_timeout: 2s");
  ASSERT_TRUE(injector);
  FaultTarget target = TargetFor(*injector, victim);
  auto record = injector->RevertRecord(target, env_);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->find("hunter3"), std::string::npos) << *record;
  ASSERT_TRUE(injector->Inject(target, env_).ok());
  ReapSignal(victim);

  std::string note;
  InjectorEnv env = env_;
  env.revert_note = &note;
  ASSERT_TRUE(kind_->Revert(*record, env).ok());
  EXPECT_NE(note.find("restarted without some of its environment variables"), std::string::npos)
      << note;
  EXPECT_NE(note.find("DB_PASSWORD (secret-looking"), std::string::npos) << note;
  EXPECT_NE(note.find("BIG (value over 4096 bytes)"), std::string::npos) << note;
  EXPECT_EQ(note.find("hunter3"), std::string::npos) << note;
  const auto restarted = PidsWithArgv(argv);
  ASSERT_EQ(restarted.size(), 1u);

  // Found already running: this revert restarted nothing, so it has nothing to confess.
  std::string again;
  env.revert_note = &again;
  EXPECT_TRUE(kind_->Revert(*record, env).ok());
  EXPECT_EQ(again, "");
  ::kill(restarted[0], SIGKILL);
  ReapSignal(restarted[0]);
}

TEST_F(ProcessInjectorTest, StopWithTheWholeEnvironmentKeptLeavesNoNote) {
  const std::string link = Link(sleep_);
  const std::vector<std::string> argv{link, "30", "23"};
  const pid_t victim = Spawn(link, argv, {"PATH=/usr/bin:/bin", "HOME=" + dir_});
  auto injector = MakeInjector("match: {name: " + fs::path(link).filename().string() +
                               "}\naction: stop\nstop_timeout: 2s");
  ASSERT_TRUE(injector);
  FaultTarget target = TargetFor(*injector, victim);
  auto record = injector->RevertRecord(target, env_);
  ASSERT_TRUE(record.ok());
  ASSERT_TRUE(injector->Inject(target, env_).ok());
  ReapSignal(victim);
  std::string note;
  InjectorEnv env = env_;
  env.revert_note = &note;
  ASSERT_TRUE(kind_->Revert(*record, env).ok());
  EXPECT_EQ(note, "");
  const auto restarted = PidsWithArgv(argv);
  ASSERT_EQ(restarted.size(), 1u);
  ::kill(restarted[0], SIGKILL);
  ReapSignal(restarted[0]);
}

// A process's argv may hold newlines and escape sequences: shown escaped, it cannot forge a line
// of gameday's console output or of a report.
TEST_F(ProcessInjectorTest, TargetDisplayEscapesControlCharacters) {
  const std::string link = Link(sh_);
  const pid_t pid = Spawn(link, {link, "-c", "sleep 30; :", "svc", "a\nPASSED  forged\t\x1b[2J"});
  auto injector =
      MakeInjector("match: {name: " + fs::path(link).filename().string() + "}\naction: freeze");
  ASSERT_TRUE(injector);
  FaultTarget target = TargetFor(*injector, pid);
  EXPECT_NE(target.display.find("svc a\\nPASSED  forged\\t\\x1b[2J"), std::string::npos)
      << target.display;
  for (const auto& [key, value] : target.attributes) {
    EXPECT_EQ(value.find_first_of("\n\t\x1b"), std::string::npos) << key << ": " << value;
  }
}

// The display of a target is what the console, the journal and every report show.
TEST_F(ProcessInjectorTest, TargetDisplayHasNoSecrets) {
  const std::string link = Link(sh_);
  const pid_t pid = Spawn(link, {link, "-c", "sleep 30; :", "svc", "--password=hunter2",
                                 "--api-key", "hunter2", "PASSWORD=hunter2", "--port=80"});
  auto injector =
      MakeInjector("match: {name: " + fs::path(link).filename().string() + "}\naction: freeze");
  ASSERT_TRUE(injector);
  FaultTarget target = TargetFor(*injector, pid);
  EXPECT_EQ(target.display.find("hunter2"), std::string::npos) << target.display;
  EXPECT_NE(target.display.find("svc --password=*** --api-key *** PASSWORD=*** --port=80"),
            std::string::npos)
      << target.display;
  const std::string action = injector->DescribeAction(target);
  EXPECT_EQ(action.find("hunter2"), std::string::npos) << action;
  for (const auto& [key, value] : target.attributes) {
    EXPECT_EQ(value.find("hunter2"), std::string::npos) << key << ": " << value;
  }
}

TEST_F(ProcessInjectorTest, StopEscalatesToSigkillAfterTheTimeout) {
  // A shell that ignores SIGTERM; its unique name is $0, so it shows in the command line.
  const std::string name = fs::path(Link(sleep_)).filename().string() + "sh";
  const pid_t stubborn =
      Spawn(sh_, {sh_, "-c", "trap '' TERM; while :; do sleep 0.05; done", name});
  // The shell runs `trap` a moment after exec: wait until the kernel shows SIGTERM ignored.
  ASSERT_TRUE(WaitFor([&] { return IgnoresSignal(stubborn, SIGTERM); }));
  auto injector =
      MakeInjector("match: {pattern: ' " + name + "$'}\naction: stop\nstop_timeout: 300ms");
  ASSERT_TRUE(injector);
  FaultTarget target = TargetFor(*injector, stubborn);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(injector->Inject(target, env_).ok());
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_EQ(ReapSignal(stubborn), SIGKILL);
}

TEST_F(ProcessInjectorTest, PidReuseGuardNeverSignalsADifferentProcess) {
  const std::string link = Link(sleep_);
  const pid_t live = SpawnSleeper(link);
  const uint64_t start = ReadProcStat(live)->starttime;
  FaultTarget impostor;  // same pid, another start time: what a recycled pid looks like
  impostor.id = "pid:" + std::to_string(live) + ":" + std::to_string(start + 1);
  impostor.attributes = {{"pid", std::to_string(live)}};

  for (const char* action : {"kill", "freeze", "stop"}) {
    auto injector = MakeInjector("match: {name: x}\naction: " + std::string(action));
    ASSERT_TRUE(injector);
    EXPECT_EQ(injector->Inject(impostor, env_).code(), Status::Code::kNotFound) << action;
    EXPECT_TRUE(Running(live)) << action << ": state " << StateOf(live);
  }

  // A freeze record of the old process must not thaw the new one.
  ASSERT_EQ(::kill(live, SIGSTOP), 0);
  ASSERT_TRUE(WaitFor([&] { return StateOf(live) == 'T'; }));
  const std::string stale = R"({"action":"freeze","pid":)" + std::to_string(live) +
                            R"(,"starttime":)" + std::to_string(start + 1) + "}";
  EXPECT_TRUE(kind_->Revert(stale, env_).ok());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(StateOf(live), 'T');
  // The right record does.
  const std::string right = R"({"action":"freeze","pid":)" + std::to_string(live) +
                            R"(,"starttime":)" + std::to_string(start) + "}";
  EXPECT_TRUE(kind_->Revert(right, env_).ok());
  EXPECT_NE(StateOf(live), 'T');
}

TEST_F(ProcessInjectorTest, RevertOfANeverInjectedRecordIsHarmless) {
  const std::string link = Link(sleep_);
  const std::string name = fs::path(link).filename().string();
  const pid_t live = SpawnSleeper(link);
  const auto argv = ReadProcArgv(live);
  for (const char* action : {"kill", "freeze", "stop"}) {
    // A revert of a stop waits up to stop_timeout for a stop a killed run left half done.
    auto injector = MakeInjector("match: {name: " + name + "}\naction: " + action +
                                 (std::string(action) == "stop" ? "\nstop_timeout: 300ms" : ""));
    ASSERT_TRUE(injector);
    FaultTarget target = TargetFor(*injector, live);
    auto record = injector->RevertRecord(target, env_);
    ASSERT_TRUE(record.ok()) << action << ": " << record.status().ToString();
    Status s = kind_->Revert(*record, env_);
    EXPECT_TRUE(s.ok()) << action << ": " << s.ToString();
    EXPECT_TRUE(Running(live)) << action << ": state " << StateOf(live);
    EXPECT_EQ(PidsWithArgv(argv), std::vector<pid_t>{live}) << action << ": no second copy";
  }
}

// Found by the kill -9 campaign (kill9_local_test, process-stop): a run killed after its SIGTERM
// but before the process had exited left it on its way out, and `recover` took the dying process
// for one already back, so the service stayed down once it exited.
TEST_F(ProcessInjectorTest, RevertOfAStopKilledMidExitRestartsOnceTheProcessIsGone) {
  // A shell that takes 600 ms to exit after SIGTERM; its unique name is $0.
  const std::string shell = Link(sh_);
  const std::string name = fs::path(shell).filename().string() + "q";
  const std::vector<std::string> argv{
      shell, "-c", "trap 'sleep 0.6; exit 0' TERM; while :; do sleep 0.05; done", name};
  const pid_t slow = Spawn(shell, argv);
  auto injector =
      MakeInjector("match: {pattern: ' " + name + "$'}\naction: stop\nstop_timeout: 3s");
  ASSERT_TRUE(injector);
  FaultTarget target = TargetFor(*injector, slow);
  auto record = injector->RevertRecord(target, env_);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  std::this_thread::sleep_for(milliseconds(200));  // the shell has set its trap
  // What the killed run got done: the SIGTERM, not the wait for the exit.
  ASSERT_EQ(::kill(slow, SIGTERM), 0);
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_EQ(StateOf(slow) == 'Z' || StateOf(slow) == 0, false) << "still exiting";
  Status s = kind_->Revert(*record, env_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReapSignal(slow), 0);  // it exited by itself, after its trap
  const auto running = PidsWithArgv(argv);
  ASSERT_EQ(running.size(), 1u) << "the revert restarted nothing";
  EXPECT_NE(running[0], slow);
}

TEST_F(ProcessInjectorTest, StopRefusesWhatItCouldNotRestart) {
  // A target that is already gone cannot be captured for a restart: RevertRecord fails, so the
  // engine never injects.
  const std::string link = Link(sleep_);
  const pid_t victim = SpawnSleeper(link);
  auto injector =
      MakeInjector("match: {name: " + fs::path(link).filename().string() + "}\naction: stop");
  ASSERT_TRUE(injector);
  FaultTarget target = TargetFor(*injector, victim);
  ::kill(victim, SIGKILL);
  ReapSignal(victim);
  EXPECT_FALSE(injector->RevertRecord(target, env_).ok());
}

}  // namespace
}  // namespace gameday
