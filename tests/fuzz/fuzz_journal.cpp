// Fuzz target: the journal's segment decoder (devices/broker/src/store,
// journal_format.cpp), the code recovery runs over every segment file at
// startup. The input's first byte picks the mode:
//   even: the rest is a segment file's bytes, read as they are (a corrupt or
//         torn file: every record's checksum must hold for it to be read);
//   odd:  the rest is a list of records, each [u8 type][u16 length][payload],
//         given correct lengths and checksums before reading, so the
//         payload decoders are reached too.
// Reading must stop at the first bad record and say where, never read past
// the data, and never claim more records than the bytes hold.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "store/crc32c.hpp"
#include "store/journal_format.hpp"

namespace {

using namespace warren::detail::store;

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_journal: %s\n", what);
  std::abort();
}

void put32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

// Records with valid framing around the fuzzer's types and payloads.
std::string framed(std::string_view in) {
  std::string out = encode_segment_header(SegmentHeader{1, 0});
  std::size_t i = 0;
  while (i + 3 <= in.size()) {
    auto type = static_cast<std::uint8_t>(in[i]);
    std::size_t length = static_cast<std::uint8_t>(in[i + 1]) | static_cast<std::size_t>(static_cast<std::uint8_t>(in[i + 2])) << 8;
    i += 3;
    length = std::min(length, in.size() - i);
    std::string checked(1, static_cast<char>(type));
    checked.append(in.substr(i, length));
    i += length;
    put32(out, static_cast<std::uint32_t>(length));
    put32(out, crc32c::mask(crc32c::value(checked)));
    out += checked;
  }
  return out;
}

void read_segment(std::string_view file) {
  auto header = decode_segment_header(file);
  if (header.status == DecodedHeader::kOk) check(file.size() >= kSegmentHeaderSize, "header read past the data");
  if (file.size() < kSegmentHeaderSize) return;
  RecordReader reader(file);
  Record record;
  std::size_t previous = reader.offset();
  while (reader.next(&record)) {
    check(record.offset == previous, "record offset skips bytes");
    check(record.size >= kRecordHeaderSize && record.offset + record.size <= file.size(), "record past the data");
    check(reader.offset() == record.offset + record.size, "reader offset disagrees with the record");
    if (record.type == RecordType::kPublish) {
      for (const auto& q : record.queues)
        check(q.queue.empty() || (q.queue.data() >= file.data() && q.queue.data() + q.queue.size() <= file.data() + file.size()),
              "a queue name points outside the file");
      // Every view points inside the file.
      for (std::string_view v : {record.exchange, record.routing_key, record.properties, record.body})
        check(v.empty() || (v.data() >= file.data() && v.data() + v.size() <= file.data() + file.size()),
              "a decoded field points outside the file");
    }
    previous = reader.offset();
  }
  if (const auto& c = reader.corruption()) {
    check(c->offset == reader.offset(), "corruption offset is not where reading stopped");
    check(c->offset + c->bytes == file.size(), "corruption does not run to the end of the data");
    check(!c->reason.empty(), "corruption without a reason");
  } else {
    check(reader.offset() == file.size(), "reading stopped early without a reason");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) read_segment(framed(rest));
  else read_segment(rest);
  return 0;
}
