#include "journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <exception>

#include "files.hpp"
#include "journal_format.hpp"
#include "journal_recovery.hpp"
#include "journal_writer.hpp"

namespace warren::detail::store {

namespace fs = std::filesystem;

Journal::Journal(JournalOptions options, std::vector<RecoveredMessage>& recovered)
    : options_(std::move(options)), dir_(options_.dir / "journal") {
  if (!options_.log) options_.log = [](std::string_view) {};
  fs::create_directories(dir_);
  recover(recovered);
  reclaimer_ = std::make_unique<Reclaimer>(dir_, options_.log);
  writer_ =
      std::make_unique<JournalWriter>(dir_, options_.sync_interval, *reclaimer_, options_.log);
}

Journal::~Journal() {
  compaction_off_ = true;  // removal and compaction wait for the next open
  reclaim_check_ = false;
  try {
    commit();
  } catch (const std::exception& e) {
    log(std::string("journal: final commit: ") + e.what());
  }
  writer_.reset();  // writes and syncs the rest
  reclaimer_.reset();
}

void Journal::log(std::string_view line) const { options_.log(line); }

void Journal::recover(std::vector<RecoveredMessage>& recovered) {
  Replay replay = replay_journal(dir_, options_.log, options_.recovery_body_budget);
  next_id_ = replay.next_id;
  readable_through_ = next_id_ - 1;  // replay fdatasynced every segment it read
  for (auto [segment, size] : replay.sizes) index_.segments()[segment].bytes = size;
  QueueStates queues;
  recovered.reserve(recovered.size() + replay.live.size());
  for (ReplayedMessage& m : replay.live) {
    queues.clear();
    for (const auto& [name, redelivered] : m.message.queues) queues.push_back({name, redelivered});
    index_.add(m.message.id, m.segment, m.offset, m.bytes, {queues.data(), queues.size()});
    recovered.push_back(std::move(m.message));
  }
  if (!replay.live.empty() || replay.last_segment > 0)
    log("journal: recovered " + std::to_string(replay.live.size()) + " live message(s) from " +
        std::to_string(replay.sizes.size()) + " segment(s); next message id " +
        std::to_string(next_id_));

  // Appends always go to a new segment, created now so that its header keeps
  // next_id_ on disk even when every older segment is removed.
  active_ = replay.last_segment + 1;
  create_segment(dir_, active_, {next_id_, 0});
  index_.segments()[active_].bytes = kSegmentHeaderSize;

  // Segments emptied before the last shutdown (or crash) go now.
  for (std::uint64_t segment : take_dead_prefix()) remove_settled_segment(dir_, segment);
}

std::vector<std::uint64_t> Journal::take_dead_prefix() {
  std::vector<std::uint64_t> dead;
  auto& segments = index_.segments();
  while (!segments.empty() && segments.begin()->first < active_ &&
         segments.begin()->second.live_messages == 0) {
    dead.push_back(segments.begin()->first);
    segments.erase(segments.begin());
  }
  return dead;
}

std::string& Journal::append_buffer() {
  SegmentUsage& active = index_.segments()[active_];
  if (active.bytes >= options_.segment_bytes) {
    ++active_;
    index_.segments()[active_].bytes = kSegmentHeaderSize;
    reclaim_check_ = true;
  }
  if (pending_.empty() || pending_.back().segment != active_)
    pending_.push_back({active_, next_id_, {}});
  return pending_.back().bytes;
}

void Journal::appended(std::size_t bytes) {
  index_.segments()[active_].bytes += bytes;
  ++records_;
}

std::uint64_t Journal::publish(std::string_view exchange, std::string_view routing_key,
                               std::string_view properties, std::string_view body,
                               std::span<const std::string_view> queues) {
  QueueStates states;
  for (std::string_view q : queues)
    if (std::none_of(states.begin(), states.end(),
                     [&](const QueueState& s) { return s.queue == q; }))
      states.push_back({q, false});
  if (states.empty()) return next_id_++;
  std::string& out = append_buffer();
  std::uint64_t offset = index_.segments()[active_].bytes;  // the file's size once written
  std::uint64_t id = next_id_++;
  std::size_t size = append_publish(out, id, {states.data(), states.size()}, exchange, routing_key,
                                    properties, body);
  appended(size);
  index_.add(id, active_, offset, static_cast<std::uint32_t>(size), {states.data(), states.size()});
  return id;
}

void Journal::delivered(std::uint64_t id, std::string_view queue) {
  if (!index_.mark_delivered(id, queue)) return;
  appended(append_delivered(append_buffer(), id, queue));
}

void Journal::ack(std::uint64_t id, std::string_view queue) {
  if (!index_.settle(id, queue)) return;
  appended(append_ack(append_buffer(), id, queue));
  reclaim_check_ = true;
}

void Journal::drop_queue(std::string_view queue) {
  if (!index_.drop_queue(queue)) return;
  appended(append_drop_queue(append_buffer(), queue));
  reclaim_check_ = true;
}

std::uint64_t Journal::commit() {
  submit();
  return ticket_;
}

bool Journal::submit() {
  apply_reclaim_results();
  Batch batch;
  if (!pending_.empty()) {
    batch.ticket = ++ticket_;
    batch.chunks = std::move(pending_);
    pending_.clear();
    unwritten_.emplace_back(batch.ticket, next_id_ - 1);
  } else {
    batch.ticket = ticket_;
  }
  batch.reclaim = plan_reclaim();
  if (batch.chunks.empty() && !batch.reclaim) return false;
  writer_->submit(std::move(batch));
  return true;
}

std::optional<ReclaimJob> Journal::plan_reclaim() {
  if (!reclaim_check_ || compacting_ || (writer_ && writer_->failed())) return std::nullopt;
  reclaim_check_ = false;
  ReclaimJob job;
  job.remove = take_dead_prefix();
  auto& segments = index_.segments();
  // Compaction: the sealed segments are mostly settled, the oldest pinned.
  std::uint64_t bytes = 0, live = 0, through = 0;
  for (auto& [number, usage] : segments) {
    if (number >= active_) break;
    bytes += usage.bytes;
    live += usage.live_bytes;
    through = number;
  }
  bool worth = through > 0 && !compaction_off_ && options_.compact_below > 0 &&
               static_cast<double>(live) < options_.compact_below * static_cast<double>(bytes) &&
               bytes - live >= options_.segment_bytes;
  if (worth) {
    CompactionPlan plan;
    plan.through = through;
    for (auto& [number, usage] : segments) {
      if (number > through) break;
      plan.segments.push_back(number);
    }
    plan.live = index_.snapshot(through);
    // read_body keeps reading these segments' old files, which match the
    // index, until the compaction's result replaces both.
    for (std::uint64_t number : plan.segments) reader_fd(number);
    job.compact = std::move(plan);
    compacting_ = true;
  }
  if (job.remove.empty() && !job.compact) return std::nullopt;
  return job;
}

void Journal::apply_reclaim_results() {
  std::vector<CompactionResult> results;
  if (!reclaimer_ || !reclaimer_->take_results(&results)) return;
  for (const CompactionResult& r : results) {
    if (r.ok) {
      index_.apply_compaction(r.through, r.file_bytes, r.kept);
      readers_.erase(readers_.begin(), readers_.upper_bound(r.through));  // old files: let go
    } else
      compaction_off_ = true;
    compacting_ = false;
    reclaim_check_ = true;
  }
}

void Journal::quiesce() {
  // A finished compaction can make a removal possible; a few rounds settle it.
  for (int round = 0; round < 8; ++round) {
    bool submitted = submit();
    writer_->flush();
    reclaimer_->wait_idle();
    if (!submitted && !compacting_) break;
  }
  apply_reclaim_results();
}

bool Journal::readable(std::uint64_t id) {
  std::uint64_t done = durable();
  while (!unwritten_.empty() && unwritten_.front().first <= done) {
    readable_through_ = unwritten_.front().second;
    unwritten_.pop_front();
  }
  return id <= readable_through_;
}

int Journal::reader_fd(std::uint64_t segment) {
  // Segments removed or replaced since: let their files go.
  for (auto it = readers_.begin(); it != readers_.end();)
    it = index_.segments().contains(it->first) ? std::next(it) : readers_.erase(it);
  auto it = readers_.find(segment);
  if (it == readers_.end()) {
    UniqueFd fd(::open(segment_path(dir_, segment).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return -1;
    it = readers_.emplace(segment, std::move(fd)).first;
  }
  return it->second.get();
}

std::optional<std::string> Journal::read_body(std::uint64_t id) {
  // A compaction may move the record. Its segments' fds are opened when it
  // is planned, so reads go on matching the index until its result is
  // applied; should one still miss (a file the plan could not open yet),
  // wait for the compaction, take its result and read again.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt > 0) {
      if (compacting_) reclaimer_->wait_idle();
      apply_reclaim_results();
    }
    auto at = index_.locate(id);
    if (!at || !readable(id)) return std::nullopt;
    int fd = reader_fd(at->segment);
    if (fd < 0) continue;
    std::string bytes(at->bytes, '\0');
    auto n = ::pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(at->offset));
    Record r;
    RecordReader reader(bytes, 0);
    if (n == static_cast<ssize_t>(bytes.size()) && reader.next(&r) && r.type == RecordType::kPublish && r.id == id)
      return std::string(r.body);
    readers_.erase(at->segment);  // a file replaced under a cached fd, or a stale index
  }
  log("journal: cannot read back message " + std::to_string(id));
  return std::nullopt;
}

std::uint64_t Journal::durable() const { return writer_->durable(); }
int Journal::notify_fd() const { return writer_->notify_fd(); }
void Journal::clear_notify() { writer_->clear_notify(); }
bool Journal::failed() const { return writer_->failed(); }
std::string Journal::error() const { return writer_->error(); }

Journal::Stats Journal::stats() const {
  Stats s;
  for (const auto& [number, usage] : index_.segments()) {
    ++s.segments;
    s.bytes += usage.bytes;
  }
  s.live_messages = index_.live_messages();
  s.syncs = writer_->syncs();
  s.records = records_;
  s.compactions = reclaimer_->compactions();
  return s;
}

}  // namespace warren::detail::store
