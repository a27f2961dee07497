// gameday: a chaos-engineering fault injector and verifier for Kubernetes high availability.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "experiments/guarded.h"

namespace {

// std::terminate means something escaped every catch: a fault may be in place and nothing will
// revert it in this process. Say so and where to go, then die as terminate would.
[[noreturn]] void OnTerminate() {
  std::fputs(
      "gameday: fatal internal error; any fault still in place is in the journal: run "
      "`gameday recover`\n",
      stderr);
  std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  std::set_terminate(OnTerminate);
  // A write to a closed pipe or socket (an SSH or HTTP peer gone, `gameday run | head`) must be
  // an error where it happens, never the death of a run with its faults in place. Children get
  // the default back: every spawn sets its signal dispositions.
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"gameday: break a service on purpose, measure how it recovers, revert every fault"};
  app.set_version_flag("--version", std::string(GAMEDAY_VERSION));
  app.require_subcommand(1);
  int exit_code = gameday::kExitPassed;
  gameday::AddValidateCommand(app, &exit_code);
  gameday::AddRunCommand(app, &exit_code);
  gameday::AddRecoverCommand(app, &exit_code);
  gameday::AddSandboxCommand(app, &exit_code);
  gameday::AddReportCommand(app, &exit_code);
  gameday::AddHistoryCommand(app, &exit_code);
  gameday::AddRbacCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // CLI11 returns 0 for --help/--version; every real usage error is exit code 2.
    return code == 0 ? 0 : gameday::kExitUsage;
  } catch (...) {
    // The engine reverts before anything leaves it; this is the last word for the rest.
    std::cerr << "gameday: internal error: " << gameday::DescribeException(std::current_exception())
              << "; if a fault may still be in place, run `gameday recover`\n";
    return gameday::kExitAborted;
  }
  return exit_code;
}
