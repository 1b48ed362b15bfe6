#include "functions.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace warren::remote {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<std::string> no_check(const FieldArray&) { return std::nullopt; }

std::optional<std::string> string_args(const FieldArray& args) {
  for (std::size_t i = 0; i < args.size(); ++i)
    if (!args[i].is<std::string>()) return "argument " + std::to_string(i + 1) + " must be a string";
  return std::nullopt;
}

std::optional<std::string> sleep_check(const FieldArray& args) {
  auto seconds = number_arg(args[0]);
  if (!seconds || !std::isfinite(*seconds) || *seconds < 0)
    return "the argument must be a number of seconds, 0 or more";
  return std::nullopt;
}

std::string timeout_text(Clock::time_point started, Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - started).count();
  return "Timed out: the job could not finish within its timeout (" + std::to_string(std::max<long long>(ms, 0)) +
         " ms left when it started)";
}

FunctionResult test_ping(const FieldArray&, FunctionContext&) { return {true}; }

FunctionResult test_echo(const FieldArray& args, FunctionContext&) { return {args[0]}; }

FunctionResult test_sleep(const FieldArray& args, FunctionContext& c) {
  auto started = Clock::now();
  auto wanted = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*number_arg(args[0])));
  auto until = std::min(wanted, c.deadline);
  if (c.wait_until(until)) return error_result("cancelled: the minion is stopping");
  if (wanted > c.deadline) return error_result(timeout_text(started, c.deadline));
  return {true};
}

FunctionResult grains_items(const FieldArray&, FunctionContext& c) { return {c.grains}; }

FunctionResult grains_get(const FieldArray& args, FunctionContext& c) {
  auto it = c.grains.find(args[0].as<std::string>());
  if (it != c.grains.end()) return {it->second};
  return {args.size() > 1 ? args[1] : FieldValue(std::string())};  // salt's default: ''
}

FunctionResult status_uptime(const FieldArray&, FunctionContext&) {
  std::ifstream in("/proc/uptime");
  double seconds = 0;
  if (!(in >> seconds)) return error_result("cannot read /proc/uptime");
  auto whole = static_cast<std::int64_t>(seconds);
  char text[64];
  std::snprintf(text, sizeof text, "%lld days, %02lld:%02lld", static_cast<long long>(whole / 86400),
                static_cast<long long>(whole % 86400 / 3600), static_cast<long long>(whole % 3600 / 60));
  FieldTable t{{"seconds", whole}, {"days", whole / 86400}, {"time", std::string(text)}};
  return {t};
}

FunctionResult status_loadavg(const FieldArray&, FunctionContext&) {
  std::ifstream in("/proc/loadavg");
  double one = 0, five = 0, fifteen = 0;
  if (!(in >> one >> five >> fifteen)) return error_result("cannot read /proc/loadavg");
  FieldTable t{{"1-min", one}, {"5-min", five}, {"15-min", fifteen}};
  return {t};
}

FunctionResult cmd_run(const FieldArray& args, FunctionContext& c) {
  const auto& line = args[0].as<std::string>();
  if (auto refusal = command_refusal(line, c.command)) return error_result("cmd.run refused: " + *refusal);
  auto started = Clock::now();
  auto deadline = std::min(c.deadline, started + c.command.timeout);
  auto r = run_command(line, c.command, deadline, c.cancelled);
  FieldTable t{{"stdout", r.stdout_text}, {"stderr", r.stderr_text}, {"retcode", r.exit_code}};
  if (r.truncated) t["truncated"] = true;
  if (r.timed_out) {
    bool job_deadline = deadline == c.deadline;
    t["error"] = job_deadline ? timeout_text(started, deadline)
                              : "Timed out: killed after the minion's cmd-timeout of " +
                                    std::to_string(c.command.timeout.count()) + " ms";
    FunctionResult result{t, 1, false};
    return result;
  }
  FunctionResult result{t, r.exit_code, r.exit_code == 0};
  return result;
}

// clang-format off
const std::vector<Function> kFunctions = {
    {"cmd.run",        "cmd.run 'COMMAND LINE'",  1, 1, string_args, cmd_run},
    {"grains.get",     "grains.get KEY [DEFAULT]", 1, 2, string_args, grains_get},
    {"grains.items",   "grains.items",            0, 0, no_check,    grains_items},
    {"status.loadavg", "status.loadavg",          0, 0, no_check,    status_loadavg},
    {"status.uptime",  "status.uptime",           0, 0, no_check,    status_uptime},
    {"test.echo",      "test.echo TEXT",          1, 1, string_args, test_echo},
    {"test.ping",      "test.ping",               0, 0, no_check,    test_ping},
    {"test.sleep",     "test.sleep SECONDS",      1, 1, sleep_check, test_sleep},
};
// clang-format on

}  // namespace

const std::vector<Function>& function_table() { return kFunctions; }

const Function* find_function(std::string_view name) {
  for (const auto& f : kFunctions)
    if (f.name == name) return &f;
  return nullptr;
}

std::optional<std::string> check_call(std::string_view fun, const FieldArray& args) {
  const Function* f = find_function(fun);
  if (!f) return "'" + std::string(fun) + "' is not available.";
  if (args.size() < f->min_args || args.size() > f->max_args) {
    std::ostringstream text;
    text << "Passed invalid arguments to " << fun << ": takes ";
    if (f->min_args == f->max_args) text << "exactly " << f->min_args;
    else text << f->min_args << " to " << f->max_args;
    text << " argument" << (f->max_args == 1 ? "" : "s") << " (" << args.size() << " given). Usage: " << f->usage;
    return text.str();
  }
  if (auto why = f->check(args)) return "Passed invalid arguments to " + std::string(fun) + ": " + *why +
                                        ". Usage: " + std::string(f->usage);
  return std::nullopt;
}

FunctionResult execute(std::string_view fun, const FieldArray& args, FunctionContext& context) {
  if (auto why = check_call(fun, args)) return error_result(*why);
  if (Clock::now() >= context.deadline)
    return error_result("Timed out: the job waited for a free worker past its timeout");
  try {
    return find_function(fun)->run(args, context);
  } catch (const std::exception& e) {
    return error_result(std::string(fun) + " failed: " + e.what());
  } catch (...) {
    return error_result(std::string(fun) + " failed");
  }
}

FunctionResult error_result(std::string text, std::int64_t retcode) {
  FunctionResult r;
  r.ret = std::move(text);
  r.retcode = retcode;
  r.success = false;
  return r;
}

std::optional<double> number_arg(const FieldValue& value) {
  if (value.is<std::int64_t>()) return static_cast<double>(value.as<std::int64_t>());
  if (value.is<double>()) return value.as<double>();
  if (value.is<std::string>()) {
    const auto& s = value.as<std::string>();
    if (s.empty()) return std::nullopt;
    try {
      std::size_t used = 0;
      double d = std::stod(s, &used);
      if (used != s.size()) return std::nullopt;
      return d;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace warren::remote
