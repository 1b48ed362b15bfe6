// cmd.run's safety: the shell-less argv split, the allowlist, the shell
// operator rule, the output size limit, the timeout that kills the whole
// process group.
#include <gtest/gtest.h>

#include <signal.h>

#include "command.hpp"

namespace warren::remote {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Words = std::vector<std::string>;

TEST(RemoteCommand, SplitsWithoutAShell) {
  EXPECT_EQ(split_command_line("ls -l /tmp"), (Words{"ls", "-l", "/tmp"}));
  EXPECT_EQ(split_command_line("  echo   a\tb  "), (Words{"echo", "a", "b"}));
  EXPECT_EQ(split_command_line("echo 'a b' \"c d\""), (Words{"echo", "a b", "c d"}));
  EXPECT_EQ(split_command_line(R"(echo "say \"hi\"" it\'s)"), (Words{"echo", "say \"hi\"", "it's"}));
  EXPECT_EQ(split_command_line("echo ''"), (Words{"echo", ""}));
  EXPECT_EQ(split_command_line("echo a'b'c"), (Words{"echo", "abc"}));
  // Nothing is expanded or interpreted: these are plain words.
  EXPECT_EQ(split_command_line("echo $HOME; rm -rf / | x"), (Words{"echo", "$HOME;", "rm", "-rf", "/", "|", "x"}));
  EXPECT_THROW(split_command_line("echo 'open"), CommandError);
  EXPECT_THROW(split_command_line("echo \"open"), CommandError);
  EXPECT_THROW(split_command_line("   "), CommandError);
}

TEST(RemoteCommand, Allowlist) {
  CommandOptions o{.enabled = true, .allowlist = {"echo", "/usr/bin/tru*"}};
  EXPECT_EQ(command_refusal("echo hi", o), std::nullopt);
  EXPECT_EQ(command_refusal("true", o), std::nullopt);            // resolves to /usr/bin/true
  EXPECT_EQ(command_refusal("/usr/bin/true", o), std::nullopt);
  EXPECT_NE(command_refusal("/bin/echo hi", o), std::nullopt);    // a bare name allows PATH lookup only
  EXPECT_NE(command_refusal("ls", o), std::nullopt);
  EXPECT_NE(command_refusal("no-such-program-here", o), std::nullopt);
  EXPECT_NE(command_refusal("echo 'unterminated", o), std::nullopt);
  o.enabled = false;
  EXPECT_NE(command_refusal("echo hi", o), std::nullopt);
  o = {.enabled = true, .allowlist = {}};
  EXPECT_NE(command_refusal("echo hi", o), std::nullopt);  // empty list: nothing runs
  o.allowlist = {"*"};
  EXPECT_EQ(command_refusal("ls", o), std::nullopt);
}

TEST(RemoteCommand, ShellOperatorsNeedAnOpenAllowlist) {
  CommandOptions o{.enabled = true, .allowlist = {"echo"}, .shell = true};
  EXPECT_EQ(command_refusal("echo hi", o), std::nullopt);
  for (auto line : {"echo hi; rm -rf /tmp/x", "echo `id`", "echo $(id)", "echo a | sh", "echo a > f", "echo a && id"})
    EXPECT_NE(command_refusal(line, o), std::nullopt) << line;
  o.allowlist = {"*"};
  EXPECT_EQ(command_refusal("echo a | cat", o), std::nullopt);
}

TEST(RemoteCommand, OutputIsCapturedAndLimited) {
  std::string kept;
  EXPECT_TRUE(append_limited(kept, "abc", 5));
  EXPECT_FALSE(append_limited(kept, "defg", 5));
  EXPECT_EQ(kept, "abcde");
  EXPECT_FALSE(append_limited(kept, "x", 5));
  EXPECT_EQ(kept, "abcde");

  CommandOptions o{.enabled = true, .allowlist = {"*"}, .max_output = 1000};
  auto never = [] { return false; };
  auto r = run_command("printf 'out'", o, Clock::now() + 10s, never);
  EXPECT_EQ(r.stdout_text, "out");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.truncated);
  r = run_command("ls /no/such/dir", o, Clock::now() + 10s, never);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(r.stderr_text.empty());
  r = run_command("head -c 100000 /dev/zero", o, Clock::now() + 10s, never);
  EXPECT_EQ(r.stdout_text.size(), 1000u);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.exit_code, 0);  // read to the end, not killed
  // No shell: the words reach the program as they are.
  r = run_command("echo $HOME ;", o, Clock::now() + 10s, never);
  EXPECT_EQ(r.stdout_text, "$HOME ;\n");
  o.shell = true;
  r = run_command("echo a | tr a b", o, Clock::now() + 10s, never);
  EXPECT_EQ(r.stdout_text, "b\n");
}

TEST(RemoteCommand, TimeoutKillsTheProcessGroup) {
  CommandOptions o{.enabled = true, .allowlist = {"*"}, .shell = true};
  auto started = Clock::now();
  // The shell starts a child that would outlive it; both go at the deadline.
  auto r = run_command("sleep 30 & sleep 30; echo never", o, Clock::now() + 300ms, [] { return false; });
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  EXPECT_LT(Clock::now() - started, 10s);
  EXPECT_EQ(r.stdout_text.find("never"), std::string::npos);
  // A background child holding the pipes does not keep a finished job waiting.
  started = Clock::now();
  r = run_command("sleep 30 & echo done", o, Clock::now() + 20s, [] { return false; });
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.stdout_text, "done\n");
  EXPECT_LT(Clock::now() - started, 10s);
  // Cancellation (the minion stopping) kills it too.
  o.shell = false;
  r = run_command("sleep 30", o, Clock::now() + 20s, [] { return true; });
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
}

}  // namespace
}  // namespace warren::remote
