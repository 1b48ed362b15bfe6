// journal-bench: the broker's message journal (docs/journal.md), one line per
// scenario as LevelDB's db_bench prints them.
//
// Publishes are 100-byte bodies to one queue, with a short exchange, routing
// key and properties, as a persistent message through a direct exchange.
// "commit each" calls commit() after every publish, as a broker loop does
// when messages arrive one at a time: group commit decides how many share an
// fdatasync. Rates count until the last commit is durable. The replay
// scenario writes --replay live messages, closes the journal and times
// opening it again (read, check, rebuild the index and the recovered list).
//
// Run it on the file system the broker will use (--dir): fdatasync cost is
// the whole story for the durable scenarios.
#include <poll.h>
#include <stdlib.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "store/crc32c.hpp"
#include "store/journal.hpp"

namespace {

namespace fs = std::filesystem;
namespace store = warren::detail::store;
using Clock = std::chrono::steady_clock;

struct Options {
  fs::path dir;
  std::uint64_t count = 200'000;
  std::uint64_t replay = 1'000'000;
  std::size_t body = 100;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void wait_durable(store::Journal& j, std::uint64_t ticket) {
  while (j.durable() < ticket && !j.failed()) {
    pollfd p{j.notify_fd(), POLLIN, 0};
    if (::poll(&p, 1, 1000) > 0) j.clear_notify();
  }
}

// A fresh journal directory per scenario.
class Scratch {
 public:
  explicit Scratch(const fs::path& parent) {
    std::string pattern = (parent / "journal-bench.XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp in " + parent.string());
    path_ = pattern;
  }
  ~Scratch() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void report(const char* name, std::uint64_t ops, double secs, const store::Journal::Stats& s,
            std::size_t bytes_per_op) {
  double rate = static_cast<double>(ops) / secs;
  std::printf("%-28s: %9.3f micros/op; %9.0f msg/s; %7.1f MB/s; fsyncs %7llu (%.1f msg/fsync)\n",
              name, secs * 1e6 / static_cast<double>(ops), rate,
              rate * static_cast<double>(bytes_per_op) / 1e6,
              static_cast<unsigned long long>(s.syncs),
              s.syncs ? static_cast<double>(ops) / static_cast<double>(s.syncs) : 0.0);
}

struct Publish {
  std::string body;
  std::vector<std::string_view> queues{"orders"};
  std::uint64_t operator()(store::Journal& j) const {
    return j.publish("amq.direct", "orders", "\x81\xa1p\x02", body, queues);
  }
};

struct Scenario {
  const char* name;
  std::uint64_t commit_every = 1;
  std::chrono::milliseconds sync_interval{0};
  std::uint64_t ack_lag = 0;  // ack each message this many publishes later (0: never)
  bool pin_oldest = false;    // the first message goes to a queue nobody acks
  std::uint64_t segment_bytes = 64 << 20;
};

// Publishes o.count messages as `sc` says; returns seconds until durable.
double run_publishes(store::Journal& j, const Options& o, std::uint64_t count, const Scenario& sc) {
  Publish publish{std::string(o.body, 'x')};
  std::vector<std::string_view> pinned{"pinned"};
  std::vector<std::uint64_t> ids;
  ids.reserve(count);
  auto start = Clock::now();
  std::uint64_t ticket = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (i == 0 && sc.pin_oldest)
      ids.push_back(j.publish("amq.direct", "pinned", "", publish.body, pinned));
    else
      ids.push_back(publish(j));
    if (sc.ack_lag && i >= sc.ack_lag) j.ack(ids[i - sc.ack_lag], "orders");
    if ((i + 1) % sc.commit_every == 0) ticket = j.commit();
  }
  ticket = j.commit();
  wait_durable(j, ticket);
  return seconds_since(start);
}

void publish_scenario(const Options& o, const Scenario& sc) {
  Scratch scratch(o.dir);
  std::vector<store::RecoveredMessage> none;
  store::Journal j(
      {.dir = scratch.path(), .segment_bytes = sc.segment_bytes, .sync_interval = sc.sync_interval},
      none);
  double secs = run_publishes(j, o, o.count, sc);
  report(sc.name, o.count, secs, j.stats(), o.body);
  if (sc.ack_lag) {
    j.quiesce();
    auto s = j.stats();
    std::printf("%-28s  then: %llu live, %llu segment(s), %.1f MB on disk, %llu compaction(s)\n",
                "", static_cast<unsigned long long>(s.live_messages),
                static_cast<unsigned long long>(s.segments), static_cast<double>(s.bytes) / 1e6,
                static_cast<unsigned long long>(s.compactions));
  }
}

// One publisher that waits for each confirm before the next: no group commit,
// so this is the fdatasync latency.
void confirm_each_scenario(const Options& o) {
  Scratch scratch(o.dir);
  std::vector<store::RecoveredMessage> none;
  store::Journal j({.dir = scratch.path()}, none);
  Publish publish{std::string(o.body, 'x')};
  std::uint64_t count = std::min<std::uint64_t>(o.count, 2000);
  auto start = Clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    publish(j);
    wait_durable(j, j.commit());
  }
  report("publish, wait durable, each", count, seconds_since(start), j.stats(), o.body);
}

void replay_scenario(const Options& o) {
  Scratch scratch(o.dir);
  {
    std::vector<store::RecoveredMessage> none;
    store::Journal j({.dir = scratch.path()}, none);
    run_publishes(j, o, o.replay, {.name = "", .commit_every = 1000});
  }
  auto start = Clock::now();
  std::vector<store::RecoveredMessage> recovered;
  store::Journal j({.dir = scratch.path()}, recovered);
  double secs = seconds_since(start);
  auto s = j.stats();
  std::printf(
      "%-28s: %9.3f micros/op; %9.0f msg/s; %7.1f MB/s; %.3f s for %zu live messages, "
      "%llu segments\n",
      "replay (open)", secs * 1e6 / static_cast<double>(recovered.size()),
      static_cast<double>(recovered.size()) / secs, static_cast<double>(s.bytes) / 1e6 / secs, secs,
      recovered.size(), static_cast<unsigned long long>(s.segments));
}

void crc_scenario() {
  std::string block(4096, 'x');
  constexpr int kRounds = 100'000;
  for (bool hardware : {true, false}) {
    if (hardware && !store::crc32c::hardware_accelerated()) continue;
    std::uint32_t crc = 0;
    auto start = Clock::now();
    for (int i = 0; i < kRounds; ++i)
      crc = hardware ? store::crc32c::extend(crc, block.data(), block.size())
                     : store::crc32c::extend_portable(crc, block.data(), block.size());
    double secs = seconds_since(start);
    std::printf("%-28s: %9.3f micros/op; %7.1f MB/s (4 KiB blocks; %08x)\n",
                hardware ? "crc32c (sse4.2)" : "crc32c (slicing-by-8)", secs * 1e6 / kRounds,
                kRounds * 4096.0 / 1e6 / secs, crc);
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  Options o;
  std::string dir = fs::current_path().string();
  po::options_description desc("journal-bench options");
  desc.add_options()("help,h", "this help")("dir", po::value(&dir)->default_value(dir),
                                            "parent directory for scratch journals")(
      "count", po::value(&o.count)->default_value(o.count), "messages per publish scenario")(
      "replay", po::value(&o.replay)->default_value(o.replay), "live messages to replay")(
      "body", po::value(&o.body)->default_value(o.body), "body size in bytes");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  if (vm.count("help")) {
    std::printf("%s\n", (std::ostringstream() << desc).str().c_str());
    return 0;
  }
  po::notify(vm);
  o.dir = dir;

  std::printf("journal-bench: %llu messages of %zu bytes, replay %llu, in %s\n",
              static_cast<unsigned long long>(o.count), o.body,
              static_cast<unsigned long long>(o.replay), o.dir.c_str());
  crc_scenario();
  using std::chrono::milliseconds;
  publish_scenario(o, {.name = "publish, commit each"});
  publish_scenario(o, {.name = "publish, commit every 100", .commit_every = 100});
  publish_scenario(o, {.name = "publish, commit each, 10ms", .sync_interval = milliseconds(10)});
  // Reclamation under a steady publish+ack load (4 MB segments so it shows):
  // removal alone, then with the oldest message never acked (compaction).
  publish_scenario(o, {.name = "publish+ack, lag 1000", .ack_lag = 1000, .segment_bytes = 4 << 20});
  publish_scenario(o, {.name = "publish+ack, oldest pinned",
                       .ack_lag = 1000,
                       .pin_oldest = true,
                       .segment_bytes = 4 << 20});
  confirm_each_scenario(o);
  replay_scenario(o);
  return 0;
}
