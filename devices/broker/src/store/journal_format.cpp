#include "journal_format.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "crc32c.hpp"

namespace warren::detail::store {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[4] = {'W', 'R', 'N', 'J'};
constexpr std::uint8_t kRedelivered = 0x01;

void put_fixed32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 4);
}

void put_fixed64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}

void put_varint32(std::string& out, std::uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_string(std::string& out, std::string_view s) {
  put_varint32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

std::size_t varint32_size(std::size_t v) {
  std::size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

std::uint32_t get_fixed32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

std::uint64_t get_fixed64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

// A cursor over a payload; every read fails cleanly past the end.
class Input {
 public:
  explicit Input(std::string_view bytes) : rest_(bytes) {}

  bool fixed64(std::uint64_t* v) {
    if (rest_.size() < 8) return false;
    *v = get_fixed64(rest_.data());
    rest_.remove_prefix(8);
    return true;
  }
  bool byte(std::uint8_t* v) {
    if (rest_.empty()) return false;
    *v = static_cast<std::uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return true;
  }
  bool varint32(std::uint32_t* v) {
    std::uint32_t result = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
      std::uint8_t b;
      if (!byte(&b)) return false;
      if (shift == 28 && b > 0x0f) return false;  // more than 32 bits
      result |= std::uint32_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool string(std::string_view* s) {
    std::uint32_t n;
    if (!varint32(&n) || rest_.size() < n) return false;
    *s = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// Starts a record: reserves its header. finish_record fills in length and CRC.
std::size_t start_record(std::string& out, RecordType type) {
  std::size_t start = out.size();
  out.append(8, '\0');
  out.push_back(static_cast<char>(type));
  return start;
}

std::size_t finish_record(std::string& out, std::size_t start) {
  std::size_t payload = out.size() - start - kRecordHeaderSize;
  std::uint32_t crc = crc32c::mask(crc32c::value(std::string_view(out).substr(start + 8)));
  char* p = out.data() + start;
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(payload >> (8 * i));
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<char>(crc >> (8 * i));
  return out.size() - start;
}

bool decode_publish(std::string_view payload, Record* r) {
  Input in(payload);
  std::uint32_t count;
  if (!in.fixed64(&r->id) || !in.varint32(&count)) return false;
  if (count == 0 || count > payload.size()) return false;  // each queue takes 2+ bytes
  r->queues.clear();
  for (std::uint32_t i = 0; i < count; ++i) {
    QueueState q;
    std::uint8_t flags;
    if (!in.string(&q.queue) || !in.byte(&flags) || (flags & ~kRedelivered) != 0) return false;
    q.redelivered = (flags & kRedelivered) != 0;
    r->queues.push_back(q);
  }
  if (!in.string(&r->exchange) || !in.string(&r->routing_key) || !in.string(&r->properties))
    return false;
  r->body = in.rest();
  return true;
}

bool decode_payload(std::string_view payload, Record* r) {
  switch (r->type) {
    case RecordType::kPublish:
      return decode_publish(payload, r);
    case RecordType::kDelivered:
    case RecordType::kAck: {
      Input in(payload);
      if (!in.fixed64(&r->id)) return false;
      r->queue = in.rest();
      return true;
    }
    case RecordType::kDropQueue:
      r->queue = payload;
      return true;
  }
  return false;
}

}  // namespace

fs::path segment_path(const fs::path& dir, std::uint64_t segment) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(segment));
  return dir / name;
}

std::optional<std::uint64_t> parse_segment_name(std::string_view name) {
  if (name.size() != 24 || !name.ends_with(".seg")) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + 20, n);
  if (ec != std::errc() || end != name.data() + 20) return std::nullopt;
  return n;
}

std::string encode_segment_header(const SegmentHeader& header) {
  std::string out(kMagic, 4);
  put_fixed32(out, kJournalVersion);
  put_fixed64(out, header.next_id);
  put_fixed64(out, header.compacted_through);
  put_fixed32(out, crc32c::mask(crc32c::value(out)));
  return out;
}

DecodedHeader decode_segment_header(std::string_view file) {
  DecodedHeader d;
  if (file.size() < kSegmentHeaderSize) {
    d.problem = "truncated segment header";
    return d;
  }
  if (std::memcmp(file.data(), kMagic, 4) != 0) {
    d.problem = "bad magic (not a journal segment)";
    return d;
  }
  std::uint32_t crc = get_fixed32(file.data() + 24);
  if (crc32c::unmask(crc) != crc32c::value(file.substr(0, 24))) {
    d.problem = "segment header checksum mismatch";
    return d;
  }
  d.version = get_fixed32(file.data() + 4);
  if (d.version != kJournalVersion) {
    d.status = DecodedHeader::kUnsupportedVersion;
    return d;
  }
  d.header.next_id = get_fixed64(file.data() + 8);
  d.header.compacted_through = get_fixed64(file.data() + 16);
  d.status = DecodedHeader::kOk;
  return d;
}

std::size_t append_publish(std::string& out, std::uint64_t id, std::span<const QueueState> queues,
                           std::string_view exchange, std::string_view routing_key,
                           std::string_view properties, std::string_view body) {
  std::size_t payload = 8 + varint32_size(queues.size());
  for (const QueueState& q : queues) payload += varint32_size(q.queue.size()) + q.queue.size() + 1;
  for (std::string_view s : {exchange, routing_key, properties})
    payload += varint32_size(s.size()) + s.size();
  payload += body.size();
  if (payload > kMaxPayload) throw std::length_error("journal: message too large for one record");
  out.reserve(out.size() + kRecordHeaderSize + payload);

  std::size_t start = start_record(out, RecordType::kPublish);
  put_fixed64(out, id);
  put_varint32(out, static_cast<std::uint32_t>(queues.size()));
  for (const QueueState& q : queues) {
    put_string(out, q.queue);
    out.push_back(static_cast<char>(q.redelivered ? kRedelivered : 0));
  }
  put_string(out, exchange);
  put_string(out, routing_key);
  put_string(out, properties);
  out.append(body);
  return finish_record(out, start);
}

namespace {

std::size_t append_queue_record(std::string& out, RecordType type, std::uint64_t id,
                                std::string_view queue) {
  std::size_t start = start_record(out, type);
  put_fixed64(out, id);
  out.append(queue);
  return finish_record(out, start);
}

}  // namespace

std::size_t append_delivered(std::string& out, std::uint64_t id, std::string_view queue) {
  return append_queue_record(out, RecordType::kDelivered, id, queue);
}

std::size_t append_ack(std::string& out, std::uint64_t id, std::string_view queue) {
  return append_queue_record(out, RecordType::kAck, id, queue);
}

std::size_t append_drop_queue(std::string& out, std::string_view queue) {
  std::size_t start = start_record(out, RecordType::kDropQueue);
  out.append(queue);
  return finish_record(out, start);
}

bool RecordReader::fail(std::string reason) {
  corruption_ = Corruption{offset_, file_.size() - offset_, std::move(reason)};
  return false;
}

bool RecordReader::next(Record* record) {
  if (corruption_ || offset_ >= file_.size()) return false;
  std::string_view rest = file_.substr(offset_);
  if (rest.size() < kRecordHeaderSize) return fail("truncated record header");
  std::uint32_t length = get_fixed32(rest.data());
  std::uint32_t crc = crc32c::unmask(get_fixed32(rest.data() + 4));
  if (rest.size() - kRecordHeaderSize < length)
    return fail("truncated record (length " + std::to_string(length) + ", " +
                std::to_string(rest.size() - kRecordHeaderSize) + " bytes left)");
  std::string_view checked = rest.substr(8, 1 + std::size_t{length});  // type + payload
  if (crc32c::value(checked) != crc) return fail("checksum mismatch");
  auto type = static_cast<std::uint8_t>(checked[0]);
  if (type < 1 || type > 4) return fail("unknown record type " + std::to_string(type));
  record->type = static_cast<RecordType>(type);
  record->offset = offset_;
  record->size = kRecordHeaderSize + length;
  if (!decode_payload(checked.substr(1), record)) return fail("malformed record payload");
  offset_ += record->size;
  return true;
}

}  // namespace warren::detail::store
