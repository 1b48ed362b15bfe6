#include "queue.hpp"

#include <algorithm>

#include "session.hpp"

namespace warren::detail {

void Queue::requeue(std::vector<QueueEntry> entries) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  // ready_ is sorted by seq; merge from the back so each insert is cheap when
  // requeued messages are older than everything ready (the common case).
  auto pos = ready_.begin();
  for (auto& e : entries) {
    e.redelivered = true;
    ready_bytes_ += e.message->body_size;
    pos = std::upper_bound(pos, ready_.end(), e.seq, [](std::uint64_t s, const QueueEntry& q) { return s < q.seq; });
    pos = ready_.insert(pos, std::move(e));
    ++pos;
  }
}

std::size_t Queue::purge() {
  std::size_t n = ready_.size();
  ready_.clear();
  ready_bytes_ = 0;
  return n;
}

void Queue::add_consumer(Consumer* c) {
  consumers_.push_back(c);
  had_consumer_ = true;
}

void Queue::remove_consumer(Consumer* c) {
  auto it = std::find(consumers_.begin(), consumers_.end(), c);
  if (it == consumers_.end()) return;
  auto index = static_cast<std::size_t>(it - consumers_.begin());
  consumers_.erase(it);
  if (cursor_ > index) --cursor_;
  if (cursor_ >= consumers_.size()) cursor_ = 0;
}

bool Queue::has_exclusive_consumer() const {
  return std::any_of(consumers_.begin(), consumers_.end(), [](const Consumer* c) { return c->exclusive; });
}

}  // namespace warren::detail
