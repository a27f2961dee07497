#pragma once

#include <CLI/CLI.hpp>

#include "experiments/plan.h"

namespace gameday {

// Exit codes (DESIGN.md): every experiment passed / an objective or SLO failed / the plan or the
// command line is wrong / aborted or a revert failed (a person must look).
constexpr int kExitPassed = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitAborted = 3;

// Builds the registries with every built-in kind.
void BuildRegistries(Registries* registries);

// One function per subcommand file; each adds its subcommand to `app` and writes the process
// exit code to *exit_code when it runs.
void AddValidateCommand(CLI::App& app, int* exit_code);
void AddRunCommand(CLI::App& app, int* exit_code);
void AddRecoverCommand(CLI::App& app, int* exit_code);
void AddSandboxCommand(CLI::App& app, int* exit_code);
void AddReportCommand(CLI::App& app, int* exit_code);
void AddHistoryCommand(CLI::App& app, int* exit_code);
void AddRbacCommand(CLI::App& app, int* exit_code);

}  // namespace gameday
