// Dead-lettering, the pure part: the properties a dead-lettered copy carries
// (RabbitMQ's x-death history) and the rule that stops dead-letter cycles.
// BrokerCore decides when a message dies and republishes the copy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "warren/field_value.hpp"

namespace warren::detail {

enum class DeathReason : std::uint8_t { kRejected, kExpired, kMaxLen, kDeliveryLimit };

// "rejected", "expired", "maxlen", "delivery_limit": the x-death reason text.
std::string_view reason_name(DeathReason reason);

// One death: the message left `queue` for `reason`; it had been published
// to `exchange` with `routing_key`.
struct Death {
  std::string_view queue;
  DeathReason reason = DeathReason::kRejected;
  std::string_view exchange;
  std::string_view routing_key;
  std::int64_t time = 0;  // seconds since the Unix epoch
};

struct DeadLetterCopy {
  std::string properties;  // raw msgpack, for publish()
  FieldArray deaths;       // its x-death header, newest first
};

// The properties of the copy of a message (raw properties `raw`) that died as
// `death` says: `expiration` removed (kept in the new x-death entry as
// original-expiration), x-death updated as RabbitMQ does (an entry for the
// same queue and reason counts up and moves to the front, otherwise a new
// entry goes in front) and x-first-death-* set on the first death.
// Throws ProtocolError if `raw` is not valid properties.
DeadLetterCopy dead_letter_copy(std::string_view raw, const Death& death);

// RabbitMQ's cycle rule: the copy must not reach `queue` if `queue` is in
// `deaths` (newest first) and no entry from the newest through the first
// for `queue` has reason "rejected" (a cycle with no client decision in it
// would never end).
bool is_dead_letter_cycle(const FieldArray& deaths, std::string_view queue);

}  // namespace warren::detail
