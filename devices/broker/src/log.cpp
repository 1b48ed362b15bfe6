#include "log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace warren::detail {

namespace {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += esc;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

Log::Log(LogLevel level, std::function<void(std::string_view)> sink, LogFormat format)
    : level_(level), format_(format), sink_(std::move(sink)) {
  if (!sink_) {
    sink_ = [](std::string_view line) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    };
  }
}

void Log::write(LogLevel level, std::string_view subject, std::string_view details) {
  if (!enabled(level)) return;
  static constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string line;
  line.reserve(64 + subject.size() + details.size());
  if (format_ == LogFormat::kJson) {
    line.append("{\"time\":\"").append(stamp).append("\",\"level\":\"").append(kNames[static_cast<int>(level)]);
    line.append("\",\"subject\":");
    append_json_string(line, subject);
    line.append(",\"details\":");
    append_json_string(line, details);
    line.append("}");
  } else {
    line.append(stamp).append(" ").append(kNames[static_cast<int>(level)]).append(" ");
    line.append(subject);
    if (!details.empty()) line.append(": ").append(details);
  }
  std::lock_guard lk(mu_);
  sink_(line);
}

}  // namespace warren::detail
