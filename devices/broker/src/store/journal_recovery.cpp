#include "journal_recovery.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "files.hpp"
#include "journal_format.hpp"

namespace warren::detail::store {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMinTombstonesToVacuum = 1024;

struct SegmentFile {
  std::uint64_t number;
  DecodedHeader header;
};

// The live messages as replay goes; settled ones stay as tombstones (no
// queues, strings freed) until they outnumber the live ones.
class ReplayState {
 public:
  ReplayState(Replay& out, std::uint64_t body_budget) : out_(out), body_budget_(body_budget) {}

  void apply(const Record& r, std::uint64_t segment) {
    switch (r.type) {
      case RecordType::kPublish:
        return publish(r, segment);
      case RecordType::kDelivered:
        if (auto* m = find(r.id))
          for (auto& q : m->queues)
            if (q.first == r.queue) q.second = true;
        return;
      case RecordType::kAck:
        if (auto* m = find(r.id)) erase_queue(*m, r.queue);
        return vacuum();
      case RecordType::kDropQueue:
        for (auto& m : out_.live)
          if (!m.message.queues.empty()) erase_queue(m.message, r.queue);
        return vacuum();
    }
  }

  void finish() {
    if (tombstones_ > 0)
      std::erase_if(out_.live, [](const ReplayedMessage& m) { return m.message.queues.empty(); });
    out_.next_id = std::max(out_.next_id, last_id_ + 1);
  }

  std::uint64_t duplicates() const { return duplicates_; }

 private:
  void publish(const Record& r, std::uint64_t segment) {
    // Ids only grow along the journal; an id seen before is a copy (replay
    // does not rely on it, but a stray copy must not count twice).
    if (r.id <= last_id_) {
      ++duplicates_;
      return;
    }
    last_id_ = r.id;
    ReplayedMessage m;
    m.segment = segment;
    m.offset = r.offset;
    m.bytes = static_cast<std::uint32_t>(r.size);
    m.message.id = r.id;
    m.message.exchange = r.exchange;
    m.message.routing_key = r.routing_key;
    m.message.properties = r.properties;
    m.message.body_size = r.body.size();
    if (body_bytes_ + r.body.size() <= body_budget_) {
      m.message.body = r.body;
      body_bytes_ += r.body.size();
    } else {
      m.message.paged = true;  // read back from (segment, offset) when needed
    }
    for (const QueueState& q : r.queues) m.message.queues.emplace_back(q.queue, q.redelivered);
    out_.live.push_back(std::move(m));
    ++live_;
  }

  RecoveredMessage* find(std::uint64_t id) {
    auto it = std::lower_bound(
        out_.live.begin(), out_.live.end(), id,
        [](const ReplayedMessage& m, std::uint64_t v) { return m.message.id < v; });
    if (it == out_.live.end() || it->message.id != id || it->message.queues.empty()) return nullptr;
    return &it->message;
  }

  void erase_queue(RecoveredMessage& m, std::string_view queue) {
    auto it = std::find_if(m.queues.begin(), m.queues.end(),
                           [&](const auto& q) { return q.first == queue; });
    if (it == m.queues.end()) return;
    m.queues.erase(it);
    if (!m.queues.empty()) return;
    body_bytes_ -= m.body.size();
    m = RecoveredMessage{m.id, {}, {}, {}, {}, {}, false, 0};  // free the strings
    --live_;
    ++tombstones_;
  }

  void vacuum() {
    if (tombstones_ < kMinTombstonesToVacuum || tombstones_ <= live_) return;
    std::erase_if(out_.live, [](const ReplayedMessage& m) { return m.message.queues.empty(); });
    tombstones_ = 0;
  }

  Replay& out_;
  std::uint64_t body_budget_;
  std::uint64_t body_bytes_ = 0;  // bodies of live messages held
  std::uint64_t last_id_ = 0;
  std::uint64_t live_ = 0, tombstones_ = 0, duplicates_ = 0;
};

DecodedHeader read_header(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  std::string bytes(kSegmentHeaderSize, '\0');
  ssize_t n = ::pread(fd.get(), bytes.data(), bytes.size(), 0);
  if (n < 0) throw_errno("read", path);
  bytes.resize(static_cast<std::size_t>(n));
  return decode_segment_header(bytes);
}

std::string dropped(std::uint64_t segment, std::size_t bytes, std::size_t offset,
                    std::string_view reason) {
  return "journal: segment " + std::to_string(segment) + ": dropped " + std::to_string(bytes) +
         " bytes at offset " + std::to_string(offset) + ": " + std::string(reason);
}

// Lists the segments (removing unfinished compaction output) and reads their
// headers, oldest first.
std::vector<SegmentFile> list_segments(const fs::path& dir, const JournalLog& log) {
  std::vector<SegmentFile> segments;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) {
      fs::remove(entry.path());
      log("journal: removed " + name + ", output of an unfinished compaction");
    } else if (auto number = parse_segment_name(name)) {
      segments.push_back({*number, {}});
    }
  }
  std::sort(segments.begin(), segments.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.number < b.number; });
  for (SegmentFile& s : segments) {
    s.header = read_header(segment_path(dir, s.number));
    if (s.header.status == DecodedHeader::kUnsupportedVersion)
      throw std::runtime_error("journal: " + segment_path(dir, s.number).string() +
                               " has format version " + std::to_string(s.header.version) +
                               "; this broker reads version " + std::to_string(kJournalVersion));
    std::uint64_t through = s.header.header.compacted_through;
    if (s.header.status == DecodedHeader::kOk && through != 0 && through != s.number) {
      s.header.status = DecodedHeader::kCorrupt;
      s.header.problem = "compacted segment header names segment " + std::to_string(through);
    }
  }
  return segments;
}

// Removes the segments older than the newest compacted one: it replaces them
// (a crash came between its rename and their removal).
void remove_superseded(const fs::path& dir, std::vector<SegmentFile>& segments,
                       const JournalLog& log) {
  std::uint64_t compacted = 0;
  for (const SegmentFile& s : segments)
    if (s.header.status == DecodedHeader::kOk)
      compacted = std::max(compacted, s.header.header.compacted_through);
  auto superseded = std::find_if(segments.begin(), segments.end(),
                                 [&](const SegmentFile& s) { return s.number >= compacted; });
  if (superseded == segments.begin()) return;
  for (auto s = segments.begin(); s != superseded; ++s) fs::remove(segment_path(dir, s->number));
  log("journal: removed " + std::to_string(superseded - segments.begin()) + " segment(s) (" +
      std::to_string(segments.front().number) + "-" + std::to_string((superseded - 1)->number) +
      "), superseded by compacted segment " + std::to_string(compacted) +
      ": a crash came before they were removed");
  segments.erase(segments.begin(), superseded);
  sync_directory(dir);
}

// Replays one segment; cuts a bad tail off if `last`. Returns the file's size.
std::uint64_t replay_segment(const fs::path& dir, const SegmentFile& s, bool last,
                             ReplayState& state, Replay& out, const JournalLog& log) {
  fs::path path = segment_path(dir, s.number);
  std::optional<MappedFile> file = MappedFile::open(path);
  if (!file) throw_errno("open", path);
  out.next_id = std::max(out.next_id, s.header.header.next_id);
  RecordReader reader(file->bytes());
  Record record;
  while (reader.next(&record)) state.apply(record, s.number);
  std::uint64_t size = file->bytes().size();
  file.reset();  // unmapped before a truncation can shorten the file
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  if (const auto& c = reader.corruption()) {
    log(dropped(s.number, c->bytes, c->offset, c->reason) +
        (last ? "" : " (not the last segment)"));
    if (last) {
      if (::ftruncate(fd.get(), static_cast<off_t>(c->offset)) != 0) throw_errno("truncate", path);
      size = c->offset;
    }
  }
  if (::fdatasync(fd.get()) != 0) throw_errno("fdatasync", path);
  return size;
}

}  // namespace

Replay replay_journal(const fs::path& dir, const JournalLog& log, std::uint64_t body_budget) {
  Replay out;
  std::vector<SegmentFile> segments = list_segments(dir, log);
  if (segments.empty()) return out;
  out.last_segment = segments.back().number;
  remove_superseded(dir, segments, log);

  std::uint64_t last_valid = 0;
  for (const SegmentFile& s : segments)
    if (s.header.status == DecodedHeader::kOk) last_valid = s.number;
  ReplayState state(out, body_budget);
  bool removed = false;
  for (const SegmentFile& s : segments) {
    fs::path path = segment_path(dir, s.number);
    if (s.header.status != DecodedHeader::kOk) {
      std::uint64_t size = fs::file_size(path);
      log(dropped(s.number, size, 0, s.header.problem));
      if (s.number > last_valid) {
        fs::remove(path);  // created, but the crash came before its header was on disk
        removed = true;
      } else {
        out.sizes[s.number] = size;  // removed in turn, as a segment with nothing live
      }
      continue;
    }
    out.sizes[s.number] = replay_segment(dir, s, s.number == last_valid, state, out, log);
  }
  if (removed) sync_directory(dir);
  state.finish();
  if (state.duplicates() > 0)
    log("journal: ignored " + std::to_string(state.duplicates()) + " repeated PUBLISH records");
  return out;
}

}  // namespace warren::detail::store
