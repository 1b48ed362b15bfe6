#include "warren/field_value.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

namespace warren {
namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// The shortest form that reads back as the same double.
std::string number_text(double d) {
  char buf[32];
  for (int precision = 1; precision < 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) return buf;
  }
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

}  // namespace

std::string to_json(const FieldTable& table) {
  std::string out = "{";
  for (const auto& [k, v] : table) out += (out.size() > 1 ? "," : "") + json_string(k) + ":" + to_json(v);
  return out + "}";
}

std::string to_json(const FieldValue& value) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          return "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          return std::isfinite(x) ? number_text(x) : "null";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return json_string(x);
        } else if constexpr (std::is_same_v<T, Bytes>) {
          return json_string(x.data);
        } else if constexpr (std::is_same_v<T, FieldArray>) {
          std::string out = "[";
          for (const auto& e : x) out += (out.size() > 1 ? "," : "") + to_json(e);
          return out + "]";
        } else {
          return to_json(x);
        }
      },
      value.value);
}

}  // namespace warren
