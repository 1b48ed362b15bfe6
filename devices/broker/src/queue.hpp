// Queue: a named FIFO of messages with its consumers. Messages keep a
// per-queue sequence number so requeued messages return to their original
// place, ahead of everything published after them. The queue knows its
// limits (queue_limits.hpp) and keeps the counts they are checked against;
// BrokerCore enforces them.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "queue_limits.hpp"
#include "warren/field_value.hpp"

namespace warren::detail {

using Clock = std::chrono::steady_clock;
inline constexpr Clock::time_point kNever = Clock::time_point::max();

class Exchange;
class Session;
struct ChannelSession;
struct Consumer;

// A message body on its way through the broker: its bytes and, when they
// are a ZeroMQ frame's own, that frame, which a large body shares instead of
// being copied.
struct Content {
  std::string_view bytes;
  zmq::message_t* frame = nullptr;
};

// A published message: immutable after routing (but for paging), shared by
// every queue it reached and every delivery of it awaiting its ack.
//
// One allocation holds the shared_ptr's block, this header, the exchange,
// routing key and properties, and a body of up to protocol::kInlineBodyMax
// bytes: such a body is copied into the outgoing frame at every delivery
// anyway. A fresh 100-byte message so costs one allocation of ~200 bytes
// (it was three of ~400: each is memory a publisher's flood touches for the
// first time, docs/performance.md). A larger body stays in the publisher's
// ZeroMQ frame, which deliveries share; so does a body that may be paged out.
class StoredMessage {
  struct Key {};  // make() is the way to build one

 public:
  struct Parts {
    std::string_view exchange;
    std::string_view routing_key;
    std::string_view properties;  // raw msgpack map, forwarded verbatim
    Content body;
    std::uint64_t journal_id = 0;  // 0: not in the journal (transient, or no durable queue)
    // Every queue it reached keeps it on disk, so the journal keeps it until
    // they are done with it and its body may leave memory (page_out).
    bool pageable = false;
  };
  static std::shared_ptr<StoredMessage> make(const Parts& parts);

  // `trailing`: where make()'s allocation has room for the strings and body
  // (a reference: the room is allocated after make() names it).
  StoredMessage(Key, const Parts& parts, char* const& trailing);
  StoredMessage(const StoredMessage&) = delete;
  StoredMessage& operator=(const StoredMessage&) = delete;
  ~StoredMessage();

  std::string_view exchange() const { return {data_, exchange_size_}; }
  std::string_view routing_key() const { return {data_ + exchange_size_, routing_key_size_}; }
  std::string_view properties() const { return {data_ + exchange_size_ + routing_key_size_, properties_size_}; }
  std::string_view body() const;   // empty while paged
  Content content() { return {body(), frame_}; }
  std::uint64_t body_size() const { return body_size_; }  // paged or not
  std::uint64_t journal_id() const { return journal_id_; }
  bool pageable() const { return pageable_; }

  // Paging: the body leaves memory while the journal (journal_id) has it,
  // and comes back from there. Pageable messages only.
  bool paged() const { return paged_; }
  void page_out();
  void page_in(std::string_view body);
  // A message recovered from the journal without its body.
  void restore_paged(std::uint64_t body_size);

  // Counts this message's bytes in *account (the broker's total) until it
  // is destroyed. Call once, when the message is made.
  void charge(std::uint64_t* account);

 private:
  void recharge();

  std::uint64_t* account_ = nullptr;
  std::uint64_t charged_ = 0;
  std::uint64_t journal_id_;
  std::uint64_t body_size_;
  char* data_;                         // exchange, routing key, properties, inline body
  zmq::message_t* frame_ = nullptr;    // the body, when not inline (in the same allocation)
  std::size_t exchange_size_;
  std::size_t routing_key_size_;
  std::size_t properties_size_;
  bool pageable_;
  bool paged_ = false;
};

// A message's place in one queue. The expiry is per queue (queues have
// their own TTLs), fixed when the message is enqueued and kept on requeue.
struct QueueEntry {
  std::shared_ptr<StoredMessage> message;
  std::uint64_t seq = 0;
  bool redelivered = false;
  std::uint32_t deliveries = 0;     // handed to a consumer or basic.get this many times
  Clock::time_point expires = kNever;
};

struct QueueFlags {
  bool durable = false;
  bool exclusive = false;
  bool auto_delete = false;
  FieldTable arguments{};
};

class Queue : public std::enable_shared_from_this<Queue> {
 public:
  // Arguments the broker knows but finds invalid are ignored here: the
  // command handlers refuse them before a queue is made.
  Queue(std::string name, QueueFlags flags, Session* owner)
      : name_(std::move(name)), flags_(std::move(flags)), owner_(owner) {
    parse_queue_limits(flags_.arguments, name_, limits_);
  }

  const std::string& name() const { return name_; }
  const QueueFlags& flags() const { return flags_; }
  const QueueLimits& limits() const { return limits_; }
  Session* owner() const { return owner_; }  // non-null for exclusive queues
  bool deleted() const { return deleted_; }
  void mark_deleted() { deleted_ = true; }

  // Durable and not exclusive: its definition and persistent messages are
  // kept in the data directory.
  bool kept_on_disk() const { return flags_.durable && !flags_.exclusive; }

  std::size_t ready_count() const { return ready_.size(); }
  std::uint64_t ready_bytes() const { return ready_bytes_; }  // body bytes of the ready messages
  const std::deque<QueueEntry>& ready() const { return ready_; }
  bool empty() const { return ready_.empty(); }
  const QueueEntry& front() const { return ready_.front(); }
  void push(std::shared_ptr<StoredMessage> message, Clock::time_point expires, bool redelivered = false) {
    ready_bytes_ += message->body_size();
    ready_.push_back(QueueEntry{std::move(message), next_seq_++, redelivered, 0, expires});
  }
  QueueEntry pop() {
    QueueEntry e = std::move(ready_.front());
    ready_.pop_front();
    ready_bytes_ -= e.message->body_size();
    return e;
  }
  // Over x-max-length or x-max-length-bytes, counting ready messages only
  // (as RabbitMQ does), with `extra_bytes` more in one more message if
  // `extra` is true.
  bool over_limit(bool extra = false, std::uint64_t extra_bytes = 0) const {
    return (limits_.max_length && ready_.size() + extra > *limits_.max_length) ||
           (limits_.max_length_bytes && ready_bytes_ + extra_bytes > *limits_.max_length_bytes);
  }
  // Puts messages back in sequence order, marked redelivered.
  void requeue(std::vector<QueueEntry> entries);
  std::size_t purge();

  const std::vector<Consumer*>& consumers() const { return consumers_; }
  void add_consumer(Consumer* c);
  void remove_consumer(Consumer* c);
  bool has_exclusive_consumer() const;
  // True once a consumer has come and the last has gone (auto_delete).
  bool abandoned() const { return had_consumer_ && consumers_.empty(); }
  // The consumer to try first in round-robin order; advance after delivering.
  std::size_t& cursor() { return cursor_; }

  // Messages in and out since the queue was declared, and the rates the
  // broker samples from them about once a second (msg/s).
  std::uint64_t published = 0, delivered = 0;
  std::uint64_t sampled_published = 0, sampled_delivered = 0;
  double publish_rate = 0, deliver_rate = 0;

  // Exchanges with bindings to this queue, and how many bindings each.
  std::unordered_map<Exchange*, std::size_t> sources;
  // The publish that last reached this queue: one copy per publish, however
  // many routes lead here.
  std::uint64_t route_mark = 0;
  // x-expires: when the queue was last used (declared, consumed from by
  // basic.get, left by its last consumer).
  Clock::time_point last_used = Clock::now();
  // BrokerCore's timers for this queue: the earliest pending one of each
  // kind (kNever: none), so a check is scheduled only when it is earlier.
  Clock::time_point expiry_check = kNever;
  Clock::time_point idle_check = kNever;

 private:
  std::string name_;
  QueueFlags flags_;
  QueueLimits limits_;
  Session* owner_;
  bool deleted_ = false;
  std::deque<QueueEntry> ready_;
  std::uint64_t ready_bytes_ = 0;
  std::uint64_t next_seq_ = 0;
  std::vector<Consumer*> consumers_;
  std::size_t cursor_ = 0;
  bool had_consumer_ = false;
};

}  // namespace warren::detail
