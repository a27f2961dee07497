#include "sandbox/cluster_sandbox.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "experiments/journal.h"
#include "sandbox/embedded_files.h"

extern char** environ;

namespace gameday {
namespace fs = std::filesystem;

namespace {

// A private folder holding the scripts for one call, removed when the call ends: `down` deletes
// the sandbox folder, so the scripts must not live there.
class ScriptFolder {
 public:
  ScriptFolder() {
    std::string tmpl = (fs::temp_directory_path() / "gameday-sandbox.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~ScriptFolder() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScriptFolder(const ScriptFolder&) = delete;
  ScriptFolder& operator=(const ScriptFolder&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `argv` with `overrides` added to this process's environment, and waits. SIGINT and SIGTERM
// are left to the script (it removes a half-made sandbox on its way out), so this process ignores
// them meanwhile.
Result<int> Spawn(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (!overrides.contains(key)) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : overrides) env_strings.push_back(k + "=" += v);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  cargv.reserve(args.size() + 1);
  for (std::string& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  struct sigaction ignore = {}, old_int = {}, old_term = {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &old_int);
  ::sigaction(SIGTERM, &ignore, &old_term);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);  // main() ignores it; the child must not inherit that
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, cargv[0], nullptr, &attr, cargv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  int status = 0;
  if (rc == 0) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (rc != 0) {
    return Status::FailedPrecondition("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

std::string ResolveDemoBinary(const std::string& option) {
  std::string bin = option;
  if (bin.empty()) {
    if (const char* env = std::getenv("GAMEDAY_DEMO_BIN"); env && *env) bin = env;
  }
  if (bin.empty()) {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    bin = ec ? std::string("gameday-demo") : (self.parent_path() / "gameday-demo").string();
  }
  std::error_code ec;
  const fs::path abs = fs::absolute(bin, ec);
  return ec ? bin : abs.lexically_normal().string();
}

std::string DefaultSandboxDir() { return DefaultStateDir() + "/sandbox"; }

Result<int> RunClusterSandbox(const std::string& command, const ClusterSandboxOptions& options) {
  if (command != "up" && command != "down" && command != "status") {
    return Status::InvalidArgument("unknown sandbox command '" + command + "'");
  }
  if (command != "status" && ::geteuid() != 0) {
    return Status::FailedPrecondition(
        "the sandbox needs root: it creates network namespaces, a bridge and iptables rules "
        "(run as root, or use `gameday sandbox " +
        command + " --local` for the single-host sandbox on 127.0.0.1)");
  }
  ScriptFolder folder;
  if (folder.path().empty()) {
    return Status::Internal(std::string("cannot create a temporary folder: ") +
                            std::strerror(errno));
  }
  for (const EmbeddedFile& f : SandboxScripts()) {
    const fs::path p = fs::path(folder.path()) / std::string(f.name);
    std::ofstream out(p, std::ios::binary);
    out << f.text;
    out.close();
    if (!out) return Status::Internal("cannot write " + p.string());
  }
  std::error_code ec;
  std::string dir = options.dir.empty() ? DefaultSandboxDir() : options.dir;
  const fs::path abs = fs::absolute(dir, ec);
  if (!ec) dir = abs.lexically_normal().string();
  std::string k8s = options.kubernetes_bin;
  if (!k8s.empty()) {
    const fs::path kabs = fs::absolute(k8s, ec);
    if (!ec) k8s = kabs.lexically_normal().string();
  }
  const long timeout_s =
      std::max<long>(1, std::chrono::duration_cast<std::chrono::seconds>(options.timeout).count());
  // The real nodes' images, written by the build next to the demo binary (sandbox/CMakeLists.txt);
  // without them (or without the node binaries) the workers stay plain hosts. gameday's own image
  // (packaging/CMakeLists.txt: build/gameday-image.tar, one folder up) is imported too when the
  // build made it, so a Job of gameday runs on the sandbox's nodes.
  const std::string demo = ResolveDemoBinary(options.demo_binary);
  auto sibling = [&](const fs::path& name) {
    const fs::path p = (fs::path(demo).parent_path() / name).lexically_normal();
    return fs::is_regular_file(p, ec) ? p.string() : std::string();
  };
  return Spawn({"bash", (fs::path(folder.path()) / "sandbox.sh").string(), command},
               {{"GAMEDAY_SANDBOX_DIR", dir},
                {"GAMEDAY_DEMO_BIN", demo},
                {"GAMEDAY_SANDBOX_DEMO_IMAGE", sibling("gameday-demo-image.tar")},
                {"GAMEDAY_NODE_PAUSE", sibling("gameday-pause-image.tar")},
                {"GAMEDAY_SANDBOX_GAMEDAY_IMAGE", sibling("../gameday-image.tar")},
                {"GAMEDAY_K8S_BIN", k8s},
                {"GAMEDAY_SANDBOX_TIMEOUT", std::to_string(timeout_s)}});
}

}  // namespace gameday
