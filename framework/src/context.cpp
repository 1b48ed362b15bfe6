#include "warren/context.hpp"

namespace warren {

zmq::context_t& default_context() {
  // Never destroyed: zmq_ctx_term would block at exit on any socket a user
  // leaked, and the OS reclaims everything anyway.
  static auto* context = new zmq::context_t(1);
  return *context;
}

}  // namespace warren
