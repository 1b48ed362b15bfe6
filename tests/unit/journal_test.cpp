// The broker's message store (devices/broker/src/store, docs/journal.md):
// CRC32C against known vectors; atomic file replacement and the data
// directory lock; the journal's record codec; and the journal itself across
// reopen: live messages and their flags, ids, torn and corrupt tails, segment
// rollover and removal, compaction (also interrupted by a crash), group
// commit's ticket and eventfd, the sync_interval mode, and I/O failure.
#include "store/journal.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "store/crc32c.hpp"
#include "store/files.hpp"
#include "store/journal_format.hpp"

namespace warren::detail::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- helpers

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "journal_test.XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Collects log lines (the journal logs from its own threads too).
class LogLines {
 public:
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    };
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }
  bool contains(std::string_view text) const {
    for (const std::string& line : lines())
      if (line.find(text) != std::string::npos) return true;
    return false;
  }
  std::string all() const {
    std::string s;
    for (const std::string& line : lines()) s += line + "\n";
    return s;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

std::vector<std::string_view> queues(std::initializer_list<std::string_view> names) {
  return names;
}

// Waits (with a deadline, not a sleep) until the journal's eventfd says
// durable() has reached `ticket`.
bool wait_durable(Journal& j, std::uint64_t ticket, std::chrono::milliseconds deadline = 10s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (j.durable() < ticket) {
    if (j.failed()) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{j.notify_fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) > 0) j.clear_notify();
  }
  return true;
}

std::vector<fs::path> segment_files(const fs::path& data_dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(data_dir / "journal"))
    if (parse_segment_name(e.path().filename().string())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::uint64_t segment_number(const fs::path& file) {
  return *parse_segment_name(file.filename().string());
}

std::string body_of(std::size_t i) { return "body-" + std::to_string(i); }

// An open journal and what it recovered.
struct Opened {
  std::vector<RecoveredMessage> recovered;
  std::unique_ptr<Journal> journal;
  Journal* operator->() { return journal.get(); }
};

class JournalTest : public ::testing::Test {
 protected:
  JournalOptions options() {
    return {.dir = dir_.path(), .segment_bytes = segment_bytes_, .log = log_.sink()};
  }
  Opened open(JournalOptions o) {
    Opened opened;
    opened.journal = std::make_unique<Journal>(std::move(o), opened.recovered);
    return opened;
  }
  Opened open() { return open(options()); }
  fs::path journal_dir() const { return dir_.path() / "journal"; }

  // Writes ten messages, then damages the last record with `damage`; reopen
  // must keep the nine before it, report exactly what it dropped, and go on
  // working afterwards.
  void torn_tail(const std::function<void(const fs::path&)>& damage, std::string_view reason) {
    std::uintmax_t good = 0;
    fs::path last;
    {
      Opened j = open();
      for (int i = 0; i < 9; ++i) j->publish("ex", "rk", "", body_of(i), queues({"q"}));
      ASSERT_TRUE(wait_durable(*j.journal, j->commit()));
      last = segment_files(dir_.path()).back();
      good = fs::file_size(last);
      j->publish("ex", "rk", "", body_of(9), queues({"q"}));
    }
    damage(last);
    std::uintmax_t damaged = fs::file_size(last);
    {
      Opened j = open();
      ASSERT_EQ(j.recovered.size(), 9u);
      for (int i = 0; i < 9; ++i) EXPECT_EQ(j.recovered[i].body, body_of(i));
      std::string expected = "journal: segment " + std::to_string(segment_number(last)) +
                             ": dropped " + std::to_string(damaged - good) + " bytes at offset " +
                             std::to_string(good) + ": " + std::string(reason);
      EXPECT_TRUE(log_.contains(expected)) << expected << "\n" << log_.all();
      EXPECT_EQ(fs::file_size(last), good);  // cut off
      j->publish("ex", "rk", "", "after", queues({"q"}));
    }
    Opened j = open();
    ASSERT_EQ(j.recovered.size(), 10u);
    EXPECT_EQ(j.recovered[9].body, "after");
  }

  TempDir dir_;
  LogLines log_;
  std::uint64_t segment_bytes_ = 64 << 20;
};

// ---------------------------------------------------------------- crc32c

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c::value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::value(""), 0u);
  // RFC 3720 (iSCSI), B.4.
  EXPECT_EQ(crc32c::value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c::value(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(crc32c::value(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c::value(descending), 0x113FDB5Cu);
}

TEST(Crc32c, PortableAndHardwareAgreeAtEveryLengthAndAlignment) {
  std::mt19937 rng(42);
  std::string data(4096 + 16, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (std::size_t offset = 0; offset < 9; ++offset)
    for (std::size_t n : {0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 100, 1000, 4096}) {
      const char* p = data.data() + offset;
      ASSERT_EQ(crc32c::extend(0, p, n), crc32c::extend_portable(0, p, n)) << offset << " " << n;
    }
  std::cout << "crc32c: " << (crc32c::hardware_accelerated() ? "SSE4.2" : "portable") << "\n";
}

TEST(Crc32c, ExtendComposes) {
  std::string a = "hello ", b = "world";
  EXPECT_EQ(crc32c::extend(crc32c::value(a), b.data(), b.size()), crc32c::value(a + b));
}

TEST(Crc32c, MaskRoundTripsAndChangesTheValue) {
  std::uint32_t crc = crc32c::value("foo");
  EXPECT_NE(crc32c::mask(crc), crc);
  EXPECT_NE(crc32c::mask(crc32c::mask(crc)), crc);
  EXPECT_EQ(crc32c::unmask(crc32c::mask(crc)), crc);
  EXPECT_EQ(crc32c::unmask(crc32c::unmask(crc32c::mask(crc32c::mask(crc)))), crc);
}

// ---------------------------------------------------------------- files

TEST(Files, WriteFileAtomicallyReplacesContentAndLeavesNoTmp) {
  TempDir dir;
  fs::path file = dir.path() / "definitions";
  write_file_atomically(file, "first");
  EXPECT_EQ(read_file(file), "first");
  write_file_atomically(file, std::string("second\0binary", 13));
  EXPECT_EQ(read_file(file), std::string("second\0binary", 13));
  write_file_atomically(file, "");
  EXPECT_EQ(read_file(file), "");
  EXPECT_FALSE(fs::exists(dir.path() / "definitions.tmp"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(Files, ReadFileOfAMissingFileIsNullopt) {
  TempDir dir;
  EXPECT_EQ(read_file(dir.path() / "nope"), std::nullopt);
}

TEST(Files, ErrorsNameThePath) {
  TempDir dir;
  fs::path file = dir.path() / "missing-dir" / "x";
  try {
    write_file_atomically(file, "x");
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find(file.string() + ".tmp"), std::string::npos) << e.what();
  }
}

TEST(Files, DirectoryLockIsExclusiveAndReleased) {
  TempDir dir;
  fs::path data = dir.path() / "data";  // created by the lock
  {
    DirectoryLock lock(data);
    EXPECT_TRUE(fs::is_directory(data));
    EXPECT_EQ(read_file(data / "lock"), std::to_string(::getpid()) + "\n");
    try {
      DirectoryLock second(data);
      FAIL() << "second lock taken";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "data directory " + data.string() +
                                           " is in use by another broker (pid " +
                                           std::to_string(::getpid()) + ")");
    }
  }
  DirectoryLock again(data);  // released with the first
  DirectoryLock moved(std::move(again));
  EXPECT_THROW(DirectoryLock third(data), std::runtime_error);
}

// ---------------------------------------------------------------- format

TEST(JournalFormat, SegmentNames) {
  EXPECT_EQ(segment_path("/d", 42), fs::path("/d/00000000000000000042.seg"));
  EXPECT_EQ(parse_segment_name("00000000000000000042.seg"), 42u);
  EXPECT_EQ(parse_segment_name("18446744073709551615.seg"), 18446744073709551615u);
  EXPECT_EQ(parse_segment_name("0000000000000000042.seg"), std::nullopt);
  EXPECT_EQ(parse_segment_name("00000000000000000042.seg.tmp"), std::nullopt);
  EXPECT_EQ(parse_segment_name("0000000000000000004x.seg"), std::nullopt);
  EXPECT_EQ(parse_segment_name("lock"), std::nullopt);
}

TEST(JournalFormat, HeaderRoundTripAndDamage) {
  std::string h = encode_segment_header({.next_id = 77, .compacted_through = 5});
  ASSERT_EQ(h.size(), kSegmentHeaderSize);
  EXPECT_EQ(h.substr(0, 4), "WRNJ");
  DecodedHeader d = decode_segment_header(h);
  ASSERT_EQ(d.status, DecodedHeader::kOk);
  EXPECT_EQ(d.header.next_id, 77u);
  EXPECT_EQ(d.header.compacted_through, 5u);

  EXPECT_EQ(decode_segment_header(h.substr(0, 27)).status, DecodedHeader::kCorrupt);
  std::string flipped = h;
  flipped[9] ^= 1;
  EXPECT_EQ(decode_segment_header(flipped).problem, "segment header checksum mismatch");
  std::string magic = h;
  magic[0] = 'X';
  EXPECT_EQ(decode_segment_header(magic).status, DecodedHeader::kCorrupt);
}

TEST(JournalFormat, RecordsRoundTrip) {
  std::string file = encode_segment_header({});
  std::vector<QueueState> qs = {{"q1", false}, {"q2", true}};
  std::string body(300, 'b');  // a length that needs a two-byte varint elsewhere
  std::size_t n1 = append_publish(file, 7, qs, "ex", "rk", std::string("p\0p", 3), body);
  std::size_t n2 = append_delivered(file, 7, "q1");
  std::size_t n3 = append_ack(file, 7, "q2");
  std::size_t n4 = append_drop_queue(file, "q1");
  EXPECT_EQ(file.size(), kSegmentHeaderSize + n1 + n2 + n3 + n4);

  RecordReader reader(file);
  Record r;
  ASSERT_TRUE(reader.next(&r));
  EXPECT_EQ(r.type, RecordType::kPublish);
  EXPECT_EQ(r.offset, kSegmentHeaderSize);
  EXPECT_EQ(r.size, n1);
  EXPECT_EQ(r.id, 7u);
  ASSERT_EQ(r.queues.size(), 2u);
  EXPECT_EQ(r.queues[0].queue, "q1");
  EXPECT_FALSE(r.queues[0].redelivered);
  EXPECT_EQ(r.queues[1].queue, "q2");
  EXPECT_TRUE(r.queues[1].redelivered);
  EXPECT_EQ(r.exchange, "ex");
  EXPECT_EQ(r.routing_key, "rk");
  EXPECT_EQ(r.properties, std::string("p\0p", 3));
  EXPECT_EQ(r.body, body);
  ASSERT_TRUE(reader.next(&r));
  EXPECT_EQ(r.type, RecordType::kDelivered);
  EXPECT_EQ(r.id, 7u);
  EXPECT_EQ(r.queue, "q1");
  ASSERT_TRUE(reader.next(&r));
  EXPECT_EQ(r.type, RecordType::kAck);
  EXPECT_EQ(r.queue, "q2");
  ASSERT_TRUE(reader.next(&r));
  EXPECT_EQ(r.type, RecordType::kDropQueue);
  EXPECT_EQ(r.queue, "q1");
  EXPECT_FALSE(reader.next(&r));
  EXPECT_FALSE(reader.corruption());
  EXPECT_EQ(reader.offset(), file.size());
}

TEST(JournalFormat, ReaderStopsAtEveryKindOfDamage) {
  std::string good = encode_segment_header({});
  append_ack(good, 1, "q");
  std::size_t first = good.size();
  append_ack(good, 2, "q");

  auto damage = [&](std::string file) {
    RecordReader reader(file);
    Record r;
    EXPECT_TRUE(reader.next(&r));
    EXPECT_FALSE(reader.next(&r));
    EXPECT_EQ(reader.offset(), first);
    EXPECT_TRUE(reader.corruption());
    return reader.corruption() ? reader.corruption()->reason : std::string();
  };
  EXPECT_EQ(damage(good.substr(0, first + 5)), "truncated record header");
  EXPECT_EQ(damage(good.substr(0, good.size() - 1)).rfind("truncated record (", 0), 0u);
  std::string flipped = good;
  flipped.back() ^= 0x20;
  EXPECT_EQ(damage(flipped), "checksum mismatch");
  EXPECT_EQ(damage(good.substr(0, first) + std::string(20, '\0')), "checksum mismatch");

  // A record with a valid checksum but an unknown type, or a bad payload.
  auto forge = [&](std::uint8_t type, std::string payload) {
    std::string rec(8, '\0');
    rec.push_back(static_cast<char>(type));
    rec += payload;
    std::uint32_t crc = crc32c::mask(crc32c::value(std::string_view(rec).substr(8)));
    for (int i = 0; i < 4; ++i) rec[i] = static_cast<char>(payload.size() >> (8 * i));
    for (int i = 0; i < 4; ++i) rec[4 + i] = static_cast<char>(crc >> (8 * i));
    return good.substr(0, first) + rec;
  };
  EXPECT_EQ(damage(forge(9, "x")), "unknown record type 9");
  EXPECT_EQ(damage(forge(static_cast<std::uint8_t>(RecordType::kAck), "short")),
            "malformed record payload");
}

// ---------------------------------------------------------------- journal

TEST_F(JournalTest, RoundTripAcrossReopen) {
  {
    Opened j = open();
    EXPECT_TRUE(j.recovered.empty());
    auto a = j->publish("ex", "rk.a", "props-a", "body-a", queues({"q1"}));
    auto b = j->publish("", "q1", std::string("\0\1", 2), "body-b", queues({"q1", "q2", "q3"}));
    auto c = j->publish("ex", "rk.c", "", "body-c", queues({"q2"}));
    auto d = j->publish("ex", "rk.d", "", "body-d", queues({"q1", "q2"}));
    auto e = j->publish("ex", "rk.e", "", std::string(100000, 'e'), queues({"q3"}));
    EXPECT_LT(a, b);
    j->delivered(a, "q1");
    j->delivered(b, "q2");
    j->ack(b, "q1");  // b: q1 settled, q2 redelivered, q3 untouched
    j->ack(c, "q2");  // c: gone
    j->delivered(d, "q1");
    j->ack(d, "q1");  // d: only q2 left, not redelivered there
    j->ack(e, "nope");
    j->ack(999, "q1");
    j->delivered(999, "q1");
    ASSERT_TRUE(wait_durable(*j.journal, j->commit()));
    EXPECT_EQ(j->stats().live_messages, 4u);
  }
  Opened j = open();
  ASSERT_EQ(j.recovered.size(), 4u);
  const auto& m = j.recovered;
  EXPECT_EQ(m[0].exchange, "ex");
  EXPECT_EQ(m[0].routing_key, "rk.a");
  EXPECT_EQ(m[0].properties, "props-a");
  EXPECT_EQ(m[0].body, "body-a");
  EXPECT_EQ(m[0].queues, (std::vector<std::pair<std::string, bool>>{{"q1", true}}));
  EXPECT_EQ(m[1].properties, std::string("\0\1", 2));
  EXPECT_EQ(m[1].queues, (std::vector<std::pair<std::string, bool>>{{"q2", true}, {"q3", false}}));
  EXPECT_EQ(m[2].body, "body-d");
  EXPECT_EQ(m[2].queues, (std::vector<std::pair<std::string, bool>>{{"q2", false}}));
  EXPECT_EQ(m[3].body, std::string(100000, 'e'));
  for (std::size_t i = 1; i < m.size(); ++i) EXPECT_LT(m[i - 1].id, m[i].id);
  EXPECT_EQ(j->stats().live_messages, 4u);

  // The recovered state carries on: settle the rest and they stay gone.
  j->ack(m[0].id, "q1");
  j->ack(m[1].id, "q2");
  j->ack(m[1].id, "q3");
  j->ack(m[2].id, "q2");
  j->drop_queue("q3");
  j.journal.reset();
  EXPECT_TRUE(open().recovered.empty());
}

TEST_F(JournalTest, DropQueueSettlesOnlyThatQueueAndOnlyEarlierMessages) {
  {
    Opened j = open();
    j->publish("", "", "", "1", queues({"a", "b"}));
    j->publish("", "", "", "2", queues({"a"}));
    j->drop_queue("a");
    j->publish("", "", "", "3", queues({"a"}));  // a queue of the same name, declared again
    j->drop_queue("never-existed");
  }
  Opened j = open();
  ASSERT_EQ(j.recovered.size(), 2u);
  EXPECT_EQ(j.recovered[0].body, "1");
  EXPECT_EQ(j.recovered[0].queues, (std::vector<std::pair<std::string, bool>>{{"b", false}}));
  EXPECT_EQ(j.recovered[1].body, "3");
  EXPECT_EQ(j.recovered[1].queues, (std::vector<std::pair<std::string, bool>>{{"a", false}}));
}

TEST_F(JournalTest, DuplicateQueueNamesInOnePublishCountOnce) {
  {
    Opened j = open();
    auto id = j->publish("", "", "", "x", queues({"q", "q"}));
    j->ack(id, "q");
    j->publish("", "", "", "none", {});  // owed to nobody: nothing written
    EXPECT_EQ(j->stats().live_messages, 0u);
  }
  EXPECT_TRUE(open().recovered.empty());
}

TEST_F(JournalTest, ManyMessagesSettledOutOfOrder) {
  // Enough settled entries in the middle (the oldest stays live) that the
  // index and replay both compact their bookkeeping on the way.
  std::vector<std::uint64_t> ids;
  {
    Opened j = open();
    for (int i = 0; i < 6000; ++i) ids.push_back(j->publish("", "", "", body_of(i), queues({"q"})));
    for (int i = 0; i < 6000; ++i)
      if (i % 3 != 0) j->ack(ids[i], "q");
    for (int i = 0; i < 6000; i += 3) j->delivered(ids[i], "q");
    EXPECT_EQ(j->stats().live_messages, 2000u);
  }
  Opened j = open();
  ASSERT_EQ(j.recovered.size(), 2000u);
  for (std::size_t k = 0; k < j.recovered.size(); ++k) {
    EXPECT_EQ(j.recovered[k].id, ids[k * 3]);
    EXPECT_EQ(j.recovered[k].queues, (std::vector<std::pair<std::string, bool>>{{"q", true}}));
  }
  for (std::size_t k = 0; k < j.recovered.size(); k += 2) j->ack(j.recovered[k].id, "q");
  EXPECT_EQ(j->stats().live_messages, 1000u);
}

TEST_F(JournalTest, MessageIdsKeepIncreasingAcrossReopen) {
  std::uint64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    Opened j = open();
    for (int i = 0; i < 3; ++i) {
      std::uint64_t id = j->publish("", "", "", "x", queues({"q"}));
      EXPECT_GT(id, last);
      last = id;
      j->ack(id, "q");  // everything settled: all old segments go at the next open
    }
  }
  // Even with every message settled and every old segment removed.
  Opened j = open();
  EXPECT_TRUE(j.recovered.empty());
  EXPECT_EQ(j->stats().segments, 1u);
  EXPECT_GT(j->publish("", "", "", "x", queues({"q"})), last);
}

TEST_F(JournalTest, TornTailShortRecordIsCutOff) {
  torn_tail([](const fs::path& file) { fs::resize_file(file, fs::file_size(file) - 3); },
            "truncated record (length ");
}

TEST_F(JournalTest, TornTailBadChecksumIsCutOff) {
  torn_tail(
      [](const fs::path& file) {
        auto size = static_cast<std::streamoff>(fs::file_size(file));
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(size - 2);
        char c;
        f.get(c);
        f.seekp(size - 2);
        f.put(static_cast<char>(c ^ 0x01));
      },
      "checksum mismatch");
}

TEST_F(JournalTest, TornTailReportsExactlyWhatWasDropped) {
  std::uintmax_t good_size = 0;
  fs::path file;
  {
    Opened j = open();
    j->publish("", "", "", "kept", queues({"q"}));
    ASSERT_TRUE(wait_durable(*j.journal, j->commit()));
    file = segment_files(dir_.path()).back();
    good_size = fs::file_size(file);
    j->publish("", "", "", "torn", queues({"q"}));
  }
  std::uintmax_t full = fs::file_size(file);
  fs::resize_file(file, full - 4);
  Opened j = open();
  ASSERT_EQ(j.recovered.size(), 1u);
  std::string expected = "journal: segment " + std::to_string(segment_number(file)) + ": dropped " +
                         std::to_string(full - 4 - good_size) + " bytes at offset " +
                         std::to_string(good_size) + ": truncated record (length ";
  EXPECT_TRUE(log_.contains(expected)) << expected << "\n" << log_.all();
}

TEST_F(JournalTest, CorruptionInAnEarlierSegmentSkipsItsRestAndStarts) {
  segment_bytes_ = 256;
  {
    Opened j = open();
    for (int i = 0; i < 30; ++i) j->publish("", "", "", body_of(i), queues({"q"}));
  }
  std::vector<fs::path> files = segment_files(dir_.path());
  ASSERT_GE(files.size(), 4u);
  // Damage the first record of the second segment holding messages.
  fs::path victim = files[1];
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(kSegmentHeaderSize + kRecordHeaderSize + 2);
    f.put('#');
  }
  std::uintmax_t victim_size = fs::file_size(victim);
  Opened j = open();
  EXPECT_TRUE(log_.contains("journal: segment " + std::to_string(segment_number(victim)) +
                            ": dropped " + std::to_string(victim_size - kSegmentHeaderSize) +
                            " bytes at offset " + std::to_string(kSegmentHeaderSize) +
                            ": checksum mismatch (not the last segment)"))
      << log_.all();
  EXPECT_EQ(fs::file_size(victim), victim_size);  // only the last segment is cut
  EXPECT_GT(j.recovered.size(), 15u);
  EXPECT_LT(j.recovered.size(), 30u);
  EXPECT_EQ(j.recovered.front().body, body_of(0));
  EXPECT_EQ(j.recovered.back().body, body_of(29));
}

TEST_F(JournalTest, UnfinishedSegmentWithoutHeaderIsRemoved) {
  {
    Opened j = open();
    j->publish("", "", "", "kept", queues({"q"}));
  }
  // A crash between creating a segment and its header reaching the disk.
  fs::path stray =
      segment_path(journal_dir(), segment_number(segment_files(dir_.path()).back()) + 1);
  std::ofstream(stray) << "WR";
  Opened j = open();
  ASSERT_EQ(j.recovered.size(), 1u);
  EXPECT_TRUE(log_.contains("dropped 2 bytes at offset 0: truncated segment header")) << log_.all();
  j->publish("", "", "", "more", queues({"q"}));
  j.journal.reset();
  EXPECT_EQ(open().recovered.size(), 2u);
}

TEST_F(JournalTest, NewerFormatVersionRefusesToStart) {
  { open(); }
  fs::path file = segment_files(dir_.path()).back();
  std::string header = *read_file(file);
  header[4] = 2;  // version 2, with a valid checksum
  std::uint32_t crc = crc32c::mask(crc32c::value(std::string_view(header).substr(0, 24)));
  for (int i = 0; i < 4; ++i) header[24 + i] = static_cast<char>(crc >> (8 * i));
  write_file_atomically(file, header);
  try {
    open();
    FAIL() << "opened";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("has format version 2"), std::string::npos) << e.what();
  }
}

TEST_F(JournalTest, SegmentsRollOverAndSettledOnesAreRemoved) {
  JournalOptions o = options();
  o.segment_bytes = 1024;
  o.compact_below = 0;  // removal alone
  Opened j = open(o);
  std::vector<std::uint64_t> ids;
  std::string body(200, 'x');
  for (int i = 0; i < 100; ++i) ids.push_back(j->publish("", "", "", body, queues({"q"})));
  j->quiesce();
  std::uint64_t many = j->stats().segments;
  EXPECT_GE(many, 20u);
  EXPECT_EQ(segment_files(dir_.path()).size(), many);

  for (int i = 0; i < 80; ++i) j->ack(ids[i], "q");  // the oldest 80%
  j->quiesce();
  EXPECT_LT(j->stats().segments, many / 2);
  EXPECT_EQ(segment_files(dir_.path()).size(), j->stats().segments);
  EXPECT_EQ(j->stats().compactions, 0u);
  EXPECT_EQ(j->stats().live_messages, 20u);
  j.journal.reset();

  Opened again = open(o);
  ASSERT_EQ(again.recovered.size(), 20u);
  EXPECT_EQ(again.recovered.front().id, ids[80]);
}

// The oldest segment is pinned by one live message while the rest is
// settled: compaction must shrink the journal, keep the live messages and
// their flags, and never bring a settled one back.
class CompactionTest : public JournalTest {
 protected:
  void SetUp() override { segment_bytes_ = 1024; }

  // Publishes 200 messages: #0 to "pinned" (delivered), the rest to "q" and,
  // every tenth, also "r"; settles all of "q" but every 50th (which gets
  // delivered instead).
  void fill(Journal& j) {
    for (int i = 0; i < 200; ++i) {
      auto qs = i == 0 ? queues({"pinned"}) : i % 10 == 0 ? queues({"q", "r"}) : queues({"q"});
      ids_.push_back(j.publish("ex", "rk", "p", body_of(i), qs));
    }
    j.delivered(ids_[0], "pinned");
    for (int i = 1; i < 200; ++i) {
      if (i % 50 == 0)
        j.delivered(ids_[i], "q");
      else
        j.ack(ids_[i], "q");
    }
  }

  // What fill() leaves: #0 (pinned, redelivered), #10, #20... on r, and
  // #50, #100, #150 on q (redelivered) and r.
  void expect_live(const std::vector<RecoveredMessage>& m) {
    std::vector<std::string> bodies;
    for (const auto& r : m) bodies.push_back(r.body);
    std::vector<std::string> expected;
    for (int i = 0; i < 200; ++i)
      if (i % 10 == 0) expected.push_back(body_of(i));
    ASSERT_EQ(bodies, expected);
    EXPECT_EQ(m[0].queues, (std::vector<std::pair<std::string, bool>>{{"pinned", true}}));
    EXPECT_EQ(m[1].queues, (std::vector<std::pair<std::string, bool>>{{"r", false}}));
    EXPECT_EQ(m[5].queues, (std::vector<std::pair<std::string, bool>>{{"q", true}, {"r", false}}));
    for (std::size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i].id, ids_[i * 10]);
  }

  std::vector<std::uint64_t> ids_;
};

TEST_F(CompactionTest, KeepsLiveMessagesAndFlagsAndNeverResurrects) {
  {
    Opened j = open();
    fill(*j.journal);
    std::uint64_t before = j->stats().segments;
    EXPECT_GT(before, 10u);
    j->quiesce();
    EXPECT_GE(j->stats().compactions, 1u) << log_.all();
    EXPECT_LT(j->stats().segments, before / 3);
    EXPECT_EQ(j->stats().live_messages, 20u);
    EXPECT_EQ(segment_files(dir_.path()).size(), j->stats().segments);
    EXPECT_TRUE(log_.contains("journal: compacted segments 1-")) << log_.all();
  }
  Opened j = open();
  expect_live(j.recovered);

  // Compacted records go on being settled like any others.
  for (const auto& m : j.recovered)
    for (const auto& [queue, redelivered] : m.queues) j->ack(m.id, queue);
  j->quiesce();
  j.journal.reset();
  EXPECT_TRUE(open().recovered.empty());
}

TEST_F(CompactionTest, CrashBeforeOldSegmentsWereRemoved) {
  JournalOptions no_compaction = options();
  no_compaction.compact_below = 0;
  {
    Opened j = open(no_compaction);
    fill(*j.journal);
  }
  // Keep copies of the segments compaction is about to replace.
  fs::path saved = dir_.path() / "saved";
  fs::copy(journal_dir(), saved);
  {
    Opened j = open();
    j->quiesce();  // the first commit finds the sealed segments mostly settled
    ASSERT_GE(j->stats().compactions, 1u) << log_.all();
  }
  // The crash: the compacted segment was renamed into place, but the old
  // ones it replaces were never unlinked.
  std::size_t restored = 0;
  for (const auto& e : fs::directory_iterator(saved)) {
    fs::path target = journal_dir() / e.path().filename();
    if (!fs::exists(target)) {
      fs::copy_file(e.path(), target);
      ++restored;
    }
  }
  ASSERT_GT(restored, 0u);
  Opened j = open();
  expect_live(j.recovered);
  EXPECT_TRUE(log_.contains("superseded by compacted segment")) << log_.all();
  for (std::uint64_t i = 1; i < 3; ++i) EXPECT_FALSE(fs::exists(segment_path(journal_dir(), i)));
}

TEST_F(CompactionTest, CrashBeforeTheCompactedSegmentWasRenamed) {
  {
    Opened j = open();
    fill(*j.journal);
  }
  // The crash: compaction output half written, nothing replaced yet.
  std::ofstream(segment_path(journal_dir(), 3).string() + ".tmp") << "half a segment";
  Opened j = open();
  expect_live(j.recovered);
  EXPECT_FALSE(fs::exists(segment_path(journal_dir(), 3).string() + ".tmp"));
  EXPECT_TRUE(log_.contains("unfinished compaction")) << log_.all();
}

TEST_F(JournalTest, DurableReachesTheTicketAndTheEventfdSignalsIt) {
  Opened j = open();
  EXPECT_EQ(j->commit(), 0u);  // nothing appended: nothing to wait for
  j->publish("", "", "", "a", queues({"q"}));
  std::uint64_t t1 = j->commit();
  EXPECT_EQ(t1, 1u);
  pollfd p{j->notify_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  j->clear_notify();
  ASSERT_TRUE(wait_durable(*j.journal, t1));

  // Group commit: many commits, far fewer fsyncs are allowed but not required;
  // every ticket is reached.
  std::uint64_t last = 0;
  for (int i = 0; i < 200; ++i) {
    j->publish("", "", "", body_of(i), queues({"q"}));
    last = j->commit();
  }
  ASSERT_TRUE(wait_durable(*j.journal, last));
  EXPECT_EQ(last, 201u);
  EXPECT_LE(j->stats().syncs, 201u);
  EXPECT_EQ(j->stats().records, 201u);
  EXPECT_FALSE(j->failed());
}

TEST_F(JournalTest, SyncIntervalMode) {
  JournalOptions o = options();
  o.sync_interval = 20ms;
  {
    Opened j = open(o);
    std::uint64_t ticket = 0;
    for (int i = 0; i < 50; ++i) {
      j->publish("", "", "", body_of(i), queues({"q"}));
      ticket = j->commit();
    }
    ASSERT_TRUE(wait_durable(*j.journal, ticket));
    // fdatasync follows within the interval without another commit.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (j->stats().syncs == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    EXPECT_GE(j->stats().syncs, 1u);
    EXPECT_LT(j->stats().syncs, 50u);
    j->ack(j->publish("", "", "", "gone", queues({"q"})), "q");
  }
  Opened j = open(o);
  ASSERT_EQ(j.recovered.size(), 50u);
  EXPECT_EQ(j.recovered[49].body, body_of(49));
}

TEST_F(JournalTest, WriteFailureStopsDurabilityWithoutCrashing) {
  JournalOptions o = options();
  o.segment_bytes = 1;  // every record rolls over to a new segment file
  Opened j = open(o);
  fs::remove_all(journal_dir());  // so creating the next one fails
  j->publish("", "", "", "b", queues({"q"}));
  std::uint64_t ticket = j->commit();
  EXPECT_FALSE(wait_durable(*j.journal, ticket));
  EXPECT_TRUE(j->failed());
  EXPECT_LT(j->durable(), ticket);
  EXPECT_NE(j->error().find("No such file or directory"), std::string::npos) << j->error();
  EXPECT_TRUE(log_.contains("the journal has stopped")) << log_.all();
  // The loop may carry on calling it.
  j->publish("", "", "", "c", queues({"q"}));
  j->commit();
  j->quiesce();
  EXPECT_TRUE(j->failed());
}

// ---------------------------------------------------------------- paging

TEST_F(JournalTest, ReadBodyReturnsWhatWasWrittenOnceItIsWritten) {
  Opened j = open();
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(j->publish("ex", "rk", "p", body_of(i), queues({"q"})));
  EXPECT_FALSE(j->readable(ids[0]));  // still in the buffer: not in the file yet
  EXPECT_FALSE(j->read_body(ids[0]));
  ASSERT_TRUE(wait_durable(*j.journal, j->commit()));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(j->readable(ids[i]));
    EXPECT_EQ(j->read_body(ids[i]), body_of(i));
  }
  j->ack(ids[3], "q");
  EXPECT_FALSE(j->read_body(ids[3]));  // settled: not live
  EXPECT_FALSE(j->read_body(999999));
}

TEST_F(CompactionTest, ReadBodyFollowsMessagesIntoACompactedSegment) {
  Opened j = open();
  fill(*j.journal);
  // Read some before compaction (caching fds of the old segments) ...
  ASSERT_TRUE(wait_durable(*j.journal, j->commit()));
  for (int i = 0; i < 200; i += 10) EXPECT_EQ(j->read_body(ids_[i]), body_of(i)) << i;
  j->quiesce();
  EXPECT_GE(j->stats().compactions, 1u) << log_.all();
  // ... and after it: every live message reads back from its new place.
  for (int i = 0; i < 200; i += 10) EXPECT_EQ(j->read_body(ids_[i]), body_of(i)) << i;
}

TEST_F(CompactionTest, ReadBodyIsRightWhileACompactionReplacesTheFiles) {
  // Reads interleaved with publishes, acks and background compactions.
  Opened j = open();
  std::vector<std::pair<std::uint64_t, int>> live;
  for (int i = 0; i < 3000; ++i) {
    auto id = j->publish("ex", "rk", "p", body_of(i), queues({i % 7 == 0 ? "keep" : "q"}));
    if (i % 7 == 0) {
      live.emplace_back(id, i);
    } else {
      j->ack(id, "q");
    }
    if (i % 25 == 0) {
      j->commit();
      for (auto [lid, n] : live) {
        if (j->readable(lid)) {
          ASSERT_EQ(j->read_body(lid), body_of(n)) << lid;
        }
      }
    }
  }
  j->quiesce();
  EXPECT_GE(j->stats().compactions, 1u) << log_.all();
  for (auto [lid, n] : live) ASSERT_EQ(j->read_body(lid), body_of(n)) << lid;
}

TEST_F(JournalTest, RecoveryLoadsBodiesWithinItsBudgetAndPagesTheRest) {
  std::vector<std::uint64_t> ids;
  {
    Opened j = open();
    for (int i = 0; i < 100; ++i) ids.push_back(j->publish("ex", "rk", "p", body_of(i), queues({"q"})));
    for (int i = 0; i < 10; ++i) j->ack(ids[i], "q");  // their budget comes back
  }
  JournalOptions o = options();
  o.recovery_body_budget = 20 * body_of(0).size();
  Opened j = open(o);
  ASSERT_EQ(j.recovered.size(), 90u);
  std::size_t loaded = 0;
  for (std::size_t i = 0; i < j.recovered.size(); ++i) {
    const auto& m = j.recovered[i];
    if (m.paged) {
      EXPECT_TRUE(m.body.empty());
      EXPECT_EQ(j->read_body(m.id), body_of(static_cast<int>(i) + 10));
    } else {
      ++loaded;
      EXPECT_EQ(m.body, body_of(static_cast<int>(i) + 10));
    }
  }
  // Replay meets the ten acked messages' bodies first (their acks come
  // later), so fewer than twenty live ones fit; the rest are paged.
  EXPECT_GE(loaded, 5u);
  EXPECT_LE(loaded, 20u);
  EXPECT_GT(j.recovered.size() - loaded, 60u);
}

}  // namespace
}  // namespace warren::detail::store
