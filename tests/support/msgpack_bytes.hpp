// Hand-written msgpack bytes for tests that must build frames the encoder
// would never produce (wrong types, odd widths, truncations). Independent of
// msgpack-c, so a codec bug cannot hide behind the same library on both sides.
// Values are returned as std::string and composed with operator+.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace warren::testing::mp {

// Appends `value` big-endian in `width` bytes after the type byte `tag`.
inline std::string tagged(std::uint8_t tag, std::uint64_t value, int width) {
  std::string out(1, static_cast<char>(tag));
  for (int i = width - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

inline std::string nil() { return "\xc0"; }
inline std::string boolean(bool b) { return b ? "\xc3" : "\xc2"; }

// An unsigned integer in its shortest encoding.
inline std::string uint(std::uint64_t v) {
  if (v < 0x80) return std::string(1, static_cast<char>(v));
  if (v <= 0xff) return tagged(0xcc, v, 1);
  if (v <= 0xffff) return tagged(0xcd, v, 2);
  if (v <= 0xffffffff) return tagged(0xce, v, 4);
  return tagged(0xcf, v, 8);
}
// An unsigned integer forced to uint 64 (legal, if not the shortest).
inline std::string uint64(std::uint64_t v) { return tagged(0xcf, v, 8); }

// A signed integer in its shortest encoding (non-negative values as uint).
inline std::string sint(std::int64_t v) {
  if (v >= 0) return uint(static_cast<std::uint64_t>(v));
  auto bits = static_cast<std::uint64_t>(v);
  if (v >= -32) return std::string(1, static_cast<char>(bits & 0xff));
  if (v >= -128) return tagged(0xd0, bits & 0xff, 1);
  if (v >= -32768) return tagged(0xd1, bits & 0xffff, 2);
  if (v >= INT32_MIN) return tagged(0xd2, bits & 0xffffffff, 4);
  return tagged(0xd3, bits, 8);
}
// A signed integer forced to int 64 (legal even for non-negative values).
inline std::string int64(std::int64_t v) { return tagged(0xd3, static_cast<std::uint64_t>(v), 8); }

inline std::string f32(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return tagged(0xca, bits, 4);
}
inline std::string f64(double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return tagged(0xcb, bits, 8);
}

inline std::string str(std::string_view s) {
  std::string head = s.size() < 32        ? std::string(1, static_cast<char>(0xa0 | s.size()))
                     : s.size() <= 0xff   ? tagged(0xd9, s.size(), 1)
                     : s.size() <= 0xffff ? tagged(0xda, s.size(), 2)
                                          : tagged(0xdb, s.size(), 4);
  return head + std::string(s);
}
inline std::string bin(std::string_view b) {
  std::string head = b.size() <= 0xff     ? tagged(0xc4, b.size(), 1)
                     : b.size() <= 0xffff ? tagged(0xc5, b.size(), 2)
                                          : tagged(0xc6, b.size(), 4);
  return head + std::string(b);
}
// An ext value: not a field value type, so always refused.
inline std::string fixext1(std::int8_t type, char data) {
  return std::string{'\xd4', static_cast<char>(type), data};
}

// Container headers: the caller appends exactly `n` values (or 2n for maps).
inline std::string array(std::uint32_t n) {
  if (n < 16) return std::string(1, static_cast<char>(0x90 | n));
  if (n <= 0xffff) return tagged(0xdc, n, 2);
  return tagged(0xdd, n, 4);
}
inline std::string map(std::uint32_t n) {
  if (n < 16) return std::string(1, static_cast<char>(0x80 | n));
  if (n <= 0xffff) return tagged(0xde, n, 2);
  return tagged(0xdf, n, 4);
}

// The start of a header frame: version, opcode and channel.
inline std::string head(std::uint64_t opcode, std::uint64_t channel, std::uint64_t version = 1) {
  return uint(version) + uint(opcode) + uint(channel);
}

// The empty field table / properties map.
inline std::string empty_map() { return map(0); }

}  // namespace warren::testing::mp
