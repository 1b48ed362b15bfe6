// Connection: one client connection to a warren broker (a ZeroMQ DEALER).
//
// Thread rules: a Connection and its Channels belong to one thread, which
// drives callbacks with run(), run_for() or process_events(). stop() is safe
// from any thread and from a signal handler. A background thread sends
// heartbeats while the owning thread is busy in user code (a slow message
// handler never gets the connection declared dead); it touches the socket
// only under the connection's lock and only while the owner is outside the
// library.
//
// RAII: destroying a Connection closes it (connection.close, waiting briefly
// for the broker's answer). Channels that outlive it become unusable.
//
// Recovery: when the broker is lost (3 missed heartbeats, shutdown, restart)
// calls throw ConnectionLost. With automatic_recovery, the next call, or
// run()/process_events() at once, reconnects with backoff, re-opens the
// channels, re-declares the queues this connection declared, re-applies qos
// and re-starts consumers under their old tags. Delivery tags keep growing
// across a recovery; acks for tags from before it are ignored (the broker
// already requeued those messages).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "warren/channel.hpp"
#include "warren/curve.hpp"
#include "warren/field_value.hpp"

namespace zmq {
class context_t;
}

namespace warren {

namespace detail {
class ConnectionCore;
}

struct ConnectionOptions {
  // Heartbeat interval proposed to the broker; the smaller non-zero of the two
  // proposals is used. A peer silent for 3 intervals is dead. 0 disables.
  std::chrono::milliseconds heartbeat{3000};
  // How long to wait for the broker to answer connection.open.
  std::chrono::milliseconds connect_timeout{10000};
  // How long a synchronous method (declare, delete, ...) waits for its reply.
  std::chrono::milliseconds rpc_timeout{30000};
  // How long the destructor / close() waits for connection.close_ok.
  std::chrono::milliseconds close_timeout{1000};
  std::uint64_t max_message_size = 0;  // 0: accept the broker's limit
  std::uint16_t max_channels = 0;      // 0: accept the broker's limit
  FieldTable client_properties{};
  zmq::context_t* context = nullptr;   // nullptr: warren::default_context()
  // CURVE (docs/security.md): the broker's public key and this client's key
  // pair; CurveClientOptions::from_files loads warren-keygen's files. Empty:
  // plaintext. A broker that refuses the key (not accepted, rejected, wrong
  // server key, or CURVE on one side only) makes the constructor throw
  // ConnectionError 403 ACCESS_REFUSED as soon as the handshake fails.
  CurveClientOptions curve{};
  // Reconnect by itself when the broker is lost, re-open channels and
  // re-declare queues, qos and consumers, retrying with exponential backoff
  // from recovery_interval up to max_recovery_interval.
  bool automatic_recovery = false;
  std::chrono::milliseconds recovery_interval{100};
  std::chrono::milliseconds max_recovery_interval{5000};
  // Publishes coming faster than 8 per this time (an average over the last
  // few) form a burst and go to the broker in batches of up to 64 (one
  // ZeroMQ message each: many times cheaper); the last of a burst waits at
  // most this long. A publish after a pause, or in a slower stream, goes at
  // once. 0: every publish is sent on its own.
  std::chrono::microseconds publish_linger{200};
};

class Connection {
 public:
  // Connects and performs the handshake. Throws ConnectionError when the
  // broker refuses or does not answer within connect_timeout.
  explicit Connection(const std::string& endpoint, ConnectionOptions options = {});
  ~Connection();
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens a new channel (channel.open).
  Channel channel();

  // Waits up to `timeout` for incoming commands and dispatches every one that
  // is available to its consumer callback. Returns the number dispatched.
  // Throws ConnectionError once the connection is closed or dead.
  std::size_t process_events(std::chrono::milliseconds timeout);
  // Dispatches until stop() is called; then returns (and clears the request).
  void run();
  // Dispatches for `duration`, or until stop().
  void run_for(std::chrono::milliseconds duration);
  // Makes run()/run_for()/process_events() return soon. Async-signal-safe.
  void stop() noexcept;
  // Runs `task` on the connection's thread, from within run() /
  // process_events(), as soon as it gets there. Safe from any thread: the way
  // other threads hand work (a publish, say) to the connection.
  void post(std::function<void()> task);

  // Closes the connection (connection.close). Idempotent.
  void close();
  bool is_open() const;

  // How many times automatic recovery has reconnected.
  std::uint64_t recovery_count() const;

  // The broker has blocked publishers (connection.blocked: its memory limit
  // is reached). Meanwhile basic_publish waits, reading and heartbeating,
  // until the broker unblocks, and throws TimeoutError after rpc_timeout.
  // Returns the broker's reason, or nullopt when not blocked.
  std::optional<std::string> blocked() const;

  // Values negotiated with the broker.
  std::chrono::milliseconds heartbeat() const;
  std::uint64_t max_message_size() const;
  std::uint16_t max_channels() const;
  const FieldTable& server_properties() const;

 private:
  std::shared_ptr<detail::ConnectionCore> core_;
};

}  // namespace warren
