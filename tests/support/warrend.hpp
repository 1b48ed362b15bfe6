// The real warrend as a child process on a free loopback port.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace warren::testing {

inline const std::string kWarrendPath = WARREND_PATH;

// Starts warrend on tcp://127.0.0.1:* and learns its endpoint from its first
// line; endpoint is empty if it did not start. 100 ms heartbeats by default,
// so a killed client is noticed within 300 ms. Its data directory is a
// scratch directory of its own unless `extra` names one. No pub/sub
// forwarder unless `extra` gives it endpoints: its default ports are fixed,
// and tests running side by side would race for them.
struct Warrend {
  TempDir data;
  Process process;
  std::string endpoint;

  explicit Warrend(std::vector<std::string> extra = {"--heartbeat", "100"})
      : process(args(std::move(extra), data)) {
    auto line = process.wait_for_line("listening on");
    if (line) endpoint = line->substr(line->find("tcp://"));
  }

 private:
  static std::vector<std::string> args(std::vector<std::string> extra, const TempDir& data) {
    std::vector<std::string> a{kWarrendPath, "--endpoint", "tcp://127.0.0.1:*", "--log-level", "warning"};
    if (std::find(extra.begin(), extra.end(), "--data-dir") == extra.end())
      a.insert(a.end(), {"--data-dir", data.path.string()});
    auto has = [&](const char* flag) { return std::find(extra.begin(), extra.end(), flag) != extra.end(); };
    if (!has("--no-pubsub") && !has("--pubsub-frontend") && !has("--pubsub-backend")) a.push_back("--no-pubsub");
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

inline std::string example(const std::string& pattern, const std::string& program) {
  return std::string(EXAMPLES_DIR) + "/" + pattern + "/" + program;
}

}  // namespace warren::testing
