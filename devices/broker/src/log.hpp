// Log: one line per event: time, level, subject and details.
#pragma once

#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>

#include "warren/broker.hpp"

namespace warren::detail {

// Thread rules: write() is safe from any thread (the loop, and the ZAP
// handler's thread reporting CURVE decisions); lines never interleave.
class Log {
 public:
  Log(LogLevel level, std::function<void(std::string_view)> sink, LogFormat format = LogFormat::kText);
  bool enabled(LogLevel level) const { return level >= level_; }
  void write(LogLevel level, std::string_view subject, std::string_view details);

 private:
  LogLevel level_;
  LogFormat format_;
  std::function<void(std::string_view)> sink_;
  std::mutex mu_;  // serialises sink_ calls
};

}  // namespace warren::detail
