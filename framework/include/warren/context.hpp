// The ZeroMQ context warren uses when an options struct names none. A broker
// and clients in one process share it by default, so inproc:// endpoints work
// between them without extra setup.
#pragma once

#include <zmq.hpp>

namespace warren {

zmq::context_t& default_context();

}  // namespace warren
