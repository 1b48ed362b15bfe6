// Space reclamation for the journal, on its own thread so that neither the
// loop thread nor group commit ever waits for it.
//
// Two kinds of work, both handed over by the writer only once the records
// that made them possible are on disk:
// - remove: unlink segments that hold no live message. The journal only asks
//   for a prefix of the oldest segments: records refer to messages in their
//   own or older segments, so removing the oldest never changes what replay
//   of the rest yields.
// - compact: rewrite the live PUBLISH records of segments 1..k (redelivered
//   flags and settled queues folded in) into one file that replaces segment k
//   and whose header says it covers every segment <= k. Written as a
//   temporary file, fsynced, renamed over segment k, the directory fsynced,
//   then the older segments unlinked: a crash at any point leaves either the
//   old segments (and a .tmp that recovery removes) or the compacted segment,
//   beside which recovery ignores and removes older segments.
//
// Threading: submit() from any thread; wait_idle() and take_results() from
// the journal's loop thread. Logs through `log` from its own thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "journal_index.hpp"

namespace warren::detail::store {

using JournalLog = std::function<void(std::string_view)>;

struct CompactionPlan {
  std::uint64_t through = 0;            // the newest segment rewritten
  std::vector<std::uint64_t> segments;  // all segments <= through, oldest first
  LiveSnapshot live;                    // what to keep
};

struct ReclaimJob {
  std::vector<std::uint64_t> remove;  // segments without live messages
  std::optional<CompactionPlan> compact;
};

struct CompactionResult {
  bool ok = false;  // false: nothing changed on disk (the journal stops compacting)
  std::uint64_t through = 0;
  std::uint64_t file_bytes = 0;
  std::vector<KeptRecord> kept;  // by id: the records written
};

// Carries out one compaction in `dir` (see above). Returns early, changing
// nothing, when `stop` becomes true. Throws std::system_error on I/O errors,
// after removing its temporary file.
CompactionResult compact_segments(const std::filesystem::path& dir, const CompactionPlan& plan,
                                  const std::atomic<bool>& stop, const JournalLog& log);

// Unlinks a segment without live messages and fsyncs the directory. Called
// oldest first, each removal durable before the next: otherwise a crash
// could keep an older segment (its PUBLISH) yet lose a newer one (the ACK
// that settled it), and replay would bring the message back.
void remove_settled_segment(const std::filesystem::path& dir, std::uint64_t segment);

class Reclaimer {
 public:
  Reclaimer(std::filesystem::path dir, JournalLog log);
  // Abandons queued work and stops a running compaction (nothing it did is
  // visible), then joins the thread.
  ~Reclaimer();
  Reclaimer(const Reclaimer&) = delete;
  Reclaimer& operator=(const Reclaimer&) = delete;

  void submit(ReclaimJob job);
  // Blocks until every job submitted so far has finished.
  void wait_idle();
  // Moves finished compactions' results into *out; false if there are none.
  bool take_results(std::vector<CompactionResult>* out);
  std::uint64_t compactions() const { return compactions_.load(std::memory_order_relaxed); }

 private:
  void run();
  void remove_segments(const std::vector<std::uint64_t>& segments);

  const std::filesystem::path dir_;
  const JournalLog log_;
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<ReclaimJob> jobs_;
  bool busy_ = false;
  std::vector<CompactionResult> results_;
  std::atomic<bool> has_results_{false}, stop_{false};
  std::atomic<std::uint64_t> compactions_{0};
  std::thread thread_;
};

}  // namespace warren::detail::store
