// Broker-wide limits: connections and queues. Each refusal has its own reply
// code and text and leaves other clients alone.
#include <gtest/gtest.h>

#include "support/broker_fixture.hpp"

namespace warren::testing {
namespace {

class BrokerLimitsTest : public BrokerTest {
 protected:
  void SetUp() override {
    auto o = quiet_broker();
    o.max_connections = 2;
    o.max_queues = 3;
    o.max_consumers_per_channel = 2;
    o.max_unacked_per_channel = 5;
    start_broker(o);
  }
};

TEST_F(BrokerLimitsTest, ConnectionsPastTheLimitAreRefusedWith530) {
  auto a = connect();
  auto b = connect();
  try {
    Connection c(endpoint(), {.connect_timeout = 2s});
    FAIL() << "a third connection was accepted";
  } catch (const ConnectionError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kNotAllowed);
    EXPECT_NE(e.text().find("connection limit (2)"), std::string::npos) << e.text();
  }
  a.channel().queue_declare("still-works");  // the others go on
  a.close();
  // Once the broker has let the closed one go, there is room again.
  EXPECT_TRUE(wait_until([&] {
    try {
      Connection c(endpoint(), {.connect_timeout = 1s});
      return true;
    } catch (const ConnectionError&) {
      return false;
    }
  }));
}

TEST_F(BrokerLimitsTest, QueuesPastTheLimitAreRefusedWith406) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q1");
  ch.queue_declare("q2");
  ch.queue_declare("q3");
  ch.queue_declare("q3");  // redeclaring an existing queue is not a new one
  try {
    ch.queue_declare("q4");
    FAIL() << "a fourth queue was declared";
  } catch (const ChannelError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kPreconditionFailed);
    EXPECT_NE(e.text().find("queue limit (3)"), std::string::npos) << e.text();
  }
  auto other = conn.channel();  // only that channel closed
  other.queue_delete("q1");
  other.queue_declare("q4");
}

TEST_F(BrokerLimitsTest, ConsumersPerChannelPastTheLimitAreRefusedWith530) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q1");
  ch.basic_consume("q1", [](const Message&) {});
  ch.basic_consume("q1", [](const Message&) {});
  try {
    ch.basic_consume("q1", [](const Message&) {});
    FAIL() << "a third consumer on the channel was accepted";
  } catch (const ChannelError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kNotAllowed);
    EXPECT_NE(e.text().find("consumer limit (2) per channel"), std::string::npos) << e.text();
  }
  auto other = conn.channel();  // the limit is per channel
  other.basic_consume("q1", [](const Message&) {});
}

TEST_F(BrokerLimitsTest, AChannelNeverHoldsMoreUnackedThanTheLimit) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q1");
  for (int i = 0; i < 20; ++i) ch.basic_publish("", "q1", std::to_string(i));
  std::vector<std::uint64_t> tags;
  ch.basic_consume("q1", [&](const Message& m) { tags.push_back(m.delivery_tag); });
  ASSERT_TRUE(pump_until(conn, [&] { return tags.size() == 5; }));
  // The broker holds back the rest while five are unacked.
  auto admin = conn.channel();
  auto overview = admin.management_query("overview").at(0);
  EXPECT_EQ(overview.at("messages_unacked").as<std::int64_t>(), 5);
  EXPECT_EQ(overview.at("messages_ready").as<std::int64_t>(), 15);
  try {
    ch.basic_get("q1");
    FAIL() << "basic.get past the unacked limit";
  } catch (const ChannelError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kPreconditionFailed);
    EXPECT_NE(e.text().find("unacked limit (5)"), std::string::npos) << e.text();
  }
  auto acker = conn.channel();
  std::vector<std::uint64_t> more;
  acker.basic_consume("q1", [&](const Message& m) {
    more.push_back(m.delivery_tag);
    acker.basic_ack(m.delivery_tag);  // acking keeps this channel under the limit
  });
  // The rest, and the five requeued when the refused channel closed.
  ASSERT_TRUE(pump_until(conn, [&] { return more.size() >= 20; }));
  EXPECT_EQ(more.size(), 20u);
}

}  // namespace
}  // namespace warren::testing
