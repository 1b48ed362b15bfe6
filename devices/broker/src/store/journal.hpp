// Journal: the broker's durable message store, a segmented append-only log
// of what happened to persistent messages (published to which queues,
// delivered, settled, queue dropped). docs/journal.md specifies the format.
//
// What it promises:
// - Recovery (the constructor) yields every message still owed to at least
//   one queue, in publish order, with its redelivered flag per queue: exactly
//   the state the durable records describe. A torn or corrupt tail is cut off
//   and reported through `log`, never fatal.
// - Group commit: records go to an in-memory buffer; commit() hands them to
//   the sync thread, which writes and fdatasyncs everything committed while
//   it was busy with one fsync. The loop thread never waits for the disk.
//   durable() >= commit()'s ticket means those records are on disk.
// - Space comes back on its own: segments whose messages are all settled are
//   removed, oldest first; when the sealed segments are mostly settled but the
//   oldest is pinned by a live message, they are compacted in the background.
//   Neither ever resurrects a settled message or loses a live one, whatever
//   point a crash interrupts them at.
// - Memory holds a small entry per live message (id, segment, queues,
//   flags), never bodies.
// - Message ids increase across restarts.
// - An I/O error never crashes the broker and never fakes durability:
//   durable() stops advancing, the error is logged and then failed() turns true.
//
// REQUIRES: one Journal per directory (hold a DirectoryLock on the data
// directory); queue names in one publish() are distinct.
//
// Threading: construct, destroy and call everything from one thread (the
// broker's loop thread), except durable(), failed(), error() and notify_fd(),
// which any thread may call. `log` is called from the constructor's thread
// and from the journal's own threads, so it must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "files.hpp"
#include "journal_index.hpp"

namespace warren::detail::store {

class JournalWriter;
class Reclaimer;
struct Chunk;
struct ReclaimJob;

struct JournalOptions {
  std::filesystem::path dir{};  // dir/journal/ holds the segments; created if missing
  // A segment is sealed, and a new one started, once it has grown past this.
  std::uint64_t segment_bytes = 64 << 20;
  // 0: a commit is durable once fdatasynced (the default). N > 0: it counts as
  // durable once written (it survives a crash of the process) and fdatasync
  // runs at most every N ms, so a power loss can lose the last N ms.
  std::chrono::milliseconds sync_interval{0};
  // Sealed segments are compacted once their live bytes fall below this
  // fraction of their size (and at least segment_bytes would be freed). 0: never.
  double compact_below = 0.5;
  // Recovery reports, compactions and errors, one line per call.
  std::function<void(std::string_view)> log{};
  // Recovery loads message bodies into memory up to this many bytes (the
  // oldest first, as replay meets them); the rest come back `paged`, to be
  // read with read_body() when needed.
  std::uint64_t recovery_body_budget = UINT64_MAX;
};

// A message still owed to at least one queue.
struct RecoveredMessage {
  std::uint64_t id = 0;
  std::string exchange, routing_key, properties;  // properties: opaque bytes
  std::string body;                                   // empty when paged
  std::vector<std::pair<std::string, bool>> queues;  // queue name, redelivered
  bool paged = false;  // body not loaded (recovery_body_budget): read_body(id) has it
  std::uint64_t body_size = 0;  // loaded or not
};

class Journal {
 public:
  // Opens (creating) options.dir/journal, replays it and appends to
  // `recovered` every live message in publish order. Throws std::system_error
  // on I/O errors and std::runtime_error on a segment of another format version.
  Journal(JournalOptions options, std::vector<RecoveredMessage>& recovered);
  // Commits what is pending, waits until it is durable (unless failed) and
  // stops the journal's threads.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Records that a persistent message was routed to `queues`; returns its id.
  // Buffered: nothing reaches the disk before commit(). With no queues, no
  // record is written (nothing is owed) but an id is still used.
  std::uint64_t publish(std::string_view exchange, std::string_view routing_key,
                        std::string_view properties, std::string_view body,
                        std::span<const std::string_view> queues);
  // The message was handed to a consumer of `queue`: recovery marks it
  // redelivered there. Unknown id or queue: ignored.
  void delivered(std::uint64_t id, std::string_view queue);
  // The message is settled for `queue` (acked, dropped or dead-lettered): it is
  // no longer owed there. Unknown id or queue: ignored.
  void ack(std::uint64_t id, std::string_view queue);
  // The queue was deleted: none of its messages are owed to it any more.
  void drop_queue(std::string_view queue);

  // Paging: the body of live message `id` read back from its segment, or
  // nullopt if the message is not live, its record is not yet written
  // (readable() is false), or the read fails. A blocking pread (usually
  // from the page cache) on the caller's thread.
  std::optional<std::string> read_body(std::uint64_t id);
  // Whether message `id`'s record has been written to its segment file, so
  // that read_body can find it: the broker may then drop the body from memory.
  bool readable(std::uint64_t id);

  // Hands everything appended so far to the sync thread and returns at once.
  // Once durable() >= the returned ticket, every record appended before the
  // call is on disk. Also starts any space reclamation now possible.
  std::uint64_t commit();
  std::uint64_t durable() const;
  // An eventfd that becomes readable when durable() advances or the journal
  // fails; poll it (e.g. as a raw fd in zmq_poll) and call clear_notify().
  int notify_fd() const;
  void clear_notify();
  // A write or fdatasync failed: nothing more becomes durable. error() says what.
  bool failed() const;
  std::string error() const;

  // Commits, then blocks until everything is durable and any reclamation that
  // made possible has finished. For tests and orderly shutdown, not the loop.
  void quiesce();

  struct Stats {
    std::uint64_t segments = 0;       // segment files
    std::uint64_t bytes = 0;          // their total size, pending records included
    std::uint64_t live_messages = 0;  // owed to at least one queue
    std::uint64_t syncs = 0;          // fdatasyncs by the sync thread
    std::uint64_t records = 0;        // appended since the journal was opened
    std::uint64_t compactions = 0;    // finished since the journal was opened
  };
  Stats stats() const;

 private:
  void recover(std::vector<RecoveredMessage>& recovered);
  bool submit();  // commit(); false if there was nothing to hand over
  std::vector<std::uint64_t> take_dead_prefix();
  std::string& append_buffer();  // rolls to a new segment if the active one is full
  void appended(std::size_t bytes);
  std::optional<ReclaimJob> plan_reclaim();
  void apply_reclaim_results();
  void log(std::string_view line) const;
  int reader_fd(std::uint64_t segment);  // cached read-only fds of segments, -1 if it cannot open

  JournalOptions options_;
  std::filesystem::path dir_;  // options_.dir / "journal"
  LiveIndex index_;
  std::uint64_t next_id_ = 1;
  std::uint64_t active_ = 0;  // the segment records are appended to
  std::vector<Chunk> pending_;
  std::uint64_t ticket_ = 0;
  // Paging: commits not yet written (ticket, last id in them), and the id
  // through which every PUBLISH is in a file; read-only fds by segment.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> unwritten_;
  std::uint64_t readable_through_ = 0;
  std::map<std::uint64_t, UniqueFd> readers_;
  std::uint64_t records_ = 0;
  bool reclaim_check_ = true;             // something changed since plan_reclaim() last looked
  bool compacting_ = false;               // a compaction is in flight
  bool compaction_off_ = false;           // a compaction failed: no more this run
  std::unique_ptr<Reclaimer> reclaimer_;  // declared before writer_: outlives it
  std::unique_ptr<JournalWriter> writer_;
};

}  // namespace warren::detail::store
