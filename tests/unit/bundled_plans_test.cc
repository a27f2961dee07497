// Every plan that ships with gameday (experiments/plans/ and each kind's example.yaml) must parse
// with the real registries. A plan that uses a kind not registered (yet) is skipped, not failed,
// so kinds can land one at a time.

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "experiments/plan.h"
#include "injectors/registry.h"
#include "verifiers/registry.h"

namespace gameday {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> BundledPlans() {
  const fs::path root = GAMEDAY_SOURCE_DIR;
  std::vector<std::string> files;
  std::error_code ec;
  // deploy/plans: the in-cluster example the manifests and the chart carry.
  for (const fs::path& dir : {root / "experiments" / "plans", root / "deploy" / "plans"}) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
        files.push_back(fs::relative(entry.path(), root).string());
      }
    }
  }
  for (const char* folder : {"injectors", "verifiers"}) {
    if (!fs::is_directory(root / folder)) continue;
    for (const auto& kind_dir : fs::directory_iterator(root / folder, ec)) {
      const fs::path example = kind_dir.path() / "example.yaml";
      if (kind_dir.is_directory() && fs::is_regular_file(example)) {
        files.push_back(fs::relative(example, root).string());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Nodes are taken by value: yaml-cpp's const operator[] yields an invalid node for a missing key
// (which throws when inspected), the non-const one an undefined node.
void CollectStepKinds(YAML::Node steps, std::set<std::string>* injectors) {
  if (!steps.IsSequence()) return;
  for (YAML::Node step : steps) {
    if (!step.IsMap()) continue;
    if (step["inject"].IsScalar()) injectors->insert(step["inject"].Scalar());
    CollectStepKinds(step["parallel"], injectors);
  }
}

void CollectKinds(YAML::Node experiment, std::set<std::string>* injectors,
                  std::set<std::string>* verifiers) {
  if (!experiment.IsMap()) return;
  if (experiment["verify"].IsSequence()) {
    for (YAML::Node v : experiment["verify"]) {
      if (v.IsMap() && v["kind"].IsScalar()) verifiers->insert(v["kind"].Scalar());
    }
  }
  CollectStepKinds(experiment["method"], injectors);
}

// The inventory `gameday sandbox up` writes (sandbox/cluster/sandbox.sh, kubernetes.sh), in
// shape: the sandbox plans name no inventory and so read the sandbox's, which a unit test does
// not start. Kept in step with write_inventory there.
std::string WriteSandboxShapedInventory() {
  const fs::path dir =
      fs::temp_directory_path() / ("gameday-bundled-plans-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream out(dir / "inventory.yaml");
  out << "defaults: {user: root, key_file: id_ed25519, known_hosts: known_hosts, sudo: false}\n"
         "hosts:\n";
  for (int i = 1; i <= 5; ++i) {
    const std::string name = i <= 3 ? "m" + std::to_string(i) : "w" + std::to_string(i - 3);
    const std::string addr = "198.18.1." + std::to_string(10 + i);
    const std::string hd = "/srv/sandbox/bed/h" + std::to_string(i);
    out << "  - name: " << name << "\n    address: " << addr << "\n";
    if (i <= 3) {
      out << "    groups: [masters, etcd]\n    vars:\n"
          << "      netns: gd-sandbox-h" << i << "\n"
          << "      etcd_client_url: http://" << addr << ":2379\n"
          << "      etcd_service_dir: " << hd << "/service/etcd\n"
          << "      etcd_pid_file: " << hd << "/service/etcd/supervise/pid\n"
          << "      apiserver_url: https://" << addr << ":6443\n"
          << "      apiserver_service_dir: " << hd << "/service/kube-apiserver\n"
          << "      controller_manager_service_dir: " << hd << "/service/kube-controller-manager\n"
          << "      scheduler_service_dir: " << hd << "/service/kube-scheduler\n";
    } else {
      out << "    groups: [workers]\n    vars:\n"
          << "      netns: gd-sandbox-h" << i << "\n"
          << "      demo_a_service_dir: " << hd << "/service/demo-a\n"
          << "      demo_b_service_dir: " << hd << "/service/demo-b\n"
          << "      demo_a_url: http://" << addr << ":8080/\n"
          << "      demo_b_url: http://" << addr << ":8081/\n";
    }
  }
  return (dir / "inventory.yaml").string();
}

class BundledPlanTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    inventory_ = WriteSandboxShapedInventory();
    ::setenv("GAMEDAY_INVENTORY", inventory_.c_str(), 1);
    registries_ = new Registries;
    RegisterBuiltinInjectors(registries_->injectors);
    RegisterBuiltinVerifiers(registries_->verifiers);
  }
  static void TearDownTestSuite() {
    delete registries_;
    registries_ = nullptr;
    ::unsetenv("GAMEDAY_INVENTORY");
    std::error_code ec;
    fs::remove_all(fs::path(inventory_).parent_path(), ec);
  }
  static Registries* registries_;
  static std::string inventory_;
};

Registries* BundledPlanTest::registries_ = nullptr;
std::string BundledPlanTest::inventory_;

TEST_P(BundledPlanTest, Parses) {
  const std::string path = (fs::path(GAMEDAY_SOURCE_DIR) / GetParam()).string();
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    FAIL() << path << ": " << e.what();
  }
  std::set<std::string> injectors, verifiers;
  if (doc["experiments"].IsSequence()) {
    for (YAML::Node e : doc["experiments"]) CollectKinds(e, &injectors, &verifiers);
  } else {
    CollectKinds(doc, &injectors, &verifiers);
  }
  std::vector<std::string> missing;
  for (const std::string& k : injectors) {
    if (!registries_->injectors.Find(k)) missing.push_back("injector " + k);
  }
  for (const std::string& k : verifiers) {
    if (!registries_->verifiers.Find(k)) missing.push_back("verifier " + k);
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    GTEST_SKIP() << GetParam() << " uses kinds that are not registered: " << list;
  }

  Diagnostics diags;
  Plan plan = LoadPlan(path, *registries_, &diags);
  EXPECT_TRUE(diags.empty()) << diags.ToString();
  EXPECT_FALSE(plan.experiments.empty());
  for (const ExperimentSpec& e : plan.experiments) {
    for (const VerifierSpec& v : e.verifiers) EXPECT_NE(v.verifier, nullptr) << v.path;
  }
}

// `gameday validate` reads no inventory: the same plans pass with no sandbox, no
// $GAMEDAY_INVENTORY and an empty state dir (a CI job checking a pull request).
TEST_P(BundledPlanTest, ValidatesWithoutAnyInventory) {
  const std::string path = (fs::path(GAMEDAY_SOURCE_DIR) / GetParam()).string();
  const fs::path empty = fs::path(inventory_).parent_path() / "empty-state";
  fs::create_directories(empty);
  const char* state = std::getenv("GAMEDAY_STATE_DIR");
  const std::string saved_state = state ? state : "";
  ::setenv("GAMEDAY_STATE_DIR", empty.c_str(), 1);
  ::unsetenv("GAMEDAY_INVENTORY");
  Diagnostics diags;
  PlanOptions structure_only;
  structure_only.check_inventory = false;
  Plan plan = LoadPlan(path, *registries_, &diags, structure_only);
  ::setenv("GAMEDAY_INVENTORY", inventory_.c_str(), 1);
  if (saved_state.empty()) {
    ::unsetenv("GAMEDAY_STATE_DIR");
  } else {
    ::setenv("GAMEDAY_STATE_DIR", saved_state.c_str(), 1);
  }
  EXPECT_TRUE(fs::is_empty(empty)) << "validation wrote into the state dir";
  EXPECT_TRUE(diags.empty()) << diags.ToString();
  EXPECT_FALSE(plan.experiments.empty());
}

TEST(BundledPlansListTest, EveryRegisteredKindHasAnExampleThatIsFound) {
  // Guards the file walk itself: a registered kind's example.yaml must be among the plans.
  Registries registries;
  RegisterBuiltinInjectors(registries.injectors);
  RegisterBuiltinVerifiers(registries.verifiers);
  const std::vector<std::string> plans = BundledPlans();
  EXPECT_FALSE(plans.empty());
  auto found_under = [&](const std::string& folder) {
    return std::any_of(plans.begin(), plans.end(), [&](const std::string& p) {
      return p.rfind(folder + "/", 0) == 0 && p.size() > 13 &&
             p.compare(p.size() - 13, 13, "/example.yaml") == 0;
    });
  };
  if (!registries.injectors.Names().empty()) {
    EXPECT_TRUE(found_under("injectors"));
  }
  if (!registries.verifiers.Names().empty()) {
    EXPECT_TRUE(found_under("verifiers"));
  }
}

// The text of the fenced block that follows `marker` in `doc`, or "" when there is none.
std::string FencedBlockAfter(const std::string& doc, const std::string& marker) {
  size_t at = doc.find(marker);
  if (at == std::string::npos) return "";
  size_t open = doc.find("```", at);
  if (open == std::string::npos) return "";
  size_t start = doc.find('\n', open);
  size_t close = doc.find("\n```", start);
  if (start == std::string::npos || close == std::string::npos) return "";
  return doc.substr(start + 1, close - start);
}

std::string Summary(const std::vector<Step>& steps) {
  std::string out;
  for (const Step& s : steps) {
    out += s.path + ":";
    if (const auto* i = std::get_if<InjectStep>(&s.action)) {
      out += "inject " + i->kind + " " + i->name + " " + SelectModeName(i->select.mode) + " " +
             std::to_string(i->select.value) + " " + std::to_string(i->select.max) + " " +
             (i->duration ? FormatDuration(*i->duration) : "-") + "\n";
    } else if (const auto* w = std::get_if<WaitStep>(&s.action)) {
      out += "wait " + FormatDuration(w->duration) + "\n";
    } else {
      out += "parallel\n" + Summary(std::get<ParallelStep>(s.action).steps);
    }
  }
  return out;
}

std::string Summary(const Plan& plan) {
  std::string out = plan.name + "\n";
  for (const ExperimentSpec& e : plan.experiments) {
    out += e.name + " " + e.description + " " + e.target.kind + " " + FormatDuration(e.warmup) +
           " " + FormatDuration(e.stable_for) + " " + FormatDuration(e.recovery_timeout) + " " +
           FormatDuration(e.cooldown) + "\n";
    for (const auto& [k, v] : e.labels) out += "label " + k + "=" + v + "\n";
    for (const VerifierSpec& v : e.verifiers) {
      out += v.name + " " + v.kind + " " + FormatDuration(v.interval) + " " +
             std::to_string(v.slo.success_ratio) + " " +
             (v.verifier ? v.verifier->Describe() : "null") + "\n";
    }
    out += Summary(e.method);
    for (const ObjectiveSpec& o : e.objectives) {
      out += o.path + " " + o.verifier + " " + ObjectiveTypeName(o.type) + " " +
             std::to_string(o.limit) + "\n";
    }
    for (const AbortSpec& a : e.aborts) {
      out += a.path + " " + a.verifier + " " + FormatDuration(a.failing_for) + "\n";
    }
  }
  return out;
}

TEST(DocsPlanTest, CompleteExampleParsesAndYamlEqualsJson) {
  std::ifstream in(std::string(GAMEDAY_SOURCE_DIR) + "/docs/plans.md");
  ASSERT_TRUE(in.good());
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string yaml = FencedBlockAfter(buf.str(), "<!-- complete-example:yaml -->");
  const std::string json = FencedBlockAfter(buf.str(), "<!-- complete-example:json -->");
  ASSERT_FALSE(yaml.empty());
  ASSERT_FALSE(json.empty());

  Registries registries;
  RegisterBuiltinInjectors(registries.injectors);
  RegisterBuiltinVerifiers(registries.verifiers);
  for (const char* kind : {"process"}) {
    if (!registries.injectors.Find(kind)) GTEST_SKIP() << "injector " << kind << " not registered";
  }
  for (const char* kind : {"http", "tcp"}) {
    if (!registries.verifiers.Find(kind)) GTEST_SKIP() << "verifier " << kind << " not registered";
  }
  Diagnostics yaml_diags, json_diags;
  Plan from_yaml = ParsePlan(yaml, "docs/plans.md(yaml)", registries, &yaml_diags);
  Plan from_json = ParsePlan(json, "docs/plans.md(json)", registries, &json_diags);
  EXPECT_TRUE(yaml_diags.empty()) << yaml_diags.ToString();
  EXPECT_TRUE(json_diags.empty()) << json_diags.ToString();
  ASSERT_EQ(from_yaml.experiments.size(), 2u);
  EXPECT_EQ(Summary(from_yaml), Summary(from_json));
  // The text under the example says so.
  const auto& par = std::get<ParallelStep>(from_yaml.experiments[1].method[0].action);
  EXPECT_EQ(std::get<InjectStep>(par.steps[0].action).name, "process-1");
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (char c : info.param) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Bundled, BundledPlanTest, ::testing::ValuesIn(BundledPlans()), TestName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BundledPlanTest);

}  // namespace
}  // namespace gameday
