// Message: what a consumer receives (basic.deliver) or basic_get returns.
#pragma once

#include <cstdint>
#include <string>

#include "warren/properties.hpp"

namespace warren {

struct Message {
  std::string exchange;
  std::string routing_key;
  Properties properties;
  std::string body;
  std::uint64_t delivery_tag = 0;  // pass to basic_ack / basic_nack / basic_reject
  bool redelivered = false;
  std::string consumer_tag;        // empty for basic_get
  std::uint32_t message_count = 0; // basic_get only: messages left in the queue
};

}  // namespace warren
