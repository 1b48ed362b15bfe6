// Back-pressure: a consumer that stops reading fills its pipe; the broker
// neither blocks (other clients keep being served) nor drops anything (the
// messages wait in the queue and all arrive, in order, once it reads).
#include "support/broker_fixture.hpp"
#include "warren/context.hpp"
#include "warren/protocol.hpp"

namespace warren::testing {
namespace {

class BackpressureTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerOptions o = quiet_broker();
    o.heartbeat = 0ms;  // the stalled consumer below sends nothing for a while
    start_broker(o);
  }
};

TEST_F(BackpressureTest, StalledConsumerLosesNothingAndBlocksNobody) {
  // A consumer with a small receive pipe that does not read.
  zmq::socket_t stalled(default_context(), zmq::socket_type::dealer);
  stalled.set(zmq::sockopt::linger, 0);
  stalled.set(zmq::sockopt::rcvhwm, 100);
  stalled.set(zmq::sockopt::rcvbuf, 4096);
  stalled.set(zmq::sockopt::rcvtimeo, 10000);
  stalled.connect(endpoint());
  auto send = [&](std::uint16_t ch, const protocol::Method& m) {
    auto header = protocol::encode(ch, m);
    stalled.send(zmq::buffer(header), zmq::send_flags::none);
  };
  auto next = [&]() -> std::optional<protocol::Command> {
    static std::string header;  // decode() views into it
    for (;;) {
      zmq::message_t part;
      if (!stalled.recv(part)) return std::nullopt;
      header = part.to_string();
      std::string body;
      while (part.more()) {
        (void)stalled.recv(part);
        body = part.to_string();
      }
      auto cmd = protocol::decode(header);
      if (body.empty()) body = cmd.inline_body;  // small bodies come inline
      if (auto* d = std::get_if<protocol::BasicDeliver>(&cmd.method)) d->routing_key = body;  // carry the body out
      if (!std::holds_alternative<protocol::Heartbeat>(cmd.method)) return cmd;
    }
  };
  send(0, protocol::ConnectionOpen{});
  ASSERT_TRUE(next());
  send(1, protocol::ChannelOpen{});
  ASSERT_TRUE(next());
  auto producer = connect();
  auto pch = producer.channel();
  pch.queue_declare("bp");
  send(1, protocol::BasicConsume{"bp", "stalled", true, false, {}});
  auto ok = next();
  ASSERT_TRUE(ok && std::holds_alternative<protocol::BasicConsumeOk>(ok->method));

  constexpr int kMessages = 300000;
  // Confirms: once they are in, the broker has routed every message (the
  // client batches publishes, so its pipe alone does not hold it back).
  pch.confirm_select();
  for (int i = 0; i < kMessages; ++i) pch.basic_publish("", "bp", std::to_string(i) + std::string(90, '.'));
  ASSERT_TRUE(pch.wait_for_confirms());
  // The broker is not blocked: another client is served at once, and the
  // messages the stalled consumer cannot take wait in the queue.
  auto other = connect();
  auto och = other.channel();
  auto waiting = och.queue_declare("bp", {.passive = true}).message_count;
  EXPECT_GT(waiting, 0u) << "the consumer's pipe should have filled";
  EXPECT_EQ(och.queue_declare("unrelated").queue, "unrelated");

  // Now it reads: every message arrives, in order.
  int expected = 0;
  while (expected < kMessages) {
    auto cmd = next();
    ASSERT_TRUE(cmd) << "stalled after " << expected << " of " << kMessages;
    auto* d = std::get_if<protocol::BasicDeliver>(&cmd->method);
    ASSERT_TRUE(d);
    ASSERT_EQ(d->routing_key.substr(0, d->routing_key.find('.')), std::to_string(expected));
    ++expected;
  }
  EXPECT_EQ(och.queue_declare("bp", {.passive = true}).message_count, 0u);
}

}  // namespace
}  // namespace warren::testing
