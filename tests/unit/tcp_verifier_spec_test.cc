// Spec parsing of the "tcp" verifier kind.

#include <gtest/gtest.h>

#include "experiments/spec_reader.h"
#include "experiments/target.h"
#include "verifiers/tcp/tcp_verifier.h"

namespace gameday {
namespace {

constexpr char kBase[] = "verify[0].spec";

struct Parsed {
  Diagnostics diags;
  std::optional<TcpProbeSpec> spec;
};

Parsed Parse(const std::string& yaml) {
  Parsed p;
  SpecNode node(YAML::Load(yaml), kBase, std::make_shared<const std::string>("plan.yaml"),
                &p.diags);
  p.spec = ParseTcpProbeSpec(node);
  return p;
}

std::string MessageAt(const Parsed& p, const std::string& field) {
  for (const Diagnostic& d : p.diags.items()) {
    if (d.path == std::string(kBase) + "." + field) return d.message;
  }
  return "(no diagnostic at " + field + "; got: " + p.diags.ToString() + ")";
}

TEST(TcpVerifierSpecTest, ValidSpecs) {
  Parsed p = Parse("host: 127.0.0.1\nport: 8080\n");
  ASSERT_TRUE(p.spec.has_value()) << p.diags.ToString();
  EXPECT_EQ(p.spec->host, "127.0.0.1");
  EXPECT_EQ(p.spec->port, 8080);
  EXPECT_EQ(p.spec->timeout, std::chrono::seconds(1));

  p = Parse("host: '[::1]'\nport: 1\ntimeout: 50ms\n");
  ASSERT_TRUE(p.spec.has_value()) << p.diags.ToString();
  EXPECT_EQ(p.spec->host, "::1");
  EXPECT_EQ(p.spec->timeout, std::chrono::milliseconds(50));

  Diagnostics diags;
  SpecNode node(YAML::Load("host: db.internal\nport: 5432\n"), kBase,
                std::make_shared<const std::string>("plan.yaml"), &diags);
  std::unique_ptr<Verifier> v = MakeTcpVerifierKind()->Parse(node, TargetSpec{});
  ASSERT_NE(v, nullptr) << diags.ToString();
  EXPECT_EQ(v->Describe(), "tcp connect db.internal:5432");
  EXPECT_EQ(MakeTcpVerifierKind()->Name(), "tcp");
}

TEST(TcpVerifierSpecTest, EveryErrorHasItsPath) {
  Parsed p = Parse("timeout: 0ms\nprot: 80\n");
  EXPECT_FALSE(p.spec.has_value());
  EXPECT_NE(MessageAt(p, "host").find("required field is missing"), std::string::npos);
  EXPECT_NE(MessageAt(p, "port").find("required field is missing"), std::string::npos);
  EXPECT_NE(MessageAt(p, "timeout").find("from 1ms"), std::string::npos);
  EXPECT_NE(MessageAt(p, "prot").find("did you mean 'port'"), std::string::npos);

  p = Parse("host: http://x/\nport: 70000\n");
  EXPECT_NE(MessageAt(p, "host").find("no scheme, port or path"), std::string::npos);
  EXPECT_NE(MessageAt(p, "port").find("from 1 to 65535"), std::string::npos);

  p = Parse("host: 'fe80::zz'\nport: http\n");
  EXPECT_NE(MessageAt(p, "host").find("host name or an IP address"), std::string::npos);
  EXPECT_NE(MessageAt(p, "port").find("expected an integer"), std::string::npos);

  Diagnostics diags;
  SpecNode missing(YAML::Node(YAML::NodeType::Undefined), kBase,
                   std::make_shared<const std::string>("plan.yaml"), &diags);
  EXPECT_EQ(MakeTcpVerifierKind()->Parse(missing, TargetSpec{}), nullptr);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags.items()[0].path, kBase);
}

TEST(TcpVerifierSpecTest, ExamplePlanSpecParses) {
  const std::string file = std::string(GAMEDAY_SOURCE_DIR) + "/verifiers/tcp/example.yaml";
  YAML::Node plan = YAML::LoadFile(file);
  ASSERT_TRUE(plan["verify"].IsSequence());
  EXPECT_EQ(plan["verify"][0]["kind"].as<std::string>(), "tcp");
  Diagnostics diags;
  SpecNode spec(plan["verify"][0]["spec"], "verify[0].spec",
                std::make_shared<const std::string>(file), &diags);
  EXPECT_TRUE(ParseTcpProbeSpec(spec).has_value()) << diags.ToString();
}

}  // namespace
}  // namespace gameday
