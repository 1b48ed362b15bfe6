// The real warrend under sustained bad input: round after round of every bad
// input in the catalogue (support/bad_inputs.hpp) plus bursts of garbage, each
// from fresh DEALER sockets, some of which vanish without answering the
// broker's connection.close. The broker must answer every one, keep its
// resident memory flat, keep serving a good client, and exit cleanly on
// SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

#include "support/bad_inputs.hpp"
#include "support/process.hpp"
#include "support/raw_peer.hpp"
#include "support/temp_dir.hpp"
#include "warren/context.hpp"
#include "warren/warren.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

constexpr BrokerLimits kLimits{.max_message_size = 1024, .max_channels = 2047};

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WARREN_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(WARREN_TEST_ASAN)
// AddressSanitizer keeps freed memory in quarantine (up to 256 MB) by design,
// so RSS grows with the number of allocations, not with leaks; there the exit
// status checks warrend instead (LeakSanitizer fails it on a leak).
constexpr bool kMeasureRss = false;
#else
constexpr bool kMeasureRss = true;
#endif
constexpr std::int64_t kMaxGrowthKb = 3 * 1024;
constexpr int kRounds = 20;

// warrend as a child process on a free loopback port, with a data directory
// of its own (never the default, another broker's). Every path stops it:
// stop() or the destructor sends SIGTERM and waits with a deadline; if it
// does not exit, Process's destructor kills it (SIGKILL) and reaps it.
class Warrend {
 public:
  Warrend()
      : process_({WARREND_PATH, "--endpoint", "tcp://127.0.0.1:*", "--max-message-size",
                  std::to_string(kLimits.max_message_size), "--max-channels",
                  std::to_string(kLimits.max_channels), "--heartbeat", "500", "--log-level", "error",
                  "--data-dir", data_.path.string()}) {
    auto line = process_.wait_for_line("listening on", 10s);
    if (!line) throw std::runtime_error("warrend did not start; output: " + process_.output());
    auto at = line->find("tcp://");
    if (at == std::string::npos) throw std::runtime_error("no endpoint in: " + *line);
    endpoint_ = line->substr(at);
  }
  ~Warrend() {
    if (!exit_code_) process_.stop(SIGTERM, 5s);
  }
  Warrend(const Warrend&) = delete;
  Warrend& operator=(const Warrend&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  // True while warrend has not exited (polls once, briefly).
  bool running() { return !process_.wait(1ms); }

  // VmRSS in kB, from /proc/<pid>/status; -1 if unreadable.
  std::int64_t rss_kb() const {
    std::ifstream status("/proc/" + std::to_string(process_.pid()) + "/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
    return -1;
  }

  // SIGTERM, then the exit status within 10 s (nullopt if it hung).
  std::optional<int> stop() {
    exit_code_ = process_.stop(SIGTERM, 10s);
    return exit_code_;
  }

 private:
  TempDir data_;  // before process_: made first, removed after it stops
  Process process_;
  std::string endpoint_;
  std::optional<int> exit_code_;
};

// A stranger sends `count` frames of garbage; each must be answered with
// connection.close 501.
::testing::AssertionResult garbage_burst(const std::string& endpoint, std::uint64_t seed,
                                         int count) {
  RawPeer peer(default_context(), endpoint);
  for (int i = 0; i < count; ++i) {
    peer.send({bad_input_detail::garbage(seed * 1000 + static_cast<std::uint64_t>(i),
                                         static_cast<std::size_t>(1 + (seed + i) % 200))});
  }
  for (int i = 0; i < count; ++i) {
    if (auto r = peer.expect(connection_close(ReplyCode::kFrameError)); !r)
      return r << " (frame " << i << ")";
  }
  return ::testing::AssertionSuccess();
}

// Peers that open a connection (and a channel), send something bad, and
// disappear without answering the broker's connection.close.
::testing::AssertionResult vanishing_peers(const std::string& endpoint, int count) {
  for (int i = 0; i < count; ++i) {
    RawPeer peer(default_context(), endpoint);
    if (auto r = peer.open(); !r) return r;
    if (auto r = peer.open_channel(1); !r) return r;
    // A body both inline and as a frame of its own: 501.
    peer.send({protocol::encode(1, protocol::BasicPublish{"", "q", false}) + "inline", "body"});
    if (auto r = peer.expect(connection_close(ReplyCode::kFrameError)); !r) return r;
  }
  return ::testing::AssertionSuccess();
}

// Counts what a round did, and reports each failing case once, not once per round.
struct RoundLog {
  int sent = 0;
  std::set<std::string> failed;

  void check(const ::testing::AssertionResult& result, const std::string& what, int round) {
    if (!result && failed.insert(what).second)
      ADD_FAILURE() << what << " (round " << round << "): " << result.message();
  }
};

// One round: every catalogue case, garbage bursts, vanishing peers.
void abuse_round(const std::string& endpoint, const std::vector<BadInput>& catalogue, int round,
                 RoundLog& log) {
  for (const BadInput& input : catalogue) {
    log.check(run_bad_input(default_context(), endpoint, input), input.name, round);
    for (const Step& step : input.steps) log.sent += static_cast<int>(step.send.size());
  }
  for (int burst = 0; burst < 8; ++burst) {
    log.check(garbage_burst(endpoint, static_cast<std::uint64_t>(round * 8 + burst), 100),
              "garbage burst", round);
    log.sent += 100;
  }
  log.check(vanishing_peers(endpoint, 20), "vanishing peers", round);
  log.sent += 20;
}

TEST(BadInputMemoryTest, RssStaysFlatUnderRepeatedBadInput) {
  Warrend broker;
  const auto catalogue = bad_input_catalogue(kLimits);
  Connection good(broker.endpoint());
  auto channel = good.channel();
  ASSERT_TRUE(round_trip(channel, "good", "before"));

  RoundLog log;
  abuse_round(broker.endpoint(), catalogue, 0, log);  // warm-up: pools and caches fill
  ASSERT_TRUE(broker.running());
  ASSERT_TRUE(round_trip(channel, "good", "after warm-up"));
  const std::int64_t baseline = broker.rss_kb();
  ASSERT_GT(baseline, 0);

  log.sent = 0;
  for (int round = 1; round <= kRounds; ++round) {
    abuse_round(broker.endpoint(), catalogue, round, log);
    ASSERT_TRUE(broker.running()) << "warrend died in round " << round;
    ASSERT_TRUE(round_trip(channel, "good", "round " + std::to_string(round)));
    std::printf("round %d: warrend RSS %lld kB\n", round, static_cast<long long>(broker.rss_kb()));
  }
  const int sent = log.sent;
  const std::int64_t after = broker.rss_kb();
  std::printf("warrend RSS: %lld kB after warm-up, %lld kB after %d rounds (%d bad messages)\n",
              static_cast<long long>(baseline), static_cast<long long>(after), kRounds, sent);
  RecordProperty("rss_baseline_kb", std::to_string(baseline));
  RecordProperty("rss_after_kb", std::to_string(after));
  EXPECT_GT(sent, 10000);
  if (kMeasureRss) {
    EXPECT_LT(after - baseline, kMaxGrowthKb)
        << "warrend grew from " << baseline << " kB to " << after << " kB";
  }

  // A fresh good client works too, and the broker shuts down cleanly.
  {
    Connection fresh(broker.endpoint());
    auto ch = fresh.channel();
    EXPECT_TRUE(round_trip(ch, "fresh", "hello"));
  }
  channel.close();
  good.close();
  EXPECT_EQ(broker.stop(), std::optional<int>(0));
}

}  // namespace
}  // namespace warren::testing
