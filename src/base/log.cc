#include "base/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dsv4 {

LogLevel CurrentLogLevel() {
  static const LogLevel level = [] {
    const char* env = std::getenv("DSV4_LOG");
    if (env == nullptr) return LogLevel::kInfo;
    if (std::strcmp(env, "error") == 0) return LogLevel::kError;
    if (std::strcmp(env, "warn") == 0) return LogLevel::kWarn;
    if (std::strcmp(env, "debug") == 0) return LogLevel::kDebug;
    return LogLevel::kInfo;
  }();
  return level;
}

void Log(LogLevel level, const char* fmt, ...) {
  if (static_cast<int>(level) > static_cast<int>(CurrentLogLevel())) return;
  static const char* kTags[] = {"E", "W", "I", "D"};
  std::fprintf(stderr, "[dsv4 %s] ", kTags[static_cast<int>(level)]);
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fputc('\n', stderr);
}

}  // namespace dsv4
