// FieldValue: a typed value in a header table or an arguments table, as in
// AMQP's field tables. Values travel as msgpack (docs/protocol.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace warren {

// Raw bytes, distinct from text so they round-trip as msgpack bin.
struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

struct FieldValue;
using FieldTable = std::map<std::string, FieldValue>;
using FieldArray = std::vector<FieldValue>;

// One value: nil, bool, signed 64-bit integer, double, text, bytes, array or
// table. Integers always decode as int64_t; a msgpack integer above INT64_MAX
// is refused by the decoder.
struct FieldValue {
  using Variant = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Bytes,
                               FieldArray, FieldTable>;
  Variant value;

  FieldValue() : value(nullptr) {}
  FieldValue(std::nullptr_t) : value(nullptr) {}
  FieldValue(bool b) : value(b) {}
  FieldValue(int i) : value(std::int64_t{i}) {}
  FieldValue(long i) : value(std::int64_t{i}) {}
  FieldValue(long long i) : value(std::int64_t{i}) {}
  FieldValue(double d) : value(d) {}
  FieldValue(const char* s) : value(std::string(s)) {}
  FieldValue(std::string s) : value(std::move(s)) {}
  FieldValue(Bytes b) : value(std::move(b)) {}
  FieldValue(FieldArray a) : value(std::move(a)) {}
  FieldValue(FieldTable t) : value(std::move(t)) {}

  template <class T>
  bool is() const { return std::holds_alternative<T>(value); }
  template <class T>
  const T& as() const { return std::get<T>(value); }

  bool operator==(const FieldValue& other) const { return value == other.value; }
};

// JSON text of a value or table: bytes as a string, doubles in their
// shortest exact form, non-finite doubles as null. For tools and logs.
std::string to_json(const FieldValue& value);
std::string to_json(const FieldTable& table);

}  // namespace warren
