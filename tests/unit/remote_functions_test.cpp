// The remote-execution function table and its argument checks, the job and
// return encoding, and the outputters: pure parts, no broker.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "functions.hpp"
#include "job.hpp"
#include "output.hpp"

namespace warren::remote {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Context {
  FieldTable grains{{"id", "web1"}, {"os", "Debian"}, {"num_cpus", std::int64_t{2}}};
  CommandOptions command{};
  FunctionContext context{
      .grains = grains,
      .command = command,
      .deadline = Clock::now() + 5s,
      .wait_until = [](Clock::time_point until) {
        std::this_thread::sleep_until(until);
        return false;
      },
      .cancelled = [] { return false; },
  };
};

TEST(RemoteFunctions, ArgumentChecks) {
  EXPECT_EQ(check_call("test.ping", {}), std::nullopt);
  EXPECT_NE(check_call("test.ping", {"x"}), std::nullopt);
  EXPECT_EQ(check_call("test.echo", {"hi"}), std::nullopt);
  EXPECT_NE(check_call("test.echo", {}), std::nullopt);
  EXPECT_NE(check_call("test.echo", {"a", "b"}), std::nullopt);
  EXPECT_NE(check_call("test.echo", {std::int64_t{1}}), std::nullopt);
  EXPECT_EQ(check_call("test.sleep", {"0.5"}), std::nullopt);
  EXPECT_EQ(check_call("test.sleep", {std::int64_t{1}}), std::nullopt);
  EXPECT_NE(check_call("test.sleep", {"soon"}), std::nullopt);
  EXPECT_NE(check_call("test.sleep", {"-1"}), std::nullopt);
  EXPECT_NE(check_call("test.sleep", {"1x"}), std::nullopt);
  EXPECT_NE(check_call("test.sleep", {"nan"}), std::nullopt);
  EXPECT_EQ(check_call("grains.get", {"os"}), std::nullopt);
  EXPECT_EQ(check_call("grains.get", {"os", "none"}), std::nullopt);
  EXPECT_NE(check_call("grains.get", {}), std::nullopt);
  EXPECT_NE(check_call("grains.items", {"x"}), std::nullopt);
  EXPECT_NE(check_call("status.uptime", {"x"}), std::nullopt);
  EXPECT_NE(check_call("status.loadavg", {"x"}), std::nullopt);
  EXPECT_EQ(check_call("cmd.run", {"uptime"}), std::nullopt);
  EXPECT_NE(check_call("cmd.run", {}), std::nullopt);
  EXPECT_EQ(*check_call("no.such", {}), "'no.such' is not available.");
  for (const auto& f : function_table()) EXPECT_EQ(find_function(f.name), &f);
}

TEST(RemoteFunctions, ResultsAndErrors) {
  Context c;
  auto ping = execute("test.ping", {}, c.context);
  EXPECT_TRUE(ping.success);
  EXPECT_EQ(ping.ret, FieldValue(true));
  EXPECT_EQ(execute("test.echo", {"hello"}, c.context).ret, FieldValue("hello"));
  EXPECT_EQ(execute("grains.get", {"os"}, c.context).ret, FieldValue("Debian"));
  EXPECT_EQ(execute("grains.get", {"nope"}, c.context).ret, FieldValue(""));
  EXPECT_EQ(execute("grains.get", {"nope", "dflt"}, c.context).ret, FieldValue("dflt"));
  EXPECT_EQ(execute("grains.items", {}, c.context).ret, FieldValue(c.grains));
  auto load = execute("status.loadavg", {}, c.context);
  ASSERT_TRUE(load.success);
  EXPECT_TRUE(load.ret.as<FieldTable>().count("5-min"));
  auto up = execute("status.uptime", {}, c.context);
  ASSERT_TRUE(up.success);
  EXPECT_GT(up.ret.as<FieldTable>().at("seconds").as<std::int64_t>(), 0);

  auto bad = execute("no.such", {}, c.context);
  EXPECT_FALSE(bad.success);
  EXPECT_EQ(bad.retcode, 1);
  auto bad_args = execute("test.echo", {}, c.context);
  EXPECT_FALSE(bad_args.success);
  EXPECT_NE(bad_args.ret.as<std::string>().find("Usage: test.echo TEXT"), std::string::npos);
}

TEST(RemoteFunctions, SleepPastTheDeadlineIsATimeout) {
  Context c;
  c.context.deadline = Clock::now() + 100ms;
  auto started = Clock::now();
  auto r = execute("test.sleep", {"30"}, c.context);
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_FALSE(r.success);
  EXPECT_NE(r.ret.as<std::string>().find("Timed out"), std::string::npos);
  c.context.deadline = Clock::now() + 5s;
  EXPECT_TRUE(execute("test.sleep", {"0"}, c.context).success);
  // A job whose deadline passed while it waited for a worker does not run.
  c.context.deadline = Clock::now() - 1ms;
  EXPECT_FALSE(execute("test.ping", {}, c.context).success);
}

TEST(RemoteFunctions, CmdRunRefusedUnlessEnabled) {
  Context c;
  auto r = execute("cmd.run", {"true"}, c.context);
  EXPECT_FALSE(r.success);
  EXPECT_NE(r.ret.as<std::string>().find("disabled"), std::string::npos);
  c.command.enabled = true;  // enabled with an empty allowlist: still nothing runs
  r = execute("cmd.run", {"true"}, c.context);
  EXPECT_NE(r.ret.as<std::string>().find("not allowed"), std::string::npos);
  c.command.allowlist = {"true"};
  r = execute("cmd.run", {"true"}, c.context);
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.ret.as<FieldTable>().at("retcode"), FieldValue(0));
}

TEST(RemoteJob, EncodingRoundTrips) {
  Job job{.jid = make_jid(), .target = "web*", .target_type = "glob", .fun = "test.echo",
          .args = {"hi"}, .timeout_ms = 4500, .issued_ms = now_ms(), .user = "root"};
  auto back = decode_job(encode_job(job));
  EXPECT_EQ(back.jid, job.jid);
  EXPECT_EQ(back.target, "web*");
  EXPECT_EQ(back.args, job.args);
  EXPECT_EQ(back.timeout_ms, 4500);
  EXPECT_EQ(back.user, "root");

  Return r{.id = "web1", .jid = job.jid, .fun = "test.echo", .args = {"hi"}, .ret = "hi",
           .retcode = 0, .success = true, .duration_ms = 1.5};
  auto rb = decode_return(encode_return(r));
  EXPECT_EQ(rb.id, "web1");
  EXPECT_EQ(rb.ret, FieldValue("hi"));
  EXPECT_EQ(rb.duration_ms, 1.5);

  Announcement a{.id = "web1", .grains = {{"os", "Debian"}}, .sent_ms = 7, .interval_ms = 1000,
                 .running = false, .version = "0.1.0"};
  auto ab = decode_announcement(encode_announcement(a));
  EXPECT_EQ(ab.grains, a.grains);
  EXPECT_FALSE(ab.running);

  EXPECT_THROW(decode_job("not msgpack"), FormatError);
  EXPECT_THROW(decode_job(encode_return(r)), FormatError);
  job.jid = "../../etc/passwd";
  EXPECT_THROW(decode_job(encode_job(job)), FormatError);
}

TEST(RemoteJob, JidsAreSaltStyleAndUnique) {
  auto a = make_jid(), b = make_jid();
  EXPECT_TRUE(valid_jid(a));
  EXPECT_NE(a, b);
  EXPECT_LT(a, b);
  EXPECT_FALSE(valid_jid("2024"));
  EXPECT_TRUE(valid_minion_id("web-1.example_org"));
  EXPECT_FALSE(valid_minion_id("web 1"));
  EXPECT_FALSE(valid_minion_id(""));
  EXPECT_FALSE(valid_minion_id("a/b"));
}

TEST(RemoteOutput, NestedTextAndJson) {
  EXPECT_EQ(nested_text(true, 4), "    True\n");
  FieldTable t{{"b", FieldArray{"x", std::int64_t{1}}}, {"a", "one\ntwo\n"}};
  EXPECT_EQ(nested_text(t, 0), "----------\na:\n    one\n    two\nb:\n    - x\n    - 1\n");
  EXPECT_EQ(to_json(t), R"({"a":"one\ntwo\n","b":["x",1]})");
  EXPECT_EQ(to_json(FieldValue(0.5)), "0.5");
  EXPECT_EQ(nested_text(0.25, 0), "0.25\n");
  EXPECT_EQ(nested_text(-HUGE_VAL, 0), "-inf\n");  // as Python prints it; JSON says null
  EXPECT_EQ(format_missing("web3", "1", OutputFormat::kText), "web3:\n    Minion did not return. [No response]\n");
}

}  // namespace
}  // namespace warren::remote
