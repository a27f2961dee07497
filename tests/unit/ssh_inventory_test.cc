// Inventory parsing, host selectors, command wrapping and the SSH kinds' spec errors. No hosts
// are contacted here (etcd roles use an injected lookup).

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "clients/etcd/etcd_client.h"
#include "clients/inventory/inventory.h"
#include "injectors/host_partition/host_partition_injector.h"
#include "injectors/service_stop/service_stop_injector.h"
#include "injectors/ssh_fault/ssh_fault.h"
#include "verifiers/etcd/etcd_verifier.h"

namespace gameday {
namespace {

const char kInventory[] = R"(defaults:
  user: ops
  port: 2222
  key_file: keys/id_ed25519
  known_hosts: ~/kh
  vars: {zone: a}
hosts:
  - name: m1
    address: 198.18.0.11
    groups: [masters, etcd]
    vars: {etcd_client_url: "http://198.18.0.11:2379"}
  - name: m2
    address: 198.18.0.2
    user: root
    port: 22
    groups: [masters, etcd]
    vars: {etcd_client_url: "http://198.18.0.2:2379", zone: b}
  - name: m3
    address: 198.18.0.3
    groups: [masters, etcd]
    vars: {etcd_client_url: "http://198.18.0.3:2379"}
  - name: w1
    address: 198.18.1.1
    sudo: false
    groups: [workers]
)";

Inventory Parse(const std::string& text, Diagnostics* diags, const std::string& base = "/inv") {
  return ParseInventory(text, "inv.yaml", base, diags);
}

std::vector<std::string> Names(const std::vector<InventoryHost>& hosts) {
  std::vector<std::string> names;
  for (const InventoryHost& h : hosts) names.push_back(h.name);
  return names;
}

TEST(InventoryTest, DefaultsOverridesAndPaths) {
  Diagnostics diags;
  ::setenv("HOME", "/home/tester", 1);
  Inventory inv = Parse(kInventory, &diags);
  ASSERT_TRUE(diags.empty()) << diags.ToString();
  ASSERT_EQ(inv.hosts.size(), 4u);
  const InventoryHost& m1 = inv.hosts[0];
  EXPECT_EQ(m1.ssh.user, "ops");
  EXPECT_EQ(m1.ssh.port, 2222);
  EXPECT_EQ(m1.ssh.key_file, "/inv/keys/id_ed25519");
  EXPECT_EQ(m1.ssh.known_hosts, "/home/tester/kh");
  EXPECT_TRUE(m1.ssh.sudo) << "a user other than root gets sudo by default";
  EXPECT_FALSE(m1.ssh.insecure_ignore_host_key);
  EXPECT_EQ(m1.Var("zone"), "a");
  const InventoryHost& m2 = inv.hosts[1];
  EXPECT_EQ(m2.ssh.user, "root");
  EXPECT_EQ(m2.ssh.port, 22);
  EXPECT_FALSE(m2.ssh.sudo);
  EXPECT_EQ(m2.Var("zone"), "b");
  EXPECT_FALSE(inv.hosts[3].ssh.sudo);
  EXPECT_EQ(inv.Groups(), (std::vector<std::string>{"etcd", "masters", "workers"}));

  TargetSpec target;
  target.kind = "ssh";
  target.known_hosts = "/plan/known_hosts";
  target.insecure_ignore_host_key = true;
  ApplyTargetSpec(target, &inv);
  EXPECT_EQ(inv.hosts[0].ssh.known_hosts, "/plan/known_hosts");
  EXPECT_TRUE(inv.hosts[0].ssh.insecure_ignore_host_key);
}

TEST(InventoryTest, EveryProblemNamesFileLineAndField) {
  Diagnostics diags;
  Parse(R"(defaults:
  prot: 22
hosts:
  - name: a
    address: 1.2.3.4
    port: 70000
  - name: a
    groups: [x]
  - name: x
    address: 1.2.3.5
    key_passphrase_env: "my secret"
)",
        &diags);
  const std::string all = diags.ToString();
  EXPECT_NE(all.find("inv.yaml:2:3: defaults.prot: unknown field (did you mean 'port'?)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("inv.yaml:6:11: hosts[0].port: expected an integer from 1 to 65535"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("hosts[1].name: duplicate host name 'a' (first at line 4)"), std::string::npos)
      << all;
  EXPECT_NE(all.find("hosts[1].address: required field is missing"), std::string::npos) << all;
  EXPECT_NE(all.find("hosts[2].key_passphrase_env: expected the NAME of an environment variable"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("'x' is both a host and a group"), std::string::npos) << all;

  Diagnostics empty;
  Parse("hosts: []\n", &empty);
  EXPECT_NE(empty.ToString().find("expected at least one host"), std::string::npos);
  Diagnostics syntax;
  Parse("hosts: [\n", &syntax);
  EXPECT_NE(syntax.ToString().find("syntax error"), std::string::npos);
}

TEST(InventoryTest, LoadInventoryReportsAMissingFile) {
  Result<Inventory> r = LoadInventory("/nonexistent/inventory.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/inventory.yaml"), std::string::npos);
}

class SelectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Diagnostics diags;
    inv_ = Parse(kInventory, &diags);
    ASSERT_TRUE(diags.empty()) << diags.ToString();
  }
  Result<std::vector<InventoryHost>> Select(const std::string& selector, uint64_t seed = 1) {
    std::mt19937_64 rng(seed);
    return SelectHosts(inv_, selector, rng, lookup_);
  }
  Inventory inv_;
  // The "leader" is whichever member holds index 1 (m2).
  EtcdLeaderLookup lookup_ =
      [](const std::vector<const InventoryHost*>& members) -> Result<size_t> {
    for (size_t i = 0; i < members.size(); ++i) {
      if (members[i]->name == "m2") return i;
    }
    return Status::Unavailable("no leader");
  };
};

TEST_F(SelectTest, GroupsNamesIndexesAndLists) {
  EXPECT_EQ(Names(*Select("masters")), (std::vector<std::string>{"m1", "m2", "m3"}));
  EXPECT_EQ(Names(*Select("w1")), (std::vector<std::string>{"w1"}));
  EXPECT_EQ(Names(*Select("masters[2]")), (std::vector<std::string>{"m3"}));
  EXPECT_EQ(Names(*Select("all")).size(), 4u);
  EXPECT_EQ(Names(*Select("w1, masters[0]")), (std::vector<std::string>{"m1", "w1"}));
  EXPECT_EQ(Names(*Select("etcd-leader of etcd")), (std::vector<std::string>{"m2"}));
  EXPECT_EQ(Names(*Select("etcd-leader")), (std::vector<std::string>{"m2"}));
  EXPECT_EQ(Names(*Select("etcd-followers of masters")), (std::vector<std::string>{"m1", "m3"}));
}

TEST_F(SelectTest, RandomIsSeededAndDistinct) {
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto two = Select("random 2 of masters", seed);
    ASSERT_TRUE(two.ok());
    ASSERT_EQ(two->size(), 2u);
    EXPECT_NE((*two)[0].name, (*two)[1].name);
    for (const auto& h : *two) seen.insert(h.name);
    EXPECT_EQ(Names(*Select("random 2 of masters", seed)), Names(*two)) << "same seed, same pick";
  }
  EXPECT_EQ(seen.size(), 3u) << "every master is picked by some seed";
}

TEST_F(SelectTest, ErrorsSayWhatIsWrong) {
  auto msg = [&](const std::string& selector) {
    Status v = ValidateSelector(inv_, selector);
    EXPECT_FALSE(v.ok()) << selector;
    auto r = Select(selector);
    EXPECT_FALSE(r.ok()) << selector;
    return v.message();
  };
  EXPECT_NE(msg("mastres").find("no group or host 'mastres' (groups: etcd, masters, workers; "
                                "hosts: m1, m2, m3, w1)"),
            std::string::npos);
  EXPECT_NE(msg("masters[3]")
                .find("index out of range; group masters has 3 host(s), indexes 0 "
                      "to 2"),
            std::string::npos);
  EXPECT_NE(msg("random 4 of masters").find("asks for 4 hosts but group masters has 3"),
            std::string::npos);
  EXPECT_NE(msg("random x of masters").find("N must be a whole number"), std::string::npos);
  EXPECT_NE(msg("etcd-leader of workers")
                .find("host w1 of group workers has no "
                      "vars.etcd_client_url"),
            std::string::npos);
  EXPECT_NE(msg("the leader").find("expected all, NAME, GROUP[i]"), std::string::npos);
  EXPECT_NE(msg("m1,").find("empty term"), std::string::npos);
  // A failing etcd lookup names the selector.
  lookup_ = [](const std::vector<const InventoryHost*>&) -> Result<size_t> {
    return Status::Unavailable("no etcd member reports itself leader");
  };
  auto r = Select("etcd-leader of etcd");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsTransient());
  EXPECT_NE(r.status().message().find("'etcd-leader of etcd': no etcd member"), std::string::npos);
}

TEST(SshHelpersTest, QuotingWrappingAndFingerprints) {
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  SshEndpoint ep;
  ep.user = "ops";
  ep.sudo = true;
  EXPECT_EQ(WrapCommand(ep, "sv stop '/etc/sv/etcd'"),
            "sudo -n sh -c 'sv stop '\\''/etc/sv/etcd'\\'''");
  ep.sudo = false;
  EXPECT_EQ(WrapCommand(ep, "true"), "true");
  // SHA256 of the empty string, as OpenSSH prints it.
  const unsigned char empty_sha256[32] = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
                                          0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
                                          0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
                                          0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
  EXPECT_EQ(FormatSha256Fingerprint(empty_sha256, 32),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
  ep.name = "h1";
  ep.address = "198.18.0.11";
  ep.port = 22;
  ep.user = "root";
  EXPECT_EQ(ep.Label(), "h1 (root@198.18.0.11:22)");

  std::string decoded;
  EXPECT_EQ(Base64Encode("gameday 1"), "Z2FtZWRheSAx");
  ASSERT_TRUE(Base64Decode("Z2FtZWRheSAx", &decoded));
  EXPECT_EQ(decoded, "gameday 1");
  EXPECT_FALSE(Base64Decode("Z2F*", &decoded));
}

TEST(SshHelpersTest, HostVarTemplates) {
  InventoryHost h;
  h.name = "m1";
  h.ssh.address = "198.18.0.11";
  h.vars["sv"] = "/etc/sv/etcd";
  EXPECT_EQ(*ExpandHostVars("{{ sv }}/supervise/pid on {{name}}@{{address}}", h, "f"),
            "/etc/sv/etcd/supervise/pid on m1@198.18.0.11");
  Result<std::string> missing = ExpandHostVars("{{nope}}", h, "service.runit");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "service.runit uses {{nope}}, but host m1 has no vars.nope in the inventory");
  EXPECT_NE(CheckTemplate("{{a"), "");
  EXPECT_NE(CheckTemplate("{{a b}}"), "");
  EXPECT_EQ(CheckTemplate("plain"), "");
}

// The on-host timer, run by the local /bin/sh: it fires on time, and a cancel stops it and its
// sleep.
TEST(SshHelpersTest, ExpiryTimerFiresAndCancels) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("gameday-expiry-" + std::to_string(::getpid())))
          .string();
  std::filesystem::create_directories(dir);
  InventoryHost h;
  h.name = "local";
  h.vars["gameday_state_dir"] = dir + "/state";
  const std::string fired = dir + "/fired";

  OnHostExpiry fire = MakeExpiry(h, ShortHash("fire"));
  ASSERT_EQ(std::system(
                ("/bin/sh -c " + ShellQuote(StartExpiryScript(fire, std::chrono::milliseconds(300),
                                                              "touch " + ShellQuote(fired))))
                    .c_str()),
            0);
  EXPECT_TRUE(std::filesystem::exists(fire.pid_file));
  for (int i = 0; i < 60 && std::filesystem::exists(fire.pid_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(std::filesystem::exists(fired)) << "the timer did not run its heal command";
  EXPECT_FALSE(std::filesystem::exists(fire.pid_file)) << "the timer leaves its pid file";

  OnHostExpiry cancel = MakeExpiry(h, ShortHash("cancel"));
  const std::string never = dir + "/never";
  ASSERT_EQ(
      std::system(("/bin/sh -c " + ShellQuote(StartExpiryScript(cancel, std::chrono::seconds(30),
                                                                "touch " + ShellQuote(never))))
                      .c_str()),
      0);
  std::ifstream in(cancel.pid_file);
  int pid = 0;
  in >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_EQ(::kill(pid, 0), 0);
  ASSERT_EQ(std::system(("/bin/sh -c " + ShellQuote(CancelExpiryScript(cancel))).c_str()), 0);
  // Cancelling twice (or after it fired) is harmless.
  ASSERT_EQ(std::system(("/bin/sh -c " + ShellQuote(CancelExpiryScript(cancel))).c_str()), 0);
  for (int i = 0; i < 50 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::waitpid(-1, nullptr, WNOHANG);  // should our process be its parent's stand-in
  }
  std::string stat;
  std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/stat"), stat);
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos)
      << "timer still alive: " << stat;
  EXPECT_FALSE(std::filesystem::exists(cancel.pid_file));
  EXPECT_FALSE(std::filesystem::exists(never));
  std::filesystem::remove_all(dir);
}

// ---- the kinds' spec errors ----

class SshKindSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gameday-kinds-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "inventory.yaml") << kInventory;
    target_.kind = "ssh";
    target_.inventory = (dir_ / "inventory.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  template <typename Kind>
  std::string Errors(const Kind& kind, const std::string& yaml, bool* parsed = nullptr) {
    Diagnostics diags;
    SpecNode spec(YAML::Load(yaml), "method[0].spec", std::make_shared<const std::string>("p.yaml"),
                  &diags);
    auto result = kind.Parse(spec, target_);
    if (parsed != nullptr) *parsed = result != nullptr;
    EXPECT_EQ(result == nullptr, !diags.empty()) << "a result iff no problems";
    return diags.ToString();
  }

  std::filesystem::path dir_;
  TargetSpec target_;
};

TEST_F(SshKindSpecTest, ServiceStop) {
  auto kind = MakeServiceStopInjectorKind();
  EXPECT_EQ(kind->Name(), "service-stop");
  bool parsed = false;
  EXPECT_EQ(Errors(*kind, "hosts: masters\nservice: {systemd: etcd.service}\n", &parsed), "");
  EXPECT_TRUE(parsed);
  EXPECT_EQ(Errors(*kind, "hosts: etcd-leader\nservice: {runit: '{{sv}}'}\nsignal: KILL\n"), "");

  std::string e = Errors(*kind, "hosts: mastres\nservice: {systemd: a, runit: b}\nsignall: KILL\n");
  EXPECT_NE(e.find("method[0].spec.hosts: host selector 'mastres'"), std::string::npos) << e;
  EXPECT_NE(e.find("method[0].spec.service: expected exactly one of systemd"), std::string::npos)
      << e;
  EXPECT_NE(e.find("method[0].spec.signall: unknown field (did you mean 'signal'?)"),
            std::string::npos)
      << e;
  e = Errors(*kind, "hosts: m1\nservice: {process: {name: etcd}}\n");
  EXPECT_NE(e.find("service.process.start: a stopped process needs `start`"), std::string::npos)
      << e;
  e = Errors(*kind, "hosts: m1\nservice: {process: {pid_file: /p, freeze: true}}\nsignal: KILL\n");
  EXPECT_NE(e.find("signal: not used with process.freeze"), std::string::npos) << e;
  e = Errors(*kind, "hosts: m1\nservice: {static_pod: {manifest: a/etcd.yaml}}\n");
  EXPECT_NE(e.find("static_pod.manifest: expected a file name"), std::string::npos) << e;
  e = Errors(*kind, "hosts: m1\nservice: {runit: '{{a b}}'}\n");
  EXPECT_NE(e.find("service.runit: '{{a b}}' is not a variable name"), std::string::npos) << e;
  e = Errors(*kind, "hosts: m1\n");
  EXPECT_NE(e.find("service: required field is missing"), std::string::npos) << e;

  target_.kind = "kubernetes";
  e = Errors(*kind, "hosts: m1\nservice: {systemd: a}\n");
  EXPECT_NE(e.find("target must be {kind: ssh}"), std::string::npos) << e;
  target_.kind = "ssh";
  std::ofstream(dir_ / "inventory.yaml") << "hosts:\n  - name: a\n    adress: 1.2.3.4\n";
  e = Errors(*kind, "hosts: a\nservice: {systemd: a}\n");
  EXPECT_NE(e.find("inventory.yaml:3:5: hosts[0].adress: unknown field (did you mean 'address'?)"),
            std::string::npos)
      << e;
}

TEST_F(SshKindSpecTest, HostPartition) {
  auto kind = MakeHostPartitionInjectorKind();
  EXPECT_EQ(kind->Name(), "host-partition");
  EXPECT_EQ(Errors(*kind, "hosts: masters[0]\nfrom: etcd\ndirection: ingress\n"), "");
  std::string e = Errors(*kind, "hosts: masters[0]\nfrom: nobody\ndirection: sideways\n");
  EXPECT_NE(e.find("spec.from: host selector 'nobody'"), std::string::npos) << e;
  EXPECT_NE(e.find("spec.direction: expected one of both, ingress, egress"), std::string::npos)
      << e;
  // A record naming some other chain is refused: revert never deletes what is not ours.
  Status s = kind->Revert(R"({"address":"127.0.0.1","chain":"INPUT"})", InjectorEnv{});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_EQ(kind->Revert("not json", InjectorEnv{}).code(), Status::Code::kInvalidArgument);
}

TEST_F(SshKindSpecTest, RevertRecordsCarryTheConnectionButNoSecret) {
  ::setenv("GAMEDAY_UNIT_PASSPHRASE", "do-not-write-me", 1);
  std::ofstream(dir_ / "inventory.yaml")
      << "defaults: {key_passphrase_env: GAMEDAY_UNIT_PASSPHRASE}\n"
      << kInventory;
  auto kind = MakeServiceStopInjectorKind();
  Diagnostics diags;
  SpecNode spec(YAML::Load("hosts: w1\nservice: {runit: /etc/sv/x}\n"), "spec",
                std::make_shared<const std::string>("p.yaml"), &diags);
  auto injector = kind->Parse(spec, target_);
  ASSERT_TRUE(injector) << diags.ToString();
  FaultTarget w1;
  w1.id = "w1";
  w1.display = "w1 (198.18.1.1)";
  InjectorEnv env;
  env.run_id = "r1";
  auto record = injector->RevertRecord(w1, env);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_NE(record->find("\"address\":\"198.18.1.1\""), std::string::npos) << *record;
  EXPECT_NE(record->find("\"key_passphrase_env\":\"GAMEDAY_UNIT_PASSPHRASE\""), std::string::npos);
  EXPECT_NE(record->find("\"unit_or_dir\":\"/etc/sv/x\""), std::string::npos);
  EXPECT_NE(record->find("gameday-expiry-"), std::string::npos);
  EXPECT_EQ(record->find("do-not-write-me"), std::string::npos);
  EXPECT_EQ(*injector->RevertRecord(w1, env), *record) << "stable for the same target";
  EXPECT_NE(injector->DescribeAction(w1).find("runit service /etc/sv/x on w1 (198.18.1.1)"),
            std::string::npos)
      << injector->DescribeAction(w1);
  ::unsetenv("GAMEDAY_UNIT_PASSPHRASE");
}

TEST_F(SshKindSpecTest, EtcdVerifier) {
  auto kind = MakeEtcdVerifierKind();
  EXPECT_EQ(kind->Name(), "etcd");
  EXPECT_EQ(Errors(*kind, "endpoints: [http://198.18.0.11:2379/]\noperation: put-get\n"), "");
  EXPECT_EQ(Errors(*kind, "hosts: etcd\ntimeout: 300ms\n"), "");
  std::string e = Errors(*kind, "endpoints: [198.18.0.11:2379]\nhosts: etcd\noperaton: put\n");
  EXPECT_NE(e.find("expected exactly one of endpoints"), std::string::npos) << e;
  EXPECT_NE(e.find("spec.endpoints: expected http:// or https:// client URLs"), std::string::npos)
      << e;
  EXPECT_NE(e.find("spec.operaton: unknown field (did you mean 'operation'?)"), std::string::npos)
      << e;
  e = Errors(*kind, "hosts: etcd-leader\n");
  EXPECT_NE(e.find("expected a static selector"), std::string::npos) << e;
  e = Errors(*kind, "hosts: workers\n");
  EXPECT_NE(e.find("host w1 has no vars.etcd_client_url"), std::string::npos) << e;
}

}  // namespace
}  // namespace gameday
