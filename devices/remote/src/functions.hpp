// The function table: every function a minion can run, with its argument
// check beside it (one table, as Redis keeps its commands). A job names a
// function and passes positional arguments; the CLI sends them as strings,
// so numeric arguments accept numeric strings too.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command.hpp"
#include "warren/field_value.hpp"

namespace warren::remote {

// What a function may use while it runs.
struct FunctionContext {
  const FieldTable& grains;
  const CommandOptions& command;
  // The job must be answered by then; a function that would run past it
  // stops and returns a timeout error.
  std::chrono::steady_clock::time_point deadline;
  // Waits until `until`; returns true early when the minion is stopping.
  std::function<bool(std::chrono::steady_clock::time_point until)> wait_until;
  std::function<bool()> cancelled;
};

struct FunctionResult {
  FieldValue ret;
  std::int64_t retcode = 0;
  bool success = true;
};

struct Function {
  std::string_view name;
  std::string_view usage;  // "test.echo TEXT"
  std::size_t min_args;
  std::size_t max_args;
  // Beyond the count: why these arguments are wrong, or nullopt.
  std::optional<std::string> (*check)(const FieldArray& args);
  FunctionResult (*run)(const FieldArray& args, FunctionContext& context);
};

// Every function, in name order.
const std::vector<Function>& function_table();
const Function* find_function(std::string_view name);

// Why `args` are wrong for `fun` (unknown function, count, types), or nullopt.
std::optional<std::string> check_call(std::string_view fun, const FieldArray& args);

// Runs `fun`: checks the call, then runs it. Never throws: an unknown
// function, bad arguments, a refused command, a timeout or an exception all
// become an error result (success false, retcode 1 unless the function set
// one, return = the error text).
FunctionResult execute(std::string_view fun, const FieldArray& args, FunctionContext& context);

// An error result with `text`.
FunctionResult error_result(std::string text, std::int64_t retcode = 1);

// A number from an integer, a float or a numeric string; nullopt otherwise.
std::optional<double> number_arg(const FieldValue& value);

}  // namespace warren::remote
