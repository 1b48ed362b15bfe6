// End to end: the tutorial's durable producer and consumer across a broker
// crash, a confirming publisher while warrend is SIGKILLed again and again,
// and recovery from a torn or corrupt journal tail.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <map>
#include <optional>
#include <random>

#include "support/broker_fixture.hpp"
#include "support/warrend.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// warrend on `data`, which outlives it.
std::unique_ptr<Warrend> start_on(const TempDir& data, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--heartbeat", "100", "--no-pubsub", "--data-dir", data.path.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  auto w = std::make_unique<Warrend>(args);
  if (w->endpoint.empty()) ADD_FAILURE() << "warrend did not start: " << w->process.output();
  return w;
}

Properties persistent() {
  Properties p;
  p.delivery_mode = 2;
  return p;
}

// Every message in `queue`, consumed and acked.
std::vector<Message> drain(const std::string& endpoint, const std::string& queue) {
  Connection conn(endpoint);
  auto ch = conn.channel();
  std::vector<Message> got;
  while (auto m = ch.basic_get(queue)) {
    ch.basic_ack(m->delivery_tag);
    got.push_back(std::move(*m));
  }
  return got;
}

TEST(DurableExample, MessageSurvivesABrokerCrash) {
  TempDir data;
  auto broker = start_on(data);
  Process send({example("durable", "durable_send"), "--endpoint", broker->endpoint, "Hello", "World!"});
  ASSERT_TRUE(send.wait_for_line(" [x] Sent 'Hello World!'")) << send.output();
  EXPECT_EQ(send.wait(), 0);
  broker->process.stop(SIGKILL);
  broker = start_on(data);
  Process receive({example("durable", "durable_receive"), "--endpoint", broker->endpoint, "--count", "1"});
  ASSERT_TRUE(receive.wait_for_line(" [x] Received 'Hello World!'")) << receive.output();
  EXPECT_TRUE(receive.wait_for_line(" [x] Done"));
  EXPECT_EQ(receive.wait(), 0);
  EXPECT_TRUE(drain(broker->endpoint, "durable_hello").empty());  // acked: gone
}

// A confirming publisher streams persistent messages, each with a unique
// id, to a durable queue; warrend is SIGKILLed at a random point of the
// stream (with a window of messages in flight) and restarted, 20 times.
// Every confirmed message must be there at the end; unconfirmed ones may be.
TEST(CrashTest, NoConfirmedMessageIsLostAcrossTwentySigkills) {
  TempDir data;
  std::mt19937 rng(std::random_device{}());
  std::map<std::uint64_t, bool> confirmed;  // id -> acked
  std::uint64_t next_id = 0;
  auto broker = start_on(data);
  for (int round = 0; round < 20; ++round) {
    std::uint64_t kill_after = std::uniform_int_distribution<std::uint64_t>(20, 1500)(rng);
    std::uint64_t acked_this_round = 0;
    try {
      Connection conn(broker->endpoint, ConnectionOptions{.automatic_recovery = false});
      auto ch = conn.channel();
      ch.queue_declare("crash", {.durable = true});
      ch.confirm_select();
      std::map<std::uint64_t, std::uint64_t> id_of_seq;
      ch.on_confirm([&](std::uint64_t seq, bool acked) {
        confirmed[id_of_seq.at(seq)] = acked;
        acked_this_round += acked;
      });
      for (;;) {
        ch.wait_for_confirm_window(64, 10s);
        conn.process_events(0ms);  // runs on_confirm
        if (acked_this_round >= kill_after && broker) {
          broker->process.stop(SIGKILL);  // messages still in flight
          broker.reset();
        }
        std::uint64_t id = next_id++;
        auto seq = ch.basic_publish("", "crash", "message " + std::to_string(id), persistent());
        id_of_seq[seq] = id;
      }
    } catch (const ConnectionError&) {
      // The broker is gone (ConnectionLost is a ConnectionError).
    } catch (const TimeoutError&) {
    }
    ASSERT_FALSE(broker) << "round " << round << ": the publisher failed before the kill";
    broker = start_on(data);
    ASSERT_FALSE(broker->endpoint.empty());
  }
  auto got = drain(broker->endpoint, "crash");
  std::map<std::uint64_t, int> seen;
  for (const auto& m : got) {
    auto id = std::stoull(m.body.substr(m.body.find(' ') + 1));
    if (++seen[id] > 1) {
      EXPECT_TRUE(m.redelivered) << "duplicate of " << id << " not marked redelivered";
    }
  }
  std::size_t acked = 0;
  for (const auto& [id, ok] : confirmed) {
    if (!ok) continue;
    ++acked;
    EXPECT_TRUE(seen.contains(id)) << "confirmed message " << id << " was lost";
  }
  EXPECT_GE(acked, 20u * 20u);
  std::cout << "published " << next_id << ", confirmed " << acked << ", recovered " << got.size() << "\n";
  // Order is kept: ids come out increasing (each publish follows the last).
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end(), [](const Message& a, const Message& b) {
    return std::stoull(a.body.substr(8)) < std::stoull(b.body.substr(8));
  }));
}

// SIGTERM in the middle of a confirmed stream: warrend fsyncs, confirms what
// it has, exits 0, and everything it confirmed is there after the restart.
TEST(GracefulStop, SigtermKeepsEveryConfirmedMessage) {
  TempDir data;
  auto broker = start_on(data);
  std::uint64_t acked = 0, published = 0;
  std::optional<int> status;
  try {
    Connection conn(broker->endpoint);
    auto ch = conn.channel();
    ch.queue_declare("q", {.durable = true});
    ch.confirm_select();
    ch.on_confirm([&](std::uint64_t, bool ok) { acked += ok; });
    for (;;) {
      ch.wait_for_confirm_window(256, 10s);
      conn.process_events(0ms);
      if (acked >= 2000 && !status) status = broker->process.stop(SIGTERM);
      ch.basic_publish("", "q", std::to_string(published++), persistent());
    }
  } catch (const ConnectionError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kConnectionForced) << e.what();
  }
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0);
  broker = start_on(data);
  auto got = drain(broker->endpoint, "q");
  EXPECT_GE(got.size(), acked);
  for (std::uint64_t i = 0; i < acked; ++i) ASSERT_EQ(got[i].body, std::to_string(i));
}

// warren-perf's durability scenario runs end to end and reports it.
TEST(WarrenPerf, PersistentConfirmedRunCompletes) {
  TempDir data;
  Process perf({std::string(TOOLS_DIR) + "/warren-perf", "--embedded", "--data-dir", data.path.string(),
                "--persistent", "--confirm", "100", "-C", "2000", "--json"});
  auto line = perf.wait_for_line("\"tool\"", 60s);
  ASSERT_TRUE(line) << perf.output();
  EXPECT_NE(line->find("\"sent\":2000,\"received\":2000,\"lost\":0"), std::string::npos) << *line;
  EXPECT_NE(line->find("\"persistent\":true,\"confirm\":100"), std::string::npos) << *line;
  EXPECT_EQ(perf.wait(30s), 0);
}

// The newest segment file of the journal.
fs::path newest_segment(const TempDir& data) {
  fs::path newest;
  for (const auto& e : fs::directory_iterator(data.path / "journal"))
    if (e.path().extension() == ".seg" && (newest.empty() || e.path().filename() > newest.filename()))
      newest = e.path();
  return newest;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class TornTail : public ::testing::TestWithParam<bool> {};

// Publishes 1000 confirmed persistent messages, kills warrend, damages the
// last record (torn: cut short; corrupt: a flipped byte), restarts: the 999
// before it are all there, and the log says what was dropped.
TEST_P(TornTail, RecoveryKeepsEverythingBeforeTheDamagedRecord) {
  bool torn = GetParam();
  TempDir data;
  TempDir logs;
  auto broker = start_on(data);
  {
    Connection conn(broker->endpoint);
    auto ch = conn.channel();
    ch.queue_declare("q", {.durable = true});
    ch.confirm_select();
    for (int i = 0; i < 1000; ++i) ch.basic_publish("", "q", "message " + std::to_string(i), persistent());
    ASSERT_TRUE(ch.wait_for_confirms(10s));
  }
  broker->process.stop(SIGKILL);
  auto segment = newest_segment(data);
  auto size = fs::file_size(segment);
  if (torn) {
    fs::resize_file(segment, size - 3);
  } else {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size - 5));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(size - 5));
    f.put(static_cast<char>(c ^ 0x5a));
  }
  auto log = (logs.path / "warrend.log").string();
  broker = start_on(data, {"--log-file", log});
  auto got = drain(broker->endpoint, "q");
  ASSERT_EQ(got.size(), 999u);
  for (int i = 0; i < 999; ++i) EXPECT_EQ(got[i].body, "message " + std::to_string(i));
  EXPECT_NE(read_all(log).find("journal:"), std::string::npos) << read_all(log);
}

INSTANTIATE_TEST_SUITE_P(Damage, TornTail, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Torn" : "Corrupt"; });

}  // namespace
}  // namespace warren::testing
