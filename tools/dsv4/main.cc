// dsv4: one binary, many subcommands (see command.h).
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "command.h"

namespace dsv4 {
namespace {

struct Command {
  const char* help;
  CommandFn fn;
};

std::map<std::string, Command>& Registry() {
  static std::map<std::string, Command> registry;
  return registry;
}

void PrintUsage() {
  std::fprintf(stderr, "usage: dsv4 <command> [args...]\n\ncommands:\n");
  for (const auto& [name, cmd] : Registry()) std::fprintf(stderr, "  %-18s %s\n", name.c_str(), cmd.help);
  std::fprintf(stderr, "\n`dsv4 <command> --help` shows a command's flags.\n");
}

}  // namespace

CommandRegistrar::CommandRegistrar(const char* name, const char* help, CommandFn fn) {
  Registry()[name] = Command{help, fn};
}

}  // namespace dsv4

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    dsv4::PrintUsage();
    return argc < 2 ? 2 : 0;
  }
  auto it = dsv4::Registry().find(argv[1]);
  if (it == dsv4::Registry().end()) {
    std::fprintf(stderr, "dsv4: unknown command '%s'\n\n", argv[1]);
    dsv4::PrintUsage();
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  return it->second.fn(args);
}
