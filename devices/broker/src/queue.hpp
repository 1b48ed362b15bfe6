// Queue: a named FIFO of messages with its consumers. Messages keep a
// per-queue sequence number so requeued messages return to their original
// place, ahead of everything published after them.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "warren/field_value.hpp"

namespace warren::detail {

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

struct QueueEntry {
  std::shared_ptr<StoredMessage> message;
  std::uint64_t seq = 0;
  bool redelivered = false;
};

struct QueueFlags {
  bool durable = false;
  bool exclusive = false;
  bool auto_delete = false;
  FieldTable arguments{};
};

class Queue {
 public:
  Queue(std::string name, QueueFlags flags, Session* owner)
      : name_(std::move(name)), flags_(std::move(flags)), owner_(owner) {}

  const std::string& name() const { return name_; }
  const QueueFlags& flags() const { return flags_; }
  Session* owner() const { return owner_; }  // non-null for exclusive queues
  bool deleted() const { return deleted_; }
  void mark_deleted() { deleted_ = true; }

  // Durable and not exclusive: its definition and persistent messages are
  // kept in the data directory.
  bool kept_on_disk() const { return flags_.durable && !flags_.exclusive; }

  std::size_t ready_count() const { return ready_.size(); }
  const std::deque<QueueEntry>& ready() const { return ready_; }
  bool empty() const { return ready_.empty(); }
  void push(std::shared_ptr<StoredMessage> message, bool redelivered = false) {
    ready_.push_back(QueueEntry{std::move(message), next_seq_++, redelivered});
  }
  QueueEntry pop() {
    QueueEntry e = std::move(ready_.front());
    ready_.pop_front();
    return e;
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

 private:
  std::string name_;
  QueueFlags flags_;
  Session* owner_;
  bool deleted_ = false;
  std::deque<QueueEntry> ready_;
  std::uint64_t next_seq_ = 0;
  std::vector<Consumer*> consumers_;
  std::size_t cursor_ = 0;
  bool had_consumer_ = false;
};

}  // namespace warren::detail
