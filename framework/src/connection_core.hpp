// ConnectionCore: the state behind a Connection and its Channels. Internal.
//
// Locking: mu_ guards the socket and all state. The owning thread holds it
// while inside the library and releases it around user callbacks; the
// heartbeat thread only try-locks it, so it acts exactly when the owner is
// outside the library (busy in user code).
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "warren/channel.hpp"
#include "warren/connection.hpp"
#include "warren/protocol.hpp"
#include "burst.hpp"

namespace warren::detail {

using Clock = std::chrono::steady_clock;

// steady_clock's time, read from the coarse clock (a few ms behind, a
// fraction of the cost): enough for heartbeat bookkeeping on every frame.
inline Clock::time_point coarse_now() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

// One received command with its properties and body, as it came off the wire.
struct Incoming {
  std::uint16_t channel = 0;
  protocol::Method method;
  std::string properties;
  // The body frame, or the frame (a header frame or a batch) that holds the
  // body inline at body_offset, body_size bytes (kept whole: no copy).
  zmq::message_t body;
  std::size_t body_offset = 0;
  std::size_t body_size = std::string_view::npos;
  std::uint64_t first_seq = 0;  // a confirm (basic.ack / nack): it covers first_seq..delivery_tag

  std::string_view body_view() const { return body.to_string_view().substr(body_offset, body_size); }
};

struct CloseReason {
  ReplyCode code;
  std::string text;
};

struct ConsumerEntry {
  std::shared_ptr<ConsumerCallback> callback;
  std::shared_ptr<CancelCallback> on_cancel;
  protocol::BasicConsume spec;  // to re-consume after a recovery
};

struct ChannelState {
  std::optional<CloseReason> closed;     // set once the channel is closed
  std::optional<Incoming> reply;          // the reply to the outstanding sync method
  std::map<std::string, ConsumerEntry, std::less<>> consumers;
  std::optional<protocol::BasicQos> qos, global_qos;  // re-applied after a recovery
  std::shared_ptr<ReturnCallback> on_return;
  // Delivery tags seen by the user are the broker's plus tag_offset, which
  // grows at each recovery so tags never repeat on a channel.
  std::uint64_t tag_offset = 0;
  std::uint64_t max_tag = 0;
  // Publisher confirms. Sequence numbers seen by the user run on across
  // recoveries: the broker's number plus seq_offset. The broker confirms in
  // order, so everything up to `confirmed` is settled and the rest is not.
  bool confirm = false;
  std::uint64_t published = 0;   // the last sequence number handed out
  std::uint64_t confirmed = 0;
  std::uint64_t seq_offset = 0;
  std::uint64_t nacked = 0;      // nacks since wait_for_confirms last looked
  std::shared_ptr<ConfirmCallback> on_confirm;
};

// A declaration or binding this connection made, replayed after a recovery.
struct Recorded {
  std::uint16_t channel;
  protocol::Method method;  // QueueDeclare, ExchangeDeclare, QueueBind or ExchangeBind
};

class ConnectionCore {
 public:
  ConnectionCore(const std::string& endpoint, ConnectionOptions options);
  ~ConnectionCore();
  ConnectionCore(const ConnectionCore&) = delete;
  ConnectionCore& operator=(const ConnectionCore&) = delete;

  std::uint16_t open_channel();
  // Closes the channel if open; then forgets it. Never throws.
  void release_channel(std::uint16_t ch) noexcept;
  void close_channel(std::uint16_t ch);
  bool channel_open(std::uint16_t ch);

  // Sends a synchronous method and waits for `expected` (or `alternative`).
  Incoming call(std::uint16_t ch, const protocol::Method& request, protocol::Opcode expected,
                std::optional<protocol::Opcode> alternative = std::nullopt);
  // Publisher confirms (Channel::confirm_select and friends).
  void confirm_select(std::uint16_t ch);
  std::uint64_t publish(std::uint16_t ch, const protocol::BasicPublish& method, std::string_view properties,
                        std::string_view body);
  bool wait_for_confirms(std::uint16_t ch, std::size_t below, Clock::time_point deadline);
  std::uint64_t unconfirmed(std::uint16_t ch);
  void set_confirm_callback(std::uint16_t ch, ConfirmCallback callback);
  // basic.ack / nack / reject with a user-visible delivery tag.
  void settle(std::uint16_t ch, protocol::Method method);

  void add_consumer(std::uint16_t ch, protocol::BasicConsume spec, ConsumerCallback callback,
                    CancelCallback on_cancel);
  void remove_consumer(std::uint16_t ch, std::string_view tag);
  // Topology to replay after a recovery: declarations and bindings in the
  // order made; deletes and unbinds take theirs (and what hung on them) out.
  void record(std::uint16_t ch, protocol::Method declaration_or_binding);
  void forget(const protocol::Method& binding);
  void forget_queue(std::string_view name);
  void forget_exchange(std::string_view name);
  void set_return_callback(std::uint16_t ch, ReturnCallback callback);
  void record_qos(std::uint16_t ch, const protocol::BasicQos& qos);

  // Runs until `deadline`, until stop() (returns true, consuming the request),
  // or, when `once`, until at least one callback ran.
  bool pump_events(Clock::time_point deadline, bool once, std::size_t* dispatched);
  void request_stop() noexcept;
  void post(std::function<void()> task);

  void close() noexcept;
  bool is_open();
  std::uint64_t recovery_count();
  std::optional<std::string> blocked();

  std::chrono::milliseconds heartbeat() const { return heartbeat_; }
  std::uint64_t max_message_size() const { return max_message_size_; }
  std::uint16_t max_channels() const { return max_channels_; }
  const FieldTable& server_properties() const { return server_properties_; }

 private:
  using Lock = std::unique_lock<std::mutex>;

  void connect_socket();
  // Watches the new socket's handshake (ZeroMQ's socket monitor), so a CURVE
  // refusal fails the connection at once instead of at connect_timeout.
  void start_handshake_monitor();
  void stop_handshake_monitor() noexcept;
  void read_handshake_events_locked();
  void handshake_locked(Clock::time_point deadline);
  Incoming call_locked(std::uint16_t ch, const protocol::Method& request, protocol::Opcode expected,
                       std::optional<protocol::Opcode> alternative = std::nullopt);
  void send_locked(std::uint16_t ch, const protocol::Method& method, std::string_view properties = {},
                   const std::string_view* body = nullptr);
  // Sends one command's frames; when the pipe is full, reads and waits.
  // Throws (and fails the connection) on a socket error.
  void transmit_locked(zmq::message_t& header, zmq::message_t* content);
  // Sends the batched publishes. `wait`: as transmit_locked; otherwise gives
  // up (false) when the pipe is full, and never throws.
  bool flush_publishes_locked(bool wait);
  // Polls and reads until done() or `deadline`; sends heartbeats as they fall
  // due and declares the broker lost after 3 silent intervals.
  void wait_locked(Clock::time_point deadline, const std::function<bool()>& done);
  // Reads what has arrived, at most kReadBatch commands: pending deliveries
  // stay few (memory, latency) and are dispatched between batches.
  void read_available_locked();
  // One command: `frame` is `holder`'s bytes, or one command's within them
  // (a batch); an inline body is kept by taking `holder` over.
  void handle_locked(zmq::message_t& holder, std::string_view frame, zmq::message_t* body, std::size_t frames);
  // Settles this channel's publishes up to `seq` (user numbering).
  void confirmed_locked(std::uint16_t ch, ChannelState& st, std::uint64_t seq, bool nack);
  // Marks the connection closed. `lost`: the broker went away rather than
  // refusing us, so automatic recovery may bring it back.
  void fail_locked(ReplyCode code, std::string text, bool tell_broker, bool lost = false);
  [[noreturn]] void throw_closed_locked();
  void throw_if_closed_locked();
  // Recovers if the connection is lost and recovery is due; throws if closed.
  void ensure_open_locked();
  bool recoverable_locked() const;
  bool recover_once_locked(Clock::time_point deadline);
  void recover_until_locked(Clock::time_point deadline);
  ChannelState& usable_channel_locked(std::uint16_t ch);
  std::size_t dispatch_pending();
  std::size_t run_posted();
  void heartbeat_loop(std::stop_token stop);
  void drain_wakeup() noexcept;

  std::string endpoint_;
  ConnectionOptions options_;
  std::mutex mu_;
  zmq::socket_t socket_;
  zmq::socket_t monitor_;  // open only while a handshake is in progress
  int wakeup_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::mutex posted_mu_;  // guards posted_ only; never held with mu_
  std::deque<std::function<void()>> posted_;
  std::atomic<bool> has_posted_{false};

  std::chrono::milliseconds heartbeat_{0};
  std::uint64_t max_message_size_ = 0;
  std::uint16_t max_channels_ = 0;
  FieldTable server_properties_;
  Clock::time_point last_send_;
  Clock::time_point last_recv_;

  std::optional<CloseReason> closed_;
  std::optional<std::string> blocked_;  // connection.blocked's reason, until unblocked
  std::uint64_t publishes_ = 0;
  bool lost_ = false;
  bool closed_by_app_ = false;
  bool close_ok_received_ = false;
  std::unordered_map<std::uint16_t, ChannelState> channels_;
  // In the order made; indexed by the encoded method, so recording a
  // declaration or binding again is O(1) (a service may declare per message).
  std::list<Recorded> topology_;
  std::unordered_map<std::string, std::list<Recorded>::iterator> topology_index_;
  template <class Pred>
  void erase_topology_if(Pred pred);
  std::deque<Incoming> pending_;  // deliveries and cancels awaiting dispatch
  std::string encode_buffer_;
  std::vector<std::string_view> batch_commands_;  // scratch for read_available_locked
  // Publishes in a burst, batched (docs/protocol.md, "Batches") when the
  // broker announced it takes batches.
  static constexpr std::uint32_t kPublishBatchCommands = 64;
  static constexpr std::size_t kPublishBatchBytes = 16 * 1024;
  // Only small messages: at 1 KiB a batching publisher outran the broker
  // and its consumer and the whole run was slower (docs/performance.md).
  static constexpr std::size_t kPublishBatchMaxBody = 512;
  bool broker_batches_ = false;
  protocol::BatchWriter batch_;
  Burst burst_;  // whether a publish is part of a burst (burst.hpp)
  // The heartbeat thread sends a batch the owner left: batch_pending_ wakes
  // it; it then stays awake (flusher_awake_), looking every publish_linger,
  // until no batch began for kFlusherIdle. Both change only under mu_.
  std::atomic<bool> batch_pending_{false};
  std::atomic<bool> flusher_awake_{false};
  Clock::time_point last_batch_{};
  static constexpr auto kFlusherIdle = std::chrono::milliseconds(20);

  std::chrono::milliseconds backoff_{0};
  Clock::time_point next_recovery_;
  std::uint64_t recoveries_ = 0;

  std::condition_variable_any heartbeat_cv_;
  std::mutex heartbeat_mu_;
  std::jthread heartbeat_thread_;
};

}  // namespace warren::detail
