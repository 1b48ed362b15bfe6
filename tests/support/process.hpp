// Child processes for end-to-end tests: started with fork/exec, stdout read
// through a pipe, always terminated and reaped (RAII).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace warren::testing {

class Process {
 public:
  explicit Process(std::vector<std::string> argv) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
  }
  ~Process() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // Reads stdout until a line containing `needle` appears; returns the line.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      auto nl = buffer_.find('\n');
      while (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        output_ += line + "\n";
        if (line.find(needle) != std::string::npos) return line;
        nl = buffer_.find('\n');
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      auto n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;  // closed: the process ended
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Reads whatever stdout has ready, without waiting; returns the complete
  // lines it got (also appended to output()).
  std::vector<std::string> read_available() {
    std::vector<std::string> lines;
    for (;;) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) break;
      char chunk[4096];
      auto n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) break;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
    for (auto nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n')) {
      lines.push_back(buffer_.substr(0, nl));
      output_ += lines.back() + "\n";
      buffer_.erase(0, nl + 1);
    }
    return lines;
  }
  // Everything read so far, line by line.
  const std::string& output() const { return output_; }

  // Sends `sig` and waits for exit; returns the exit status (or -signal),
  // nullopt if it did not exit within the deadline.
  std::optional<int> stop(int sig = SIGTERM, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    if (!exit_code_) ::kill(pid_, sig);
    return wait(deadline);
  }
  // Reads all output until the process closes it, then waits for its exit;
  // one deadline for both (it only catches a hang: tools under a sanitizer on
  // a loaded machine are slow). Returns the exit status, nullopt on timeout.
  std::optional<int> finish(std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
    auto until = std::chrono::steady_clock::now() + deadline;
    auto left = [&] {
      return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()),
                      std::chrono::milliseconds(1));
    };
    while (std::chrono::steady_clock::now() < until && wait_for_line("", left())) {
    }
    return wait(left());
  }
  std::optional<int> wait(std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    if (exit_code_) return exit_code_;
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
  std::string output_;
  std::optional<int> exit_code_;
};

}  // namespace warren::testing
