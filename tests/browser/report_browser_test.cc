// The HTML report in real headless Chromium (Debian's chromium): opened from a file:// URL, the
// DOM after its script ran must show the verdict, every recovery time and every failure reason;
// the page must make no network request at all (Chromium's own net log is the witness, and a
// control page with external resources proves the witness sees page requests); and a screenshot
// is taken. Every Chromium process runs in one process group that is killed at the end.
//
// GAMEDAY_SCREENSHOT_OUT=/path/report.png also copies the screenshot there (docs/report.png is
// made this way), and GAMEDAY_REPORT_OUT=/path/report.html the report it shows.

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "experiments/recovery.h"
#include "experiments/result.h"
#include "experiments/success_ratio.h"
#include "reports/html_report.h"
#include "reports/report_text.h"
#include "tests/integration/child_process.h"

namespace gameday {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TempDir;

constexpr char kChromium[] = "/usr/bin/chromium";

WallTime WallMs(int64_t ms) { return WallTime{} + std::chrono::milliseconds(ms); }

// ---------------------------------------------------------------------------------------------
// A typical run: a suite of two experiments against a checkout service, one passing and one
// over its recovery budget, with metrics computed from the samples exactly as the engine does.

struct Outage {
  double from, to;     // failing samples in [from, to)
  std::string detail;  // why they fail
  double latency_ms;   // how long a failing probe takes
};

std::vector<Sample> HttpSamples(double duration, double interval, const std::vector<Outage>& out,
                                uint32_t seed) {
  std::vector<Sample> s;
  uint32_t x = seed;
  auto rnd = [&x] {
    x = x * 1664525u + 1013904223u;
    return (x >> 8) / 16777216.0;
  };
  for (int64_t i = 0; i * interval < duration; ++i) {
    Sample p;
    p.t_send = std::round(i * interval * 1e6) / 1e6 + 0.000050;
    p.health = Health::kHealthy;
    p.latency_ms = std::round((3.0 + 4.0 * rnd() + (rnd() < 0.02 ? 25 * rnd() : 0)) * 1000) / 1000;
    for (const Outage& o : out) {
      if (p.t_send >= o.from && p.t_send < o.to) {
        p.health = Health::kUnhealthy;
        p.detail = o.detail;
        p.latency_ms = o.latency_ms;
      }
    }
    p.t_done = p.t_send + p.latency_ms / 1000;
    s.push_back(p);
  }
  return s;
}

std::vector<Sample> RatioSamples(double duration, double from, double to, double peak) {
  std::vector<Sample> s;
  for (int i = 0; i < duration; ++i) {
    Sample p;
    p.t_send = i + 0.25;
    p.latency_ms = 4.2;
    p.t_done = p.t_send + 0.0042;
    const double v = p.t_send >= from && p.t_send < to
                         ? peak * std::sin(M_PI * (p.t_send - from) / (to - from)) + 0.002
                         : 0.001;
    p.value = std::round(v * 1e4) / 1e4;
    p.health = *p.value < 0.01 ? Health::kHealthy : Health::kUnhealthy;
    if (p.health == Health::kUnhealthy)
      p.detail = "value " + FormatCompact(*p.value) + " is not < 0.01";
    s.push_back(p);
  }
  return s;
}

VerifierResult Verifier(const std::string& name, const std::string& kind, const std::string& desc,
                        double interval, double slo, std::vector<Sample> samples,
                        const FaultResult& fault, double duration, double cooldown) {
  VerifierResult v;
  v.name = name;
  v.kind = kind;
  v.description = desc;
  v.interval_s = interval;
  v.slo_success_ratio = slo;
  v.samples = std::move(samples);
  RecoveryWindow w;
  w.t_inject = fault.t_inject;
  w.t_revert = fault.reversible ? fault.t_revert : std::nullopt;
  w.t_end = duration;
  w.stable_for = 2;
  w.interval = interval;
  v.overall = ComputeRecovery(v.samples, w);
  v.per_fault.push_back({fault.step, v.overall});
  v.steady_before = SuccessRatio(v.samples, 0, fault.t_inject);
  v.steady_after = SuccessRatio(v.samples, duration - cooldown, duration);
  return v;
}

// As the engine holds it: after the revert for a fault with a duration, else after the injection.
ObjectiveResult RecoverWithin(const VerifierResult& v, double budget) {
  ObjectiveResult o;
  o.name = v.name + " recovers within " + FormatCompact(budget) + "s";
  o.verifier = v.name;
  o.type = "recover_within";
  o.limit = budget;
  o.measured = v.overall.time_to_recover_s;
  if (v.overall.time_to_recover_after_revert_s)
    o.measured = v.overall.time_to_recover_after_revert_s;
  o.passed = o.measured && *o.measured <= budget;
  o.message = o.measured ? v.name + " recovered in " + FormatSeconds(*o.measured) + ", budget " +
                               FormatCompact(budget) + " s"
                         : v.name + " did not recover, budget " + FormatCompact(budget) + " s";
  return o;
}

RunResult TypicalRun() {
  RunResult run;
  run.run_id = "20250314T093012Z-4c1e";
  run.plan_file = "plans/checkout.yaml";
  run.plan_name = "checkout";
  run.gameday_version = "0.1.0";
  run.seed = 4242;
  run.start_wall = WallMs(1741944612000);
  run.end_wall = WallMs(1741944712500);

  {
    ExperimentResult e;
    e.name = "checkout-pod-kill";
    e.description = "Kill one checkout pod; its ReplicaSet must bring it back within 10 s.";
    e.labels = {{"team", "payments"}, {"tier", "web"}};
    e.start_wall = run.start_wall;
    e.end_wall = WallMs(1741944652000);
    e.duration_s = 40;
    FaultResult f;
    f.id = "checkout-pod-kill/kill/0";
    f.step = "kill";
    f.kind = "pod-kill";
    f.target = "shop/checkout-6f7d9c-x2k4p";
    f.target_id = "pod uid 3c1f0a2e";
    f.t_inject = 10.002;
    f.revert = RevertState::kNotNeeded;
    e.faults.push_back(f);
    e.t_first_inject = f.t_inject;
    e.verifiers.push_back(
        Verifier("frontend", "http", "GET http://checkout.shop.svc:8080/healthz", 0.02, 0.99,
                 HttpSamples(40, 0.02,
                             {{10.05, 11.6, "connection refused", 0.4},
                              {11.6, 14.1, "status 503, expected 2xx or 3xx", 2.1}},
                             7),
                 f, 40, 4));
    e.verifiers.push_back(
        Verifier("error-ratio", "prometheus",
                 "PromQL sum(rate(http_requests_total{code=~\"5..\"}[30s])) / "
                 "sum(rate(http_requests_total[30s])) < 0.01 at http://prometheus:9090",
                 1, 0.95, RatioSamples(40, 11, 21, 0.31), f, 40, 4));
    e.objectives.push_back(RecoverWithin(e.verifiers[0], 10));
    e.objectives.push_back(RecoverWithin(e.verifiers[1], 20));
    e.status = ExperimentStatus::kPassed;
    e.t_last_recovery = f.t_inject + e.verifiers[1].overall.time_to_recover_s.value_or(0);
    e.events = {
        {0, "engine", "warm-up: steady state check started"},
        {10.002, "fault", "pod-kill: deleted shop/checkout-6f7d9c-x2k4p"},
        {10.013, "kubernetes", "Pod shop/checkout-6f7d9c-x2k4p: Killing container checkout"},
        {10.041, "kubernetes",
         "ReplicaSet shop/checkout-6f7d9c: SuccessfulCreate checkout-6f7d9c-q8w2n"},
        {10.062, "kubernetes", "Pod shop/checkout-6f7d9c-q8w2n: Scheduled to node-3"},
        {11.530, "kubernetes", "Pod shop/checkout-6f7d9c-q8w2n: Started container checkout"},
        {13.980, "kubernetes", "Pod shop/checkout-6f7d9c-q8w2n: Readiness probe succeeded"},
        {36, "engine", "cool-down: steady state check started"}};
    run.experiments.push_back(std::move(e));
  }
  {
    ExperimentResult e;
    e.name = "checkout-node-partition";
    e.description = "Cut node-2 off the network for 15 s; checkout must keep serving.";
    e.labels = {{"team", "payments"}};
    e.start_wall = WallMs(1741944652500);
    e.end_wall = run.end_wall;
    e.duration_s = 60;
    FaultResult f;
    f.id = "checkout-node-partition/partition/0";
    f.step = "partition";
    f.kind = "network-partition";
    f.target = "node-2 (198.18.3.12)";
    f.target_id = "node-2";
    f.t_inject = 10.004;
    f.t_revert = 25.019;
    f.reversible = true;
    f.revert = RevertState::kReverted;
    e.faults.push_back(f);
    e.t_first_inject = f.t_inject;
    e.verifiers.push_back(
        Verifier("frontend", "http", "GET http://checkout.shop.svc:8080/healthz", 0.02, 0.99,
                 HttpSamples(60, 0.02,
                             {{10.3, 16.0, "Operation timed out after 500 milliseconds", 500},
                              {16.0, 24.6, "status 503, expected 2xx or 3xx", 3.4},
                              {24.6, 34.61, "status 504, expected 2xx or 3xx", 180}},
                             11),
                 f, 60, 4));
    e.verifiers.push_back(
        Verifier("error-ratio", "prometheus",
                 "PromQL sum(rate(http_requests_total{code=~\"5..\"}[30s])) / "
                 "sum(rate(http_requests_total[30s])) < 0.01 at http://prometheus:9090",
                 1, 0.95, RatioSamples(60, 11, 38, 0.6), f, 60, 4));
    e.objectives.push_back(RecoverWithin(e.verifiers[0], 5));
    e.objectives.push_back(RecoverWithin(e.verifiers[1], 30));
    e.status = ExperimentStatus::kFailed;
    for (const auto& o : e.objectives) {
      if (!o.passed) e.reasons.push_back("objective \"" + o.name + "\" failed: " + o.message);
    }
    e.reasons.push_back(
        "frontend served errors for 9.59 s after the partition was reverted: the readiness of "
        "checkout pods on node-2 lagged behind the network");
    e.events = {{0, "engine", "warm-up: steady state check started"},
                {10.004, "fault", "network-partition: node-2 isolated (iptables, expires in 60 s)"},
                {22.5, "kubernetes", "Node node-2: NodeNotReady"},
                {25.019, "fault", "network-partition: reverted on node-2"},
                {31.2, "kubernetes", "Node node-2: NodeReady"},
                {56, "engine", "cool-down: steady state check started"}};
    run.experiments.push_back(std::move(e));
  }
  return run;
}

// The same experiment in earlier runs, for the trend chart.
RunHistory TypicalHistory(const RunResult& run) {
  RunHistory h;
  const double recoveries[] = {3.9, 4.2, 4.0, -1, 4.3, 4.1, 9.8};
  for (int i = 0; i < 7; ++i) {
    TrendPoint p;
    p.run_id = "202503" + std::to_string(10 + i) + "T093000Z-run" + std::to_string(i);
    p.started = run.start_wall - std::chrono::hours(24 * (7 - i));
    p.impact = true;
    p.recovered = recoveries[i] > 0;
    p.status = recoveries[i] > 0 && recoveries[i] < 10 ? "passed" : "failed";
    if (p.recovered) {
      p.time_to_recover_s = recoveries[i];
      p.recover_bound_s = std::make_pair(recoveries[i] - 0.02, recoveries[i] + 0.02);
    }
    h.recovery["checkout-pod-kill"]["frontend"].push_back(p);
    if (p.recovered) {
      TrendPoint q = p;
      q.time_to_recover_s = recoveries[i] + 7.2;
      q.recover_bound_s = std::make_pair(recoveries[i] + 6.7, recoveries[i] + 7.2);
      h.recovery["checkout-pod-kill"]["error-ratio"].push_back(q);
    }
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// Chromium

struct ChromiumRun {
  std::string stdout_text;
  std::string log;
  bool exited = false;
  int status = -1;
  std::vector<pid_t> leftovers;  // processes still mentioning the profile dir afterwards
};

// Runs headless Chromium with `extra` arguments on `url`, its own profile and no name
// resolution at all (so nothing it tries could leave the machine), bounded by `timeout`.
ChromiumRun RunChromium(const TempDir& dir, const std::string& tag,
                        const std::vector<std::string>& extra, const std::string& url,
                        std::chrono::seconds timeout = 120s) {
  const std::string profile = dir / ("profile-" + tag);
  std::filesystem::create_directories(profile);
  std::vector<std::string> argv = {kChromium,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-extensions",
                                   "--disable-default-apps",
                                   "--no-default-browser-check",
                                   "--user-data-dir=" + profile,
                                   "--host-resolver-rules=MAP * ~NOTFOUND"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  ChromiumRun r;
  {
    ChildProcess chromium(argv, dir / (tag + ".log"), dir / (tag + ".out"));
    auto status = chromium.Wait(timeout);
    r.exited = status.has_value();
    r.status = status.value_or(-1);
    chromium.Stop(1000ms);  // kills whatever of the group is left (renderers, zygotes)
  }
  r.stdout_text = testing::ReadFileText(dir / (tag + ".out"));
  r.log = testing::ReadFileText(dir / (tag + ".log"));
  // Processes that left the group (none should) would still name the profile dir.
  testing::WaitUntil([&] { return testing::ProcessesMentioning(profile).empty(); }, 5000ms);
  r.leftovers = testing::ProcessesMentioning(profile);
  for (pid_t pid : r.leftovers) ::kill(pid, SIGKILL);
  return r;
}

// Every URL the page itself asked the network stack for, from Chromium's net log. Chromium's own
// background requests (update checks and the like, which the resolver rules make fail) carry the
// initiator "not an origin" and no file:// isolation key; a page's requests carry its origin
// ("null" for file://) and a file:// network isolation key.
std::vector<std::string> PageRequests(const std::string& netlog_text, std::string* error) {
  rapidjson::Document doc;
  std::string text = netlog_text;
  doc.Parse(text.c_str());
  if (doc.HasParseError()) {  // a log cut short at exit: close its event list
    while (!text.empty() && (text.back() == '\n' || text.back() == ',')) text.pop_back();
    text += "]}";
    doc.Parse(text.c_str());
  }
  std::vector<std::string> out;
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("constants") ||
      !doc.HasMember("events")) {
    *error = "net log is not readable JSON";
    return out;
  }
  const auto& types = doc["constants"]["logEventTypes"];
  if (!types.IsObject() || !types.HasMember("URL_REQUEST_START_JOB")) {
    *error = "net log has no URL_REQUEST_START_JOB event type";
    return out;
  }
  const int start_job = types["URL_REQUEST_START_JOB"].GetInt();
  for (const auto& ev : doc["events"].GetArray()) {
    if (!ev.IsObject() || !ev.HasMember("type") || ev["type"].GetInt() != start_job) continue;
    if (!ev.HasMember("params") || !ev["params"].IsObject()) continue;
    const auto& p = ev["params"];
    if (!p.HasMember("url") || !p["url"].IsString()) continue;
    const std::string initiator =
        p.HasMember("initiator") && p["initiator"].IsString() ? p["initiator"].GetString() : "";
    const std::string nik =
        p.HasMember("network_isolation_key") && p["network_isolation_key"].IsString()
            ? p["network_isolation_key"].GetString()
            : "";
    if (initiator != "not an origin" || nik.find("file:") != std::string::npos) {
      out.push_back(p["url"].GetString());
    }
  }
  return out;
}

// A recovery as the summary words it: from the injection, and from the revert when the fault had
// a duration (what a recover_within budget is held against).
std::string RecoveryText(const RecoveryMetrics& m) {
  std::string text = FormatSeconds(*m.time_to_recover_s);
  if (m.time_to_recover_after_revert_s) {
    text += " (" + FormatSeconds(*m.time_to_recover_after_revert_s) + " after the revert)";
  }
  return text;
}

// Text as Chromium serialises it in a text node: &, < and > escaped, quotes as they are.
std::string DomText(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

class ReportBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kChromium, X_OK) != 0) GTEST_SKIP() << kChromium << " is not installed";
    run_ = TypicalRun();
    history_ = TypicalHistory(run_);
    html_ = RenderHtml(run_, &history_);
    report_ = dir_ / "report.html";
    std::ofstream(report_, std::ios::binary) << html_;
    if (const char* out = std::getenv("GAMEDAY_REPORT_OUT"); out && *out) {
      std::ofstream(out, std::ios::binary) << html_;
    }
  }

  TempDir dir_{"gameday-browser"};
  RunResult run_;
  RunHistory history_;
  std::string html_;
  std::string report_;
};

TEST_F(ReportBrowserTest, DomShowsVerdictRecoveryTimesAndReasonsAndNothingIsFetched) {
  ASSERT_EQ(run_.experiments[1].status, ExperimentStatus::kFailed);
  const std::string netlog = dir_ / "net.json";
  ChromiumRun r =
      RunChromium(dir_, "dom", {"--log-net-log=" + netlog, "--dump-dom"}, "file://" + report_);
  ASSERT_TRUE(r.exited) << "chromium did not finish in time\n" << r.log.substr(0, 4000);
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.log.substr(0, 4000);
  EXPECT_TRUE(r.leftovers.empty()) << r.leftovers.size() << " chromium processes were left";
  const std::string& dom = r.stdout_text;
  ASSERT_GT(dom.size(), 10000u) << r.log.substr(0, 4000);

  // The verdict.
  EXPECT_NE(dom.find("id=\"run-verdict\" class=\"verdict failed\" data-status=\"failed\">FAILED<"),
            std::string::npos);
  EXPECT_NE(dom.find(">PASSED</span>"), std::string::npos);
  // Every recovery time with its bound, overall and per fault window.
  size_t times = 0;
  for (const auto& e : run_.experiments) {
    for (const auto& v : e.verifiers) {
      ASSERT_TRUE(v.overall.time_to_recover_s) << e.name << "/" << v.name;
      const std::string text =
          FormatSecondsWithBound(*v.overall.time_to_recover_s, v.overall.recover_bound_s);
      EXPECT_GE(Count(dom, ">" + text + "</td>"), 2u) << text;  // overall + its one window
      // And against its budget in the summary.
      EXPECT_NE(dom.find(DomText(v.name + ": " + RecoveryText(v.overall) + ", budget")),
                std::string::npos)
          << v.name;
      ++times;
    }
  }
  EXPECT_EQ(times, 4u);
  const auto& late = run_.experiments[1].verifiers[0].overall.time_to_recover_after_revert_s;
  ASSERT_TRUE(late && *late > 5);
  EXPECT_NE(dom.find(DomText("frontend: " + RecoveryText(run_.experiments[1].verifiers[0].overall) +
                             ", budget 5 s \u2717 over")),
            std::string::npos)
      << "the failing recovery";
  // Every failure reason, in the summary and in its experiment.
  size_t reasons = 0;
  for (const auto& e : run_.experiments) {
    for (const auto& reason : e.reasons) {
      ++reasons;
      EXPECT_EQ(Count(dom, ">" + DomText(reason) + "</li>"), 2u) << reason;
    }
  }
  EXPECT_EQ(reasons, 2u);
  // The inline script ran under the page's CSP: it takes the bands' <title>s over.
  const size_t band = dom.find("<g class=\"band\"");
  ASSERT_NE(band, std::string::npos);
  const std::string first_band = dom.substr(band, dom.find("</g>", band) - band);
  EXPECT_EQ(first_band.find("<title>"), std::string::npos) << "the report's script did not run";
  EXPECT_NE(html_.substr(html_.find("<g class=\"band\"")).find("<title>"), std::string::npos);
  EXPECT_NE(dom.find("<svg class=\"trend\""), std::string::npos);

  // Nothing left the page: the net log holds no request the page made.
  std::string error;
  const std::vector<std::string> requests = PageRequests(testing::ReadFileText(netlog), &error);
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_TRUE(requests.empty()) << "the page requested " << requests.front();
}

// The witness works: a page that loads a stylesheet, an image and a fetch() is caught.
TEST_F(ReportBrowserTest, NetLogCheckCatchesAPageThatFetches) {
  const std::string page = dir_ / "leaky.html";
  std::ofstream(page) << "<!DOCTYPE html><html><head><link rel=\"stylesheet\" "
                         "href=\"https://cdn.gameday.invalid/x.css\"></head><body>"
                         "<img src=\"http://images.gameday.invalid/p.png\"><p>x</p><script>"
                         "fetch('https://api.gameday.invalid/y').catch(function(){});</script>"
                         "</body></html>";
  const std::string netlog = dir_ / "leaky-net.json";
  ChromiumRun r =
      RunChromium(dir_, "leaky", {"--log-net-log=" + netlog, "--dump-dom"}, "file://" + page);
  ASSERT_TRUE(r.exited);
  EXPECT_TRUE(r.leftovers.empty());
  std::string error;
  std::vector<std::string> requests = PageRequests(testing::ReadFileText(netlog), &error);
  EXPECT_TRUE(error.empty()) << error;
  std::sort(requests.begin(), requests.end());
  requests.erase(std::unique(requests.begin(), requests.end()), requests.end());
  EXPECT_EQ(requests, (std::vector<std::string>{"http://images.gameday.invalid/p.png",
                                                "https://api.gameday.invalid/y",
                                                "https://cdn.gameday.invalid/x.css"}));
}

// The hover read-out in a real browser: a copy of the report gets a second script (and a CSP
// that lets it run) that moves the pointer over the middle of the first failing stretch of a
// band and copies the tooltip into the DOM.
TEST_F(ReportBrowserTest, HoverShowsTimeResultAndLatencyOfASample) {
  std::string page = html_;
  const size_t csp = page.find("script-src 'sha256-");
  ASSERT_NE(csp, std::string::npos);
  // With a hash in script-src, browsers ignore 'unsafe-inline': drop the hash.
  page.replace(csp, page.find(';', csp) - csp, "script-src 'unsafe-inline'");
  const std::string probe =
      "<script>(function(){var r=document.querySelector('g.band rect.fail');"
      "var b=r.getBoundingClientRect();r.dispatchEvent(new MouseEvent('mousemove',"
      "{clientX:b.left+b.width/2,clientY:b.top+b.height/2,bubbles:true}));"
      "var t=document.getElementById('tip');document.body.setAttribute('data-tip',t.textContent);"
      "document.body.setAttribute('data-tip-shown',t.style.display);})();</script>";
  page.insert(page.rfind("</body>"), probe);
  const std::string path = dir_ / "hover.html";
  std::ofstream(path, std::ios::binary) << page;
  ChromiumRun r = RunChromium(dir_, "hover", {"--dump-dom"}, "file://" + path);
  ASSERT_TRUE(r.exited) << r.log.substr(0, 4000);
  EXPECT_TRUE(r.leftovers.empty());
  const std::string& dom = r.stdout_text;
  EXPECT_NE(dom.find("data-tip-shown=\"block\""), std::string::npos) << dom.substr(0, 2000);
  const size_t at = dom.find("data-tip=\"");
  ASSERT_NE(at, std::string::npos) << dom.substr(0, 2000);
  const std::string tip = dom.substr(at + 10, dom.find('"', at + 10) - at - 10);
  // "frontend\n12.020 s · FAILING · 2.1 ms\nstatus 503, ...\n2 samples in ...".
  EXPECT_EQ(tip.rfind("frontend\n", 0), 0u) << tip;
  EXPECT_NE(tip.find(" s \u00b7 FAILING \u00b7 "), std::string::npos) << tip;
  EXPECT_NE(tip.find(" ms\n"), std::string::npos) << tip;
  // The middle of the pod-kill outage, 10.05 s to 14.1 s: the 503 phase (from 11.6 s).
  EXPECT_NE(tip.find("FAILING \u00b7 2.1 ms\nstatus 503, expected 2xx or 3xx\n"), std::string::npos)
      << tip;
  EXPECT_NE(tip.find(" failing, "), std::string::npos) << tip;
}

// PNG: signature, then the IHDR chunk with width and height (big-endian).
bool PngSize(const std::string& png, uint32_t* w, uint32_t* h) {
  if (png.size() < 24 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return false;
  if (png.compare(12, 4, "IHDR") != 0) return false;
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  *w = be32(16);
  *h = be32(20);
  return true;
}

TEST_F(ReportBrowserTest, Screenshot) {
  const std::string png_path = dir_ / "report.png";
  ChromiumRun r = RunChromium(dir_, "shot",
                              {"--screenshot=" + png_path, "--window-size=1400,2000",
                               "--hide-scrollbars", "--force-device-scale-factor=1"},
                              "file://" + report_);
  ASSERT_TRUE(r.exited) << r.log.substr(0, 4000);
  EXPECT_TRUE(r.leftovers.empty());
  const std::string png = testing::ReadFileText(png_path);
  uint32_t w = 0, h = 0;
  ASSERT_TRUE(PngSize(png, &w, &h)) << png.size() << " bytes at " << png_path << "\n"
                                    << r.log.substr(0, 4000);
  EXPECT_EQ(w, 1400u);
  EXPECT_EQ(h, 2000u);
  // A blank or error page of this size compresses to a few KB; charts and tables do not.
  EXPECT_GT(png.size(), 60u * 1024) << "the screenshot looks empty";
  std::cout << "[figures] screenshot " << w << "x" << h << ", " << png.size() << " bytes\n";
  if (const char* out = std::getenv("GAMEDAY_SCREENSHOT_OUT"); out && *out) {
    std::filesystem::copy_file(png_path, out, std::filesystem::copy_options::overwrite_existing);
  }
}

}  // namespace
}  // namespace gameday
