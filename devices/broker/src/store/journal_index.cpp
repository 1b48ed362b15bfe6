#include "journal_index.hpp"

#include <algorithm>

namespace warren::detail::store {

namespace {

// Vacuum settled entries once they outnumber the live ones (and are many):
// amortized O(1) per settle, memory within twice the live set.
constexpr std::uint64_t kMinTombstonesToVacuum = 1024;

}  // namespace

LiveIndex::Entry* LiveIndex::find(std::uint64_t id) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), id,
                             [](const Entry& e, std::uint64_t v) { return e.id < v; });
  if (it == entries_.end() || it->id != id || it->queues.empty()) return nullptr;
  return &*it;
}

std::optional<std::uint32_t> LiveIndex::lookup(std::string_view name) const {
  auto it = ids_.find(name);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::uint32_t LiveIndex::intern(std::string_view name) {
  if (auto id = lookup(name)) {
    ++refs_[*id];
    return *id;
  }
  std::uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
    names_[id] = std::string(name);
  } else {
    id = static_cast<std::uint32_t>(names_.size());
    names_.emplace_back(name);
    refs_.push_back(0);
  }
  refs_[id] = 1;
  ids_.emplace(names_[id], id);
  return id;
}

void LiveIndex::release(std::uint32_t queue) {
  if (--refs_[queue] > 0) return;
  ids_.erase(names_[queue]);
  names_[queue] = std::string();
  free_.push_back(queue);
}

std::optional<RecordLocation> LiveIndex::locate(std::uint64_t id) {
  Entry* e = find(id);
  if (!e) return std::nullopt;
  return RecordLocation{e->segment, e->offset, e->bytes};
}

void LiveIndex::add(std::uint64_t id, std::uint64_t segment, std::uint64_t offset, std::uint32_t record_bytes,
                    std::span<const QueueState> queues) {
  // Built in place, field by field: entries are never moved but by
  // vacuum(). (Moving a temporary Entry in made GCC 12 under ThreadSanitizer
  // warn falsely about small_vector's memmove.)
  Entry& e = entries_.emplace_back();
  e.id = id;
  e.segment = segment;
  e.offset = offset;
  e.bytes = record_bytes;
  for (const QueueState& q : queues) {
    std::uint32_t ref = intern(q.queue);
    bool seen = std::any_of(e.queues.begin(), e.queues.end(),
                            [&](const QueueRef& r) { return r.queue == ref; });
    if (seen) {
      release(ref);
      continue;
    }
    e.queues.push_back({ref, q.redelivered});
  }
  if (e.queues.empty()) {
    entries_.pop_back();
    return;
  }
  SegmentUsage& usage = segments_[segment];
  usage.live_bytes += record_bytes;
  ++usage.live_messages;
  ++live_;
}

bool LiveIndex::mark_delivered(std::uint64_t id, std::string_view queue) {
  Entry* e = find(id);
  auto ref = lookup(queue);
  if (!e || !ref) return false;
  for (QueueRef& r : e->queues) {
    if (r.queue != *ref) continue;
    if (r.redelivered) return false;
    r.redelivered = true;
    return true;
  }
  return false;
}

void LiveIndex::erase_ref(Entry& e, QueueRefs::iterator it) {
  release(it->queue);
  e.queues.erase(it);
  if (!e.queues.empty()) return;
  --live_;
  ++tombstones_;
  auto seg = segments_.find(e.segment);
  if (seg != segments_.end()) {
    seg->second.live_bytes -= e.bytes;
    --seg->second.live_messages;
  }
}

bool LiveIndex::settle(std::uint64_t id, std::string_view queue) {
  Entry* e = find(id);
  auto ref = lookup(queue);
  if (!e || !ref) return false;
  auto it = std::find_if(e->queues.begin(), e->queues.end(),
                         [&](const QueueRef& r) { return r.queue == *ref; });
  if (it == e->queues.end()) return false;
  erase_ref(*e, it);
  vacuum();
  return true;
}

bool LiveIndex::drop_queue(std::string_view queue) {
  auto ref = lookup(queue);
  if (!ref) return false;
  // Stop as soon as the last message owed to the queue is found: release()
  // may then hand the name's number to another queue.
  for (auto e = entries_.begin(); e != entries_.end() && refs_[*ref] > 0; ++e) {
    auto it = std::find_if(e->queues.begin(), e->queues.end(),
                           [&](const QueueRef& r) { return r.queue == *ref; });
    if (it != e->queues.end()) erase_ref(*e, it);
  }
  vacuum();
  return true;
}

void LiveIndex::vacuum() {
  while (!entries_.empty() && entries_.front().queues.empty()) {
    entries_.pop_front();
    --tombstones_;
  }
  if (tombstones_ < kMinTombstonesToVacuum || tombstones_ <= live_) return;
  std::erase_if(entries_, [](const Entry& e) { return e.queues.empty(); });
  tombstones_ = 0;
}

LiveSnapshot LiveIndex::snapshot(std::uint64_t through) const {
  LiveSnapshot s;
  for (const Entry& e : entries_) {
    if (e.segment > through) break;
    if (!e.queues.empty()) s.messages.emplace_back(e.id, e.queues);
  }
  s.names = names_;
  return s;
}

void LiveIndex::apply_compaction(std::uint64_t through, std::uint64_t file_bytes,
                                 std::span<const KeptRecord> kept) {
  SegmentUsage usage{file_bytes, 0, 0};
  auto s = kept.begin();
  for (Entry& e : entries_) {
    if (e.segment > through) break;
    if (e.queues.empty()) continue;
    while (s != kept.end() && s->id < e.id) ++s;
    if (s != kept.end() && s->id == e.id) {
      e.bytes = s->bytes;
      e.offset = s->offset;
    }
    e.segment = through;
    usage.live_bytes += e.bytes;
    ++usage.live_messages;
  }
  segments_.erase(segments_.begin(), segments_.upper_bound(through));
  segments_[through] = usage;
}

}  // namespace warren::detail::store
