// The SSH client against real sshd processes in network namespaces (sandbox/cluster/testbed.sh).

#include "clients/ssh/ssh_client.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "clients/inventory/inventory.h"
#include "tests/integration/ssh_test_util.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BedTest;
using testing::Quote;
using testing::RunShell;

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string Field(const std::string& line, int index) {
  std::istringstream in(line);
  std::string w;
  for (int i = 0; i <= index && in >> w; ++i) {
  }
  return w;
}

// What `ssh-keygen -l` says the fingerprint of a public key file is.
std::string Fingerprint(const std::string& pub) {
  return Field(RunShell("ssh-keygen -l -E sha256 -f " + Quote(pub)).out, 1);
}

class SshClientTest : public BedTest {};

TEST_F(SshClientTest, RunsCommandsOnThreeHostsInParallelAndReusesSessions) {
  ASSERT_TRUE(Up("cli", 3));
  SshClient client;
  std::vector<SshEndpoint> hosts;
  for (const InventoryHost& h : inventory_.hosts) hosts.push_back(h.ssh);

  auto results =
      client.RunOnMany(hosts, "echo \"$SSH_CONNECTION\"; echo to-stderr >&2; exit 7", seconds(10));
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status().ToString();
    EXPECT_EQ(results[i]->exit_status, 7);
    EXPECT_FALSE(results[i]->ok());
    EXPECT_EQ(Field(results[i]->out, 2), hosts[i].address) << results[i]->out;
    EXPECT_EQ(results[i]->err, "to-stderr\n");
  }
  EXPECT_EQ(client.SessionCount(), 3u);

  // In parallel: three one-second commands take about one second.
  const auto start = std::chrono::steady_clock::now();
  auto sleeps = client.RunOnMany(hosts, "sleep 1", seconds(10));
  const auto took = std::chrono::steady_clock::now() - start;
  for (const auto& r : sleeps) EXPECT_TRUE(r.ok() && r->ok());
  EXPECT_LT(took, milliseconds(1900));

  // The same session serves the next command: the shell's parent is the same sshd process.
  auto first = client.Run(hosts[0], "echo $PPID", seconds(5));
  auto second = client.Run(hosts[0], "echo $PPID", seconds(5));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->out, second->out);
  EXPECT_EQ(client.SessionCount(), 3u);

  // A signal death is reported as such.
  auto killed = client.Run(hosts[1], "kill -9 $$", seconds(5));
  ASSERT_TRUE(killed.ok()) << killed.status().ToString();
  EXPECT_EQ(killed->exit_signal, "KILL");
  EXPECT_FALSE(killed->ok());
}

TEST_F(SshClientTest, CommandTimeoutIsBoundedAndTheNextCommandReconnects) {
  ASSERT_TRUE(Up("clit", 1));
  SshClient client;
  const SshEndpoint host = Host(0).ssh;
  const auto start = std::chrono::steady_clock::now();
  const std::string pid_file = bed_->dir() + "/slow.pid";
  auto slow = client.Run(host, "echo started; echo $$ > " + Quote(pid_file) + "; exec sleep 30",
                         seconds(1));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), Status::Code::kDeadlineExceeded) << slow.status().ToString();
  EXPECT_NE(slow.status().message().find("did not finish within 1s"), std::string::npos)
      << slow.status().message();
  EXPECT_NE(slow.status().message().find("started"), std::string::npos);
  EXPECT_LT(took, milliseconds(2500));
  EXPECT_EQ(client.SessionCount(), 0u);
  auto next = client.Run(host, "echo fine", seconds(5));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->out, "fine\n");
  // The timed-out `sleep` outlives the session; end it (by its pid) so the bed stays clean.
  bed_->Exec(0, "kill $(cat " + Quote(pid_file) + ")");
}

TEST_F(SshClientTest, ChangedHostKeyIsRefusedWithFingerprintAndNothingRuns) {
  ASSERT_TRUE(Up("clik", 2));
  // known_hosts where h1's entry holds some other ed25519 key.
  const std::string other = bed_->dir() + "/other_key";
  ASSERT_EQ(RunShell("ssh-keygen -q -t ed25519 -N '' -f " + Quote(other)).status, 0);
  const std::string kh = bed_->dir() + "/known_hosts_changed";
  ASSERT_EQ(RunShell("{ echo \"" + Host(0).ssh.address + " $(cut -d' ' -f1,2 " + Quote(other) +
                     ".pub)\"; grep -v '^" + Host(0).ssh.address + " ' " +
                     Quote(bed_->known_hosts_path()) + "; } > " + Quote(kh))
                .status,
            0);
  SshClient client;
  SshEndpoint host = Host(0).ssh;
  host.known_hosts = kh;
  const std::string marker = bed_->dir() + "/ran-on-h1";
  auto r = client.Run(host, "touch " + Quote(marker), seconds(5));
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(m.find("HOST KEY CHANGED"), std::string::npos) << m;
  EXPECT_NE(m.find("h1"), std::string::npos) << m;
  EXPECT_NE(m.find(host.address), std::string::npos) << m;
  EXPECT_NE(m.find("ssh-ed25519"), std::string::npos) << m;
  const std::string fp = Fingerprint(bed_->dir() + "/h1/ssh_host_ed25519_key.pub");
  ASSERT_EQ(fp.rfind("SHA256:", 0), 0u) << fp;
  EXPECT_NE(m.find(fp), std::string::npos) << m << " should name " << fp;
  EXPECT_NE(m.find("nothing was run"), std::string::npos) << m;
  EXPECT_FALSE(Exists(marker));
  EXPECT_EQ(client.SessionCount(), 0u);
  std::cout << "changed key: " << m << "\n";

  // h2's entry in the same file is intact: that host works.
  SshEndpoint h2 = Host(1).ssh;
  h2.known_hosts = kh;
  auto ok = client.Run(h2, "echo ok", seconds(5));
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST_F(SshClientTest, UnknownHostIsRefusedUnlessTheCheckIsExplicitlyOff) {
  ASSERT_TRUE(Up("cliu", 1));
  SshClient client;
  SshEndpoint host = Host(0).ssh;
  const std::string marker = bed_->dir() + "/ran";
  const std::string empty = bed_->dir() + "/known_hosts_empty";
  std::ofstream(empty).close();

  host.known_hosts = empty;
  auto r = client.Run(host, "touch " + Quote(marker), seconds(5));
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("unknown host"), std::string::npos) << m;
  EXPECT_NE(m.find(host.address), std::string::npos) << m;
  EXPECT_NE(m.find(Fingerprint(bed_->dir() + "/h1/ssh_host_ed25519_key.pub")), std::string::npos)
      << m;
  EXPECT_NE(m.find("insecure_ignore_host_key"), std::string::npos) << m;
  std::cout << "unknown host: " << m << "\n";

  host.known_hosts = bed_->dir() + "/no-such-file";
  r = client.Run(host, "touch " + Quote(marker), seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not exist"), std::string::npos) << r.status().message();
  EXPECT_FALSE(Exists(marker));

  // Hashed entries (ssh-keygen -H, HashKnownHosts yes) are matched too.
  const std::string hashed = bed_->dir() + "/known_hosts_hashed";
  ASSERT_EQ(
      RunShell("cp " + Quote(bed_->known_hosts_path()) + " " + Quote(hashed) +
               " && ssh-keygen -q -H -f " + Quote(hashed) + " && ! grep -q '^198' " + Quote(hashed))
          .status,
      0);
  host.known_hosts = hashed;
  r = client.Run(host, "echo hashed", seconds(5));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "hashed\n");

  host.known_hosts = empty;
  host.insecure_ignore_host_key = true;
  r = client.Run(host, "touch " + Quote(marker), seconds(5));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(Exists(marker));
}

TEST_F(SshClientTest, KeyWithPassphraseFromTheEnvironment) {
  ASSERT_TRUE(Up("clip", 1));
  SshClient client;
  SshEndpoint host = Host(0).ssh;
  host.key_file = bed_->passphrase_key_file();
  host.key_passphrase_env = "GAMEDAY_TEST_KEY_PASSPHRASE";

  ::unsetenv("GAMEDAY_TEST_KEY_PASSPHRASE");
  auto r = client.Run(host, "echo hi", seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("$GAMEDAY_TEST_KEY_PASSPHRASE, which is not set"),
            std::string::npos)
      << r.status().message();

  ::setenv("GAMEDAY_TEST_KEY_PASSPHRASE", "wrong passphrase", 1);
  r = client.Run(host, "echo hi", seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("wrong passphrase"), std::string::npos)
      << "the passphrase leaked into a message: " << r.status().message();

  const std::string passphrase = bed_->passphrase();
  ::setenv("GAMEDAY_TEST_KEY_PASSPHRASE", passphrase.c_str(), 1);
  r = client.Run(host, "echo hi", seconds(5));
  ::unsetenv("GAMEDAY_TEST_KEY_PASSPHRASE");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "hi\n");
}

TEST_F(SshClientTest, KeysFromSshAgent) {
  ASSERT_TRUE(Up("clia", 1));
  const std::string sock = bed_->dir() + "/agent.sock";
  // The agent is our own process: started here, ended here by its pid.
  testing::ShellOutput agent = RunShell("ssh-agent -a " + Quote(sock) + " -s");
  ASSERT_EQ(agent.status, 0) << agent.out;
  const size_t at = agent.out.find("SSH_AGENT_PID=");
  ASSERT_NE(at, std::string::npos) << agent.out;
  const int agent_pid = std::atoi(agent.out.c_str() + at + 14);
  ASSERT_GT(agent_pid, 0);
  struct AgentGuard {
    int pid;
    ~AgentGuard() { ::kill(pid, SIGTERM); }
  } guard{agent_pid};
  ASSERT_EQ(RunShell("SSH_AUTH_SOCK=" + Quote(sock) + " ssh-add " + Quote(bed_->key_file())).status,
            0);

  SshEndpoint host = Host(0).ssh;
  host.key_file.clear();
  const char* old = std::getenv("SSH_AUTH_SOCK");
  const std::string saved = old ? old : "";
  ::setenv("SSH_AUTH_SOCK", sock.c_str(), 1);
  SshClient client;
  auto r = client.Run(host, "echo via-agent", seconds(5));
  if (saved.empty()) {
    ::unsetenv("SSH_AUTH_SOCK");
  } else {
    ::setenv("SSH_AUTH_SOCK", saved.c_str(), 1);
  }
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "via-agent\n");
}

TEST_F(SshClientTest, ConnectTimeoutAndRefusal) {
  ASSERT_TRUE(Up("clic", 1));
  SshClient client;
  // An address on the bed's own bridge where no host answers: the connect must give up on time.
  SshEndpoint nobody = Host(0).ssh;
  nobody.name = "nobody";
  nobody.address = nobody.address.substr(0, nobody.address.rfind('.')) + ".99";
  nobody.connect_timeout = seconds(1);
  const auto start = std::chrono::steady_clock::now();
  auto r = client.Run(nobody, "true", seconds(5));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsTransient()) << r.status().ToString();
  EXPECT_LT(took, milliseconds(3500));
  EXPECT_NE(r.status().message().find("nobody"), std::string::npos);

  SshEndpoint closed = Host(0).ssh;
  closed.port = 2222;
  r = client.Run(closed, "true", seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("refused"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace gameday
