// cmd.run: the one function that runs programs, and everything that keeps it
// safe. Refused unless enabled; only commands on the allowlist; no shell
// unless configured; a timeout that kills the whole process group; output
// captured and cut at a size limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace warren::remote {

struct CommandOptions {
  bool enabled = false;  // cmd.run is refused unless this is set
  // Patterns for argv[0]: an entry with '/' is matched against the program's
  // full path (argv[0] resolved through PATH), one without against its base
  // name; both are globs ('*' alone allows everything, '/usr/bin/*' a
  // directory, 'uptime' exactly that program). Empty: nothing is allowed.
  std::vector<std::string> allowlist;
  // Run the command line through /bin/sh -c. The allowlist then checks the
  // first word only, so a line with shell operators (; & | ` $ < > ( ) newline)
  // is refused unless the allowlist holds '*'.
  bool shell = false;
  std::chrono::milliseconds timeout{60000};  // upper bound; the job's deadline may be sooner
  std::size_t max_output = 64 * 1024;        // bytes kept of stdout and of stderr, each
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";  // PATH for lookup and child
};

// A command line that cannot be split (an unterminated quote) or is empty.
class CommandError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Splits a command line into argv the way a shell splits words, without any
// expansion: whitespace separates words; '...' keeps everything literally;
// "..." keeps everything but \" and \\; a backslash outside quotes escapes
// the next character. Throws CommandError for an unterminated quote or an
// empty line.
std::vector<std::string> split_command_line(std::string_view line);

// The program `argv0` names: itself when it contains '/', else the first
// executable file of that name in `path` (colon-separated); nullopt if none.
std::optional<std::string> resolve_program(const std::string& argv0, const std::string& path);

// Why `line` may not run under `options`, or nullopt when it may.
std::optional<std::string> command_refusal(std::string_view line, const CommandOptions& options);

struct CommandResult {
  std::string stdout_text;
  std::string stderr_text;
  int exit_code = 0;            // the exit status, or 128 + signal when killed
  bool timed_out = false;       // killed at the deadline
  bool truncated = false;       // stdout or stderr was cut at max_output
};

// Appends `data` to `kept` without letting it pass `limit` bytes; returns
// false when something was cut.
bool append_limited(std::string& kept, std::string_view data, std::size_t limit);

// Runs `line` (REQUIRES: command_refusal(line, options) is nullopt) in a
// process group of its own with stdin from /dev/null, until it exits, the
// deadline passes or `cancelled()` says so; then kills the group (SIGKILL).
// Throws CommandError when it cannot be started.
CommandResult run_command(std::string_view line, const CommandOptions& options,
                          std::chrono::steady_clock::time_point deadline,
                          const std::function<bool()>& cancelled);

}  // namespace warren::remote
