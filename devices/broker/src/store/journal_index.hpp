// LiveIndex: the journal's in-memory bookkeeping, one small entry per live
// message (id, segment, record size, the queues it is still owed to and
// whether each has seen it) and per-segment space accounting. No bodies.
//
// It decides which records are needed (an ack for a queue that no longer
// holds the message writes nothing) and what reclamation may do: which
// segments hold no live message, and what a compaction must keep.
//
// Threading: owned by the journal's loop thread; not thread-safe.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "journal_format.hpp"

namespace warren::detail::store {

struct QueueRef {
  std::uint32_t queue;  // an interned queue name
  bool redelivered;
};
using QueueRefs = boost::container::small_vector<QueueRef, 1>;

// What a compaction keeps: the live messages of the segments it rewrites,
// with their remaining queues, as of the commit that started it.
struct LiveSnapshot {
  std::vector<std::pair<std::uint64_t, QueueRefs>> messages;  // by id
  std::vector<std::string> names;                             // QueueRef::queue -> name
};

// Where a live message's PUBLISH record is: segment file, byte offset, size.
struct RecordLocation {
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;
  std::uint32_t bytes = 0;
};

// A record a compaction wrote: the message, where and how big.
struct KeptRecord {
  std::uint64_t id = 0;
  std::uint64_t offset = 0;
  std::uint32_t bytes = 0;
  bool operator<(const KeptRecord& other) const { return id < other.id; }
};

struct SegmentUsage {
  std::uint64_t bytes = 0;       // file size, header included
  std::uint64_t live_bytes = 0;  // PUBLISH records of live messages
  std::uint64_t live_messages = 0;
};

class LiveIndex {
 public:
  // Adds a message. REQUIRES: id greater than every id added before;
  // queues non-empty and distinct.
  void add(std::uint64_t id, std::uint64_t segment, std::uint64_t offset, std::uint32_t record_bytes,
           std::span<const QueueState> queues);
  // Where the PUBLISH record of live message `id` is; nullopt if not live.
  std::optional<RecordLocation> locate(std::uint64_t id);
  // Marks the message redelivered for `queue`; true if that changed anything.
  bool mark_delivered(std::uint64_t id, std::string_view queue);
  // Removes `queue` from the message; true if the message was owed to it.
  bool settle(std::uint64_t id, std::string_view queue);
  // Removes `queue` from every message; true if any message was owed to it.
  bool drop_queue(std::string_view queue);

  std::uint64_t live_messages() const { return live_; }

  // Space accounting by segment number. The journal adds segments and bytes
  // as it appends and erases segments as they are deleted.
  std::map<std::uint64_t, SegmentUsage>& segments() { return segments_; }
  const std::map<std::uint64_t, SegmentUsage>& segments() const { return segments_; }

  // The live messages of segments <= through.
  LiveSnapshot snapshot(std::uint64_t through) const;
  // A compaction rewrote segments <= through into segment `through` of
  // `file_bytes`; `kept` (by id) gives each kept message's new record.
  void apply_compaction(std::uint64_t through, std::uint64_t file_bytes, std::span<const KeptRecord> kept);

 private:
  struct Entry {
    std::uint64_t id;
    std::uint64_t segment;
    std::uint64_t offset;
    std::uint32_t bytes;
    QueueRefs queues;  // empty: settled (a tombstone until vacuumed)
  };

  Entry* find(std::uint64_t id);
  std::uint32_t intern(std::string_view name);
  std::optional<std::uint32_t> lookup(std::string_view name) const;
  void release(std::uint32_t queue);
  // Removes queue refs `it` of entry `e`; accounts for the message if settled.
  void erase_ref(Entry& e, QueueRefs::iterator it);
  void vacuum();

  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::deque<Entry> entries_;  // by id; settled entries linger until vacuum()
  std::uint64_t live_ = 0;
  std::uint64_t tombstones_ = 0;
  std::map<std::uint64_t, SegmentUsage> segments_;

  // Interned queue names with a count of the live messages owed to each, so
  // a deleted queue's name is forgotten with its last message.
  std::unordered_map<std::string, std::uint32_t, NameHash, std::equal_to<>> ids_;
  std::vector<std::string> names_;
  std::vector<std::uint64_t> refs_;
  std::vector<std::uint32_t> free_;
};

}  // namespace warren::detail::store
