// Fuzz target: a whole broker fed command sequences. An in-process
// BrokerCore on an inproc endpoint is driven one loop turn at a time (no
// broker thread, no sleeps), with three raw DEALER peers: "alpha", "beta",
// and a third that also calls itself "alpha" (a duplicate identity).
//
// Input: a first byte choosing the broker's limits (bit 0: tight limits,
// bit 1: a tiny memory limit), then steps. Each step is a control byte
//   bits 0-1: the peer (3 is peer 0 again)
//   bits 2-3: how many frames follow (0-3)
//   bit  4:   reconnect the peer first (close its socket, connect a new one
//             with the same identity); at most 32 times per input
//   bit  5:   run no broker turn after this step (commands pile up)
// and its frames, each a little-endian u16 length and that many bytes. After
// each step the broker runs a turn and the peers' inboxes are drained; every
// frame the broker sends must decode (it only sends what it can encode).
// Crashes, sanitizer reports and leaks are bugs; the broker never hangs,
// since every turn polls with a zero timeout.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "broker_core.hpp"
#include "warren/protocol.hpp"

namespace {

using namespace warren;

zmq::context_t& context() {
  static zmq::context_t* ctx = new zmq::context_t(1);  // lives as long as the process
  return *ctx;
}

constexpr std::size_t kMaxReconnects = 32;  // per input
constexpr std::array<std::string_view, 3> kIdentities = {"alpha", "beta", "alpha"};

zmq::socket_t connect_peer(const std::string& endpoint, std::string_view identity) {
  zmq::socket_t s(context(), zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::routing_id, zmq::buffer(identity.data(), identity.size()));
  s.connect(endpoint);
  return s;
}

// WARREN_FUZZ_TRACE set: each command the peers get is printed (to see what
// an input does when replaying it).
const bool kTrace = std::getenv("WARREN_FUZZ_TRACE") != nullptr;

void drain(zmq::socket_t& s, std::size_t peer) {
  zmq::message_t part;
  bool first = true;
  while (s.recv(part, zmq::recv_flags::dontwait)) {
    if (first) {
      try {
        // A peer that announced the capability may get a batch: each
        // command in it must decode.
        static std::vector<std::string_view> commands;
        if (!protocol::split_batch(part.to_string_view(), commands)) commands = {part.to_string_view()};
        for (auto c : commands) {
          auto cmd = protocol::decode(c);
          if (kTrace)
            std::fprintf(stderr, "peer %zu <- %s on channel %u\n", peer,
                         std::string(protocol::name_of(protocol::opcode_of(cmd.method))).c_str(), cmd.channel);
        }
      } catch (const ProtocolError& e) {
        std::fprintf(stderr, "fuzz_broker: the broker sent a frame that does not decode: %s\n", e.what());
        std::abort();
      }
    }
    first = !part.more();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static std::atomic<std::uint64_t> serial{0};
  BrokerOptions options;
  options.endpoint = "inproc://fuzz-broker-" + std::to_string(serial++);
  options.context = &context();
  options.log_level = LogLevel::kOff;
  options.heartbeat = std::chrono::milliseconds(0);
  if (data[0] & 1) {
    options.max_message_size = 512;
    options.max_channels = 4;
    options.max_connections = 2;
    options.max_queues = 6;
    options.max_consumers_per_channel = 2;
    options.max_unacked_per_channel = 3;
  }
  if (data[0] & 2) options.memory_limit = 2048;
  auto core = std::make_unique<detail::BrokerCore>(options);
  std::array<zmq::socket_t, 3> peers;
  for (std::size_t i = 0; i < peers.size(); ++i) peers[i] = connect_peer(core->endpoint(), kIdentities[i]);

  std::size_t i = 1, reconnects = 0;
  while (i < size) {
    std::uint8_t control = data[i++];
    auto& peer = peers[(control & 3) % 3];
    std::size_t frames = (control >> 2) & 3;
    // Bounded: closed sockets are reaped by ZeroMQ in the background, and an
    // input of a thousand reconnects would exhaust sockets and descriptors.
    if ((control & 0x10) && reconnects++ < kMaxReconnects) {
      peer.close();
      peer = connect_peer(core->endpoint(), kIdentities[(control & 3) % 3]);
    }
    for (std::size_t f = 0; f < frames; ++f) {
      std::size_t length = 0;
      if (i + 2 <= size) length = data[i] | static_cast<std::size_t>(data[i + 1]) << 8;
      i = std::min(i + 2, size);
      length = std::min(length, size - i);
      zmq::message_t frame(data + i, length);
      i += length;
      // Never blocks: a peer at its high-water mark drops the rest.
      (void)peer.send(frame, f + 1 < frames ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                             : zmq::send_flags::dontwait);
    }
    if (!(control & 0x20)) (void)core->turn(std::chrono::milliseconds(0));
    for (std::size_t p = 0; p < peers.size(); ++p) drain(peers[p], p);
  }
  (void)core->turn(std::chrono::milliseconds(0));
  core->shutdown();
  for (std::size_t p = 0; p < peers.size(); ++p) drain(peers[p], p);
  for (auto& p : peers) p.close();
  core.reset();
  return 0;
}
