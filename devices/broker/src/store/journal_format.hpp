// The journal's on-disk format (docs/journal.md, normative): segment file
// names, the segment header, and the records. Encoding and decoding are pure
// functions over bytes; no I/O, thread-safe.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace warren::detail::store {

inline constexpr std::uint32_t kJournalVersion = 1;
inline constexpr std::size_t kSegmentHeaderSize = 28;
inline constexpr std::size_t kRecordHeaderSize = 9;  // length, masked CRC, type
// The largest payload a record may have (its length field is 32 bits, and
// the whole record's size must fit in 32 bits too).
inline constexpr std::size_t kMaxPayload = 0xffffffffu - kRecordHeaderSize;

// dir / "00000000000000000042.seg" for segment 42.
std::filesystem::path segment_path(const std::filesystem::path& dir, std::uint64_t segment);
// The segment number of a file name "NNNNNNNNNNNNNNNNNNNN.seg" (20 digits),
// or nullopt for any other name.
std::optional<std::uint64_t> parse_segment_name(std::string_view file_name);

struct SegmentHeader {
  // Every message published after the segment was created has an id >= this.
  std::uint64_t next_id = 0;
  // 0 for a segment the writer filled; N for a compacted segment, which
  // replaces every segment numbered <= N (N is its own number).
  std::uint64_t compacted_through = 0;
};

std::string encode_segment_header(const SegmentHeader& header);

struct DecodedHeader {
  enum Status { kOk, kCorrupt, kUnsupportedVersion } status = kCorrupt;
  SegmentHeader header;
  std::uint32_t version = 0;
  std::string problem;  // for kCorrupt: what is wrong
};
// Decodes the header at the start of a segment file's bytes (a longer string
// is fine: only the first kSegmentHeaderSize bytes are read).
DecodedHeader decode_segment_header(std::string_view file);

enum class RecordType : std::uint8_t { kPublish = 1, kDelivered = 2, kAck = 3, kDropQueue = 4 };

// One queue a message is still owed to.
struct QueueState {
  std::string_view queue;
  bool redelivered = false;
};
using QueueStates = boost::container::small_vector<QueueState, 2>;

// Appenders: each appends one whole record (header and payload) to `out` and
// returns its size in bytes. REQUIRES: the payload fits in kMaxPayload
// (append_publish throws std::length_error if it does not).
std::size_t append_publish(std::string& out, std::uint64_t id, std::span<const QueueState> queues,
                           std::string_view exchange, std::string_view routing_key,
                           std::string_view properties, std::string_view body);
std::size_t append_delivered(std::string& out, std::uint64_t id, std::string_view queue);
std::size_t append_ack(std::string& out, std::uint64_t id, std::string_view queue);
std::size_t append_drop_queue(std::string& out, std::string_view queue);

// A decoded record. The string_views point into the bytes given to the reader.
struct Record {
  RecordType type{};
  std::size_t offset = 0;  // of the record's first byte in the segment file
  std::size_t size = 0;    // header and payload
  std::uint64_t id = 0;    // all types but kDropQueue
  std::string_view queue;  // kDelivered, kAck, kDropQueue
  // kPublish only:
  QueueStates queues;
  std::string_view exchange, routing_key, properties, body;
};

struct Corruption {
  std::size_t offset = 0;  // in the segment file
  std::size_t bytes = 0;   // from offset to the end of the data
  std::string reason;
};

// Reads the records of one segment in order. Stops at the end of the data or
// at the first record that is torn or corrupt: truncated header, truncated
// payload, checksum mismatch, unknown type, or a payload that does not decode
// as its type; corruption() then says where and why.
class RecordReader {
 public:
  // `file`: a segment file's bytes, header included (the reader starts after it).
  explicit RecordReader(std::string_view file) : file_(file), offset_(kSegmentHeaderSize) {}
  // `bytes` holding records from `start` on (e.g. one record read on its own, start 0).
  RecordReader(std::string_view bytes, std::size_t start) : file_(bytes), offset_(start) {}

  // Decodes the next record into *record; false at the end or at corruption.
  bool next(Record* record);
  // The offset just past the last good record.
  std::size_t offset() const { return offset_; }
  const std::optional<Corruption>& corruption() const { return corruption_; }

 private:
  bool fail(std::string reason);

  std::string_view file_;
  std::size_t offset_;
  std::optional<Corruption> corruption_;
};

}  // namespace warren::detail::store
