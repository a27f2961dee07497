#include "reports/junit_report.h"

#include <Poco/AutoPtr.h>
#include <Poco/DOM/DOMParser.h>
#include <Poco/DOM/Document.h>
#include <Poco/DOM/Element.h>
#include <Poco/DOM/NamedNodeMap.h>
#include <Poco/DOM/Node.h>
#include <Poco/Exception.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/report_fixture.h"

namespace gameday {
namespace {

using Poco::XML::Element;
using Poco::XML::Node;

// ---------------------------------------------------------------------------------------------
// The rules of the Jenkins xUnit plugin's junit-10.xsd (the common JUnit schema), checked on the
// parsed DOM: which elements may appear where, which attributes each may and must carry, and the
// SUREFIRE_TIME pattern of testsuite/@time.

struct ElementRule {
  std::set<std::string> required;
  std::set<std::string> allowed;  // including the required ones
  std::set<std::string> children;
  bool text = false;  // may hold non-whitespace text
};

const std::map<std::string, ElementRule>& Junit10Rules() {
  static const std::map<std::string, ElementRule> rules = {
      {"testsuites", {{}, {"name", "time", "tests", "failures", "errors"}, {"testsuite"}, false}},
      {"testsuite",
       {{"name", "tests", "failures", "errors"},
        {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname",
         "id", "package", "file", "log", "url"},
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
        false}},
      {"properties", {{}, {}, {"property"}, false}},
      {"property", {{"name", "value"}, {"name", "value"}, {}, false}},
      {"testcase",
       {{"name"},
        {"name", "time", "classname", "group"},
        {"skipped", "error", "failure", "rerunFailure", "rerunError", "flakyFailure", "flakyError",
         "system-out", "system-err"},
        false}},
      {"failure", {{}, {"type", "message"}, {}, true}},
      {"error", {{}, {"type", "message"}, {}, true}},
      {"skipped", {{}, {"type", "message"}, {}, true}},
      {"system-out", {{}, {}, {}, true}},
      {"system-err", {{}, {}, {}, true}},
  };
  return rules;
}

void CheckElement(const Element* e, const std::string& path, std::vector<std::string>* problems) {
  const std::string name = e->localName();
  auto it = Junit10Rules().find(name);
  if (it == Junit10Rules().end()) {
    problems->push_back(path + ": element not in junit-10.xsd");
    return;
  }
  const ElementRule& rule = it->second;
  Poco::AutoPtr<Poco::XML::NamedNodeMap> attrs = e->attributes();
  for (unsigned long i = 0; i < attrs->length(); ++i) {
    std::string a = attrs->item(i)->nodeName();
    if (!rule.allowed.count(a)) problems->push_back(path + ": attribute " + a + " not allowed");
  }
  for (const auto& a : rule.required) {
    if (!e->hasAttribute(a)) problems->push_back(path + ": attribute " + a + " missing");
  }
  if (name == "testsuite" && e->hasAttribute("time")) {
    static const std::regex kSurefireTime(R"((([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?)");
    if (!std::regex_match(e->getAttribute("time"), kSurefireTime)) {
      problems->push_back(path + ": time \"" + e->getAttribute("time") + "\" not SUREFIRE_TIME");
    }
  }
  for (Node* c = e->firstChild(); c; c = c->nextSibling()) {
    if (c->nodeType() == Node::ELEMENT_NODE) {
      std::string child = c->localName();
      if (!rule.children.count(child)) {
        problems->push_back(path + ": child " + child + " not allowed");
      }
      CheckElement(static_cast<Element*>(c), path + "/" + child, problems);
    } else if (c->nodeType() == Node::TEXT_NODE && !rule.text &&
               c->nodeValue().find_first_not_of(" \t\r\n") != std::string::npos) {
      problems->push_back(path + ": text not allowed");
    }
  }
}

// Parses `xml` (so it must be well-formed) and checks it against junit-10.xsd's rules.
Poco::AutoPtr<Poco::XML::Document> ParseAndCheck(const std::string& xml) {
  Poco::XML::DOMParser parser;
  Poco::AutoPtr<Poco::XML::Document> doc;
  try {
    doc = parser.parseString(xml);
  } catch (const Poco::Exception& e) {
    ADD_FAILURE() << "not well-formed XML: " << e.displayText() << "\n" << xml.substr(0, 2000);
    return nullptr;
  }
  std::vector<std::string> problems;
  Element* root = doc->documentElement();
  if (root->localName() != "testsuites") problems.push_back("root is not testsuites");
  CheckElement(root, "/testsuites", &problems);
  for (const auto& p : problems) ADD_FAILURE() << "junit-10.xsd: " << p;
  return doc;
}

std::vector<Element*> Children(const Node* parent, const std::string& name) {
  std::vector<Element*> out;
  for (Node* c = parent->firstChild(); c; c = c->nextSibling()) {
    if (c->nodeType() == Node::ELEMENT_NODE && c->localName() == name) {
      out.push_back(static_cast<Element*>(c));
    }
  }
  return out;
}

Element* Case(const Element* suite, const std::string& name) {
  for (Element* tc : Children(suite, "testcase")) {
    if (tc->getAttribute("name") == name) return tc;
  }
  return nullptr;
}

// The one failure/error/skipped child of a test case, or nullptr when it passed.
Element* Outcome(const Element* tc) {
  for (const char* kind : {"failure", "error", "skipped"}) {
    auto c = Children(tc, kind);
    if (!c.empty()) return c.front();
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------

TEST(JunitReportTest, ValidatesAgainstJunit10AndCountsAddUp) {
  RunResult run = testing::RichRun(200);
  std::string xml = RenderJunit(run);
  auto doc = ParseAndCheck(xml);
  ASSERT_TRUE(doc);
  Element* root = doc->documentElement();
  auto suites = Children(root, "testsuite");
  ASSERT_EQ(suites.size(), 3u);

  int total_tests = 0, total_failures = 0, total_errors = 0;
  for (Element* s : suites) {
    auto cases = Children(s, "testcase");
    int failures = 0, errors = 0, skipped = 0;
    for (Element* tc : cases) {
      failures += !Children(tc, "failure").empty();
      errors += !Children(tc, "error").empty();
      skipped += !Children(tc, "skipped").empty();
      EXPECT_EQ(tc->getAttribute("classname"), "gameday." + s->getAttribute("name"));
    }
    EXPECT_EQ(s->getAttribute("tests"), std::to_string(cases.size()));
    EXPECT_EQ(s->getAttribute("failures"), std::to_string(failures));
    EXPECT_EQ(s->getAttribute("errors"), std::to_string(errors));
    EXPECT_EQ(s->getAttribute("skipped"), std::to_string(skipped));
    total_tests += static_cast<int>(cases.size());
    total_failures += failures;
    total_errors += errors;
  }
  EXPECT_EQ(root->getAttribute("tests"), std::to_string(total_tests));
  EXPECT_EQ(root->getAttribute("failures"), std::to_string(total_failures));
  EXPECT_EQ(root->getAttribute("errors"), std::to_string(total_errors));

  // Experiment 0: 3 objectives + steady before/after + reverts + completion.
  Element* failed = suites[0];
  EXPECT_EQ(failed->getAttribute("name"), run.experiments[0].name);  // unescaped by the parser
  EXPECT_EQ(failed->getAttribute("tests"), "7");
  // recover_within and min_availability failed, steady state after (95 % < 99 %) and the
  // revert of the partition failed.
  EXPECT_EQ(failed->getAttribute("failures"), "4");
  EXPECT_EQ(failed->getAttribute("errors"), "0");
  EXPECT_EQ(failed->getAttribute("time"), "60.123");
  EXPECT_EQ(failed->getAttribute("timestamp"), "2024-05-01T12:34:57");

  // Experiment 1 was aborted: an <error> with the reason.
  Element* aborted = suites[1];
  EXPECT_EQ(aborted->getAttribute("errors"), "1");
  Element* completion = Case(aborted, "experiment ran to completion");
  ASSERT_TRUE(completion);
  auto err = Children(completion, "error");
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0]->getAttribute("type"), "aborted");
  EXPECT_EQ(err[0]->getAttribute("message"), "aborted: apiserver failed continuously for 30 s");
  // Experiment 2 ended in error, with nothing measured: its checks are skipped, not passed.
  Element* empty = suites[2];
  EXPECT_EQ(empty->getAttribute("errors"), "1");
  Element* before = Case(empty, "steady state before");
  ASSERT_TRUE(before && Outcome(before));
  EXPECT_EQ(Outcome(before)->localName(), "skipped");
}

TEST(JunitReportTest, FailuresCarryTheMeasuredValueAndTheBudget) {
  auto doc = ParseAndCheck(RenderJunit(testing::RichRun(50)));
  ASSERT_TRUE(doc);
  Element* suite = Children(doc->documentElement(), "testsuite")[0];

  Element* recover = Case(suite, "frontend recovers within 10s");
  ASSERT_TRUE(recover);
  ASSERT_TRUE(Outcome(recover));
  EXPECT_EQ(Outcome(recover)->localName(), "failure");
  EXPECT_EQ(Outcome(recover)->getAttribute("message"), "recovered in 12.40 s, budget 10 s");
  EXPECT_EQ(Outcome(recover)->getAttribute("type"), "recover_within");
  EXPECT_NE(Outcome(recover)->innerText().find("measured: 12.4"), std::string::npos);

  Element* detect = Case(suite, "frontend impact is detected");
  ASSERT_TRUE(detect);
  EXPECT_EQ(Outcome(detect), nullptr);  // passed

  Element* avail = Case(suite, "availability <\"99%\"> & more");
  ASSERT_TRUE(avail && Outcome(avail));
  EXPECT_EQ(Outcome(avail)->getAttribute("message"), "availability not measured, minimum 99.00 %");

  Element* after = Case(suite, "steady state after");
  ASSERT_TRUE(after && Outcome(after));
  EXPECT_EQ(Outcome(after)->getAttribute("message"), "frontend 95.00 % passing, SLO 99.00 %");

  Element* before = Case(suite, "steady state before");
  ASSERT_TRUE(before);
  EXPECT_EQ(Outcome(before), nullptr);  // 100 %, and the other verifier did not measure

  Element* reverted = Case(suite, "every fault reverted");
  ASSERT_TRUE(reverted && Outcome(reverted));
  EXPECT_EQ(Outcome(reverted)->getAttribute("message"),
            "revert of network-partition on node-2 failed: iptables: rule \"GAMEDAY-1\" not "
            "found");

  // The system-out summary holds the recovery time with its bound.
  auto out = Children(suite, "system-out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0]->innerText().find("recover 12.40 s (12.38\u201312.42)"), std::string::npos)
      << out[0]->innerText();
}

TEST(JunitReportTest, EscapesEverythingItWrites) {
  RunResult run;
  run.plan_name = "plan <&> \"'";
  ExperimentResult e;
  e.name = "a<b>&\"c\"'d'\tline\nbreak";
  e.status = ExperimentStatus::kFailed;
  e.start_wall = testing::WallMs(0);
  ObjectiveResult o;
  o.name = "]]> <![CDATA[ & </testcase>";
  o.type = "custom";
  o.passed = false;
  o.measured = 3;
  o.limit = 2;
  o.message = std::string("control \x01\x1f chars and bad utf-8 \xff and U+FFFF \xEF\xBF\xBF");
  e.objectives.push_back(o);
  e.events.push_back({1.5, "kubernetes", "</system-out><evil/>"});
  run.experiments.push_back(e);

  std::string xml = RenderJunit(run);
  EXPECT_EQ(xml.find("<evil/>"), std::string::npos);
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
  auto doc = ParseAndCheck(xml);
  ASSERT_TRUE(doc);
  Element* suite = Children(doc->documentElement(), "testsuite")[0];
  // Attribute values survive exactly, tab and newline included (written as references).
  EXPECT_EQ(suite->getAttribute("name"), e.name);
  EXPECT_EQ(doc->documentElement()->getAttribute("name"), "gameday: plan <&> \"'");
  Element* tc = Case(suite, o.name);
  ASSERT_TRUE(tc && Outcome(tc));
  EXPECT_EQ(Outcome(tc)->getAttribute("message"), "measured 3, limit 2");
  EXPECT_NE(Outcome(tc)->innerText().find("control \uFFFD\uFFFD chars and bad utf-8 \uFFFD and "
                                          "U+FFFF \uFFFD"),
            std::string::npos)
      << Outcome(tc)->innerText();
  EXPECT_NE(Children(suite, "system-out")[0]->innerText().find("</system-out><evil/>"),
            std::string::npos);
}

TEST(JunitReportTest, DryRunSkipsWhatWasNotMeasured) {
  RunResult run = testing::RichRun(20);
  run.dry_run = true;
  run.experiments.resize(1);
  run.experiments[0].status = ExperimentStatus::kPassed;
  run.experiments[0].faults.clear();
  auto doc = ParseAndCheck(RenderJunit(run));
  ASSERT_TRUE(doc);
  Element* suite = Children(doc->documentElement(), "testsuite")[0];
  EXPECT_EQ(suite->getAttribute("failures"), "0");
  EXPECT_EQ(suite->getAttribute("skipped"), "6");  // everything but "ran to completion"
  Element* recover = Case(suite, "frontend recovers within 10s");
  ASSERT_TRUE(recover && Outcome(recover));
  EXPECT_EQ(Outcome(recover)->localName(), "skipped");
}

TEST(JunitReportTest, EmptyRunIsAValidDocument) {
  std::string xml = RenderJunit(RunResult{});
  auto doc = ParseAndCheck(xml);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->documentElement()->getAttribute("tests"), "0");
  EXPECT_TRUE(Children(doc->documentElement(), "testsuite").empty());
}

// Expected failures keep to junit-10.xsd: the failing cases become passing ones that carry their
// own <system-out>, and the unexpected pass is a plain <failure>.
TEST(JunitReportTest, ExpectedFailuresFollowTheSchema) {
  RunResult run = testing::RichRun(50);
  run.experiments[0].status = ExperimentStatus::kPassed;
  run.experiments[0].outcome = ExperimentOutcome::kExpectedFailure;
  run.experiments[0].expected_failure = "known: one replica <cannot> absorb a kill";
  run.experiments[0].faults[1].revert = RevertState::kReverted;  // an expected failure never aborts
  ExperimentResult xpass = run.experiments[0];
  xpass.name = "xpass";
  xpass.status = ExperimentStatus::kFailed;
  xpass.outcome = ExperimentOutcome::kUnexpectedPass;
  for (auto& o : xpass.objectives) o.passed = true;
  run.experiments.push_back(xpass);
  auto doc = ParseAndCheck(RenderJunit(run));
  ASSERT_TRUE(doc);
  auto suites = Children(doc->documentElement(), "testsuite");
  ASSERT_EQ(suites.size(), 4u);
  EXPECT_EQ(suites[0]->getAttribute("failures"), "0");
  EXPECT_TRUE(Children(suites[0], "testcase").size() > 0);
  size_t with_out = 0;
  for (Element* tc : Children(suites[0], "testcase")) {
    EXPECT_TRUE(Children(tc, "failure").empty()) << tc->getAttribute("name");
    with_out += Children(tc, "system-out").size();
  }
  EXPECT_GE(with_out, 3u);  // two failed objectives, steady state after, and `fails as expected`
  bool unexpected = false;
  for (Element* tc : Children(suites[3], "testcase")) {
    for (Element* f : Children(tc, "failure")) {
      unexpected = unexpected || f->getAttribute("type") == "unexpected-pass";
    }
  }
  EXPECT_TRUE(unexpected);
}

}  // namespace
}  // namespace gameday
