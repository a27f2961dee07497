#include "reports/html_report.h"

#include <Poco/AutoPtr.h>
#include <Poco/Base64Encoder.h>
#include <Poco/DOM/DOMParser.h>
#include <Poco/DOM/Document.h>
#include <Poco/DOM/Element.h>
#include <Poco/DOM/NodeList.h>
#include <Poco/Exception.h>
#include <Poco/SHA2Engine.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>

#include "experiments/sample_store.h"
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

TEST(HtmlReportTest, InjectionSpansShowNextToTheFaults) {
  const std::string html = RenderHtml(testing::RichRun(100));
  const size_t faults = html.find("<table class=\"faults\">");
  const size_t injections = html.find("<table class=\"injections\">");
  ASSERT_NE(faults, std::string::npos);
  ASSERT_NE(injections, std::string::npos);
  EXPECT_LT(faults, injections);
  // Step, kind, start, how many went in (one did not: marked), the span and the journal's part.
  EXPECT_NE(html.find("<tr class=\"injection\"><td>kill</td><td>pod-kill</td>"
                      "<td class=\"num\">4.900 s</td><td class=\"num bad\">999 of 1000</td>"
                      "<td class=\"num\">1.23 s</td><td class=\"num\">0.004 s</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<td>partition \u00b7 round 2</td><td>network-partition</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">1 of 1</td>"), std::string::npos);
  // And the plain-text summary says it in a line.
  EXPECT_NE(RenderTextSummary(testing::RichRun(100))
                .find("    kill: 999 of 1000 target(s) injected in 1.23 s (journal 0.004 s), "
                      "from 4.900 s\n"),
            std::string::npos);
  // A result without injections (older ones) has no such table.
  RunResult old = testing::RichRun(100);
  for (ExperimentResult& e : old.experiments) e.injections.clear();
  EXPECT_EQ(RenderHtml(old).find("class=\"injections\""), std::string::npos);
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
  EXPECT_EQ(Count(html, "class=\"event\""), 3u);
  EXPECT_EQ(Count(html, "class=\"event k8s\""), 1u);  // Kubernetes events on their own row
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
  // The one script is the page's own hover read-out, at the end; the hostile one is text.
  EXPECT_EQ(Count(html, "<script"), 1u);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                      "'none'; "),
            std::string::npos);
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

// The text between `open` (found from `from`) and the next `close`.
std::string Between(const std::string& hay, const std::string& open, const std::string& close,
                    size_t from = 0) {
  size_t a = hay.find(open, from);
  if (a == std::string::npos) return "";
  a += open.size();
  size_t b = hay.find(close, a);
  return b == std::string::npos ? "" : hay.substr(a, b - a);
}

std::string Unescape(std::string s) {
  for (auto [from, to] : {std::pair<std::string, std::string>{"&quot;", "\""},
                          {"&#39;", "'"},
                          {"&lt;", "<"},
                          {"&gt;", ">"},
                          {"&amp;", "&"}}) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  }
  return s;
}

// A fault with a duration: recover_within counts from the revert (as the objective does), so a
// recovery 35 s after the injection but 5 s after the revert is within a 10 s budget, in the
// summary and in the suite overview, whose budget mark sits 10 s after the revert.
TEST(HtmlReportTest, ABudgetCountsFromTheRevertOfAFaultWithADuration) {
  RunResult run = testing::RichRun(200);
  RecoveryMetrics& m = run.experiments[0].verifiers[0].overall;
  ASSERT_EQ(run.experiments[0].verifiers[0].name, "frontend");
  m.time_to_recover_s = 35.0;
  m.time_to_recover_after_revert_s = 5.0;
  std::string html = RenderHtml(run);
  EXPECT_NE(html.find("<li class=\"budget-recovery\" data-verifier=\"frontend\">"
                      "frontend: 35.00 s (5.00 s after the revert), budget 10 s \u2713</li>"),
            std::string::npos);
  m.time_to_recover_after_revert_s = 10.5;
  html = RenderHtml(run);
  EXPECT_NE(html.find("<li class=\"budget-recovery bad\" data-verifier=\"frontend\">"
                      "frontend: 35.00 s (10.50 s after the revert), budget 10 s \u2717 over</li>"),
            std::string::npos);
  // Without a revert the budget counts from the injection.
  m.time_to_recover_after_revert_s.reset();
  m.time_to_recover_s = 9.0;
  html = RenderHtml(run);
  EXPECT_NE(html.find("<li class=\"budget-recovery\" data-verifier=\"frontend\">"
                      "frontend: 9.00 s, budget 10 s \u2713</li>"),
            std::string::npos);
}

TEST(HtmlReportTest, SummaryPutsRecoveryAgainstBudgetAndEveryReasonFirst) {
  RunResult run = testing::RichRun(200);
  std::string html = RenderHtml(run);
  const size_t first_section = html.find("<section class=\"experiment\"");
  ASSERT_NE(first_section, std::string::npos);
  const std::string summary = html.substr(0, first_section);
  EXPECT_NE(summary.find("3 experiments: 0 passed, 1 failed, 1 aborted, 1 in error; 3 reasons "
                         "below."),
            std::string::npos);
  EXPECT_NE(
      summary.find("<li class=\"budget-recovery bad\" data-verifier=\"frontend\">"
                   "frontend: 12.40 s (10.90 s after the revert), budget 10 s \u2717 over</li>"),
      std::string::npos);
  EXPECT_NE(summary.find(">error-rate \u00e9: no impact</li>"), std::string::npos);
  EXPECT_NE(summary.find(">apiserver: not recovered</li>"), std::string::npos);
  size_t reasons = 0;
  for (const auto& e : run.experiments) {
    for (const auto& r : e.reasons) {
      ++reasons;
      EXPECT_NE(summary.find("<li class=\"summary-reason\">" + MarkupEscape(r) + "</li>"),
                std::string::npos)
          << r;
    }
  }
  EXPECT_EQ(Count(summary, "class=\"summary-reason\""), reasons);
  // Several experiments: the suite overview draws one bar row per verifier.
  EXPECT_EQ(Count(summary, "<svg class=\"suite\""), 1u);
  EXPECT_EQ(Count(summary, "class=\"bar over\""), 2u);  // 12.40 s over 10 s; apiserver never
  EXPECT_EQ(Count(summary, "class=\"budget\""), 1u);
  CheckSvgs(summary + "</svg>");  // balanced: the cut is before the sections

  // Within budget: a tick, and no suite overview for a single experiment.
  run.experiments.resize(1);
  run.experiments[0].verifiers[0].overall.time_to_recover_s = 8.5;
  run.experiments[0].verifiers[0].overall.time_to_recover_after_revert_s.reset();
  html = RenderHtml(run);
  EXPECT_NE(html.find("frontend: 8.50 s, budget 10 s \u2713</li>"), std::string::npos);
  EXPECT_EQ(html.find("<svg class=\"suite\""), std::string::npos);
}

TEST(HtmlReportTest, ErrorBudgetAndCleanupProof) {
  RunResult run = testing::RichRun(200);
  std::string html = RenderHtml(run);
  // availability 0.94667 against an SLO of 0.99: (1 - 0.94667) / 0.01 = 533.33 % of the budget.
  EXPECT_NE(html.find("<td class=\"num budget-burned bad\" data-ratio=\"5.333333\">533.33 %"
                      "</td>"),
            std::string::npos);
  // SLO 100 % and failures: no budget at all.
  EXPECT_NE(html.find("<td class=\"num bad budget-burned\">no budget (SLO 100 %)</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<p class=\"cleanup bad\">1 fault was NOT reverted and may still be in "
                      "effect: network-partition on node-2 (iptables: rule &quot;GAMEDAY-1&quot; "
                      "not found). Run `gameday recover` or revert by hand.</p>"),
            std::string::npos);
  EXPECT_NE(html.find("<p class=\"cleanup ok\">Nothing was left behind: 1 reverted (the last at "
                      "30.000 s), 0 one-shot (nothing to revert), 0 not injected.</p>"),
            std::string::npos);
}

TEST(HtmlReportTest, HoverDataCoversEverySampleBucket) {
  RunResult run = testing::RichRun(3000);
  std::string html = RenderHtml(run);
  EXPECT_EQ(Count(html, "<g class=\"band\""), 3u);  // frontend, error-rate, apiserver
  const std::string band = Between(html, "<g class=\"band\" data-name=\"frontend\"", ">");
  ASSERT_FALSE(band.empty());
  const std::string b = Unescape(Between(band, "data-b=\"", "\""));
  const std::string d = Unescape(Between(band, "data-d=\"", "\""));
  rapidjson::Document buckets, details;
  buckets.Parse(b.c_str());
  details.Parse(d.c_str());
  ASSERT_FALSE(buckets.HasParseError()) << b.substr(0, 200);
  ASSERT_FALSE(details.HasParseError()) << d;
  ASSERT_TRUE(buckets.IsArray());
  ASSERT_TRUE(details.IsArray());
  // 3000 samples every 20 ms over a 60.1 s axis: every one of the 816 pixel columns up to the
  // last sample holds data; the counts add up to every sample.
  EXPECT_GT(buckets.Size(), 700u);
  EXPECT_LE(buckets.Size(), 816u);
  uint64_t total = 0;
  int failing_reps = 0;
  int last = -1;
  for (const auto& r : buckets.GetArray()) {
    ASSERT_EQ(r.Size(), 8u);
    EXPECT_GT(r[0].GetInt(), last);  // sorted, for the binary search
    last = r[0].GetInt();
    total += r[4].GetUint64() + r[5].GetUint64() + r[6].GetUint64();
    if (r[2].GetInt() == 1) {
      ++failing_reps;
      // A failing bucket shows a failing sample: 250 ms latency and its reason.
      EXPECT_GE(r[3].GetDouble(), 250.0);
      ASSERT_GE(r[7].GetInt(), 0);
      const std::string detail = details[r[7].GetInt()].GetString();
      EXPECT_TRUE(detail == "connection refused" ||
                  detail == "HTTP 503 \"Service Unavailable\" <html>")
          << detail;
    }
  }
  EXPECT_EQ(total, 3000u);
  // Failing from 5.4 s to 17.4 s: 12 s of 60.1 s on 816 columns is about 163 columns.
  EXPECT_NEAR(failing_reps, 163, 3);
}

// A long run: one http verifier, a million samples every 10 ms (10,000 s), all passing but one.
constexpr size_t kMillion = 1000000;
constexpr size_t kFailingIndex = kMillion / 2;
constexpr double kLongInterval = 0.01;

Sample MillionSample(size_t i) {
  Sample s;
  s.t_send = static_cast<double>(i) * kLongInterval;
  s.t_done = s.t_send + 0.002;
  s.latency_ms = 2;
  s.health = Health::kHealthy;
  if (i == kFailingIndex) {
    s.health = Health::kUnhealthy;
    s.detail = "connection refused";
    s.latency_ms = 250;
  }
  return s;
}

RunResult MillionRun(VerifierResult v) {
  RunResult run;
  run.run_id = "long";
  ExperimentResult e;
  e.name = "soak";
  e.status = ExperimentStatus::kPassed;
  e.duration_s = kMillion * kLongInterval;
  v.name = "steady";
  v.kind = "http";
  v.interval_s = kLongInterval;
  v.sample_count = kMillion;
  e.verifiers.push_back(std::move(v));
  run.experiments.push_back(std::move(e));
  return run;
}

// The downsampled timeline keeps every failing sample: one failing sample among a million passing
// ones (1,225 a pixel column) still paints a failing column over its time and is in the hover
// read-out with its reason; and every sample is one command away.
void ExpectTheOneFailingSampleShows(const std::string& html) {
  const double t_fail = MillionSample(kFailingIndex).t_send;
  const std::string band = Between(html, "<g class=\"band\" data-name=\"steady\"", "</g>");
  ASSERT_FALSE(band.empty());
  // Exactly one failing rect, and it covers the failing sample's time on the axis.
  EXPECT_EQ(Count(band, "<rect class=\"fail\""), 1u);
  const std::string rect = Between(band, "<rect class=\"fail\"", "</rect>");
  const double x = std::stod(Between(rect, "x=\"", "\""));
  const double width = std::stod(Between(rect, "width=\"", "\""));
  const double x_fail = 170 + t_fail / (kMillion * kLongInterval) * 816;
  EXPECT_LE(x, x_fail);
  EXPECT_GT(x + width, x_fail);
  EXPECT_LE(width, 1.0);
  EXPECT_NE(Between(rect, "<title>", "</title>").find("1 failing"), std::string::npos) << rect;

  // The hover read-out of that column shows the failing sample and its reason.
  const std::string b = Unescape(Between(band, "data-b=\"", "\""));
  const std::string d = Unescape(Between(band, "data-d=\"", "\""));
  rapidjson::Document buckets, details;
  buckets.Parse(b.c_str());
  details.Parse(d.c_str());
  ASSERT_TRUE(buckets.IsArray());
  ASSERT_TRUE(details.IsArray());
  int failing = 0;
  uint64_t total = 0;
  for (const auto& r : buckets.GetArray()) {
    total += r[4].GetUint64() + r[5].GetUint64() + r[6].GetUint64();
    if (r[2].GetInt() != 1) continue;
    ++failing;
    EXPECT_EQ(r[0].GetInt(), static_cast<int>(x - 170));
    EXPECT_NEAR(r[1].GetDouble(), t_fail, 1e-6);
    EXPECT_DOUBLE_EQ(r[3].GetDouble(), 250);
    EXPECT_EQ(r[5].GetInt(), 1);
    ASSERT_GE(r[7].GetInt(), 0);
    EXPECT_STREQ(details[r[7].GetInt()].GetString(), "connection refused");
  }
  EXPECT_EQ(failing, 1);
  EXPECT_EQ(total, kMillion);
  // The latency lane keeps the spike: its peak is the failing sample's 250 ms.
  EXPECT_NE(html.find("latency, peak 250.0 ms"), std::string::npos);
  EXPECT_NE(html.find("<li class=\"sample-command\" data-verifier=\"steady\"><code>gameday report "
                      "samples result.json --verifier steady</code> <span class=\"neutral\">"
                      "1000000 samples</span></li>"),
            std::string::npos);
  EXPECT_EQ(html.find("samples-error"), std::string::npos);
  EXPECT_LT(html.size(), 200u * 1024);
}

TEST(HtmlReportTest, OneFailingSampleAmongAMillionShows) {
  VerifierResult v;
  v.samples.reserve(kMillion);
  for (size_t i = 0; i < kMillion; ++i) v.samples.push_back(MillionSample(i));
  ExpectTheOneFailingSampleShows(RenderHtml(MillionRun(std::move(v))));
}

// The same when the samples are in the run's sample store instead of inline.
TEST(HtmlReportTest, OneFailingSampleAmongAMillionInTheSampleStoreShows) {
  std::string dir = (std::filesystem::path(::testing::TempDir()) / "html_store.XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  {
    auto w = SampleWriter::Create(dir + "/" + kSampleStoreFileName, 0600);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Declare({4, "soak", "steady", kLongInterval}).ok());
    for (size_t i = 0; i < kMillion; ++i) ASSERT_TRUE((*w)->Append(4, MillionSample(i)).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  VerifierResult v;
  v.store = SampleStoreRef{kSampleStoreFileName, 4};
  RunResult run = MillionRun(std::move(v));
  run.dir = dir;
  ExpectTheOneFailingSampleShows(RenderHtml(run));
  std::filesystem::remove_all(dir);
}

TEST(HtmlReportTest, SampleCommandsQuoteNamesForTheShell) {
  RunResult run = testing::RichRun(100);
  run.experiments[0].verifiers[0].name = "it's \"up\"";
  const std::string html = RenderHtml(run);
  EXPECT_EQ(Count(html, "<details class=\"sample-commands\" open>"), 2u);  // 2 of 3 have verifiers
  // Several experiments: the command names the experiment too.
  EXPECT_NE(
      html.find("<code>gameday report samples result.json --experiment &#39;pod-kill "
                "&quot;frontend&quot; &lt;&amp;&gt; &#39;\\&#39;&#39;ünï&#39;\\&#39;&#39;&#39; "
                "--verifier &#39;it&#39;\\&#39;&#39;s &quot;up&quot;&#39;</code>"),
      std::string::npos);
  EXPECT_NE(html.find("--verifier &#39;error-rate \u00e9&#39;</code>"), std::string::npos);
  EXPECT_NE(html.find("--experiment master-stop --verifier apiserver</code> <span "
                      "class=\"neutral\">0 samples</span>"),
            std::string::npos);
}

// A verifier whose samples live in the run's sample store: a store that cannot be read is a
// visible note on the page, never a crash, and the counts and the last error come from the
// result itself.
TEST(HtmlReportTest, UnreadableSampleStoreIsANoteNotACrash) {
  RunResult run = testing::RichRun(200);
  run.dir = "/nonexistent/gameday-html-test";
  ExperimentResult& e = run.experiments[0];
  e.status = ExperimentStatus::kPassed;
  e.outcome = ExperimentOutcome::kExpectedFailure;
  e.expected_failure = "the frontend has one replica";
  VerifierResult& v = e.verifiers[0];
  v.samples.clear();
  v.sample_count = 5000;
  v.store = SampleStoreRef{"missing.gdsamples", 3};
  v.last_error = LastError{12.5, Health::kUnhealthy, "HTTP 503 from the store"};
  EXPECT_EQ(LastErrorText(v), "frontend: last error at 12.500 s: HTTP 503 from the store");

  const std::string html = RenderHtml(run);
  const std::string note = Between(html, "<p class=\"bad samples-error\">", "</p>");
  ASSERT_FALSE(note.empty());
  EXPECT_NE(note.find("missing.gdsamples"), std::string::npos) << note;
  EXPECT_NE(note.find("(samples drawn: frontend 0 of 5000)"), std::string::npos) << note;
  EXPECT_EQ(Count(html, "samples-error"), 1u);  // only the experiment whose samples are missing
  EXPECT_NE(html.find("frontend (http): GET http://127.0.0.1:8080/healthz \u2014 5000 samples"),
            std::string::npos);
  EXPECT_NE(html.find("--verifier frontend</code> <span class=\"neutral\">5000 samples</span>"),
            std::string::npos);
  EXPECT_NE(html.find("<li class=\"xfail-error\">frontend: last error at 12.500 s: HTTP 503 "
                      "from the store</li>"),
            std::string::npos);
  EXPECT_EQ(Count(html, "<svg class=\"timeline\""), 3u);
  CheckSvgs(html);
}

TEST(HtmlReportTest, ScriptIsAllowedByItsHashAndNothingElse) {
  std::string html = RenderHtml(testing::RichRun(100));
  const std::string script = Between(html, "<script>", "</script>");
  ASSERT_FALSE(script.empty());
  Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
  sha.update(script);
  std::ostringstream b64;
  Poco::Base64Encoder enc(b64);
  const auto& digest = sha.digest();
  enc.write(reinterpret_cast<const char*>(digest.data()), digest.size());
  enc.close();
  const std::string csp = Between(html, "http-equiv=\"Content-Security-Policy\" content=\"", "\"");
  EXPECT_EQ(csp,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-" +
                b64.str() + "'; base-uri 'none'; form-action 'none'");
  EXPECT_EQ(script.find("</"), std::string::npos);
}

TEST(HtmlReportTest, TrendDrawsPastRecoveriesAndThisRun) {
  RunResult run = testing::RichRun(200);
  RunHistory history;
  auto& frontend = history.recovery[run.experiments[0].name]["frontend"];
  const char* ids[] = {"run-a", "run-b", "run-c"};
  for (int i = 0; i < 3; ++i) {
    TrendPoint p;
    p.run_id = ids[i];
    p.started = testing::WallMs(1714000000000 + i * 86400000LL);
    p.status = i == 1 ? "failed" : "passed";
    p.impact = true;
    p.recovered = i != 1;
    if (i != 1) {
      p.time_to_recover_s = 4.1 + i;
      p.recover_bound_s = std::make_pair(4.0 + i, 4.2 + i);
    }
    frontend.push_back(p);
  }
  std::string html = RenderHtml(run, &history);
  // The failed experiment has three past runs plus this one; the others only this run.
  EXPECT_EQ(Count(html, "<svg class=\"trend\""), 1u);
  EXPECT_NE(html.find("<h3>Trend: recovery over the last 4 runs</h3>"), std::string::npos);
  EXPECT_EQ(Count(html, "No earlier run of this experiment in the history."), 1u);  // master-stop
  EXPECT_EQ(Count(html, "class=\"tmiss\""), 1u);  // run-b never recovered
  EXPECT_EQ(Count(html, "class=\"tcur\""), 1u);   // this run: 12.40 s
  EXPECT_NE(html.find("frontend in run run-b (2024-04-25T23:06:40.000Z, failed): not recovered"),
            std::string::npos);
  EXPECT_NE(html.find("<tr class=\"current\"><td><b>20240501T123456Z-7f3a</b></td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">6.10 s (6.00\u20136.20)</td>"), std::string::npos);
  EXPECT_EQ(Count(html, "class=\"budget\""), 1u + 1u);  // suite overview + trend
  CheckSvgs(html);
  // Without history: no trend at all.
  EXPECT_EQ(RenderHtml(run).find("Trend:"), std::string::npos);
}

}  // namespace
}  // namespace gameday
