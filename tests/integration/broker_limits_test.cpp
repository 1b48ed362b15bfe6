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

}  // namespace
}  // namespace warren::testing
