// Session: the broker's view of one client connection and its channels.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "queue.hpp"
#include "warren/protocol.hpp"

namespace warren::detail {

struct Consumer : std::enable_shared_from_this<Consumer> {
  std::string tag;
  std::shared_ptr<Queue> queue;
  Session* session = nullptr;
  ChannelSession* channel = nullptr;
  bool no_ack = false;
  bool exclusive = false;
  bool active = true;         // false once cancelled
  std::uint32_t prefetch = 0; // 0: unlimited
  std::uint32_t unacked = 0;
};

// A delivery awaiting basic.ack / nack / reject.
struct Unacked {
  std::shared_ptr<Queue> queue;
  QueueEntry entry;
  std::shared_ptr<Consumer> consumer;  // null for basic.get
};

// A channel's deliveries awaiting settlement, in delivery-tag order. Tags
// only grow, so this is a deque with tombstones for out-of-order acks: a
// delivery or an in-order ack is O(1), any ack at most O(log n).
class UnackedList {
 public:
  void push(std::uint64_t tag, Unacked u) {
    slots_.push_back(Slot{tag, true, std::move(u)});
    ++live_;
  }
  std::size_t size() const { return live_; }
  // Calls f(const Unacked&) for each delivery still awaiting settlement.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& slot : slots_)
      if (slot.live) f(slot.unacked);
  }
  bool contains(std::uint64_t tag) const { return find(tag) != slots_.end(); }
  // Calls f(Unacked&&) for the delivery `tag` (and, with `through`, every
  // earlier one) and drops them. REQUIRES: contains(tag), unless through && tag == 0 (all).
  template <class F>
  void take(std::uint64_t tag, bool through, F&& f) {
    if (through) {
      for (auto& slot : slots_) {
        if (tag != 0 && slot.tag > tag) break;
        settle(slot, f);
      }
    } else {
      settle(*find(tag), f);
    }
    while (!slots_.empty() && !slots_.front().live) slots_.pop_front();
  }

 private:
  struct Slot {
    std::uint64_t tag;
    bool live;
    Unacked unacked;
  };
  template <class F>
  void settle(Slot& slot, F& f) {
    if (!slot.live) return;
    slot.live = false;
    --live_;
    f(std::move(slot.unacked));
    slot.unacked = Unacked{};
  }
  std::deque<Slot>::iterator find(std::uint64_t tag) {
    // Acks mostly come in delivery order: the oldest first.
    if (!slots_.empty() && slots_.front().tag == tag) return slots_.front().live ? slots_.begin() : slots_.end();
    auto it = std::lower_bound(slots_.begin(), slots_.end(), tag,
                               [](const Slot& s, std::uint64_t t) { return s.tag < t; });
    return it != slots_.end() && it->tag == tag && it->live ? it : slots_.end();
  }
  std::deque<Slot>::const_iterator find(std::uint64_t tag) const {
    return const_cast<UnackedList*>(this)->find(tag);
  }

  std::deque<Slot> slots_;
  std::size_t live_ = 0;
};

// A publish awaiting its basic.ack / basic.nack. `ticket`: 0 when it can be
// confirmed now; kUncommitted until the loop turn's journal commit; then the
// journal commit ticket that must be durable first.
struct PendingConfirm {
  static constexpr std::uint64_t kUncommitted = UINT64_MAX;
  std::uint64_t seq = 0;
  std::uint64_t ticket = 0;
  bool nack = false;
};

struct ChannelSession {
  std::uint16_t number = 0;
  bool closing = false;  // sent channel.close, awaiting close_ok
  std::uint64_t next_delivery_tag = 1;
  UnackedList unacked;
  std::uint16_t prefetch_count = 0;   // for consumers started from now on
  std::uint16_t global_prefetch = 0;  // shared by the channel's consumers
  std::uint32_t max_unacked = 0;      // the broker's cap (max_unacked_per_channel), 0: none
  std::map<std::string, std::shared_ptr<Consumer>, std::less<>> consumers;
  // Direct reply-to: the consumer of the pseudo queue amq.rabbitmq.reply-to
  // and the token that addresses this channel (empty when none).
  std::string reply_consumer_tag;
  std::string reply_token;
  // Publisher confirms (confirm.select): the sequence number of the last
  // publish, and the confirms not sent yet, in sequence order.
  bool confirm = false;
  std::uint64_t publish_seq = 0;
  std::deque<PendingConfirm> confirms;
  std::size_t uncommitted = 0;  // confirms with ticket kUncommitted (all from this loop turn)
  // The last exchange basic.publish was allowed to write to, and the
  // Users::epoch() of that decision (0: none): repeated publishes to one
  // exchange skip the regular expression.
  std::uint64_t write_epoch = 0;
  std::string write_exchange;

  bool may_deliver(const Consumer& c) const {
    if (c.no_ack) return true;
    if (c.prefetch && c.unacked >= c.prefetch) return false;
    if (max_unacked && unacked.size() >= max_unacked) return false;
    return !global_prefetch || unacked.size() < global_prefetch;
  }
};

class Session {
 public:
  Session(std::string identity, std::string peer, std::string user)
      : identity_(std::move(identity)), peer_(std::move(peer)), user_(std::move(user)) {}

  const std::string& identity() const { return identity_; }
  const std::string& peer() const { return peer_; }
  // Who the connection acts as: the ZAP handler's User-Id, else "guest".
  const std::string& user() const { return user_; }

  std::chrono::milliseconds heartbeat{0};
  std::uint16_t max_channels = 0;
  Clock::time_point opened_at = Clock::now();
  Clock::time_point last_recv = Clock::now();
  Clock::time_point last_send = Clock::now();
  bool opened = false;   // connection.open done
  bool closing = false;  // sent connection.close, awaiting close_ok
  Clock::time_point closing_since;
  bool dead = false;     // to be removed at the end of this loop turn
  std::map<std::uint16_t, ChannelSession> channels;
  // Frames that could not be sent because the peer's pipe was full, in order.
  std::deque<std::vector<zmq::message_t>> outbox;
  bool blocked() const { return !outbox.empty(); }
  // A peer that announced the "batch" capability gets what the broker sends
  // it during a loop turn as one frame (docs/protocol.md, "Batches"):
  // `batch` holds it until BrokerCore::flush_batch.
  bool batching = false;
  protocol::BatchWriter batch;

 private:
  std::string identity_;
  std::string peer_;
  std::string user_;
};

}  // namespace warren::detail
