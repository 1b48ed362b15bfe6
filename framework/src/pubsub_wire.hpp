// The pub/sub wire format (docs/pubsub.md, "Wire format"), written once:
// the Publisher encodes with it, the Subscriber and the fuzz target decode
// with it. Pure functions over bytes, no sockets.
//
// Three ZeroMQ frames either way: the channel name and a '\0'; a header;
// a payload.
//   version 1 (one message): header = 1, publisher id (8), sequence (8),
//     then the properties; payload = the body.
//   version 2 (a batch of one channel's messages): header = 2, publisher id
//     (8), the first message's sequence (8), count (4), exactly 21 bytes;
//     payload = per message a u32 properties length, the properties, a u32
//     body length, the body. All integers little-endian.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warren::detail::pubsub_wire {

inline constexpr char kSingle = 1;
inline constexpr char kBatch = 2;
inline constexpr std::size_t kHeaderSize = 1 + 8 + 8;            // version, publisher id, sequence
inline constexpr std::size_t kBatchHeaderSize = kHeaderSize + 4;  // ... and the count

// The N-byte little-endian integer at `in`.
template <int N>
std::uint64_t read_le(const char* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < N; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

// Each writes into `out`, replacing what it held (its buffer is reused).
// The channel frame: the name and its terminator (also the ZeroMQ
// subscription for an exact channel).
void topic(std::string& out, std::string_view channel);
// A version-1 header: `properties` are protocol::encode_properties bytes or empty.
void single_header(std::string& out, std::uint64_t publisher, std::uint64_t sequence, std::string_view properties);
void batch_header(std::string& out, std::uint64_t publisher, std::uint64_t first, std::uint32_t count);
// Appends one message to a batch payload.
void append_entry(std::string& payload, std::string_view properties, std::string_view body);

// A well-formed message or batch, as views into the frames.
struct Frame {
  std::string_view channel;
  std::string_view publisher;  // 8 bytes: the id, as sent
  std::uint64_t first = 0;     // the (first) message's sequence number
  std::uint64_t count = 1;     // messages it carries, at least 1
  bool batch = false;
  std::string_view properties;  // version 1: the message's properties
  std::string_view payload;     // version 1: the body; version 2: the entries
  std::uint64_t last() const { return first + (count - 1); }
};

// Checks the three frames: nullopt unless they are exactly a version-1
// message or a version-2 batch whose entries add up to the payload and
// whose numbers stay below 2^64. Properties are not decoded here.
std::optional<Frame> parse(std::string_view topic, std::string_view header, std::string_view payload);

// Calls f(properties, body) for each message of a parsed frame, in order,
// until f returns false.
template <class F>
void for_each(const Frame& frame, F&& f) {
  if (!frame.batch) {
    f(frame.properties, frame.payload);
    return;
  }
  const char* data = frame.payload.data();
  for (std::size_t pos = 0; pos < frame.payload.size();) {
    auto properties = frame.payload.substr(pos + 4, read_le<4>(data + pos));
    pos += 4 + properties.size();
    auto body = frame.payload.substr(pos + 4, read_le<4>(data + pos));
    pos += 4 + body.size();
    if (!f(properties, body)) return;
  }
}

}  // namespace warren::detail::pubsub_wire
