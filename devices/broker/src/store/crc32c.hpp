// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of the message journal (docs/journal.md).
//
// extend() uses the SSE4.2 crc32 instruction when the CPU has it (checked
// once, at run time) and a slicing-by-8 table otherwise; both give the same
// values. Pure functions: thread-safe, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace warren::detail::store::crc32c {

// The CRC32C of the concatenation A + data[0, n), given crc = value(A).
// extend(0, data, n) is the CRC32C of data alone.
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n);

inline std::uint32_t value(std::string_view bytes) { return extend(0, bytes.data(), bytes.size()); }

// The table-driven implementation that extend() falls back to. Exposed so
// tests and benchmarks can compare it with the hardware path.
std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n);

// Whether extend() uses the SSE4.2 instruction on this machine.
bool hardware_accelerated();

// A CRC stored beside the data it covers is masked, as LevelDB does: the CRC
// of a string that itself contains CRCs is weak, and a run of zero bytes
// would otherwise carry a valid CRC of zero.
inline constexpr std::uint32_t kMaskDelta = 0xa282ead8u;

constexpr std::uint32_t mask(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

constexpr std::uint32_t unmask(std::uint32_t masked) {
  std::uint32_t rotated = masked - kMaskDelta;
  return (rotated >> 17) | (rotated << 15);
}

}  // namespace warren::detail::store::crc32c
