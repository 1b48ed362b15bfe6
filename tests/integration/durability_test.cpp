// Publisher confirms and the data directory, with the broker in process:
// what a confirm means, what survives a restart and what does not.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "support/broker_fixture.hpp"
#include "support/temp_dir.hpp"

namespace warren::testing {
namespace {

Properties persistent() {
  Properties p;
  p.delivery_mode = 2;
  return p;
}

class DurabilityTest : public BrokerTest {
 protected:
  void SetUp() override { start_broker(with_store(quiet_broker())); }
  BrokerOptions with_store(BrokerOptions o) {
    o.data_dir = data.path.string();
    return o;
  }
  // Stops the broker (clean shutdown) and starts another on the same data
  // directory and endpoint.
  bool restart() {
    if (broker_) where_ = endpoint();
    broker_.reset();
    return start_broker_again(with_store(quiet_broker(where_)));
  }
  // Every message now in `queue`, by basic_get (acked as they come).
  std::vector<Message> drain(Channel& ch, const std::string& queue) {
    std::vector<Message> out;
    while (auto m = ch.basic_get(queue)) {
      ch.basic_ack(m->delivery_tag);
      out.push_back(std::move(*m));
    }
    return out;
  }

  TempDir data;
  std::string where_;
};

TEST_F(DurabilityTest, ConfirmsNumberEveryPublishAndAckRoutedAndUnroutable) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q");
  EXPECT_EQ(ch.basic_publish("", "q", "before confirm mode"), 0u);
  ch.confirm_select();
  ch.confirm_select();  // idempotent
  EXPECT_EQ(ch.basic_publish("", "q", "a"), 1u);
  EXPECT_EQ(ch.basic_publish("", "nowhere", "b"), 2u);  // unroutable: still acked
  EXPECT_EQ(ch.basic_publish("", "q", "c", persistent()), 3u);  // transient queue: acked from memory
  EXPECT_TRUE(ch.wait_for_confirms(5s));
  EXPECT_EQ(ch.unconfirmed(), 0u);
}

TEST_F(DurabilityTest, OnConfirmSeesEverySequenceNumberInOrder) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("durable", {.durable = true});
  ch.confirm_select();
  std::vector<std::uint64_t> seen;
  ch.on_confirm([&](std::uint64_t seq, bool acked) {
    EXPECT_TRUE(acked);
    seen.push_back(seq);
  });
  for (int i = 0; i < 500; ++i) ch.basic_publish("", i % 2 ? "durable" : "nowhere", "m", persistent());
  ASSERT_TRUE(pump_until(conn, [&] { return seen.size() == 500; }));
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1);
}

TEST_F(DurabilityTest, MandatoryReturnComesBeforeItsConfirm) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.confirm_select();
  std::vector<std::string> events;
  ch.on_return([&](const ReturnedMessage& r) { events.push_back("return " + r.body); });
  ch.on_confirm([&](std::uint64_t seq, bool acked) { events.push_back((acked ? "ack " : "nack ") + std::to_string(seq)); });
  ch.basic_publish("", "nowhere", "lost", {}, {.mandatory = true});
  ASSERT_TRUE(pump_until(conn, [&] { return events.size() == 2; }));
  EXPECT_EQ(events, (std::vector<std::string>{"return lost", "ack 1"}));
}

TEST_F(DurabilityTest, WindowBoundsWhatIsInFlight) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("durable", {.durable = true});
  ch.confirm_select();
  for (int i = 0; i < 2000; ++i) {
    ch.wait_for_confirm_window(16, 5s);
    ASSERT_LT(ch.unconfirmed(), 16u);
    ch.basic_publish("", "durable", std::string(100, 'x'), persistent());
  }
  EXPECT_TRUE(ch.wait_for_confirms(5s));
  EXPECT_EQ(ch.queue_declare("durable", {.passive = true}).message_count, 2000u);
}

TEST_F(DurabilityTest, WaitingWithoutConfirmModeIsAUsageError) {
  auto conn = connect();
  auto ch = conn.channel();
  EXPECT_THROW(ch.wait_for_confirms(1s), std::logic_error);
}

TEST_F(DurabilityTest, AChannelErrorEndsTheWaitWithTheBrokersReason) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.confirm_select();
  ch.basic_publish("no-such-exchange", "k", "m");  // 404 closes the channel: never confirmed
  try {
    ch.wait_for_confirms(5s);
    FAIL() << "expected ChannelError";
  } catch (const ChannelError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kNotFound);
  }
}

TEST_F(DurabilityTest, PersistentMessagesInDurableQueuesSurviveARestart) {
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.queue_declare("task_queue", {.durable = true});
    ch.queue_declare("scratch");  // transient: gone after the restart
    ch.confirm_select();
    Properties p = persistent();
    p.correlation_id = "c-1";
    p.headers = FieldTable{{"k", "v"}};
    for (int i = 0; i < 100; ++i) ch.basic_publish("", "task_queue", "persistent " + std::to_string(i), p);
    ch.basic_publish("", "task_queue", "transient");  // delivery_mode unset: not kept
    ch.basic_publish("", "scratch", "in a transient queue", persistent());
    ASSERT_TRUE(ch.wait_for_confirms(5s));
  }
  ASSERT_TRUE(restart());
  auto conn = connect();
  auto ch = conn.channel();
  EXPECT_THROW(ch.queue_declare("scratch", {.passive = true}), ChannelError);
  ch = conn.channel();
  auto got = drain(ch, "task_queue");
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(got[i].body, "persistent " + std::to_string(i));
    EXPECT_FALSE(got[i].redelivered);
    EXPECT_EQ(got[i].properties.correlation_id, "c-1");
    EXPECT_EQ(got[i].properties.delivery_mode, 2);
    EXPECT_EQ(got[i].properties.headers, (FieldTable{{"k", "v"}}));
    EXPECT_EQ(got[i].routing_key, "task_queue");
  }
}

TEST_F(DurabilityTest, AckedMessagesStayGoneAndUnackedComeBackRedelivered) {
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.queue_declare("q", {.durable = true});
    ch.confirm_select();
    for (int i = 0; i < 6; ++i) ch.basic_publish("", "q", std::to_string(i), persistent());
    ASSERT_TRUE(ch.wait_for_confirms(5s));
    auto m0 = ch.basic_get("q");
    auto m1 = ch.basic_get("q");
    auto m2 = ch.basic_get("q", /*auto_ack=*/true);
    ch.basic_ack(m0->delivery_tag);
    ch.basic_nack(m1->delivery_tag, false, /*requeue=*/false);  // dropped
    auto m3 = ch.basic_get("q");  // delivered, never acked
    ASSERT_TRUE(m3);
    EXPECT_EQ(ch.queue_purge("q"), 2u);  // 4 and 5
    ch.basic_publish("", "q", "6", persistent());
    ASSERT_TRUE(ch.wait_for_confirms(5s));
    // Leave m3 unacked: the restart (not a channel close) is what requeues it.
    where_ = endpoint();
    broker_.reset();
  }
  ASSERT_TRUE(restart());
  auto conn = connect();
  auto ch = conn.channel();
  auto got = drain(ch, "q");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "3");
  EXPECT_TRUE(got[0].redelivered);
  EXPECT_EQ(got[1].body, "6");
  EXPECT_FALSE(got[1].redelivered);
}

TEST_F(DurabilityTest, DurableDefinitionsSurviveAndTransientOnesVanish) {
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.exchange_declare("logs", "topic", {.durable = true});
    ch.exchange_declare("alt", "fanout", {.durable = true, .internal = true});
    ch.exchange_declare("temp-x", "fanout");
    ch.queue_declare("kept", {.durable = true, .arguments = {{"x-custom", "1"}}});
    ch.queue_declare("dropped", {.durable = true});
    ch.queue_declare("temp-q");
    ch.queue_bind("kept", "logs", "a.#");
    ch.queue_bind("kept", "amq.direct", "k");
    ch.queue_bind("temp-q", "logs", "b.*");
    ch.exchange_bind("alt", "logs", "x.*");
    ch.queue_bind("dropped", "logs", "gone");
    ch.queue_delete("dropped");
  }
  ASSERT_TRUE(restart());
  auto conn = connect();
  auto ch = conn.channel();
  std::set<std::string> exchanges, queues, bindings;
  for (const auto& row : ch.management_query("exchanges")) exchanges.insert(row.at("name").as<std::string>());
  for (const auto& row : ch.management_query("queues")) {
    queues.insert(row.at("name").as<std::string>());
    if (row.at("name").as<std::string>() == "kept") {
      EXPECT_TRUE(row.at("durable").as<bool>());
      EXPECT_EQ(row.at("arguments").as<FieldTable>(), (FieldTable{{"x-custom", "1"}}));
    }
  }
  for (const auto& row : ch.management_query("bindings"))
    if (!row.at("source").as<std::string>().empty())
      bindings.insert(row.at("source").as<std::string>() + "->" + row.at("destination").as<std::string>() + ":" +
                      row.at("routing_key").as<std::string>());
  EXPECT_TRUE(exchanges.contains("logs"));
  EXPECT_TRUE(exchanges.contains("alt"));
  EXPECT_FALSE(exchanges.contains("temp-x"));
  EXPECT_EQ(queues, (std::set<std::string>{"kept"}));
  EXPECT_EQ(bindings, (std::set<std::string>{"logs->kept:a.#", "amq.direct->kept:k", "logs->alt:x.*"}));
  // Redeclaring with the same flags agrees with what was restored.
  ch.exchange_declare("logs", "topic", {.durable = true});
  ch.exchange_declare("alt", "fanout", {.durable = true, .internal = true});
  ch.queue_declare("kept", {.durable = true, .arguments = {{"x-custom", "1"}}});
  // And routing works through the restored bindings.
  ch.confirm_select();
  ch.basic_publish("logs", "a.b", "routed", persistent());
  ASSERT_TRUE(ch.wait_for_confirms(5s));
  auto m = ch.basic_get("kept", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "routed");
}

TEST_F(DurabilityTest, DeletedDurableQueueLeavesNothingBehind) {
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.queue_declare("q", {.durable = true});
    ch.confirm_select();
    for (int i = 0; i < 10; ++i) ch.basic_publish("", "q", "m", persistent());
    ASSERT_TRUE(ch.wait_for_confirms(5s));
    ch.queue_delete("q");
    ch.queue_declare("q", {.durable = true});  // a new queue of the same name
  }
  ASSERT_TRUE(restart());
  auto conn = connect();
  auto ch = conn.channel();
  EXPECT_EQ(ch.queue_declare("q", {.durable = true}).message_count, 0u);
}

TEST_F(DurabilityTest, ASecondBrokerOnTheSameDirectoryIsRefused) {
  try {
    Broker second(with_store(quiet_broker()));
    FAIL() << "a second broker opened a locked data directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another broker"), std::string::npos) << e.what();
  }
}

TEST_F(DurabilityTest, AnUnreadableDefinitionsFileIsAClearStartupError) {
  broker_.reset();
  std::ofstream(data.path / "definitions", std::ios::trunc) << "not msgpack at all";
  try {
    Broker broken(with_store(quiet_broker()));
    FAIL() << "started on a corrupt definitions file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("definitions"), std::string::npos) << e.what();
  }
}

// Paging: with a memory limit far below the backlog, persistent messages of
// a durable queue leave memory once on disk and come back on delivery, so
// the backlog is taken (no nack) and drains intact, before and after a
// restart.
TEST_F(DurabilityTest, ABacklogLargerThanTheMemoryLimitIsPagedAndDrains) {
  constexpr std::uint64_t kLimit = 2 << 20;
  // 4 KiB each: 8x the limit in bodies; what stays in memory per message
  // (about 170 bytes) fits.
  constexpr int kMessages = 4000;
  auto body = [](int i) { return std::to_string(i) + std::string(4096 - std::to_string(i).size(), '.'); };
  broker_.reset();
  auto limited = [&](std::string where) {
    auto o = with_store(quiet_broker(std::move(where)));
    o.memory_limit = kLimit;
    return o;
  };
  start_broker(limited("tcp://127.0.0.1:*"));
  auto overview = [](Channel& ch, const char* column) { return ch.management_query("overview").at(0).at(column).as<std::int64_t>(); };
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.queue_declare("backlog", {.durable = true});
    ch.confirm_select();
    for (int i = 0; i < kMessages; ++i) {
      ch.wait_for_confirm_window(200, 10s);
      ch.basic_publish("", "backlog", body(i), persistent());
    }
    ASSERT_TRUE(ch.wait_for_confirms(10s)) << "nacked: the broker refused instead of paging";
    EXPECT_GT(overview(ch, "paged_out"), kMessages / 2);
    EXPECT_LT(overview(ch, "message_bytes"), static_cast<std::int64_t>(kLimit));
    for (int i = 0; i < 1000; ++i) {  // the first quarter, read back from the journal
      auto m = ch.basic_get("backlog");
      ASSERT_TRUE(m);
      ASSERT_EQ(m->body, body(i));
      ch.basic_ack(m->delivery_tag);
    }
    where_ = endpoint();
  }
  broker_.reset();
  ASSERT_TRUE(start_broker_again(limited(where_)));
  auto conn = connect();
  auto ch = conn.channel();
  EXPECT_LT(overview(ch, "message_bytes"), static_cast<std::int64_t>(kLimit));  // recovery paged too
  std::uint64_t next = 1000;
  ch.basic_qos(100);
  ch.basic_consume("backlog", [&](const Message& m) {
    EXPECT_EQ(m.body, body(static_cast<int>(next))) << next;
    ++next;
    ch.basic_ack(m.delivery_tag);
  });
  ASSERT_TRUE(pump_until(conn, [&] { return next == kMessages; }, 30s)) << next;
  EXPECT_GT(overview(ch, "paged_in"), 0);
}

TEST_F(DurabilityTest, WithoutADataDirectoryDurableMeansThisProcessOnly) {
  broker_.reset();
  start_broker(quiet_broker());
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.queue_declare("q", {.durable = true});
    ch.confirm_select();
    ch.basic_publish("", "q", "m", persistent());
    EXPECT_TRUE(ch.wait_for_confirms(5s));  // confirmed from memory
  }
  ASSERT_TRUE(restart_broker());
  auto conn = connect();
  auto ch = conn.channel();
  EXPECT_THROW(ch.queue_declare("q", {.passive = true}), ChannelError);
}

}  // namespace
}  // namespace warren::testing
