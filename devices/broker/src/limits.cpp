// Queue limits in the broker (the arguments are parsed in queue_limits.cpp):
// message expiry checked at the head of a queue, on delivery and from a
// timer; idle queues expiring; drop-head overflow; and dead-lettering, which
// republishes through publish() so bindings, alternate exchanges and the
// journal apply to the copy as to any message. docs/protocol.md, "Queue
// arguments", is the contract.
#include <chrono>

#include "broker_core.hpp"

namespace warren::detail {

Clock::time_point BrokerCore::expiry_of(
    const Queue& q, const std::optional<std::chrono::milliseconds>& message_ttl) const {
  auto expires = kNever;
  if (q.limits().message_ttl) expires = now_ + *q.limits().message_ttl;
  if (message_ttl) expires = std::min(expires, now_ + *message_ttl);
  return expires;
}

void BrokerCore::discard(Queue& q, QueueEntry entry, DeathReason reason) {
  const auto& limits = q.limits();
  // The copy needs the body: read it back while the journal still owes it here.
  bool copy = limits.dead_letter_exchange && page_in(q, *entry.message);
  settled_from(q, *entry.message);
  if (!copy) return;
  std::string routing_key = limits.dead_letter_routing_key.value_or(std::string(entry.message->routing_key()));
  dead_letters_.push_back(DeadLetter{std::move(entry.message), q.name(),
                                     *limits.dead_letter_exchange, std::move(routing_key), reason});
}

// A message whose expiry is this turn's time is still deliverable in this
// turn: so a TTL of 0 means "to a consumer ready now, or not at all".
void BrokerCore::drop_expired(Queue& q) {
  while (!q.empty() && q.front().expires < now_) discard(q, q.pop(), DeathReason::kExpired);
  schedule_expiry(q);
}

void BrokerCore::drop_overflow(Queue& q) {
  while (q.over_limit()) discard(q, q.pop(), DeathReason::kMaxLen);
}

// Only the head is watched (RabbitMQ does the same): a message behind it
// with a shorter per-message TTL waits for it, but is never delivered once
// expired, since every delivery checks the head first.
void BrokerCore::schedule_expiry(Queue& q) {
  if (q.empty() || q.front().expires == kNever) return;
  auto at = q.front().expires + Clock::duration(1);  // the first time drop_expired sees it expired
  if (at >= q.expiry_check) return;                  // an earlier check is pending: it reschedules
  q.expiry_check = at;
  timers_.push(QueueTimer{at, QueueTimer::Kind::kMessageExpiry, q.weak_from_this()});
}

void BrokerCore::schedule_idle(Queue& q) {
  if (!q.limits().expires || q.idle_check != kNever) return;
  q.idle_check = q.last_used + *q.limits().expires;
  timers_.push(QueueTimer{q.idle_check, QueueTimer::Kind::kIdle, q.weak_from_this()});
}

void BrokerCore::expire_if_idle(const std::shared_ptr<Queue>& q) {
  if (!q->consumers().empty()) return;  // its last consumer leaving schedules the next check
  if (q->last_used + *q->limits().expires > now_) {
    schedule_idle(*q);
    return;
  }
  log_.write(LogLevel::kDebug, "queue expired", q->name());
  delete_queue(q);
}

void BrokerCore::run_timers() {
  while (!timers_.empty() && timers_.top().at <= now_) {
    QueueTimer t = timers_.top();
    timers_.pop();
    auto q = t.queue.lock();
    if (!q || q->deleted()) continue;
    if (t.kind == QueueTimer::Kind::kMessageExpiry) {
      if (q->expiry_check == t.at) q->expiry_check = kNever;
      drop_expired(*q);
    } else {
      if (q->idle_check == t.at) q->idle_check = kNever;
      expire_if_idle(q);
    }
  }
}

// Republishing may overflow other queues and kill more messages: each round
// handles those, until none are left. That ends: a copy that dies without a
// client's rejection never re-enters a queue it died in (is_dead_letter_cycle).
void BrokerCore::flush_dead_letters() {
  while (!dead_letters_.empty()) {
    auto batch = std::move(dead_letters_);
    dead_letters_.clear();
    auto time = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    for (auto& d : batch) republish(d, time);
  }
}

void BrokerCore::republish(DeadLetter& d, std::int64_t time) {
  Exchange* x = nullptr;
  if (!d.exchange.empty() && !(x = find_exchange(d.exchange)))
    return;  // no such exchange: dropped, as in RabbitMQ
  StoredMessage& m = *d.message;
  DeadLetterCopy copy;
  try {
    copy =
        dead_letter_copy(m.properties(), Death{d.queue, d.reason, m.exchange(), m.routing_key(), time});
  } catch (const ProtocolError& e) {  // cannot happen: publish() took only valid properties
    log_.write(LogLevel::kError, "dead letter dropped", e.text());
    return;
  }
  publish(x, d.routing_key, copy.properties, m.content(), PublishDetails{.deaths = &copy.deaths});
}

}  // namespace warren::detail
