// gameday: a chaos-engineering fault injector and verifier for Kubernetes high availability.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // CLI11 returns 0 for --help/--version; every real usage error is exit code 2.
    return code == 0 ? 0 : gameday::kExitUsage;
  }
  return exit_code;
}
