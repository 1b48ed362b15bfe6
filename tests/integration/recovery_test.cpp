// Client recovery: ConnectionLost without it; with automatic_recovery, a
// restarted broker gets the client's channels, queues, qos and consumers back.
#include "support/broker_fixture.hpp"

namespace warren::testing {
namespace {

class RecoveryTest : public BrokerTest {
 protected:
  ConnectionOptions recovering() {
    ConnectionOptions o;
    o.heartbeat = 100ms;
    o.automatic_recovery = true;
    o.recovery_interval = 20ms;
    o.max_recovery_interval = 200ms;
    return o;
  }
};

TEST_F(RecoveryTest, WithoutRecoveryALostBrokerIsConnectionLost) {
  auto conn = connect({.heartbeat = 100ms});
  auto ch = conn.channel();
  ASSERT_TRUE(restart_broker());
  expect_refused<ConnectionLost>([&] { conn.run_for(5000ms); }, ReplyCode::kConnectionForced);
  expect_refused<ConnectionLost>([&] { ch.queue_declare("x"); }, ReplyCode::kConnectionForced);
}

TEST_F(RecoveryTest, ConsumerResumesAfterBrokerRestart) {
  auto conn = connect(recovering());
  auto ch = conn.channel();
  ch.queue_declare("jobs", {.durable = true});
  ch.basic_qos(10);
  std::vector<std::string> got;
  ch.basic_consume("jobs", [&](const Message& m) {
    got.push_back(m.body);
    ch.basic_ack(m.delivery_tag);
  });
  {
    auto producer = connect();
    auto pch = producer.channel();
    pch.basic_publish("", "jobs", "before");
    ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 1; }));
  }
  ASSERT_TRUE(restart_broker());
  // No manual step: the consumer's own loop reconnects and re-subscribes.
  ASSERT_TRUE(pump_until(conn, [&] { return conn.recovery_count() == 1; }, 10s));
  auto producer = connect();
  auto pch = producer.channel();
  EXPECT_EQ(pch.queue_declare("jobs", {.passive = true}).consumer_count, 1u) << "queue and consumer re-declared";
  pch.basic_publish("", "jobs", "after");
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 2; }));
  EXPECT_EQ(got[1], "after");
}

TEST_F(RecoveryTest, ServerNamedQueueKeepsItsName) {
  auto conn = connect(recovering());
  auto ch = conn.channel();
  auto name = ch.queue_declare("", {.exclusive = true}).queue;
  std::vector<std::string> got;
  ch.basic_consume(name, [&](const Message& m) { got.push_back(m.body); }, {.auto_ack = true});
  ASSERT_TRUE(restart_broker());
  ASSERT_TRUE(pump_until(conn, [&] { return conn.recovery_count() == 1; }, 10s));
  auto producer = connect();
  producer.channel().basic_publish("", name, "reply");
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 1; }));
  EXPECT_EQ(got[0], "reply");
}

TEST_F(RecoveryTest, DeliveryTagsKeepGrowingAndStaleAcksAreIgnored) {
  auto conn = connect(recovering());
  auto ch = conn.channel();
  ch.queue_declare("tags");
  ch.basic_publish("", "tags", "one");
  auto first = ch.basic_get("tags");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->delivery_tag, 1u);
  ASSERT_TRUE(restart_broker());
  ASSERT_TRUE(pump_until(conn, [&] { return conn.recovery_count() == 1; }, 10s));
  ch.basic_ack(first->delivery_tag);  // from before: ignored, not a 406
  ch.basic_publish("", "tags", "two");
  auto second = ch.basic_get("tags");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "two");
  EXPECT_EQ(second->delivery_tag, 2u);
  ch.basic_ack(second->delivery_tag);
  EXPECT_EQ(ch.queue_declare("tags").message_count, 0u);
  EXPECT_TRUE(ch.is_open());
}

TEST_F(RecoveryTest, CallsDuringTheOutageThrowThenWorkAgain) {
  auto options = recovering();
  options.connect_timeout = 200ms;  // each reconnect attempt
  auto conn = connect(options);
  auto ch = conn.channel();
  ch.queue_declare("q");
  std::string where = endpoint();
  broker_.reset();
  // The event loop keeps trying without throwing; calls fail with ConnectionLost.
  conn.run_for(500ms);
  EXPECT_FALSE(conn.is_open());
  EXPECT_THROW(ch.queue_declare("q"), ConnectionLost);
  ASSERT_TRUE(start_broker_again(where));
  ASSERT_TRUE(wait_until([&] {
    try {
      ch.queue_declare("q");
      return true;
    } catch (const ConnectionLost&) {
      return false;
    }
  }, 10s));
  EXPECT_EQ(conn.recovery_count(), 1u);
}

TEST_F(RecoveryTest, ConsumerIsToldWhenTheBrokerCancelsIt) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("doomed");
  std::string cancelled;
  auto tag = ch.basic_consume("doomed", [](const Message&) {},
                              {.on_cancel = [&](const std::string& t) { cancelled = t; }});
  auto other = conn.channel();
  other.queue_delete("doomed");
  ASSERT_TRUE(pump_until(conn, [&] { return !cancelled.empty(); }));
  EXPECT_EQ(cancelled, tag);
}

TEST_F(RecoveryTest, AckOnANoAckConsumerIs406) {
  auto conn = connect();
  auto ch = conn.channel();
  auto other = conn.channel();
  ch.queue_declare("noack");
  ch.basic_publish("", "noack", "x");
  std::optional<Message> got;
  ch.basic_consume("noack", [&](const Message& m) { got = m; }, {.auto_ack = true});
  ASSERT_TRUE(pump_until(conn, [&] { return got.has_value(); }));
  ch.basic_ack(got->delivery_tag);
  expect_refused<ChannelError>([&] { ch.queue_declare("noack"); }, ReplyCode::kPreconditionFailed);
  EXPECT_EQ(other.queue_declare("noack").queue, "noack");
}

}  // namespace
}  // namespace warren::testing
