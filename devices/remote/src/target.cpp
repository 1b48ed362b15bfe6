#include "target.hpp"

#include <cstdio>
#include <vector>

#include "warren/pubsub.hpp"  // glob_match

namespace warren::remote {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool match_glob(std::string_view pattern, std::string_view id) {
  if (pattern.empty()) throw TargetError("empty glob");
  return glob_match(pattern, id);
}

bool match_list(std::string_view list, std::string_view id) {
  bool any = false;
  while (true) {
    auto comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    if (!item.empty()) {
      any = true;
      if (item == id) return true;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (!any) throw TargetError("empty list of minion ids");
  return false;
}

bool match_grain(std::string_view expression, const FieldTable& grains) {
  auto colon = expression.find(':');
  if (colon == std::string_view::npos || colon == 0)
    throw TargetError("grain target must be key:glob, got '" + std::string(expression) + "'");
  auto key = std::string(expression.substr(0, colon));
  auto pattern = expression.substr(colon + 1);
  auto it = grains.find(key);
  if (it == grains.end()) return false;
  return glob_match(pattern, grain_text(it->second));
}

// Compound expressions: a recursive descent parser over whitespace-separated
// tokens, evaluating as it parses (it always consumes every token, so a
// malformed tail is reported even when the result is already known).
//   or_expr  := and_expr ('or' and_expr)*
//   and_expr := not_expr ('and' not_expr)*
//   not_expr := 'not' not_expr | primary
//   primary  := '(' or_expr ')' | term
class Compound {
 public:
  Compound(std::string_view expression, std::string_view id, const FieldTable& grains)
      : id_(id), grains_(grains) {
    tokenize(expression);
    if (tokens_.empty()) throw TargetError("empty compound target");
  }

  bool evaluate() {
    bool result = or_expr();
    if (pos_ != tokens_.size()) throw TargetError("unexpected '" + tokens_[pos_] + "' in compound target");
    return result;
  }

 private:
  void tokenize(std::string_view s) {
    std::string current;
    auto flush = [&] {
      if (!current.empty()) tokens_.push_back(std::move(current));
      current.clear();
    };
    for (char c : s) {
      if (c == ' ' || c == '\t') {
        flush();
      } else if ((c == '(' || c == ')') && current.find('[') == std::string::npos) {
        flush();  // parentheses are tokens of their own, except inside a [class]
        tokens_.emplace_back(1, c);
      } else {
        current += c;
      }
    }
    flush();
  }

  bool at(std::string_view word) const { return pos_ < tokens_.size() && tokens_[pos_] == word; }

  bool or_expr() {
    bool value = and_expr();
    while (at("or")) {
      ++pos_;
      bool rhs = and_expr();  // always parse: a malformed right side is an error
      value = value || rhs;
    }
    return value;
  }
  bool and_expr() {
    bool value = not_expr();
    while (at("and")) {
      ++pos_;
      bool rhs = not_expr();
      value = value && rhs;
    }
    return value;
  }
  bool not_expr() {
    if (at("not")) {
      ++pos_;
      return !not_expr();
    }
    return primary();
  }
  bool primary() {
    if (pos_ >= tokens_.size()) throw TargetError("compound target ends too early");
    if (at("(")) {
      ++pos_;
      bool value = or_expr();
      if (!at(")")) throw TargetError("missing ')' in compound target");
      ++pos_;
      return value;
    }
    const std::string& token = tokens_[pos_];
    if (token == ")" || token == "and" || token == "or")
      throw TargetError("unexpected '" + token + "' in compound target");
    ++pos_;
    return term(token);
  }
  bool term(std::string_view token) const {
    if (token.size() >= 2 && token[1] == '@') {
      auto rest = token.substr(2);
      switch (token[0]) {
        case 'G': return match_grain(rest, grains_);
        case 'L': return match_list(rest, id_);
        default:
          throw TargetError("unsupported compound term '" + std::string(token) +
                            "' (supported: G@key:glob, L@id,id, or a glob)");
      }
    }
    return match_glob(token, id_);
  }

  std::string_view id_;
  const FieldTable& grains_;
  std::vector<std::string> tokens_;
  std::size_t pos_ = 0;
};

}  // namespace

TargetType parse_target_type(std::string_view name) {
  if (name == "glob") return TargetType::kGlob;
  if (name == "list") return TargetType::kList;
  if (name == "grain") return TargetType::kGrain;
  if (name == "compound") return TargetType::kCompound;
  throw TargetError("unknown target type '" + std::string(name) + "' (glob, list, grain or compound)");
}

std::string_view target_type_name(TargetType type) {
  switch (type) {
    case TargetType::kGlob: return "glob";
    case TargetType::kList: return "list";
    case TargetType::kGrain: return "grain";
    case TargetType::kCompound: return "compound";
  }
  return "glob";
}

std::string grain_text(const FieldValue& value) {
  if (value.is<std::string>()) return value.as<std::string>();
  if (value.is<std::int64_t>()) return std::to_string(value.as<std::int64_t>());
  if (value.is<bool>()) return value.as<bool>() ? "True" : "False";
  if (value.is<double>()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", value.as<double>());
    return buf;
  }
  return {};
}

bool target_matches(TargetType type, std::string_view expression, std::string_view id,
                    const FieldTable& grains) {
  switch (type) {
    case TargetType::kGlob: return match_glob(trim(expression), id);
    case TargetType::kList: return match_list(expression, id);
    case TargetType::kGrain: return match_grain(trim(expression), grains);
    case TargetType::kCompound: return Compound(expression, id, grains).evaluate();
  }
  return false;
}

void validate_target(TargetType type, std::string_view expression) {
  target_matches(type, expression, "", FieldTable{});
}

}  // namespace warren::remote
