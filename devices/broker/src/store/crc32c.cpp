#include "crc32c.hpp"

#include <array>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define WARREN_CRC32C_SSE42 1
#endif

namespace warren::detail::store::crc32c {
namespace {

constexpr std::uint32_t kPolynomial = 0x82f63b78u;  // 0x1EDC6F41, bit-reversed

// kTables[0] is the classic byte-at-a-time table; kTables[k][b] is the CRC of
// byte b followed by k zero bytes, so eight bytes fold in with eight lookups.
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  return t;
}

constexpr auto kTables = make_tables();

inline std::uint32_t load_le32(const unsigned char* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

#ifdef WARREN_CRC32C_SSE42
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc, const void* data,
                                                             std::size_t n) {
  auto p = static_cast<const unsigned char*>(data);
  std::uint32_t l = ~crc;
  for (; n > 0 && reinterpret_cast<std::uintptr_t>(p) % 8 != 0; --n) l = _mm_crc32_u8(l, *p++);
#if defined(__x86_64__)
  std::uint64_t l64 = l;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word;
    __builtin_memcpy(&word, p, 8);
    l64 = _mm_crc32_u64(l64, word);
  }
  l = static_cast<std::uint32_t>(l64);
#endif
  for (; n >= 4; n -= 4, p += 4) {
    std::uint32_t word;
    __builtin_memcpy(&word, p, 4);
    l = _mm_crc32_u32(l, word);
  }
  for (; n > 0; --n) l = _mm_crc32_u8(l, *p++);
  return ~l;
}
#endif

using ExtendFn = std::uint32_t (*)(std::uint32_t, const void*, std::size_t);

ExtendFn choose() {
#ifdef WARREN_CRC32C_SSE42
  if (__builtin_cpu_supports("sse4.2")) return extend_sse42;
#endif
  return extend_portable;
}

// Chosen on first use, so it works from other translation units' static
// initializers too.
ExtendFn implementation() {
  static const ExtendFn fn = choose();
  return fn;
}

}  // namespace

std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n) {
  auto p = static_cast<const unsigned char*>(data);
  std::uint32_t l = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint32_t lo = l ^ load_le32(p);
    std::uint32_t hi = load_le32(p + 4);
    l = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xff] ^ kTables[2][(hi >> 8) & 0xff] ^
        kTables[1][(hi >> 16) & 0xff] ^ kTables[0][hi >> 24];
  }
  for (; n > 0; --n) l = kTables[0][(l ^ *p++) & 0xff] ^ (l >> 8);
  return ~l;
}

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) {
  return implementation()(crc, data, n);
}

bool hardware_accelerated() { return implementation() != extend_portable; }

}  // namespace warren::detail::store::crc32c
