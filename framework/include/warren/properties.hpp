// Properties: the 14 AMQP basic properties that travel with every message.
// An unset property is std::nullopt and is absent on the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "warren/field_value.hpp"

namespace warren {

inline constexpr std::uint8_t kTransient = 1;   // delivery_mode
inline constexpr std::uint8_t kPersistent = 2;  // delivery_mode

struct Properties {
  std::optional<std::string> content_type;
  std::optional<std::string> content_encoding;
  std::optional<FieldTable> headers;
  std::optional<std::uint8_t> delivery_mode;
  std::optional<std::uint8_t> priority;
  std::optional<std::string> correlation_id;
  std::optional<std::string> reply_to;
  std::optional<std::string> expiration;
  std::optional<std::string> message_id;
  std::optional<std::int64_t> timestamp;  // seconds since the Unix epoch
  std::optional<std::string> type;
  std::optional<std::string> user_id;
  std::optional<std::string> app_id;
  std::optional<std::string> cluster_id;

  bool operator==(const Properties&) const = default;
};

}  // namespace warren
