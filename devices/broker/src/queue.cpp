#include "queue.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>

#include "session.hpp"
#include "warren/protocol.hpp"

namespace warren::detail {

namespace {

// An allocator that gives allocate_shared's one block `bytes` more at its
// end, and says where they begin: StoredMessage keeps its strings and body
// there. (The copy kept in the shared_ptr's block only frees it; `where`
// is not used after make().)
struct Trailing {
  std::size_t bytes;
  char* at = nullptr;
};

template <class T>
struct TrailingAllocator {
  using value_type = T;
  Trailing* where;

  explicit TrailingAllocator(Trailing* w) : where(w) {}
  template <class U>
  TrailingAllocator(const TrailingAllocator<U>& other) : where(other.where) {}

  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    constexpr std::size_t kAlign = alignof(std::max_align_t);
    const std::size_t head = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    auto* p = static_cast<char*>(::operator new(head + where->bytes));
    where->at = p + head;
    return reinterpret_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(const TrailingAllocator<U>&) const {
    return true;
  }
};

// A body of this size or less, of a message that is never paged, lives in
// the message's own allocation.
bool inline_body(const StoredMessage::Parts& parts) {
  return !parts.pageable && parts.body.bytes.size() <= protocol::kInlineBodyMax;
}

}  // namespace

std::shared_ptr<StoredMessage> StoredMessage::make(const Parts& parts) {
  Trailing trailing{parts.exchange.size() + parts.routing_key.size() + parts.properties.size()};
  if (inline_body(parts)) trailing.bytes += parts.body.bytes.size();
  else trailing.bytes += sizeof(zmq::message_t);
  return std::allocate_shared<StoredMessage>(TrailingAllocator<StoredMessage>(&trailing), Key{}, parts,
                                             trailing.at);
}

StoredMessage::StoredMessage(Key, const Parts& parts, char* const& trailing)
    : journal_id_(parts.journal_id),
      body_size_(parts.body.bytes.size()),
      data_(trailing),
      exchange_size_(parts.exchange.size()),
      routing_key_size_(parts.routing_key.size()),
      properties_size_(parts.properties.size()),
      pageable_(parts.pageable) {
  const bool inline_ = inline_body(parts);
  if (!inline_) {
    // A frame of the body's own: the publisher's, shared, when ZeroMQ gave
    // it a buffer of its own; else a copy. ZeroMQ receives smaller frames
    // into one 8 KiB buffer per read (ZMQ_IN_BATCH_SIZE) and hands them out
    // as slices of it, and a slice keeps the whole buffer alive: a 100-byte
    // body waiting in a queue would hold 8 KiB (seen under bench/load.sh).
    frame_ = new (trailing) zmq::message_t();
    data_ = trailing + sizeof(zmq::message_t);
    constexpr std::size_t kZmqReadBatch = 8192;
    static_assert(protocol::kInlineBodyMax >= kZmqReadBatch);
    if (parts.body.frame && parts.body.bytes.size() > protocol::kInlineBodyMax) frame_->copy(*parts.body.frame);
    else *frame_ = zmq::message_t(parts.body.bytes.data(), parts.body.bytes.size());
  }
  char* p = data_;
  auto put = [&p](std::string_view s) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put(parts.exchange);
  put(parts.routing_key);
  put(parts.properties);
  if (inline_) put(parts.body.bytes);
}

StoredMessage::~StoredMessage() {
  if (account_) *account_ -= charged_;
  if (frame_) frame_->~message_t();
}

std::string_view StoredMessage::body() const {
  if (paged_) return {};
  if (frame_) return frame_->to_string_view();
  return {data_ + exchange_size_ + routing_key_size_ + properties_size_, body_size_};
}

void StoredMessage::page_out() {
  *frame_ = zmq::message_t();
  paged_ = true;
  recharge();
}

void StoredMessage::page_in(std::string_view body) {
  *frame_ = zmq::message_t(body.data(), body.size());
  paged_ = false;
  recharge();
}

void StoredMessage::restore_paged(std::uint64_t body_size) {
  body_size_ = body_size;
  page_out();
}

void StoredMessage::charge(std::uint64_t* account) {
  account_ = account;
  recharge();
}

void StoredMessage::recharge() {
  // Besides the bytes: this header in its shared_ptr block, the body's
  // frame if it has one, a queue entry.
  static constexpr std::uint64_t kOverhead = sizeof(StoredMessage) + 32 + sizeof(QueueEntry);
  if (!account_) return;
  *account_ -= charged_;
  charged_ = exchange_size_ + routing_key_size_ + properties_size_ + (paged_ ? 0 : body_size_) + kOverhead +
             (frame_ ? sizeof(zmq::message_t) : 0);
  *account_ += charged_;
}

void Queue::requeue(std::vector<QueueEntry> entries) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  // ready_ is sorted by seq; merge from the back so each insert is cheap when
  // requeued messages are older than everything ready (the common case).
  auto pos = ready_.begin();
  for (auto& e : entries) {
    e.redelivered = true;
    ready_bytes_ += e.message->body_size();
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
