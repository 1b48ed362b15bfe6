// warren::to_json, the one JSON writer of warrenctl and warren-master.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "warren/field_value.hpp"

namespace warren {
namespace {

TEST(FieldValueJson, Scalars) {
  EXPECT_EQ(to_json(FieldValue()), "null");
  EXPECT_EQ(to_json(FieldValue(true)), "true");
  EXPECT_EQ(to_json(FieldValue(std::int64_t{-9007199254740993})), "-9007199254740993");
  EXPECT_EQ(to_json(FieldValue(0.1)), "0.1");  // shortest form that reads back the same
  EXPECT_EQ(to_json(FieldValue(1e300)), "1e+300");
  EXPECT_EQ(to_json(FieldValue(123456.789)), "123456.789");
  EXPECT_EQ(to_json(FieldValue(std::nan(""))), "null");  // JSON has no NaN or infinity
  EXPECT_EQ(to_json(FieldValue(std::numeric_limits<double>::infinity())), "null");
}

TEST(FieldValueJson, StringsAreEscaped) {
  EXPECT_EQ(to_json(FieldValue("a\"b\\c\nd\te\r")), R"("a\"b\\c\nd\te\r")");
  EXPECT_EQ(to_json(FieldValue(std::string("\x01\x1f", 2))), R"("\u0001\u001f")");
  EXPECT_EQ(to_json(FieldValue(Bytes{"raw"})), R"("raw")");
  EXPECT_EQ(to_json(FieldValue("")), R"("")");
}

TEST(FieldValueJson, Containers) {
  EXPECT_EQ(to_json(FieldTable{}), "{}");
  EXPECT_EQ(to_json(FieldValue(FieldArray{})), "[]");
  FieldTable t{{"k\"", FieldArray{1, "x", FieldTable{{"n", nullptr}}}}, {"a", false}};
  EXPECT_EQ(to_json(t), R"({"a":false,"k\"":[1,"x",{"n":null}]})");
  EXPECT_EQ(to_json(FieldValue(t)), to_json(t));
}

}  // namespace
}  // namespace warren
