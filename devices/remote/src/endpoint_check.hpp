// Until the broker speaks CURVE (issue 10), a job or a return on the network
// travels in clear and anyone who reaches the broker may publish jobs. The
// tools therefore talk to a broker on this machine only, unless told
// otherwise (allow-remote).
#pragma once

#include <string_view>

namespace warren::remote {

// True for ipc://, inproc:// and tcp:// to 127.0.0.0/8, ::1 or localhost.
inline bool is_local_endpoint(std::string_view endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  auto host = endpoint.substr(6);
  return host.rfind("127.", 0) == 0 || host.rfind("localhost:", 0) == 0 || host.rfind("[::1]:", 0) == 0;
}

}  // namespace warren::remote
