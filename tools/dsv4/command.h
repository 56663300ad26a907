// Subcommand registry of the `dsv4` binary. A subcommand file defines
//   static const dsv4::CommandRegistrar kReg{"name", "one-line help", &RunName};
// and main.cc dispatches `dsv4 name args...` to it.
#pragma once

#include <string>
#include <vector>

namespace dsv4 {

// args excludes the binary and the subcommand name. Returns the process exit code.
using CommandFn = int (*)(const std::vector<std::string>& args);

struct CommandRegistrar {
  CommandRegistrar(const char* name, const char* help, CommandFn fn);
};

}  // namespace dsv4
