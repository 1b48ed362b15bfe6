// How warren-master prints returns: salt's nested text outputter, or one
// JSON object per line. Pure functions over values, no I/O.
#pragma once

#include <string>

#include "job.hpp"
#include "warren/field_value.hpp"

namespace warren::remote {

enum class OutputFormat { kText, kJson };

// A value as salt's nested outputter shows it, each line indented by
// `indent` spaces: scalars on one line (True/False for booleans), lists as
// "- item", tables as "----------" then "key:" with the value nested below.
std::string nested_text(const FieldValue& value, int indent);

// "id:\n    <nested return>\n" or one JSON line with every field of the return.
std::string format_return(const Return& r, OutputFormat format);
// A minion that did not return, as salt says it.
std::string format_missing(const std::string& id, const std::string& jid, OutputFormat format);

}  // namespace warren::remote
