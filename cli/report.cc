#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "experiments/files.h"
#include "reports/history.h"
#include "reports/html_report.h"
#include "reports/json_report.h"
#include "reports/junit_report.h"
#include "reports/sample_export.h"

namespace gameday {

namespace {

// The folder of `path` (empty for the current one): where its sample store is.
std::string FolderOf(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Reads and parses RESULT.json with RunResult::dir set to its folder; nullopt after saying why
// on stderr.
std::optional<RunResult> LoadResult(const std::string& input) {
  std::ifstream in(input, std::ios::binary);
  if (!in) {
    std::cerr << input << ": cannot read\n";
    return std::nullopt;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto run = ParseJsonResult(buf.str());
  if (!run.ok()) {
    std::cerr << input << ": " << run.status().message() << "\n";
    return std::nullopt;
  }
  run->dir = FolderOf(input);
  return std::move(*run);
}

// `gameday report samples RESULT.json`: every sample, inline or from the run's sample store.
void AddSamplesCommand(CLI::App& report, int* exit_code) {
  auto* cmd = report.add_subcommand(
      "samples", "Print every probe sample of RESULT.json (inline or from its sample store)");
  struct Options {
    std::string input;
    std::string experiment;
    std::string verifier;
    std::string format = "csv";
  };
  auto opts = std::make_shared<Options>();
  cmd->add_option("RESULT", opts->input, "a result.json written by gameday run")->required();
  cmd->add_option("--experiment", opts->experiment, "only this experiment");
  cmd->add_option("--verifier", opts->verifier, "only this verifier");
  cmd->add_option("--format", opts->format, "csv or jsonl")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  cmd->callback([opts, exit_code] {
    std::optional<RunResult> run = LoadResult(opts->input);
    if (!run) {
      *exit_code = kExitUsage;
      return;
    }
    const SampleExportFormat format =
        opts->format == "jsonl" ? SampleExportFormat::kJsonl : SampleExportFormat::kCsv;
    const Status s = ExportSamples(*run, {opts->experiment, opts->verifier}, format, std::cout);
    std::cout.flush();
    if (!s.ok()) {
      std::cerr << "samples: " << s.message() << "\n";
      *exit_code = kExitUsage;
      return;
    }
    *exit_code = kExitPassed;
  });
}

}  // namespace

// `gameday report render RESULT.json`: regenerates the HTML (and optionally JUnit) report from a
// JSON result at any time. `gameday report samples RESULT.json`: its samples as CSV or JSONL.
void AddReportCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("report", "Render reports from a JSON result");
  cmd->require_subcommand(1);
  auto* render = cmd->add_subcommand("render", "Render RESULT.json as HTML (and JUnit)");
  struct Options {
    std::string input;
    std::string html_out;
    std::string junit_out;
    std::string history_db;
    std::string mode = "0600";
  };
  auto opts = std::make_shared<Options>();
  render->add_option("RESULT", opts->input, "a result.json written by gameday run")->required();
  render->add_option("-o,--out", opts->html_out, "HTML output (default: next to RESULT)");
  render->add_option("--junit", opts->junit_out, "also write JUnit XML here");
  render->add_option("--history", opts->history_db,
                     "add recovery trends from this history database (gameday history --db)");
  render->add_option("--report-mode", opts->mode, "file mode of the files written (octal)")
      ->capture_default_str();
  render->callback([opts, exit_code] {
    const std::optional<mode_t> mode = ParseFileMode(opts->mode);
    if (!mode) {
      std::cerr << "--report-mode: expected an octal file mode such as 0600 or 0644, got '"
                << opts->mode << "'\n";
      *exit_code = kExitUsage;
      return;
    }
    std::optional<RunResult> run = LoadResult(opts->input);
    if (!run) {
      *exit_code = kExitUsage;
      return;
    }
    std::string html_out = opts->html_out;
    if (html_out.empty()) {
      const auto slash = opts->input.find_last_of('/');
      html_out =
          (slash == std::string::npos ? "" : opts->input.substr(0, slash + 1)) + "report.html";
    }
    std::optional<RunHistory> history;
    if (!opts->history_db.empty()) {
      auto loaded = LoadRunHistory(opts->history_db, *run);
      if (loaded.ok()) {
        history = std::move(*loaded);
      } else {
        std::cerr << "history: " << loaded.status().message() << " (report without trends)\n";
      }
    }
    Status written =
        WriteFileAtomically(html_out, RenderHtml(*run, history ? &*history : nullptr), *mode);
    if (!written.ok()) {
      std::cerr << "report: " << written.message() << "\n";
      *exit_code = kExitUsage;
      return;
    }
    std::cout << "report: " << html_out << "\n";
    if (!opts->junit_out.empty()) {
      written = WriteFileAtomically(opts->junit_out, RenderJunit(*run), *mode);
      if (!written.ok()) {
        std::cerr << "junit: " << written.message() << "\n";
        *exit_code = kExitUsage;
        return;
      }
      std::cout << "junit: " << opts->junit_out << "\n";
    }
    *exit_code = kExitPassed;
  });
  AddSamplesCommand(*cmd, exit_code);
}

}  // namespace gameday
