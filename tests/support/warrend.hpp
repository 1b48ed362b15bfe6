// The real warrend as a child process on a free loopback port.
#pragma once

#include <string>
#include <vector>

#include "support/process.hpp"

namespace warren::testing {

inline const std::string kWarrendPath = WARREND_PATH;

// Starts warrend on tcp://127.0.0.1:* and learns its endpoint from its first
// line; endpoint is empty if it did not start. 100 ms heartbeats by default,
// so a killed client is noticed within 300 ms.
struct Warrend {
  Process process;
  std::string endpoint;

  explicit Warrend(std::vector<std::string> extra = {"--heartbeat", "100"})
      : process(args(std::move(extra))) {
    auto line = process.wait_for_line("listening on");
    if (line) endpoint = line->substr(line->find("tcp://"));
  }

 private:
  static std::vector<std::string> args(std::vector<std::string> extra) {
    std::vector<std::string> a{kWarrendPath, "--endpoint", "tcp://127.0.0.1:*", "--log-level", "warning"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

inline std::string example(const std::string& pattern, const std::string& program) {
  return std::string(EXAMPLES_DIR) + "/" + pattern + "/" + program;
}

}  // namespace warren::testing
