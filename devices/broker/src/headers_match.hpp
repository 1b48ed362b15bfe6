// The headers exchange's binding check and match, as RabbitMQ's headers
// exchange (rabbit_exchange_type_headers) defines them. Pure functions: no
// state, no I/O.
#pragma once

#include <optional>
#include <string>

#include "warren/field_value.hpp"

namespace warren::detail {

// Validates a headers-exchange binding's arguments: x-match must be absent or
// one of the strings "all", "any", "all-with-x", "any-with-x". Returns the
// error text for the channel error (PRECONDITION_FAILED), or nullopt when the
// arguments are valid.
std::optional<std::string> validate_headers_binding(const FieldTable& arguments);

// Whether a message with `message_headers` (nullptr: the message has none,
// which is the same as an empty table) matches a binding with
// `binding_arguments`.
//
// The binding's matchable arguments are all of them but x-match; with
// x-match "all" or "any", arguments whose key starts with "x-" are left out
// too (they configure the binding), while "all-with-x" and "any-with-x" keep
// them. A matchable argument is met when the message has a header of that
// key and either the argument's value is nil (then any value will do: a
// presence test) or the header's value equals it: same type and value, so
// int 1, double 1.0 and string "1" are three different values, and arrays and
// tables are equal when their elements are.
//
// x-match "all" (the default, also for an invalid x-match, as in RabbitMQ):
// every matchable argument is met, so a binding with none matches every
// message, with or without headers. "any": at least one is met, so a binding
// with none matches no message.
bool headers_match(const FieldTable& binding_arguments, const FieldTable* message_headers);

}  // namespace warren::detail
