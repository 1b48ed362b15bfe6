// Broker: the warren broker engine ("device"), embeddable in any process.
//
// One ROUTER socket and a single-threaded event loop (the Redis model): a
// command table maps each opcode to one handler; no locks in the routing
// core. The constructor binds, so bind errors throw there and endpoint() is
// known at once; start() runs the loop on its own thread, run() on the
// caller's. stop() is safe from any thread and from a signal handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace zmq {
class context_t;
}

namespace warren {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };
// kText: "2026-11-25T10:00:00.000Z INFO subject: details"; kJson: one JSON
// object per line, {"time", "level", "subject", "details"}.
enum class LogFormat { kText, kJson };

struct BrokerOptions {
  // Where clients connect: tcp://, ipc:// or inproc://. tcp port * picks a
  // free port (see Broker::endpoint()). The default binds loopback only.
  std::string endpoint = "tcp://127.0.0.1:5673";
  // The broker's heartbeat proposal; the smaller non-zero of the broker's and
  // the client's is used. A peer silent for 3 intervals is dead.
  std::chrono::milliseconds heartbeat{3000};
  std::uint64_t max_message_size = 16 * 1024 * 1024;  // bodies above: 406
  std::uint16_t max_channels = 2047;                   // per connection
  std::uint32_t max_connections = 0;  // more: connection.open refused, 530 NOT_ALLOWED; 0: no limit
  std::uint32_t max_queues = 0;       // more: queue.declare refused, 406; 0: no limit
  std::uint32_t max_consumers_per_channel = 0;  // more: basic.consume refused, 530 NOT_ALLOWED; 0: no limit
  // A channel never holds more unacked deliveries than this: its consumers
  // wait (as at a prefetch limit) and basic.get is refused (406). 0: no limit.
  std::uint32_t max_unacked_per_channel = 0;
  // Where durable exchanges, queues and bindings and persistent messages
  // are kept (docs/journal.md); created if missing, and locked: a second
  // broker on the same directory is refused. Empty: nowhere, so durable
  // things last only as long as the process. warrend sets a default.
  std::string data_dir{};
  // 0 (the default): a publisher confirm waits until the message is
  // fdatasynced. N > 0: it waits only until the message is written (it then
  // survives the broker process crashing) and fdatasync runs every N ms, so
  // a power loss can lose the last N ms of confirmed messages.
  std::chrono::milliseconds sync_interval{0};
  // Bytes of messages the broker may hold (bodies, properties, keys and a
  // fixed per-message overhead, counted once however many queues share a
  // message). At the limit publishes are refused (basic.nack in confirm
  // mode) and every connection is told connection.blocked; consumers keep
  // draining, and below 90 % connection.unblocked follows. 0: no limit.
  std::uint64_t memory_limit = 0;
  // CURVE (docs/security.md). A secret key (Z85, 40 characters; warrend
  // reads it from warren-keygen's NAME.key) makes the endpoint a CURVE
  // server: only clients whose public key is in keys_dir/accepted/ are
  // admitted, as the user named by the file; an unknown key is recorded in
  // keys_dir/pending/. keys_dir is required with a secret key and created
  // if missing. Empty secret key: plaintext, every client is "guest".
  std::string curve_secret_key{};
  std::string keys_dir{};
  // Users and permissions (docs/security.md). Seeded from this file at
  // every start (users.hpp has the format), on top of the users kept in the
  // data directory; the file wins for what it names. A bad file: the
  // constructor throws. Empty: none. With no users defined at all, every
  // connection may do everything.
  std::string users_file{};
  // The user "guest" (a connection no ZAP handler named) may connect only
  // from loopback (127.0.0.0/8, ::1, ipc, inproc), as in RabbitMQ; true lets
  // it connect from anywhere.
  bool allow_remote_guest = false;
  // ZMQ_ZAP_DOMAIN of the broker's socket. Set, libzmq asks the ZAP handler
  // bound on the broker's context (inproc://zeromq.zap.01) about every
  // connection, NULL-mechanism ones included; the User-Id it answers is the
  // connection's user. Empty: NULL connections are not sent to ZAP. Ignored with a
  // curve_secret_key (the CURVE server's own ZAP domain applies).
  std::string zap_domain{};
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  // Receives each formatted log line (no newline). Default: stderr.
  std::function<void(std::string_view)> log_sink{};
  zmq::context_t* context = nullptr;  // nullptr: warren::default_context()
};

// Counters the broker keeps; read with Broker::stats() from any thread.
struct BrokerStats {
  std::uint64_t connections = 0;  // open now
  std::uint64_t queues = 0;
  std::uint64_t published = 0;  // since start
  std::uint64_t delivered = 0;  // since start (deliver + get_ok)
  std::uint64_t message_bytes = 0;  // held by messages now (see memory_limit)
  bool blocked = false;             // memory limit reached: publishes refused
  std::uint64_t refused = 0;        // publishes refused since start
};

namespace detail {
class BrokerCore;
}

class Broker {
 public:
  // Binds the endpoint. Throws std::runtime_error when it cannot.
  explicit Broker(BrokerOptions options = {});
  // Stops the loop (if running) and joins its thread.
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // The bound endpoint, with the real port for tcp://host:*.
  const std::string& endpoint() const;

  void start();  // runs the loop on a new thread
  void run();    // runs the loop on this thread until stop()
  // Asks the loop to tell clients it is closing (320) and return. Async-signal-safe.
  void stop() noexcept;
  // Waits for a loop started with start() to finish.
  void join();

  BrokerStats stats() const;

 private:
  std::unique_ptr<detail::BrokerCore> core_;
};

}  // namespace warren
