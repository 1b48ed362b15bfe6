// Forwarder: the classic ZeroMQ devices as an embeddable engine.
//
//   kForwarder  XSUB frontend -> XPUB backend: the pub/sub fast path.
//               Publishers connect to the frontend, subscribers to the
//               backend; subscriptions travel the other way.
//   kStreamer   PULL frontend -> PUSH backend: a pipeline stage.
//   kQueue      ROUTER frontend <-> DEALER backend: load-balanced
//               request/reply (clients connect to the frontend, workers to
//               the backend).
//
// The constructor binds both sockets, so bind errors throw there and the
// endpoints (with the real port for tcp://127.0.0.1:*) are known at once.
// start() runs the device on its own thread, run() on the caller's.
//
// Thread rules: pause(), resume(), stop() and stats() are safe from any
// thread; stop() also from a signal handler. Destroying a started device
// stops it and joins its thread.
//
// Counting: messages_in/bytes_in are what the frontend received,
// messages_out/bytes_out what the backend accepted; a multipart message
// counts once and its bytes are the sum of its frames. Traffic the other
// way (subscriptions for kForwarder, replies for kQueue) is counted in
// upstream_messages. `dropped` counts only what the device itself is told
// it could not send: replies for a kQueue client that has gone
// (ROUTER_MANDATORY). An XPUB backend drops silently for a subscriber whose
// pipe is at its high-water mark (ZMQ_XPUB_NODROP off; turning it on would
// make one slow subscriber stall or drop for all), so a forwarder's
// per-subscriber losses are not visible here; warren::Subscriber counts them
// from per-channel sequence numbers (Subscriber::stats().lost). kStreamer
// and kQueue never drop on the data path: they stop reading the frontend
// while the backend cannot take a message.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "warren/curve.hpp"

namespace zmq {
class context_t;
}

namespace warren {

enum class DeviceKind { kForwarder, kStreamer, kQueue };

// "forwarder", "streamer", "queue".
const char* device_kind_name(DeviceKind kind);

struct ForwarderOptions {
  DeviceKind device = DeviceKind::kForwarder;
  // Where publishers (kForwarder), pushers (kStreamer) or clients (kQueue)
  // connect. Loopback with a free port by default.
  std::string frontend = "tcp://127.0.0.1:*";
  // Where subscribers, pullers or workers connect.
  std::string backend = "tcp://127.0.0.1:*";
  // ZeroMQ high-water marks, messages per peer (ZeroMQ's default is 1000).
  int rcvhwm = 1000;  // frontend
  int sndhwm = 1000;  // backend
  // nullptr: warren::default_context(). A device with heavy traffic is
  // faster with a context of its own (its own I/O thread).
  zmq::context_t* context = nullptr;
  // CURVE on both endpoints (docs/security.md), with one ZAP policy: only
  // publishers and subscribers whose public key is in curve.keys_dir's
  // accepted/ get through; unknown keys are recorded in pending/. Empty
  // secret key: plaintext.
  CurveServerOptions curve{};
};

// Counters the device keeps; read with Forwarder::stats() from any thread.
struct ForwarderStats {
  std::uint64_t messages_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t messages_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t dropped = 0;
  std::uint64_t upstream_messages = 0;
};

namespace detail {
class ForwarderCore;
}

class Forwarder {
 public:
  // Binds both sockets. Throws warren::Error (506 RESOURCE_ERROR) naming the
  // endpoint when a bind fails; CurveServer's errors for bad CURVE options.
  explicit Forwarder(ForwarderOptions options = {});
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // The bound endpoints, with the port chosen for a '*' port.
  const std::string& frontend_endpoint() const;
  const std::string& backend_endpoint() const;
  DeviceKind device() const;

  void start();  // runs the device on a new thread
  void run();    // runs the device on this thread until stop()
  // Stops moving messages until resume(); they wait in ZeroMQ's queues (up
  // to the high-water marks).
  void pause() noexcept;
  void resume() noexcept;
  // Makes run() return / the thread end soon. Async-signal-safe. A stopped
  // device cannot be started again; its sockets close when it is destroyed.
  void stop() noexcept;
  // Waits for a device started with start() to finish.
  void join();

  ForwarderStats stats() const;

 private:
  std::unique_ptr<detail::ForwarderCore> core_;
  std::thread thread_;
};

}  // namespace warren
