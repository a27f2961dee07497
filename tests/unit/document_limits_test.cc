// Plans, inventories and kubeconfigs that would exhaust memory or the stack are refused before
// yaml-cpp builds anything (experiments/yaml_guard.h), and plans within the document limits are
// still bounded in experiments, steps and verifiers (experiments/plan.h).

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "clients/inventory/inventory.h"
#include "clients/kubernetes/kubeconfig.h"
#include "experiments/plan.h"
#include "experiments/yaml_guard.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A verifier kind that accepts any spec, so the limits are tested apart from any real kind.
class NullVerifier : public Verifier {
 public:
  void Begin(ProbeIo&, std::function<void(ProbeOutcome)> done) override { done({}); }
  std::string Describe() const override { return "noop"; }
};
class NullVerifierKind : public VerifierKind {
 public:
  std::string Name() const override { return "noop"; }
  std::unique_ptr<Verifier> Parse(SpecNode& spec, const TargetSpec&) const override {
    spec.Finish();
    return std::make_unique<NullVerifier>();
  }
};

long MaxRssKb() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

class DocumentLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    (void)registries_.verifiers.Register(std::make_unique<NullVerifierKind>());
    dir_ = fs::temp_directory_path() / ("gameday-doc-limits-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  Diagnostics Parse(const std::string& text) {
    Diagnostics diags;
    ParsePlan(text, "plan.yaml", registries_, &diags);
    return diags;
  }

  Registries registries_;
  fs::path dir_;
};

// Ten levels of nine aliases each: 9^10 (3.4 billion) strings once expanded. Old code: 17 s and
// 3 GB, then std::bad_alloc and SIGABRT (measured with `ulimit -v 3000000`).
constexpr char kBillionLaughs[] =
    "a: &a [x,x,x,x,x,x,x,x,x]\n"
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    "j: [*i,*i,*i,*i,*i,*i,*i,*i,*i]\n";

TEST_F(DocumentLimitsTest, BillionLaughsIsRefusedAtOnceWithItsPosition) {
  ASSERT_LT(sizeof kBillionLaughs, 400u);
  const long rss_before = MaxRssKb();
  const auto start = Clock::now();
  Diagnostics diags = Parse(kBillionLaughs);
  const auto took = Clock::now() - start;
  ASSERT_EQ(diags.size(), 1u) << diags.ToString();
  EXPECT_EQ(diags.items()[0].ToString(),
            "plan.yaml:1:4: YAML anchors (&a) and aliases are not allowed in this plan; write "
            "the value out where it is used");
  EXPECT_LT(took, std::chrono::milliseconds(50));
  EXPECT_LT(MaxRssKb() - rss_before, 16 * 1024);  // no large allocation (kB)
}

TEST_F(DocumentLimitsTest, AnAliasAloneIsRefusedWhereItIs) {
  // An alias to an undefined anchor never reaches yaml-cpp either.
  Diagnostics diags = Parse("name: x\nmethod:\n  - wait: *later\n");
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags.items()[0].line, 3);
  EXPECT_NE(diags.items()[0].message.find("*later"), std::string::npos);
}

TEST_F(DocumentLimitsTest, SixteenMegabytePlanIsRefusedBySizeAtOnce) {
  std::string big = "name: big\nmethod:\n";
  while (big.size() < (size_t{16} << 20))
    big += "  - wait: 1s  # padding padding padding padding\n";
  const std::string path = Write("big.yaml", big);
  const auto start = Clock::now();
  Diagnostics diags;
  LoadPlan(path, registries_, &diags);
  const auto took = Clock::now() - start;
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags.items()[0].message.find("larger than 1048576 bytes"), std::string::npos)
      << diags.ToString();
  EXPECT_LT(took, std::chrono::milliseconds(200));  // old code: 14 s and 2 GB
  // A device that never ends is refused the same way.
  Diagnostics endless;
  LoadPlan("/dev/zero", registries_, &endless);
  ASSERT_EQ(endless.size(), 1u);
  EXPECT_NE(endless.items()[0].message.find("larger than"), std::string::npos);
}

TEST_F(DocumentLimitsTest, DeepNestingIsRefusedByDepthInEveryForm) {
  const std::string flow = std::string(100000, '[') + std::string(100000, ']') + "\n";
  std::string block;
  for (int i = 0; i < 100000; ++i) block += "- ";
  block += "x\n";
  std::string json;
  for (int i = 0; i < 100000; ++i) json += "{\"a\":";
  json += "1" + std::string(100000, '}') + "\n";
  for (const std::string* text : std::vector<const std::string*>{&flow, &block, &json}) {
    Diagnostics diags = Parse(*text);
    ASSERT_EQ(diags.size(), 1u) << diags.ToString();
    const Diagnostic& d = diags.items()[0];
    EXPECT_EQ(d.line, 1);
    EXPECT_GT(d.column, 60);
    EXPECT_NE(d.message.find("nested more than 64 maps and lists deep"), std::string::npos)
        << d.ToString();
  }
}

TEST_F(DocumentLimitsTest, TooManyNodesAndASecondDocumentAreRefused) {
  std::string wide = "name: x\nlabels: [";
  for (int i = 0; i < 60000; ++i) wide += "1,";
  wide += "1]\n";
  Diagnostics nodes = Parse(wide);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_NE(nodes.items()[0].message.find("more than 50000 values"), std::string::npos);

  std::string keys = "name: x\nlabels: {";
  for (int i = 0; i < 1001; ++i) keys += "k" + std::to_string(i) + ": v,";
  keys += "}\n";
  const auto start = Clock::now();
  Diagnostics map = Parse(keys);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(100));  // old code: 25,000 keys, 43 s
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map.items()[0].ToString(),
            "plan.yaml:2:7900: a map with more than 1000 keys, the most allowed in this plan");

  Diagnostics two = Parse("name: a\nmethod: [{wait: 1s}]\n---\nname: b\n");
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two.items()[0].line, 3);
  EXPECT_NE(two.items()[0].message.find("a second YAML document"), std::string::npos);
}

std::string Experiment(const std::string& name, int verifiers, int steps,
                       const std::string& indent = "") {
  std::string out = indent + "name: " + name + "\n" + indent + "verify:\n";
  for (int i = 0; i < verifiers; ++i) {
    out += indent + "  - {name: v" + std::to_string(i) + ", kind: noop}\n";
  }
  out += indent + "method:\n";
  for (int i = 0; i < steps; ++i) out += indent + "  - wait: 1ms\n";
  return out;
}

TEST_F(DocumentLimitsTest, AtTheLimitsAPlanIsAccepted) {
  Diagnostics diags = Parse(Experiment("x", 1000, 1000));
  EXPECT_TRUE(diags.empty()) << diags.ToString();
}

TEST_F(DocumentLimitsTest, TooManyStepsAreRefusedNamingTheFieldAndTheLimit) {
  Diagnostics diags = Parse(Experiment("x", 1, 1001));
  ASSERT_EQ(diags.size(), 1u) << diags.ToString();
  EXPECT_EQ(diags.items()[0].path, "method[1000]");
  EXPECT_NE(diags.items()[0].message.find("more than 1000 steps (counting those inside "
                                          "parallel); at most 1000 are allowed"),
            std::string::npos);

  // Nested steps count: 10 parallel steps of 100 waits each are 1010 steps.
  std::string nested = "name: x\nverify: [{name: v, kind: noop}]\nmethod:\n";
  for (int p = 0; p < 10; ++p) {
    nested += "  - parallel:\n";
    for (int i = 0; i < 100; ++i) nested += "      - wait: 1ms\n";
  }
  Diagnostics nested_diags = Parse(nested);
  ASSERT_EQ(nested_diags.size(), 1u) << nested_diags.ToString();
  EXPECT_EQ(nested_diags.items()[0].path, "method[9].parallel[90]");
}

TEST_F(DocumentLimitsTest, ParallelNestedTooDeepIsRefused) {
  std::string plan = "name: x\nverify: [{name: v, kind: noop}]\nmethod:\n";
  std::string indent = "  ";
  for (int i = 0; i < 9; ++i) {
    plan += indent + "- parallel:\n";
    indent += "    ";
  }
  plan += indent + "- wait: 1ms\n";
  Diagnostics diags = Parse(plan);
  ASSERT_EQ(diags.size(), 1u) << diags.ToString();
  EXPECT_EQ(
      diags.items()[0].path, "method[0]" + [] {
        std::string p;
        for (int i = 0; i < 8; ++i) p += ".parallel[0]";
        return p;
      }() + ".parallel");
  EXPECT_NE(diags.items()[0].message.find("nested more than 8 deep; at most 8 are allowed"),
            std::string::npos);
  // Eight levels are fine.
  plan = "name: x\nverify: [{name: v, kind: noop}]\nmethod:\n";
  indent = "  ";
  for (int i = 0; i < 8; ++i) {
    plan += indent + "- parallel:\n";
    indent += "    ";
  }
  plan += indent + "- wait: 1ms\n";
  Diagnostics ok = Parse(plan);
  EXPECT_TRUE(ok.empty()) << ok.ToString();
}

TEST_F(DocumentLimitsTest, TooManyVerifiersAndExperimentsAreRefused) {
  Diagnostics verifiers = Parse(Experiment("x", 1001, 1));
  ASSERT_EQ(verifiers.size(), 1u) << verifiers.ToString();
  EXPECT_EQ(verifiers.items()[0].path, "verify");
  EXPECT_EQ(verifiers.items()[0].message, "1001 verifiers; at most 1000 are allowed");

  std::string suite = "experiments:\n";
  for (int i = 0; i < 1001; ++i) {
    suite += "  - name: e" + std::to_string(i) +
             "\n    verify: [{name: v, kind: noop}]\n    method: [{wait: 1ms}]\n";
  }
  Diagnostics experiments = Parse(suite);
  ASSERT_EQ(experiments.size(), 1u) << experiments.ToString();
  EXPECT_EQ(experiments.items()[0].path, "experiments");
  EXPECT_EQ(experiments.items()[0].message, "1001 experiments; at most 1000 are allowed");
}

TEST_F(DocumentLimitsTest, InventoryIsGuardedTheSameWay) {
  Diagnostics aliases;
  ParseInventory("hosts:\n  - &h {name: a, address: 127.0.0.1}\n  - *h\n", "inv.yaml", "",
                 &aliases);
  ASSERT_EQ(aliases.size(), 1u);
  EXPECT_EQ(aliases.items()[0].ToString(),
            "inv.yaml:2:5: YAML anchors (&h) and aliases are not allowed in this inventory; "
            "write the value out where it is used");

  Diagnostics deep;
  ParseInventory("hosts: " + std::string(10000, '[') + "\n", "inv.yaml", "", &deep);
  ASSERT_EQ(deep.size(), 1u);
  EXPECT_NE(deep.items()[0].message.find("nested more than 64"), std::string::npos);

  std::string big = "hosts:\n";
  while (big.size() < (size_t{9} << 20)) big += "# padding padding padding padding padding\n";
  Result<Inventory> inv = LoadInventory(Write("inventory.yaml", big));
  ASSERT_FALSE(inv.ok());
  EXPECT_NE(
      inv.status().message().find("inventory.yaml: the inventory is larger than 8388608 bytes"),
      std::string::npos)
      << inv.status().message();
}

TEST_F(DocumentLimitsTest, KubeconfigIsGuardedTheSameWay) {
  const std::string laughs = std::string("apiVersion: v1\nkind: Config\n") + kBillionLaughs;
  const auto start = Clock::now();
  Result<KubeConfig> r = ParseKubeConfigText(laughs, "kc.yaml", "");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(50));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("kc.yaml:3:4: YAML anchors (&a)"), std::string::npos)
      << r.status().message();

  Result<KubeConfig> deep =
      ParseKubeConfigText("clusters:\n" + std::string(100000, '-') + "\n", "kc.yaml", "");
  ASSERT_FALSE(deep.ok());

  // A file it names is read only up to a bound too.
  Result<KubeConfig> endless = ParseKubeConfigText(
      "apiVersion: v1\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\", "
      "certificate-authority: /dev/zero}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n"
      "- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
      "kc.yaml", "");
  ASSERT_FALSE(endless.ok());
  EXPECT_NE(endless.status().message().find("/dev/zero: not a regular file"), std::string::npos)
      << endless.status().message();

  std::string big = "apiVersion: v1\n";
  while (big.size() < (size_t{5} << 20)) big += "# padding padding padding padding padding\n";
  KubeConfigOptions options;
  options.path = Write("kubeconfig", big);
  Result<KubeConfig> large = LoadKubeConfig(options);
  ASSERT_FALSE(large.ok());
  EXPECT_NE(
      large.status().message().find("kubeconfig: the kubeconfig is larger than 4194304 bytes"),
      std::string::npos)
      << large.status().message();
}

TEST(YamlGuardTest, CheckDocumentAcceptsOrdinaryYamlAndJson) {
  DocumentProblem p;
  EXPECT_TRUE(CheckDocument("", kPlanLimits, &p));
  EXPECT_TRUE(CheckDocument("a: [1, {b: c}]\nd: |\n  text\n", kPlanLimits, &p)) << p.message;
  EXPECT_TRUE(CheckDocument("{\"a\": [1, 2, {\"b\": null}]}", kPlanLimits, &p)) << p.message;
  EXPECT_TRUE(CheckDocument("---\na: 1\n...\n", kPlanLimits, &p)) << p.message;
  EXPECT_FALSE(CheckDocument("a: [1, 2\n", kPlanLimits, &p));
  EXPECT_NE(p.message.find("syntax error"), std::string::npos);
}

// yaml-cpp throws when a key is read as a string but is a list or map; the fuzzer found an
// inventory that did this (tests/fuzz/crashes/inventory/complex-key), so such keys are refused
// before yaml-cpp sees them, in every document kind.
TEST(YamlGuardTest, ListsAndMapsAsKeysAreRefused) {
  DocumentProblem p;
  for (const char* text : {"? [a, b]\n: 1\n", "{[a]: 1}\n", "hosts:\n  - {name: a}: x\n"}) {
    EXPECT_FALSE(CheckDocument(text, kPlanLimits, &p)) << text;
    EXPECT_NE(p.message.find("expected a field name, got a "), std::string::npos) << p.message;
  }
  EXPECT_TRUE(CheckDocument("a: [b, c]\nd: {e: f}\n", kPlanLimits, &p)) << p.message;
  Diagnostics diags;
  ParseInventory("hosts:\n  - name: a\n    address: 127.0.0.1\n    ? [x]\n    : y\n", "inv.yaml",
                 "", &diags);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags.items()[0].ToString().find("inv.yaml:4:7: expected a field name, got a list"),
            std::string::npos)
      << diags.items()[0].ToString();
}

}  // namespace
}  // namespace gameday
