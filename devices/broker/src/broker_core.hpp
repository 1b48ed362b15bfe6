// BrokerCore: the event loop and every piece of broker state. Internal.
// Only the loop thread touches anything here except the atomics.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <zmq.hpp>

#include "dead_letter.hpp"
#include "exchange.hpp"
#include "log.hpp"
#include "queue.hpp"
#include "session.hpp"
#include "store/files.hpp"
#include "store/journal.hpp"
#include "users.hpp"
#include "warren/broker.hpp"
#include "warren/curve.hpp"
#include "warren/errors.hpp"
#include "warren/protocol.hpp"

namespace warren::detail {

// A refusal: thrown by a handler, turned into channel.close or
// connection.close (by reply code) by the command dispatcher.
struct Refusal {
  ReplyCode code;
  std::string text;
};

// Direct reply-to (RabbitMQ's pseudo queue): a channel consumes it without
// acks, its requests carry reply_to = kReplyTo, which the broker rewrites to
// kReplyTo + "." + a token; a publish to that name goes straight back to the
// channel, with no queue in between.
inline constexpr std::string_view kReplyTo = "amq.rabbitmq.reply-to";

struct ReplyRoute {
  Session* session;
  std::uint16_t channel;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
// What became of one basic.publish.
struct PublishOutcome {
  bool routed = false;     // reached at least one queue (or a reply consumer)
  bool journaled = false;  // written to the journal: safe once this turn's commit is durable
  bool refused = false;    // a queue refused it: the publisher gets basic.nack
};

// What publish() needs besides the message.
struct PublishDetails {
  std::optional<std::chrono::milliseconds> message_ttl{};  // from a valid `expiration` property
  // A dead-lettered copy's x-death: queues it would cycle back to are skipped.
  const FieldArray* deaths = nullptr;
};

// A message that died in `queue`, waiting to be republished to its
// dead-letter exchange (flush_dead_letters).
struct DeadLetter {
  std::shared_ptr<StoredMessage> message;
  std::string queue;
  std::string exchange;     // the dead-letter exchange ("" is the default exchange)
  std::string routing_key;  // the dead-letter routing key
  DeathReason reason;
};

// A timer for one queue: its head message's expiry, or its x-expires idle
// deadline. Stale timers (the queue gone, or checked since) are harmless.
struct QueueTimer {
  enum class Kind : std::uint8_t { kMessageExpiry, kIdle };
  Clock::time_point at;
  Kind kind;
  std::weak_ptr<Queue> queue;
  bool operator>(const QueueTimer& other) const { return at > other.at; }
};

// A binding kept in the data directory: both its ends are.
inline bool kept_on_disk(const Exchange& source, const Destination& d) {
  return source.flags().durable && (d.queue ? d.queue->kept_on_disk() : d.exchange->flags().durable);
}

template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

class BrokerCore {
 public:
  explicit BrokerCore(BrokerOptions options);
  ~BrokerCore();

  const std::string& endpoint() const { return endpoint_; }
  void run();
  // One turn of the event loop: timers, then the commands that have arrived
  // (waiting for them at most `max_wait`, or until the next timer when
  // nullopt), then the work they left. False if polling failed. run() is
  // turns until stop(), then shutdown(); the fuzz harness drives turns itself.
  bool turn(std::optional<std::chrono::milliseconds> max_wait);
  // Tells every open connection the broker is going (320), releases their
  // channels and empties the broker. run() ends with it.
  void shutdown();
  void start();
  void join();
  void stop() noexcept;
  BrokerStats stats() const;

  // ---- used by the command handlers (commands.cpp) ----
  const BrokerOptions& options() const { return options_; }
  Log& log() { return log_; }
  void send(Session& s, std::uint16_t channel, const protocol::Method& method,
            std::string_view properties = {}, Content body = {});
  // send() for a Method or a protocol::BasicDeliverView (deliver()).
  template <class M>
  void send_command(Session& s, std::uint16_t channel, const M& method, std::string_view properties,
                    Content body);
  std::shared_ptr<Queue> find_queue(std::string_view name);
  std::shared_ptr<Queue> declare_queue(std::string name, QueueFlags flags, Session* owner);
  void delete_queue(const std::shared_ptr<Queue>& q);
  // Empties the queue's ready messages; returns how many.
  std::size_t purge_queue(Queue& q);
  Exchange* find_exchange(std::string_view name);
  Exchange& declare_exchange(std::string name, ExchangeType type, ExchangeFlags flags);
  void delete_exchange(Exchange& x);
  // Binds and unbinds, keeping the destination's list of sources; an
  // auto_delete source goes with its last binding.
  void bind(Exchange& source, Binding binding);
  void unbind(Exchange& source, const Binding& binding);
  // Routes and enqueues; a persistent message reaching a durable queue goes
  // to the journal too. `exchange` null: the default exchange. Applies the
  // queues' limits: TTLs, x-overflow (a reject-publish queue that is full
  // sets `refused`), drop-head.
  PublishOutcome publish(Exchange* exchange, const std::string& routing_key, std::string_view properties,
                         Content body, const PublishDetails& details = {});
  // Publisher confirms: queues the basic.ack / nack for the channel's latest
  // publish; flush_confirms() sends those that are safe, once per loop turn.
  void confirm(Session& s, ChannelSession& ch, const PublishOutcome& outcome);
  // The journal's view of a message leaving a queue: handed to a consumer
  // that will ack it (redelivered after a restart), or settled (acked,
  // dropped) and owed there no more. No-ops for messages not journaled.
  void delivered_from(Queue& q, const StoredMessage& m);
  void settled_from(Queue& q, const StoredMessage& m);
  // The message leaves `q` without an ack (rejected, expired, overflowed, over
  // its delivery limit): the journal forgets it there and, if `q` has a
  // dead-letter exchange, a copy is republished there once the current
  // command or timer is done (flush_dead_letters). REQUIRES: q is not deleted.
  void discard(Queue& q, QueueEntry entry, DeathReason reason);
  // Discards the expired messages at the head of `q` and schedules the check
  // of the next head.
  void drop_expired(Queue& q);
  // x-expires: `q` was used now (declared, basic.get).
  void queue_used(Queue& q) { q.last_used = now_; }
  // Durable definitions changed: rewrite the definitions file now.
  void definitions_changed();
  // The memory limit (BrokerOptions::memory_limit): publishes are refused
  // while blocked; connections are told connection.blocked / unblocked.
  bool memory_blocked() const { return memory_blocked_; }
  std::string memory_blocked_reason() const;
  void dispatch(Queue& q);
  // Pops the queue's head for a delivery (counted for x-delivery-limit),
  // dropping expired heads first and reading its body back from the journal
  // if it was paged out; a body that cannot be read is logged and its
  // message dropped. nullopt when the queue has run out.
  std::optional<QueueEntry> take_ready(Queue& q);
  // Reads a paged-out body back into `m` (a message of `q`); false, logged,
  // if the journal cannot give it.
  bool page_in(Queue& q, StoredMessage& m);
  // Sends basic.deliver / basic.get_ok bookkeeping: assigns the delivery tag.
  void deliver(Consumer& c, QueueEntry entry);
  std::uint64_t record_unacked(ChannelSession& ch, std::shared_ptr<Queue> q, QueueEntry entry,
                               std::shared_ptr<Consumer> consumer);
  void cancel_consumer(Consumer& c);
  // Releases a channel's consumers and requeues its unacked messages.
  void release_channel(Session& s, ChannelSession& ch);
  void requeue(std::vector<Unacked> items);
  // Direct reply-to: start / stop a channel's reply consumer; deliver a reply.
  std::string open_reply_route(Session& s, ChannelSession& ch, std::string tag);
  void close_reply_route(ChannelSession& ch);
  bool deliver_reply(std::string_view routing_key, std::string_view properties, Content body);
  void close_connection(Session& s, ReplyCode code, const std::string& text);
  void finish_session(Session& s);
  std::string generate_name(std::string_view prefix);
  // management.query (management.cpp): rows describing the broker's state.
  // Throws Refusal(404) for an unknown `what`.
  FieldTable management(std::string_view what);
  // management.command (management.cpp): changes users and permissions.
  // Throws Refusal (404 unknown verb or user, 406 bad arguments).
  FieldTable management_command(std::string_view verb, const FieldTable& arguments);
  // Users and permissions (users.hpp); changed only by management_command.
  const Users& users() const { return users_; }
  void count_delivered() { ++delivered_; }
  std::size_t connections() const { return sessions_.size(); }
  std::size_t queue_count() const { return queues_.size(); }

 private:
  void loop();
  void receive_batch();
  // One command: `frame` is `header`'s bytes or, for a batch, one command's in it.
  void handle(std::string_view identity, zmq::message_t& header, std::string_view frame, zmq::message_t* body,
              std::size_t frames);
  void flush_blocked();
  // Sends the session's batched commands (one frame), or queues them in its
  // outbox if its pipe is full; flush_batches does it for every session.
  void flush_batch(Session& s);
  void flush_batches();
  // Sends one command's frames to the session now, or queues them.
  void send_frames(Session& s, zmq::message_t& header, zmq::message_t* content);
  void sweep_heartbeats(Clock::time_point now);
  void reap();
  bool try_send(Session& s, std::vector<zmq::message_t>& frames);
  void send_to_stranger(std::string_view identity, const protocol::Method& method);
  // A protocol error from `identity`: its connection is closed (or, before
  // connection.open, the peer is told once and nothing is kept).
  void refuse(std::string_view identity, const ProtocolError& e);
  void drain_wakeup() noexcept;
  void flush_confirms();
  void raise_memory_alarm();
  void check_memory();
  void page_out();
  void open_store();
  void seed_users();
  void save_definitions();
  void restore_definitions(const FieldTable& definitions);
  void restore_messages(std::vector<store::RecoveredMessage> recovered);
  void run_timers();
  void schedule_expiry(Queue& q);
  void schedule_idle(Queue& q);
  void expire_if_idle(const std::shared_ptr<Queue>& q);
  Clock::time_point expiry_of(const Queue& q, const std::optional<std::chrono::milliseconds>& message_ttl) const;
  void drop_overflow(Queue& q);
  void flush_dead_letters();
  void republish(DeadLetter& d, std::int64_t time);
  template <class H>
  void route(Exchange& x, std::string_view routing_key, H& headers);
  void forget_source(std::unordered_map<Exchange*, std::size_t>& sources, Exchange* source);
  static std::vector<std::string> source_names(const std::unordered_map<Exchange*, std::size_t>& sources);

  BrokerOptions options_;
  Log log_;
  std::unique_ptr<CurveServer> curve_;  // outlives router_: its ZAP policy
  zmq::socket_t router_;
  std::string endpoint_;
  int wakeup_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::thread thread_;

  // Bytes held by messages (StoredMessage::charge); declared before the
  // containers whose messages uncharge themselves from it when destroyed.
  std::uint64_t message_bytes_ = 0;
  bool memory_blocked_ = false;
  std::uint64_t refused_while_blocked_ = 0;
  std::deque<std::weak_ptr<StoredMessage>> page_candidates_;  // journal order
  bool paging_ = false;  // on above half the memory limit, off at 40 %
  std::uint64_t paged_out_ = 0, paged_in_ = 0;  // since start
  StringMap<std::unique_ptr<Session>> sessions_;
  StringMap<std::shared_ptr<Queue>> queues_;
  StringMap<std::unique_ptr<Exchange>> exchanges_;
  StringMap<ReplyRoute> reply_routes_;
  std::uint64_t route_epoch_ = 0;
  Clock::time_point now_ = Clock::now();  // read once per loop turn
  Clock::time_point next_sweep_ = Clock::now();  // heartbeats, reaping, rates
  Clock::time_point started_at_ = Clock::now();
  // Publish and deliver rates (msg/s), sampled about once a second.
  void sample_rates(Clock::time_point now);
  Clock::time_point rates_at_ = Clock::now();
  std::uint64_t rates_published_ = 0, rates_delivered_ = 0;
  double publish_rate_ = 0, deliver_rate_ = 0;
  std::vector<Queue*> targets_;  // scratch for publish()
  std::priority_queue<QueueTimer, std::vector<QueueTimer>, std::greater<>> timers_;
  std::vector<DeadLetter> dead_letters_;  // republished after each command and timer run
  bool stopping_ = false;  // shutdown(): channels are released, no more deliveries
  std::unordered_set<Session*> blocked_;
  std::vector<Session*> batching_;  // sessions with batched commands
  std::vector<std::string_view> batch_commands_;  // scratch for receive_batch()
  std::string encode_buffer_;
  std::mt19937_64 rng_{std::random_device{}()};
  Users users_;

  // The data directory (docs/journal.md): empty data_dir, none of these.
  std::optional<store::DirectoryLock> lock_;
  std::unique_ptr<store::Journal> journal_;
  bool journal_dirty_ = false;  // appended since the last commit
  bool restoring_ = false;      // replaying definitions: do not rewrite them
  std::uint64_t journal_seen_ = 0;  // durable() when confirms were last flushed
  // Channels with confirms not sent yet.
  std::vector<std::pair<Session*, std::uint16_t>> confirm_channels_;
  std::vector<std::string_view> journal_queues_;  // scratch for publish()

  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> connection_count_{0};
  std::atomic<std::uint64_t> queue_count_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> message_bytes_stat_{0};  // message_bytes_, for stats() from any thread
  std::atomic<bool> blocked_stat_{false};
};

// The command table (commands.cpp): runs the handler for one decoded command.
// `body`: the content method's body (inline in the command's frame, or a
// frame of its own); it lives until execute() returns.
void execute(BrokerCore& broker, Session& session, protocol::Command& command, Content body);

}  // namespace warren::detail
