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

// A published message: immutable after routing, shared by every queue it
// reached. The body is the publisher's frame; consumers get reference-counted
// copies of it.
struct StoredMessage {
  StoredMessage() = default;
  StoredMessage(const StoredMessage&) = delete;
  StoredMessage& operator=(const StoredMessage&) = delete;
  ~StoredMessage() {
    if (account) *account -= charged;
  }
  // Counts this message's bytes in *account (the broker's total) until it
  // is destroyed. Call once, when the message is complete; recharge() after
  // its body is paged out or in.
  void charge(std::uint64_t* total) {
    account = total;
    recharge();
  }
  void recharge() {
    static constexpr std::uint64_t kOverhead = 160;  // this struct, its shared_ptr block, a queue entry
    *account -= charged;
    charged = exchange.size() + routing_key.size() + properties.size() + body.size() + kOverhead;
    *account += charged;
  }
  std::uint64_t* account = nullptr;
  std::uint64_t charged = 0;

  std::string exchange;
  std::string routing_key;
  std::string properties;  // raw msgpack map, forwarded verbatim
  zmq::message_t body;            // empty while paged
  std::uint64_t body_size = 0;    // the body's size, paged or not
  std::uint64_t journal_id = 0;  // 0: not in the journal (transient, or no durable queue)
  // Paging: the body was dropped from memory; the journal has it (journal_id).
  // Only for messages every queue of which is kept on disk (pageable): the
  // journal keeps a record only while a durable queue still owes it.
  bool paged = false;
  bool pageable = false;
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
    ready_bytes_ += message->body_size;
    ready_.push_back(QueueEntry{std::move(message), next_seq_++, redelivered, 0, expires});
  }
  QueueEntry pop() {
    QueueEntry e = std::move(ready_.front());
    ready_.pop_front();
    ready_bytes_ -= e.message->body_size;
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
