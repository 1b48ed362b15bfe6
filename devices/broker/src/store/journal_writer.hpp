// JournalWriter: the journal's sync thread, which gives it group commit.
//
// The loop thread appends records to buffers and submits them as a Batch
// per commit; the writer takes every batch queued while it was busy, writes
// them in order, and makes them durable with one fdatasync. So the cost of an
// fsync is shared by every commit that arrived during the previous one, and
// the loop thread never blocks on the disk.
//
// With sync_interval 0, durable() reaches a batch's ticket after its
// fdatasync. With sync_interval N > 0, it does after write() (the data then
// survives a crash of the process) and fdatasync runs at most every N ms.
// Reclaim jobs are handed to the Reclaimer only after an fdatasync covering
// the batch they came with, so they never act on records not yet on disk.
//
// A failed write or fdatasync stops the writer for good: durable() stops,
// the error is logged, then failed() turns true, and later batches are dropped
// (after a failed fsync, the kernel may have thrown the data away; retrying
// could claim durability falsely).
//
// Threading: submit() and flush() from the journal's loop thread; the
// accessors from any thread. Logs from its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "files.hpp"
#include "journal_reclaim.hpp"

namespace warren::detail::store {

// Records for one segment; next_id goes into the header if the writer
// creates the segment.
struct Chunk {
  std::uint64_t segment = 0;
  std::uint64_t next_id = 0;
  std::string bytes;
};

struct Batch {
  std::uint64_t ticket = 0;  // durable() reaches it once the chunks are on disk
  std::vector<Chunk> chunks;
  std::optional<ReclaimJob> reclaim;
};

// Creates segment file `segment` holding just its header, durably (file and
// directory fsynced). Throws std::system_error, also if it already exists.
void create_segment(const std::filesystem::path& dir, std::uint64_t segment,
                    const SegmentHeader& header);

class JournalWriter {
 public:
  JournalWriter(std::filesystem::path dir, std::chrono::milliseconds sync_interval,
                Reclaimer& reclaimer, JournalLog log);
  // Writes and fdatasyncs everything submitted (unless failed), then joins.
  // Reclaim jobs not yet handed over are dropped.
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  void submit(Batch batch);
  // Blocks until everything submitted so far is written and fdatasynced
  // (whatever the interval) and its reclaim jobs are handed over, or the
  // writer has failed.
  void flush();

  std::uint64_t durable() const { return durable_.load(std::memory_order_acquire); }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string error() const;
  std::uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // An eventfd, readable after durable() advanced or the writer failed.
  int notify_fd() const { return event_.get(); }
  void clear_notify();

 private:
  using Clock = std::chrono::steady_clock;

  void run();
  void process(std::deque<Batch>& batches, bool force_sync, bool stopping);
  void write_batches(const std::deque<Batch>& batches);
  void open_segment(std::uint64_t segment, std::uint64_t next_id);
  void sync();
  void fail(const std::exception& e);
  void notify();

  const std::filesystem::path dir_;
  const std::chrono::milliseconds interval_;
  Reclaimer& reclaimer_;
  const JournalLog log_;
  UniqueFd event_;

  mutable std::mutex mu_;
  std::condition_variable cv_, flushed_cv_;
  std::deque<Batch> queue_;
  bool stop_ = false;
  std::uint64_t flush_requested_ = 0, flush_done_ = 0;
  std::string error_;

  // Writer thread only.
  UniqueFd file_;
  std::uint64_t open_segment_ = 0;
  bool dirty_ = false;  // written since the last fdatasync
  Clock::time_point last_sync_{};
  std::uint64_t written_ = 0, synced_ = 0;                    // tickets
  std::deque<std::pair<std::uint64_t, ReclaimJob>> reclaim_;  // waiting for a sync

  std::atomic<std::uint64_t> durable_{0}, syncs_{0};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

}  // namespace warren::detail::store
