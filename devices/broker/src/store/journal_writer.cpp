#include "journal_writer.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <exception>

namespace warren::detail::store {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxIov = 1024;  // IOV_MAX on Linux

// Writes all of `iov` (retrying short writes and EINTR).
void writev_all(int fd, std::vector<iovec>& iov, const fs::path& path) {
  std::size_t i = 0;
  while (i < iov.size()) {
    ssize_t n = ::writev(fd, iov.data() + i, static_cast<int>(iov.size() - i));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", path);
    }
    auto left = static_cast<std::size_t>(n);
    while (i < iov.size() && left >= iov[i].iov_len) left -= iov[i++].iov_len;
    if (left > 0) {
      iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + left;
      iov[i].iov_len -= left;
    }
  }
}

}  // namespace

void create_segment(const fs::path& dir, std::uint64_t segment, const SegmentHeader& header) {
  fs::path path = segment_path(dir, segment);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) throw_errno("create", path);
  write_all(fd.get(), encode_segment_header(header), path);
  if (::fdatasync(fd.get()) != 0) throw_errno("fdatasync", path);
  sync_directory(dir);
}

JournalWriter::JournalWriter(fs::path dir, std::chrono::milliseconds sync_interval,
                             Reclaimer& reclaimer, JournalLog log)
    : dir_(std::move(dir)),
      interval_(sync_interval),
      reclaimer_(reclaimer),
      log_(std::move(log)),
      event_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!event_) throw_errno("eventfd", dir_);
  thread_ = std::thread([this] { run(); });
}

JournalWriter::~JournalWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void JournalWriter::submit(Batch batch) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(batch));
  }
  cv_.notify_all();
}

void JournalWriter::flush() {
  std::unique_lock lock(mu_);
  std::uint64_t target = ++flush_requested_;
  cv_.notify_all();
  flushed_cv_.wait(lock, [&] { return flush_done_ >= target; });
}

std::string JournalWriter::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void JournalWriter::clear_notify() {
  std::uint64_t value;
  [[maybe_unused]] ssize_t n = ::read(event_.get(), &value, sizeof value);
}

void JournalWriter::notify() {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);
}

void JournalWriter::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    bool idle = queue_.empty() && !stop_ && flush_requested_ == flush_done_;
    if (idle && dirty_ && interval_.count() > 0)
      cv_.wait_until(lock, last_sync_ + interval_);
    else if (idle)
      cv_.wait(lock);
    std::deque<Batch> batches;
    batches.swap(queue_);
    bool stopping = stop_;
    std::uint64_t flush_target = flush_requested_;
    lock.unlock();
    bool force_sync = stopping || flush_target > flush_done_;
    process(batches, force_sync, stopping);
    lock.lock();
    flush_done_ = flush_target;
    flushed_cv_.notify_all();
    if (stopping && queue_.empty()) break;
  }
}

void JournalWriter::process(std::deque<Batch>& batches, bool force_sync, bool stopping) {
  if (failed()) return;
  try {
    write_batches(batches);
    for (Batch& batch : batches) {
      written_ = std::max(written_, batch.ticket);
      if (batch.reclaim) reclaim_.emplace_back(batch.ticket, std::move(*batch.reclaim));
    }
    bool due = interval_.count() == 0 || force_sync || Clock::now() >= last_sync_ + interval_;
    if (dirty_ && due) sync();
    if (!dirty_) synced_ = written_;
  } catch (const std::exception& e) {
    fail(e);
    return;
  }
  std::uint64_t durable = interval_.count() == 0 ? synced_ : written_;
  if (durable > durable_.load(std::memory_order_relaxed)) {
    durable_.store(durable, std::memory_order_release);
    notify();
  }
  while (!reclaim_.empty() && reclaim_.front().first <= synced_) {
    if (!stopping) reclaimer_.submit(std::move(reclaim_.front().second));
    reclaim_.pop_front();
  }
}

void JournalWriter::write_batches(const std::deque<Batch>& batches) {
  // One writev for many commits' chunks: under load a batch per commit is
  // small, and a write() each would cost more than the data.
  std::vector<iovec> iov;
  auto flush = [&] {
    writev_all(file_.get(), iov, segment_path(dir_, open_segment_));
    iov.clear();
  };
  for (const Batch& batch : batches) {
    for (const Chunk& chunk : batch.chunks) {
      if (!file_ || chunk.segment != open_segment_) {
        if (file_) flush();
        open_segment(chunk.segment, chunk.next_id);
      }
      if (chunk.bytes.empty()) continue;
      iov.push_back({const_cast<char*>(chunk.bytes.data()), chunk.bytes.size()});
      dirty_ = true;
      if (iov.size() == kMaxIov) flush();
    }
  }
  if (file_) flush();
}

void JournalWriter::open_segment(std::uint64_t segment, std::uint64_t next_id) {
  if (file_ && dirty_) sync();  // seal the full segment: sealed segments are always on disk
  file_.reset();
  fs::path path = segment_path(dir_, segment);
  // The journal created the first segment when it opened; the writer creates
  // the ones it rolls over to.
  if (!fs::exists(path)) create_segment(dir_, segment, {next_id, 0});
  file_.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!file_) throw_errno("open", path);
  open_segment_ = segment;
}

void JournalWriter::sync() {
  if (::fdatasync(file_.get()) != 0) throw_errno("fdatasync", segment_path(dir_, open_segment_));
  syncs_.fetch_add(1, std::memory_order_relaxed);
  dirty_ = false;
  last_sync_ = Clock::now();
}

void JournalWriter::fail(const std::exception& e) {
  {
    std::lock_guard lock(mu_);
    error_ = e.what();
  }
  file_.reset();
  reclaim_.clear();
  // Logged before failed() turns true: whoever sees it can read why.
  log_(std::string("journal: ") + e.what() +
       "; the journal has stopped: nothing more becomes durable");
  failed_.store(true, std::memory_order_release);
  notify();
}

}  // namespace warren::detail::store
