// headers_match and validate_headers_binding against RabbitMQ's headers
// exchange: x-match all/any/all-with-x/any-with-x, which keys take part,
// type-sensitive equality (nested values included), nil as a presence test,
// messages without headers, and the x-match values a binding may carry.
#include "headers_match.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace warren::detail {
namespace {

struct Row {
  const char* name;
  FieldTable binding;
  std::optional<FieldTable> headers;  // nullopt: the message has no headers
  bool expected;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

const Bytes kBinary{std::string("x\0y", 3)};
const FieldTable kNested = {{"a", 1}, {"b", FieldArray{"x", 2.5}}};

// One row a line where it fits: the table reads better unwrapped.
// clang-format off
std::vector<Row> rows() {
  return {
      // x-match all (the default).
      {"all_default_every_key_equal", {{"a", 1}, {"b", "x"}}, FieldTable{{"a", 1}, {"b", "x"}},
       true},
      {"all_default_extra_headers_ok", {{"a", 1}}, FieldTable{{"a", 1}, {"z", 9}}, true},
      {"all_default_one_missing", {{"a", 1}, {"b", "x"}}, FieldTable{{"a", 1}}, false},
      {"all_default_one_differs", {{"a", 1}, {"b", "x"}}, FieldTable{{"a", 1}, {"b", "y"}}, false},
      {"all_explicit", {{"x-match", "all"}, {"a", 1}, {"b", 2}}, FieldTable{{"a", 1}, {"b", 2}},
       true},
      {"all_explicit_one_differs", {{"x-match", "all"}, {"a", 1}, {"b", 2}},
       FieldTable{{"a", 1}, {"b", 3}}, false},
      {"all_empty_binding_empty_headers", {}, FieldTable{}, true},
      {"all_empty_binding_any_headers", {}, FieldTable{{"a", 1}}, true},
      {"all_only_x_match", {{"x-match", "all"}}, FieldTable{{"a", 1}}, true},
      {"all_only_x_args", {{"x-match", "all"}, {"x-foo", 1}}, FieldTable{}, true},
      // x-match any.
      {"any_one_equal", {{"x-match", "any"}, {"a", 1}, {"b", 2}}, FieldTable{{"b", 2}}, true},
      {"any_all_equal", {{"x-match", "any"}, {"a", 1}, {"b", 2}}, FieldTable{{"a", 1}, {"b", 2}},
       true},
      {"any_none_equal", {{"x-match", "any"}, {"a", 1}, {"b", 2}},
       FieldTable{{"a", 2}, {"b", 1}}, false},
      {"any_none_present", {{"x-match", "any"}, {"a", 1}}, FieldTable{{"c", 1}}, false},
      {"any_empty_binding", {{"x-match", "any"}}, FieldTable{{"a", 1}}, false},
      {"any_empty_binding_empty_headers", {{"x-match", "any"}}, FieldTable{}, false},
      {"any_only_x_args", {{"x-match", "any"}, {"x-a", 1}}, FieldTable{{"x-a", 1}}, false},
      // Keys starting "x-" take no part with all/any...
      {"all_ignores_x_arg", {{"x-match", "all"}, {"x-a", 1}, {"b", 2}}, FieldTable{{"b", 2}},
       true},
      {"all_default_ignores_x_arg", {{"x-a", 1}, {"b", 2}}, FieldTable{{"b", 2}}, true},
      {"any_ignores_x_arg", {{"x-match", "any"}, {"x-a", 1}, {"b", 2}}, FieldTable{{"x-a", 1}},
       false},
      {"prefix_is_case_sensitive", {{"X-a", 1}}, FieldTable{}, false},
      {"x_without_dash_takes_part", {{"xa", 1}}, FieldTable{}, false},
      // ...but do with all-with-x/any-with-x, except x-match itself.
      {"all_with_x_needs_x_arg", {{"x-match", "all-with-x"}, {"x-a", 1}, {"b", 2}},
       FieldTable{{"b", 2}}, false},
      {"all_with_x_all_present", {{"x-match", "all-with-x"}, {"x-a", 1}, {"b", 2}},
       FieldTable{{"x-a", 1}, {"b", 2}}, true},
      {"all_with_x_x_arg_differs", {{"x-match", "all-with-x"}, {"x-a", 1}},
       FieldTable{{"x-a", 2}}, false},
      {"all_with_x_x_match_not_matched", {{"x-match", "all-with-x"}, {"a", 1}},
       FieldTable{{"a", 1}}, true},
      {"all_with_x_only_x_match", {{"x-match", "all-with-x"}}, std::nullopt, true},
      {"any_with_x_x_arg_alone", {{"x-match", "any-with-x"}, {"x-a", 1}, {"b", 2}},
       FieldTable{{"x-a", 1}}, true},
      {"any_with_x_none", {{"x-match", "any-with-x"}, {"x-a", 1}, {"b", 2}},
       FieldTable{{"x-a", 3}, {"b", 3}}, false},
      {"any_with_x_x_match_header_not_compared", {{"x-match", "any-with-x"}},
       FieldTable{{"x-match", "any-with-x"}}, false},
      {"any_x_match_header_not_compared", {{"x-match", "any"}},
       FieldTable{{"x-match", "any"}}, false},
      // Equality is type-sensitive.
      {"int_vs_string", {{"a", 1}}, FieldTable{{"a", "1"}}, false},
      {"string_vs_int", {{"a", "1"}}, FieldTable{{"a", 1}}, false},
      {"int_vs_double", {{"a", 1}}, FieldTable{{"a", 1.0}}, false},
      {"double_vs_int", {{"a", 1.0}}, FieldTable{{"a", 1}}, false},
      {"double_equal", {{"a", 2.5}}, FieldTable{{"a", 2.5}}, true},
      {"bool_vs_int", {{"a", true}}, FieldTable{{"a", 1}}, false},
      {"int_vs_bool", {{"a", 0}}, FieldTable{{"a", false}}, false},
      {"bool_equal", {{"a", false}}, FieldTable{{"a", false}}, true},
      {"bool_differs", {{"a", true}}, FieldTable{{"a", false}}, false},
      {"string_vs_bytes", {{"a", "x"}}, FieldTable{{"a", Bytes{"x"}}}, false},
      {"bytes_equal", {{"a", kBinary}}, FieldTable{{"a", kBinary}}, true},
      {"string_case_sensitive", {{"a", "X"}}, FieldTable{{"a", "x"}}, false},
      {"empty_string_equal", {{"a", ""}}, FieldTable{{"a", ""}}, true},
      {"empty_string_vs_nil", {{"a", ""}}, FieldTable{{"a", nullptr}}, false},
      {"int64_extremes", {{"a", INT64_MIN}, {"b", INT64_MAX}},
       FieldTable{{"a", INT64_MIN}, {"b", INT64_MAX}}, true},
      {"key_case_sensitive", {{"A", 1}}, FieldTable{{"a", 1}}, false},
      // Nested arrays and tables compare element by element, types included.
      {"array_equal", {{"a", FieldArray{1, "x", true}}},
       FieldTable{{"a", FieldArray{1, "x", true}}}, true},
      {"array_order_matters", {{"a", FieldArray{1, 2}}}, FieldTable{{"a", FieldArray{2, 1}}},
       false},
      {"array_length_matters", {{"a", FieldArray{1}}}, FieldTable{{"a", FieldArray{1, 1}}}, false},
      {"array_element_type_matters", {{"a", FieldArray{1}}}, FieldTable{{"a", FieldArray{1.0}}},
       false},
      {"table_equal", {{"a", kNested}}, FieldTable{{"a", kNested}}, true},
      {"table_extra_key", {{"a", kNested}},
       FieldTable{{"a", FieldTable{{"a", 1}, {"b", FieldArray{"x", 2.5}}, {"c", 0}}}}, false},
      {"table_nested_type_matters", {{"a", kNested}},
       FieldTable{{"a", FieldTable{{"a", 1.0}, {"b", FieldArray{"x", 2.5}}}}}, false},
      {"table_vs_array", {{"a", FieldTable{}}}, FieldTable{{"a", FieldArray{}}}, false},
      // A nil argument tests presence only.
      {"nil_present_int", {{"a", nullptr}}, FieldTable{{"a", 5}}, true},
      {"nil_present_nil", {{"a", nullptr}}, FieldTable{{"a", nullptr}}, true},
      {"nil_present_table", {{"a", nullptr}}, FieldTable{{"a", kNested}}, true},
      {"nil_absent", {{"a", nullptr}}, FieldTable{{"b", 5}}, false},
      {"nil_with_all", {{"a", nullptr}, {"b", 1}}, FieldTable{{"a", "x"}, {"b", 1}}, true},
      {"nil_with_all_other_differs", {{"a", nullptr}, {"b", 1}}, FieldTable{{"a", "x"}, {"b", 2}},
       false},
      {"nil_with_any", {{"x-match", "any"}, {"a", nullptr}, {"b", 1}}, FieldTable{{"a", 0}},
       true},
      {"nil_header_vs_value", {{"a", 1}}, FieldTable{{"a", nullptr}}, false},
      {"nil_x_arg_with_x", {{"x-match", "all-with-x"}, {"x-a", nullptr}}, FieldTable{{"x-a", 1}},
       true},
      // A message without headers is one with an empty table.
      {"no_headers_empty_binding", {}, std::nullopt, true},
      {"no_headers_all_with_args", {{"a", 1}}, std::nullopt, false},
      {"no_headers_all_only_x_args", {{"x-match", "all"}, {"x-a", 1}}, std::nullopt, true},
      {"no_headers_any", {{"x-match", "any"}, {"a", 1}}, std::nullopt, false},
      {"no_headers_any_empty_binding", {{"x-match", "any"}}, std::nullopt, false},
      {"no_headers_nil_arg", {{"a", nullptr}}, std::nullopt, false},
      {"no_headers_all_with_x", {{"x-match", "all-with-x"}, {"x-a", 1}}, std::nullopt, false},
      {"empty_headers_all_with_args", {{"a", 1}}, FieldTable{}, false},
      // An invalid x-match (a binding validate refuses) routes as "all".
      {"invalid_x_match_is_all", {{"x-match", "some"}, {"a", 1}, {"b", 2}}, FieldTable{{"a", 1}},
       false},
      {"invalid_x_match_is_all_match", {{"x-match", "ALL"}, {"a", 1}}, FieldTable{{"a", 1}}, true},
      {"non_string_x_match_is_all", {{"x-match", 1}, {"a", 1}, {"b", 2}}, FieldTable{{"b", 2}},
       false},
  };
}
// clang-format on

class HeadersMatchTable : public ::testing::TestWithParam<Row> {};

TEST_P(HeadersMatchTable, MatchesAsRabbitMQ) {
  const Row& row = GetParam();
  const FieldTable* headers = row.headers ? &*row.headers : nullptr;
  EXPECT_EQ(headers_match(row.binding, headers), row.expected);
}

INSTANTIATE_TEST_SUITE_P(Rows, HeadersMatchTable, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return std::string(info.param.name);
                         });

// Matching depends on keys and values, not on the order of the arguments
// (std::map sorts them) nor on what else the message carries.
TEST(HeadersMatch, ManyArgumentsAndHeaders) {
  FieldTable binding{{"x-match", "all"}};
  FieldTable headers;
  for (int i = 0; i < 100; ++i) {
    binding["k" + std::to_string(i)] = i;
    headers["k" + std::to_string(i)] = i;
    headers["other" + std::to_string(i)] = "v";
  }
  EXPECT_TRUE(headers_match(binding, &headers));
  headers["k57"] = "57";
  EXPECT_FALSE(headers_match(binding, &headers));
  binding["x-match"] = "any";
  EXPECT_TRUE(headers_match(binding, &headers));
  headers.clear();
  EXPECT_FALSE(headers_match(binding, &headers));
}

// ---- validate_headers_binding ----

TEST(ValidateHeadersBinding, AcceptsAbsentAndTheFourKinds) {
  EXPECT_EQ(validate_headers_binding({}), std::nullopt);
  EXPECT_EQ(validate_headers_binding({{"a", 1}, {"x-other", "anything"}}), std::nullopt);
  for (const char* kind : {"all", "any", "all-with-x", "any-with-x"})
    EXPECT_EQ(validate_headers_binding({{"x-match", kind}, {"a", 1}}), std::nullopt) << kind;
}

TEST(ValidateHeadersBinding, RefusesOtherStrings) {
  for (const char* kind : {"", "ALL", "Any", "all ", " any", "none", "allwithx", "all_with_x",
                           "any-with-x-more", "x-match"}) {
    const auto error = validate_headers_binding({{"x-match", kind}});
    ASSERT_TRUE(error.has_value()) << '"' << kind << '"';
    EXPECT_NE(error->find("Invalid x-match field value"), std::string::npos) << *error;
    EXPECT_NE(error->find("expected all, any, all-with-x, or any-with-x"), std::string::npos)
        << *error;
  }
}

TEST(ValidateHeadersBinding, RefusesOtherTypes) {
  const std::vector<std::pair<FieldValue, std::string>> cases = {{nullptr, "nil"},
                                                                 {true, "bool"},
                                                                 {1, "int"},
                                                                 {1.5, "float"},
                                                                 {Bytes{"all"}, "bin"},
                                                                 {FieldArray{"all"}, "array"},
                                                                 {FieldTable{{"all", 1}}, "table"}};
  for (const auto& [value, type] : cases) {
    const auto error = validate_headers_binding({{"x-match", value}});
    ASSERT_TRUE(error.has_value()) << type;
    EXPECT_EQ(*error, "Invalid x-match field type " + type + "; expected str");
  }
}

TEST(ValidateHeadersBinding, QuotesALongValueShortened) {
  const std::string long_value(1000, 'z');
  const auto error = validate_headers_binding({{"x-match", long_value}});
  ASSERT_TRUE(error.has_value());
  EXPECT_LT(error->size(), 200u);
  EXPECT_NE(error->find("\"zzzz"), std::string::npos);

  // Cut at a character boundary: 63 ASCII bytes, then two-byte characters.
  std::string utf8(63, 'a');
  for (int i = 0; i < 40; ++i) utf8 += "\xC3\xBC";
  const auto cut = validate_headers_binding({{"x-match", utf8}});
  ASSERT_TRUE(cut.has_value());
  EXPECT_NE(cut->find(std::string(63, 'a') + "\"..."), std::string::npos) << *cut;
}

}  // namespace
}  // namespace warren::detail
