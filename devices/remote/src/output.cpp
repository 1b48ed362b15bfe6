#include "output.hpp"

#include <cmath>

namespace warren::remote {
namespace {

bool is_scalar(const FieldValue& v) { return !v.is<FieldArray>() && !v.is<FieldTable>(); }

std::string scalar_text(const FieldValue& v) {
  if (v.is<std::nullptr_t>()) return "None";
  if (v.is<bool>()) return v.as<bool>() ? "True" : "False";
  if (v.is<std::int64_t>()) return std::to_string(v.as<std::int64_t>());
  if (v.is<double>()) {  // as Python prints it
    double d = v.as<double>();
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    return to_json(v);
  }
  if (v.is<std::string>()) return v.as<std::string>();
  if (v.is<Bytes>()) return v.as<Bytes>().data;
  return {};
}

// Multi-line text keeps its lines, each indented.
std::string indent_lines(const std::string& text, int indent) {
  std::string pad(static_cast<std::size_t>(indent), ' ');
  std::string out;
  std::size_t start = 0;
  do {  // one line per line of text; a final newline adds none
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out += pad + text.substr(start, nl - start) + "\n";
    start = nl + 1;
  } while (start < text.size());
  return out;
}

}  // namespace

std::string nested_text(const FieldValue& value, int indent) {
  std::string pad(static_cast<std::size_t>(indent), ' ');
  if (is_scalar(value)) return indent_lines(scalar_text(value), indent);
  std::string out;
  if (value.is<FieldArray>()) {
    for (const auto& e : value.as<FieldArray>()) {
      if (is_scalar(e)) out += pad + "- " + scalar_text(e) + "\n";
      else out += pad + "-\n" + nested_text(e, indent + 4);
    }
    return out;
  }
  out += pad + "----------\n";
  for (const auto& [k, v] : value.as<FieldTable>()) {
    if (is_scalar(v) && scalar_text(v).find('\n') == std::string::npos) {
      out += pad + k + ":\n" + pad + "    " + scalar_text(v) + "\n";
    } else {
      out += pad + k + ":\n" + nested_text(v, indent + 4);
    }
  }
  return out;
}

std::string format_return(const Return& r, OutputFormat format) {
  if (format == OutputFormat::kJson) return to_json(return_table(r)) + "\n";
  return r.id + ":\n" + nested_text(r.ret, 4);
}

std::string format_missing(const std::string& id, const std::string& jid, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    FieldTable t{{"id", id}, {"jid", jid}, {"return", "Minion did not return. [No response]"},
                 {"retcode", 1}, {"success", false}};
    return to_json(t) + "\n";
  }
  return id + ":\n    Minion did not return. [No response]\n";
}

}  // namespace warren::remote
