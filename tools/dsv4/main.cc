// dsv4: one binary, many subcommands (see command.h).
#include <malloc.h>

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
  // A forward pass allocates the same activation buffers (up to a few MB: logits, q, expert
  // inputs) every step. With glibc's defaults each one above the mmap threshold is a fresh mmap,
  // page-faulted and zeroed by the kernel, then unmapped (perf: ~5% of decode in page faults).
  // Serve them from the heap and keep freed memory: only allocations above 64 MB (caches of long
  // contexts) are mapped on their own, and up to 512 MB of free heap is kept for reuse.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
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
