#include "reports/html_report.h"

#include <Poco/AutoPtr.h>
#include <Poco/DOM/DOMParser.h>
#include <Poco/DOM/Document.h>
#include <Poco/DOM/Element.h>
#include <Poco/DOM/NodeList.h>
#include <Poco/Exception.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>

#include "reports/json_report.h"
#include "reports/junit_report.h"
#include "reports/report_text.h"
#include "tests/unit/report_fixture.h"

namespace gameday {
namespace {

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// Removes every occurrence of `s`.
void Erase(std::string* hay, const std::string& s) {
  if (s.empty()) return;
  for (size_t at = hay->find(s); at != std::string::npos; at = hay->find(s, at)) {
    hay->erase(at, s.size());
  }
}

// Every inline <svg> must be well-formed XML (browsers forgive a lot in HTML, not in SVG
// structure). Returns the number of <title> hover texts in the SVGs.
size_t CheckSvgs(const std::string& html) {
  size_t titles = 0, count = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) {
    size_t end = html.find("</svg>", at);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated <svg>";
      break;
    }
    std::string svg = html.substr(at, end + 6 - at);
    ++count;
    try {
      Poco::XML::DOMParser parser;
      Poco::AutoPtr<Poco::XML::Document> doc = parser.parseString(svg);
      Poco::AutoPtr<Poco::XML::NodeList> list = doc->getElementsByTagName("title");
      titles += list->length();
    } catch (const Poco::Exception& e) {
      ADD_FAILURE() << "SVG " << count << " is not well-formed: " << e.displayText();
    }
  }
  return titles;
}

TEST(HtmlReportTest, ShowsTheVerdictAndEveryExperiment) {
  RunResult run = testing::RichRun(1000);
  std::string html = RenderHtml(run);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<div id=\"run-verdict\" class=\"verdict error\" data-status=\"error\">"
                      "ERROR</div>"),
            std::string::npos);
  for (const auto& e : run.experiments) {
    std::string section = "<section class=\"experiment\" id=\"exp-" +
                          std::to_string(&e - run.experiments.data()) + "\" data-name=\"" +
                          MarkupEscape(e.name, true) + "\" data-status=\"" +
                          ExperimentStatusName(e.status) + "\">";
    EXPECT_EQ(Count(html, section), 1u) << section;
  }
  EXPECT_NE(html.find("data-name=\"pod-kill &quot;frontend&quot; &lt;&amp;&gt; &#39;ünï&#39;\""),
            std::string::npos);
  EXPECT_NE(html.find("<span class=\"experiment-verdict verdict failed\">FAILED</span>"),
            std::string::npos);
  EXPECT_NE(html.find("<span class=\"experiment-verdict verdict aborted\">ABORTED</span>"),
            std::string::npos);
  EXPECT_EQ(Count(html, "class=\"experiment-verdict"), 3u);
  EXPECT_NE(html.find("18446744073709551615"), std::string::npos);  // the seed
  EXPECT_NE(html.find("2024-05-01T12:34:56.789Z"), std::string::npos);

  // Only failed experiments: the run verdict is FAILED.
  run.experiments.resize(1);
  html = RenderHtml(run);
  EXPECT_NE(html.find("id=\"run-verdict\" class=\"verdict failed\" data-status=\"failed\">FAILED<"),
            std::string::npos);
  run.experiments[0].status = ExperimentStatus::kPassed;
  run.experiments[0].reasons.clear();
  html = RenderHtml(run);
  EXPECT_NE(html.find("data-status=\"passed\">PASSED<"), std::string::npos);
  EXPECT_EQ(html.find("class=\"failure-reason\""), std::string::npos);
}

TEST(HtmlReportTest, ShowsEveryRecoveryTimeWithItsBound) {
  RunResult run = testing::RichRun(1000);
  std::string html = RenderHtml(run);
  // Overall and the pod-kill window: 12.40 s; the partition window: 2.34 s.
  EXPECT_EQ(Count(html, "recovery-time\" data-seconds=\"12.400000\">12.40 s (12.38\u201312.42)<"),
            2u);
  EXPECT_EQ(Count(html, "recovery-time\" data-seconds=\"2.340000\">2.34 s (2.32\u20132.36)<"), 1u);
  EXPECT_NE(html.find("time-to-detect\">0.420 s (0.400\u20130.420)<"), std::string::npos);
  // No impact, and an impact that never recovered.
  EXPECT_NE(html.find("recovery-time\">no impact<"), std::string::npos);
  EXPECT_NE(html.find("recovery-time bad\">not recovered<"), std::string::npos);
  // Every verifier row and per-fault row has exactly one recovery cell.
  EXPECT_EQ(Count(html, "recovery-time"), 2u + 2u + 1u);
}

TEST(HtmlReportTest, ShowsEveryFailureReasonEscaped) {
  RunResult run = testing::RichRun(100);
  std::string html = RenderHtml(run);
  size_t reasons = 0;
  for (const auto& e : run.experiments) {
    for (const auto& r : e.reasons) {
      ++reasons;
      EXPECT_NE(html.find("<li class=\"failure-reason\">" + MarkupEscape(r) + "</li>"),
                std::string::npos)
          << r;
    }
  }
  EXPECT_EQ(Count(html, "class=\"failure-reason\""), reasons);
  EXPECT_NE(html.find("SLO 99.00 % &amp; &lt;more&gt;"), std::string::npos);
}

TEST(HtmlReportTest, TablesCarryObjectivesAndProofOfCleanup) {
  std::string html = RenderHtml(testing::RichRun(100));
  EXPECT_NE(html.find("<td class=\"bad\">FAIL</td><td>frontend recovers within 10s</td>"
                      "<td>frontend</td><td class=\"num\">12.40 s</td><td class=\"num\">10.00 s"
                      "</td><td>frontend recovered in 12.40 s, budget 10 s</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">\u2014</td><td class=\"num\">99.00 %</td>"),
            std::string::npos);  // availability: not measured, limit 99 %
  EXPECT_NE(html.find("<td class=\"revert-status bad\">failed</td><td>iptables: rule "
                      "&quot;GAMEDAY-1&quot; not found</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"revert-status ok\">reverted</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"revert-status neutral\">not-needed</td>"), std::string::npos);
}

TEST(HtmlReportTest, TimelineIsWellFormedSvgWithHoverText) {
  RunResult run = testing::RichRun(3000);
  std::string html = RenderHtml(run);
  EXPECT_EQ(Count(html, "<svg class=\"timeline\""), 3u);
  size_t titles = CheckSvgs(html);
  EXPECT_GT(titles, 20u);
  // Fault windows, inject lines, the latency polyline of the http verifier, the recovery error
  // bar and event ticks are all drawn.
  EXPECT_EQ(Count(html, "class=\"window\""), 2u);  // the partition and the master stop
  EXPECT_EQ(Count(html, "class=\"inject\""), 3u);
  EXPECT_EQ(Count(html, "<polyline class=\"lat\""), 1u);
  EXPECT_GE(Count(html, "class=\"ebar\""), 2u);
  EXPECT_EQ(Count(html, "class=\"event\""), 4u);
  EXPECT_NE(html.find("class=\"fail\""), std::string::npos);
  EXPECT_NE(html.find("class=\"unk\""), std::string::npos);
  EXPECT_NE(html.find("Pod &quot;frontend-7d9c&quot; &lt;Killing&gt; &amp; rescheduled"),
            std::string::npos);
}

TEST(HtmlReportTest, IsSelfContainedAndEscapesHostileText) {
  RunResult run = testing::RichRun(200);
  run.experiments[0].name = "<script>alert('x')</script>";
  run.experiments[0].description =
      "see https://example.com/x.js and <img src=\"http://evil.example/p.png\">";
  run.experiments[0].events.push_back({2, "kubernetes", "<link rel=stylesheet href=x.css>"});
  std::string html = RenderHtml(run);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<iframe"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("src=\""), std::string::npos);
  // Links only to anchors inside the page.
  for (size_t at = html.find("href=\""); at != std::string::npos;
       at = html.find("href=\"", at + 1)) {
    EXPECT_EQ(html[at + 6], '#') << html.substr(at, 40);
  }
  // URLs appear only as escaped data text from the result.
  std::string rest = html;
  Erase(&rest, MarkupEscape(run.experiments[0].description));
  Erase(&rest, MarkupEscape(run.experiments[0].description, true));
  for (const auto& v : run.experiments[0].verifiers) {
    Erase(&rest, MarkupEscape(v.description));
    Erase(&rest, MarkupEscape(v.description, true));
  }
  size_t leak = rest.find("http://");
  EXPECT_EQ(leak, std::string::npos) << rest.substr(leak < 200 ? 0 : leak - 200, 400);
  EXPECT_EQ(rest.find("https://"), std::string::npos);
  EXPECT_TRUE(IsValidUtf8(html));
}

TEST(HtmlReportTest, HundredThousandSamplesStaySmallAndFast) {
  RunResult base = testing::RichRun(5000);
  RunResult run = base;
  run.experiments.clear();
  size_t samples = 0;
  for (int i = 0; i < 20; ++i) {
    ExperimentResult e = base.experiments[0];
    e.name = "experiment " + std::to_string(i);
    e.verifiers.resize(1);  // the http verifier: 5,000 samples at 20 ms
    samples += e.verifiers[0].samples.size();
    run.experiments.push_back(std::move(e));
  }
  ASSERT_EQ(samples, 100000u);

  auto t0 = std::chrono::steady_clock::now();
  std::string html = RenderHtml(run);
  auto t1 = std::chrono::steady_clock::now();
  std::string json = RenderJson(run);
  auto t2 = std::chrono::steady_clock::now();
  Result<RunResult> parsed = ParseJsonResult(json);
  auto t3 = std::chrono::steady_clock::now();
  std::string junit = RenderJunit(run);
  auto t4 = std::chrono::steady_clock::now();
  ASSERT_TRUE(parsed.ok());

  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::cout << "[figures] 100,000 samples in 20 experiments:\n"
            << "  HTML  " << html.size() << " bytes, rendered in " << ms(t1 - t0) << " ms\n"
            << "  JSON  " << json.size() << " bytes, rendered in " << ms(t2 - t1)
            << " ms, parsed in " << ms(t3 - t2) << " ms\n"
            << "  JUnit " << junit.size() << " bytes, rendered in " << ms(t4 - t3) << " ms\n";
  RecordProperty("html_bytes", static_cast<int>(html.size()));
  RecordProperty("html_render_us", static_cast<int>(ms(t1 - t0) * 1000));
  EXPECT_LT(html.size(), 5u * 1024 * 1024);
  EXPECT_LT(ms(t1 - t0), 1000.0);
  EXPECT_EQ(Count(html, "<section class=\"experiment\""), 20u);
  CheckSvgs(html);
}

}  // namespace
}  // namespace gameday
