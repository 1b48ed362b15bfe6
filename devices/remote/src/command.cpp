#include "command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "warren/pubsub.hpp"  // glob_match

extern char** environ;

namespace warren::remote {
namespace {

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

bool allowlisted(const std::string& argv0, const std::string& resolved, const std::vector<std::string>& allow) {
  for (const auto& entry : allow) {
    if (entry == "*") return true;
    if (entry.find('/') != std::string::npos) {
      if (glob_match(entry, resolved)) return true;
    } else if (argv0.find('/') == std::string::npos && glob_match(entry, argv0)) {
      return true;  // a bare name only allows the program found by PATH lookup
    }
  }
  return false;
}

// Owns a file descriptor.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// The spawn attributes and file actions, released whatever happens.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

std::vector<std::string> split_command_line(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      auto end = line.find('\'', i + 1);
      if (end == std::string_view::npos) throw CommandError("unterminated ' in command line");
      word.append(line.substr(i + 1, end - i - 1));
      i = end;
      in_word = true;
    } else if (c == '"') {
      std::size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size() && (line[j + 1] == '"' || line[j + 1] == '\\')) ++j;
        word += line[j];
      }
      if (j >= line.size()) throw CommandError("unterminated \" in command line");
      i = j;
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 < line.size()) word += line[++i];
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) throw CommandError("empty command line");
  return words;
}

std::optional<std::string> resolve_program(const std::string& argv0, const std::string& path) {
  if (argv0.find('/') != std::string::npos) {
    if (is_executable_file(argv0)) return argv0;
    return std::nullopt;
  }
  std::string_view dirs = path;
  while (true) {
    auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (!dir.empty()) {
      std::string candidate = dir + "/" + argv0;
      if (is_executable_file(candidate)) return candidate;
    }
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

std::optional<std::string> command_refusal(std::string_view line, const CommandOptions& options) {
  if (!options.enabled) return "cmd.run is disabled on this minion (cmd-enabled = false)";
  std::vector<std::string> argv;
  try {
    argv = split_command_line(line);
  } catch (const CommandError& e) {
    return std::string(e.what());
  }
  bool allow_all = false;
  for (const auto& entry : options.allowlist) allow_all = allow_all || entry == "*";
  if (options.shell && !allow_all && line.find_first_of(";&|`$<>()\n") != std::string_view::npos)
    return "shell operators are refused unless the allowlist is '*'";
  auto resolved = resolve_program(argv[0], options.path);
  if (!resolved) return "command not found: " + argv[0];
  if (!allowlisted(argv[0], *resolved, options.allowlist))
    return "command not allowed: " + argv[0] + " (" + *resolved + ") is not on this minion's cmd-allow list";
  return std::nullopt;
}

bool append_limited(std::string& kept, std::string_view data, std::size_t limit) {
  std::size_t room = kept.size() < limit ? limit - kept.size() : 0;
  kept.append(data.substr(0, room));
  return data.size() <= room;
}

CommandResult run_command(std::string_view line, const CommandOptions& options,
                          std::chrono::steady_clock::time_point deadline,
                          const std::function<bool()>& cancelled) {
  std::vector<std::string> argv;
  if (options.shell) {
    argv = {"/bin/sh", "-c", std::string(line)};
  } else {
    argv = split_command_line(line);
    auto resolved = resolve_program(argv[0], options.path);
    if (!resolved) throw CommandError("command not found: " + argv[0]);
    argv[0] = *resolved;
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::string path_env = "PATH=" + options.path;
  std::vector<char*> env{path_env.data(), const_cast<char*>("LC_ALL=C"), nullptr};

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw CommandError(std::string("pipe: ") + std::strerror(errno));
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw CommandError(std::string("pipe: ") + std::strerror(errno));
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, out_write.fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, err_write.fd, STDERR_FILENO);
  posix_spawnattr_setpgroup(&setup.attr, 0);  // a group of its own, killed as one
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGHUP);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &setup.actions, &setup.attr, args.data(), env.data());
  if (rc != 0) throw CommandError("cannot start " + argv[0] + ": " + std::strerror(rc));
  out_write.reset();
  err_write.reset();

  CommandResult result;
  bool exited = false;
  int status = 0;
  bool killed = false;
  auto kill_group = [&] {
    if (!killed) ::kill(-pid, SIGKILL);
    killed = true;
  };
  while (out_read.fd >= 0 || err_read.fd >= 0 || !exited) {
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    // The program exited but something it started still holds the pipes:
    // the job is over, so is its process group.
    if (exited && !killed && (out_read.fd >= 0 || err_read.fd >= 0)) {
      pollfd probe[2] = {{out_read.fd, POLLIN, 0}, {err_read.fd, POLLIN, 0}};
      if (::poll(probe, 2, 0) == 0) kill_group();
    }
    auto now = std::chrono::steady_clock::now();
    if (!killed && (now >= deadline || cancelled())) {
      result.timed_out = now >= deadline;
      kill_group();
    }
    if (out_read.fd < 0 && err_read.fd < 0) {
      if (exited) break;
      if (killed) {  // SIGKILL sent: it goes at once
        ::waitpid(pid, &status, 0);
        exited = true;
        break;
      }
      ::poll(nullptr, 0, 50);  // pipes closed, process still running: keep checking the deadline
      continue;
    }
    pollfd fds[2] = {{out_read.fd, POLLIN, 0}, {err_read.fd, POLLIN, 0}};
    ::poll(fds, 2, 50);  // short: the deadline, cancellation and exit are checked between polls
    Fd* ends[2] = {&out_read, &err_read};
    std::string* kept[2] = {&result.stdout_text, &result.stderr_text};
    for (int i = 0; i < 2; ++i) {
      if (ends[i]->fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char chunk[8192];
      auto n = ::read(ends[i]->fd, chunk, sizeof chunk);
      if (n > 0) {
        if (!append_limited(*kept[i], std::string_view(chunk, static_cast<std::size_t>(n)), options.max_output))
          result.truncated = true;
      } else if (n == 0 || errno != EINTR) {
        ends[i]->reset();
      }
    }
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  return result;
}

}  // namespace warren::remote
