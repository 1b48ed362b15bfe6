// QueueLimits: what a queue's x- arguments (RabbitMQ's names) ask of it:
// message TTL, idle expiry, length limits and their overflow behaviour,
// dead-lettering and the delivery limit. docs/protocol.md, "Queue
// arguments", is the contract; this is its parser.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "warren/field_value.hpp"

namespace warren::detail {

// The largest TTL, expiry or expiration accepted, in ms (RabbitMQ's limit,
// about 49.7 days): keeps deadlines far from overflowing the clock.
inline constexpr std::int64_t kMaxExpiryMs = 4294967295;

enum class Overflow : std::uint8_t { kDropHead, kRejectPublish };

struct QueueLimits {
  std::optional<std::chrono::milliseconds> message_ttl;  // x-message-ttl
  std::optional<std::chrono::milliseconds> expires;      // x-expires
  std::optional<std::uint64_t> max_length;               // x-max-length
  std::optional<std::uint64_t> max_length_bytes;         // x-max-length-bytes
  Overflow overflow = Overflow::kDropHead;               // x-overflow
  std::optional<std::string>
      dead_letter_exchange;  // x-dead-letter-exchange ("" is the default exchange)
  std::optional<std::string> dead_letter_routing_key;  // x-dead-letter-routing-key
  std::optional<std::uint64_t> delivery_limit;         // x-delivery-limit

  bool has_length_limit() const { return max_length || max_length_bytes; }
};

// Reads the arguments this broker knows into `limits`, skipping any that are
// invalid, and returns the text of the first invalid one (nullopt when all
// are valid), worded as RabbitMQ words it: "invalid arg 'x-message-ttl' for
// queue 'q' in vhost '/': ...". Unknown arguments are ignored.
std::optional<std::string> parse_queue_limits(const FieldTable& arguments, std::string_view queue,
                                              QueueLimits& limits);

// The per-message `expiration` property: a decimal string of milliseconds,
// 0..kMaxExpiryMs. nullopt if it is anything else.
std::optional<std::chrono::milliseconds> parse_expiration(std::string_view expiration);

// The `expiration` of raw (msgpack) properties, as a TTL. Most messages have
// none, and telling so costs no decoding.
struct Expiration {
  std::optional<std::string> text;               // the property, if set
  std::optional<std::chrono::milliseconds> ttl;  // set if text is valid
  bool valid() const { return !text || ttl; }
};
// Throws ProtocolError if `raw` is not valid properties.
Expiration expiration_of(std::string_view raw_properties);

}  // namespace warren::detail
