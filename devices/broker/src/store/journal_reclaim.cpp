#include "journal_reclaim.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <string>

#include "files.hpp"
#include "journal_format.hpp"

namespace warren::detail::store {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kWriteBuffer = 4 << 20;

std::string range_text(const CompactionPlan& plan) {
  return std::to_string(plan.segments.front()) + "-" + std::to_string(plan.through);
}

// Writes the compacted records to `fd` (after the header's room), returning
// the number of snapshot messages found; fills result->kept.
std::size_t copy_live_records(int fd, const fs::path& tmp, const fs::path& dir,
                              const CompactionPlan& plan, const std::atomic<bool>& stop,
                              std::uint64_t* next_id, std::uint64_t* bytes_in,
                              CompactionResult* result) {
  const auto& live = plan.live.messages;
  std::vector<bool> found(live.size());
  std::size_t found_count = 0;
  std::string out;
  QueueStates queues;
  for (std::uint64_t segment : plan.segments) {
    if (stop.load(std::memory_order_relaxed)) return 0;
    std::optional<MappedFile> file = MappedFile::open(segment_path(dir, segment));
    if (!file) continue;
    std::string_view data = file->bytes();
    *bytes_in += data.size();
    DecodedHeader h = decode_segment_header(data);
    if (h.status != DecodedHeader::kOk) continue;  // recovery skipped it too
    *next_id = std::max(*next_id, h.header.next_id);
    RecordReader reader(data);
    Record r;
    while (reader.next(&r)) {
      if (r.type != RecordType::kPublish) continue;
      auto it = std::lower_bound(live.begin(), live.end(), r.id,
                                 [](const auto& m, std::uint64_t id) { return m.first < id; });
      if (it == live.end() || it->first != r.id) continue;
      auto index = static_cast<std::size_t>(it - live.begin());
      if (found[index]) continue;
      found[index] = true;
      ++found_count;
      queues.clear();
      for (const QueueRef& q : it->second)
        queues.push_back({plan.live.names[q.queue], q.redelivered});
      std::size_t size = append_publish(out, r.id, {queues.data(), queues.size()}, r.exchange,
                                        r.routing_key, r.properties, r.body);
      result->kept.push_back(KeptRecord{r.id, result->file_bytes, static_cast<std::uint32_t>(size)});
      result->file_bytes += size;
      *next_id = std::max(*next_id, r.id + 1);
      if (out.size() >= kWriteBuffer) {
        write_all(fd, out, tmp);
        out.clear();
      }
    }
  }
  write_all(fd, out, tmp);
  return found_count;
}

CompactionResult compact_into(int fd, const fs::path& tmp, const fs::path& dir,
                              const CompactionPlan& plan, const std::atomic<bool>& stop,
                              const JournalLog& log) {
  CompactionResult result;
  result.through = plan.through;
  result.file_bytes = kSegmentHeaderSize;
  if (::lseek(fd, kSegmentHeaderSize, SEEK_SET) < 0) throw_errno("seek", tmp);
  std::uint64_t next_id = 0, bytes_in = 0;
  std::size_t found = copy_live_records(fd, tmp, dir, plan, stop, &next_id, &bytes_in, &result);
  if (stop.load(std::memory_order_relaxed)) return {};
  if (found != plan.live.messages.size()) {
    log("journal: compaction of segments " + range_text(plan) +
        " abandoned: " + std::to_string(plan.live.messages.size() - found) +
        " live messages not found in their segments");
    return {};
  }
  std::string header = encode_segment_header({next_id, plan.through});
  if (::pwrite(fd, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size()))
    throw_errno("write", tmp);
  if (::fdatasync(fd) != 0) throw_errno("fdatasync", tmp);
  std::sort(result.kept.begin(), result.kept.end());
  log("journal: compacted segments " + range_text(plan) + " into segment " +
      std::to_string(plan.through) + ": " + std::to_string(found) + " live messages, " +
      std::to_string(bytes_in) + " bytes -> " + std::to_string(result.file_bytes));
  result.ok = true;
  return result;
}

}  // namespace

CompactionResult compact_segments(const fs::path& dir, const CompactionPlan& plan,
                                  const std::atomic<bool>& stop, const JournalLog& log) {
  fs::path target = segment_path(dir, plan.through);
  fs::path tmp = target;
  tmp += ".tmp";
  CompactionResult result;
  try {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw_errno("open", tmp);
    result = compact_into(fd.get(), tmp, dir, plan, stop, log);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (!result.ok) {
    ::unlink(tmp.c_str());
    return result;
  }
  // The point of no return: from the rename on, segment `through` covers
  // everything older, whatever happens to the unlinks below.
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    errno = err;
    throw_errno("rename", tmp);
  }
  // Failing to remove the older segments changes nothing replay yields, so
  // the compaction stands; they go at the next removal or restart.
  try {
    sync_directory(dir);
    for (std::uint64_t segment : plan.segments) {
      if (segment >= plan.through) continue;
      fs::path path = segment_path(dir, segment);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", path);
    }
    sync_directory(dir);
  } catch (const std::exception& e) {
    log(std::string("journal: after compaction: ") + e.what());
  }
  return result;
}

void remove_settled_segment(const fs::path& dir, std::uint64_t segment) {
  fs::path path = segment_path(dir, segment);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", path);
  sync_directory(dir);
}

Reclaimer::Reclaimer(fs::path dir, JournalLog log)
    : dir_(std::move(dir)), log_(std::move(log)), thread_([this] { run(); }) {}

Reclaimer::~Reclaimer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void Reclaimer::submit(ReclaimJob job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void Reclaimer::wait_idle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return jobs_.empty() && !busy_; });
}

bool Reclaimer::take_results(std::vector<CompactionResult>* out) {
  if (!has_results_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(mu_);
  for (auto& r : results_) out->push_back(std::move(r));
  results_.clear();
  has_results_.store(false, std::memory_order_relaxed);
  return true;
}

void Reclaimer::remove_segments(const std::vector<std::uint64_t>& segments) {
  for (std::uint64_t segment : segments) remove_settled_segment(dir_, segment);
}

void Reclaimer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (stop_) break;
    ReclaimJob job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    try {
      remove_segments(job.remove);
    } catch (const std::exception& e) {
      log_(std::string("journal: removing segments: ") + e.what());
    }
    if (job.compact) {
      CompactionResult result;
      try {
        result = compact_segments(dir_, *job.compact, stop_, log_);
        if (result.ok) compactions_.fetch_add(1, std::memory_order_relaxed);
      } catch (const std::exception& e) {
        log_(std::string("journal: compaction failed (compaction is off until restart): ") +
             e.what());
      }
      result.through = job.compact->through;
      std::lock_guard result_lock(mu_);
      results_.push_back(std::move(result));
      has_results_.store(true, std::memory_order_release);
    }
    lock.lock();
    busy_ = false;
    idle_cv_.notify_all();
  }
  busy_ = false;
  idle_cv_.notify_all();
}

}  // namespace warren::detail::store
