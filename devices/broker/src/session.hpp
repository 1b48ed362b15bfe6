// Session: the broker's view of one client connection and its channels.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "queue.hpp"

namespace warren::detail {

using Clock = std::chrono::steady_clock;

struct Consumer {
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

struct ChannelSession {
  std::uint16_t number = 0;
  bool closing = false;  // sent channel.close, awaiting close_ok
  std::uint64_t next_delivery_tag = 1;
  std::map<std::uint64_t, Unacked> unacked;
  std::uint16_t prefetch_count = 0;   // for consumers started from now on
  std::uint16_t global_prefetch = 0;  // shared by the channel's consumers
  std::map<std::string, std::shared_ptr<Consumer>, std::less<>> consumers;
  // Direct reply-to: the consumer of the pseudo queue amq.rabbitmq.reply-to
  // and the token that addresses this channel (empty when none).
  std::string reply_consumer_tag;
  std::string reply_token;

  bool may_deliver(const Consumer& c) const {
    if (c.no_ack) return true;
    if (c.prefetch && c.unacked >= c.prefetch) return false;
    return !global_prefetch || unacked.size() < global_prefetch;
  }
};

class Session {
 public:
  Session(std::string identity, std::string peer) : identity_(std::move(identity)), peer_(std::move(peer)) {}

  const std::string& identity() const { return identity_; }
  const std::string& peer() const { return peer_; }

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

 private:
  std::string identity_;
  std::string peer_;
};

}  // namespace warren::detail
