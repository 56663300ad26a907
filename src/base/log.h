// Minimal leveled logging to stderr. Level comes from DSV4_LOG (error|warn|info|debug), default info.
#pragma once

#include <cstdarg>

namespace dsv4 {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

LogLevel CurrentLogLevel();
void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace dsv4

#define DSV4_LOG_INFO(...) ::dsv4::Log(::dsv4::LogLevel::kInfo, __VA_ARGS__)
#define DSV4_LOG_WARN(...) ::dsv4::Log(::dsv4::LogLevel::kWarn, __VA_ARGS__)
#define DSV4_LOG_DEBUG(...) ::dsv4::Log(::dsv4::LogLevel::kDebug, __VA_ARGS__)
