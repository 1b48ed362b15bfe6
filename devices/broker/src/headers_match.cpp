#include "headers_match.hpp"

#include <cstddef>
#include <string_view>

namespace warren::detail {

namespace {

constexpr std::string_view kXMatch = "x-match";

enum class MatchKind { kAll, kAny, kAllWithX, kAnyWithX };

std::optional<MatchKind> parse_match_kind(std::string_view text) {
  if (text == "all") return MatchKind::kAll;
  if (text == "any") return MatchKind::kAny;
  if (text == "all-with-x") return MatchKind::kAllWithX;
  if (text == "any-with-x") return MatchKind::kAnyWithX;
  return std::nullopt;
}

// The binding's x-match; "all" when it is absent or invalid (RabbitMQ routes
// bindings made before it validated x-match as "all").
MatchKind match_kind(const FieldTable& arguments) {
  auto it = arguments.find(std::string(kXMatch));
  if (it == arguments.end() || !it->second.is<std::string>()) return MatchKind::kAll;
  return parse_match_kind(it->second.as<std::string>()).value_or(MatchKind::kAll);
}

// The protocol's name for a field value's type (docs/protocol.md).
std::string_view type_name(const FieldValue& v) {
  constexpr std::string_view kNames[] = {"nil", "bool", "int",   "float",
                                         "str", "bin",  "array", "table"};
  return kNames[v.value.index()];
}

// `text` in quotes, cut to a sane length at a UTF-8 character boundary: it is
// the peer's, and goes back to the peer in the reply text.
std::string quoted(const std::string& text) {
  constexpr std::size_t kMax = 64;
  if (text.size() <= kMax) return '"' + text + '"';
  std::size_t end = kMax;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return '"' + text.substr(0, end) + "\"...";
}

}  // namespace

std::optional<std::string> validate_headers_binding(const FieldTable& arguments) {
  auto it = arguments.find(std::string(kXMatch));
  if (it == arguments.end()) return std::nullopt;  // RabbitMQ allows it absent
  if (!it->second.is<std::string>())
    return "Invalid x-match field type " + std::string(type_name(it->second)) + "; expected str";
  const std::string& text = it->second.as<std::string>();
  if (parse_match_kind(text)) return std::nullopt;
  return "Invalid x-match field value " + quoted(text) +
         "; expected all, any, all-with-x, or any-with-x";
}

bool headers_match(const FieldTable& binding_arguments, const FieldTable* message_headers) {
  const MatchKind kind = match_kind(binding_arguments);
  const bool all = kind == MatchKind::kAll || kind == MatchKind::kAllWithX;
  const bool with_x = kind == MatchKind::kAllWithX || kind == MatchKind::kAnyWithX;
  static const FieldTable kNoHeaders;
  const FieldTable& headers = message_headers != nullptr ? *message_headers : kNoHeaders;

  for (const auto& [key, wanted] : binding_arguments) {
    if (key == kXMatch) continue;
    if (!with_x && key.starts_with("x-")) continue;
    auto it = headers.find(key);
    const bool met = it != headers.end() && (wanted.is<std::nullptr_t>() || wanted == it->second);
    if (all && !met) return false;
    if (!all && met) return true;
  }
  return all;
}

}  // namespace warren::detail
