// Batches between a peer and the broker (docs/protocol.md, "Batches"), seen
// from a raw DEALER: the broker takes a batch of commands from anyone and
// handles them in order; it sends batches only to a peer that announced the
// "batch" capability, and then what one loop turn produced for that peer
// comes as one frame. warren's client batches its bursts of publishes.
// (Malformed batches are in the bad-input catalogue.)
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "support/broker_fixture.hpp"
#include "support/raw_peer.hpp"
#include "warren/channel.hpp"
#include "warren/connection.hpp"
#include "warren/context.hpp"
#include "warren/protocol.hpp"

namespace warren::testing {
namespace {

using protocol::Opcode;

std::string publish(const std::string& queue, const std::string& body) {
  return protocol::encode(1, protocol::BasicPublish{"", queue, false}) + body;
}

class BatchTest : public BrokerTest {
 protected:
  // A peer with channel 1 open, consuming `queue` with auto-ack; `batching`:
  // whether its connection.open announces the capability.
  RawPeer consumer(const std::string& queue, bool batching) {
    RawPeer peer(default_context(), endpoint(), std::chrono::seconds(5));
    protocol::ConnectionOpen open;
    if (batching) open.client_properties["capabilities"] = FieldTable{{"batch", true}};
    peer.send({protocol::encode(0, open)});
    auto ok = peer.recv_command();
    EXPECT_TRUE(ok && std::holds_alternative<protocol::ConnectionOpenOk>(ok->method));
    auto* open_ok = ok ? std::get_if<protocol::ConnectionOpenOk>(&ok->method) : nullptr;
    EXPECT_TRUE(open_ok && protocol::has_capability(open_ok->server_properties, "batch"));
    EXPECT_TRUE(peer.open_channel(1));
    peer.send({protocol::encode(1, protocol::QueueDeclare{queue, false, false, false, false, {}})});
    EXPECT_TRUE(peer.expect(reply(Opcode::kQueueDeclareOk, 1)));
    peer.send({protocol::encode(1, protocol::BasicConsume{queue, "c", true, false, {}})});
    EXPECT_TRUE(peer.expect(reply(Opcode::kBasicConsumeOk, 1)));
    return peer;
  }

  // The bodies of the basic.deliver commands in one received message.
  static std::vector<std::string> deliveries_in(const Frames& frames) {
    std::vector<std::string_view> commands;
    if (!protocol::split_batch(frames[0], commands)) commands = {frames[0]};
    std::vector<std::string> bodies;
    for (auto c : commands) {
      auto cmd = protocol::decode(c);
      if (std::holds_alternative<protocol::BasicDeliver>(cmd.method)) bodies.emplace_back(cmd.inline_body);
    }
    return bodies;
  }
};

TEST_F(BatchTest, APeerThatTakesBatchesGetsATurnsDeliveriesInOneFrame) {
  auto peer = consumer("q", true);
  // Ten publishes in one batch: the broker routes them in one turn, so the
  // ten deliveries they cause go out together.
  std::vector<std::string> publishes;
  for (int i = 0; i < 10; ++i) publishes.push_back(publish("q", "m" + std::to_string(i)));
  peer.send({protocol::encode_batch(publishes)});
  std::vector<std::string> got;
  std::size_t messages = 0;
  while (got.size() < 10) {
    auto frames = peer.recv_frames();
    ASSERT_TRUE(frames) << "got " << got.size() << " of 10 deliveries";
    ASSERT_EQ(frames->size(), 1u);
    for (auto& b : deliveries_in(*frames)) got.push_back(b);
    ++messages;
  }
  EXPECT_EQ(messages, 1u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "m" + std::to_string(i));
  EXPECT_TRUE(peer.close());
}

TEST_F(BatchTest, APeerThatDidNotAnnounceItGetsOneCommandPerFrame) {
  auto peer = consumer("q", false);
  std::vector<std::string> publishes;
  for (int i = 0; i < 10; ++i) publishes.push_back(publish("q", "m" + std::to_string(i)));
  peer.send({protocol::encode_batch(publishes)});  // the broker takes batches from anyone
  for (int i = 0; i < 10; ++i) {
    auto got = peer.recv_command();  // decode() would refuse a batch
    ASSERT_TRUE(got);
    ASSERT_TRUE(std::holds_alternative<protocol::BasicDeliver>(got->method)) << describe(*got);
    EXPECT_EQ(got->body, "m" + std::to_string(i));
  }
  EXPECT_TRUE(peer.close());
}

TEST_F(BatchTest, ABatchCanOpenTheConnectionAndItsCommandsAreAnsweredInOrder) {
  RawPeer peer(default_context(), endpoint(), std::chrono::seconds(5));
  peer.send({protocol::encode_batch({protocol::encode(0, protocol::ConnectionOpen{}), protocol::encode(1, protocol::ChannelOpen{}),
                       protocol::encode(1, protocol::QueueDeclare{"q", false, false, false, false, {}}),
                       publish("q", "a"), publish("q", "b"),
                       protocol::encode(1, protocol::QueueDeclare{"q", true, false, false, false, {}})})});
  EXPECT_TRUE(peer.expect(reply(Opcode::kConnectionOpenOk, 0)));
  EXPECT_TRUE(peer.expect(reply(Opcode::kChannelOpenOk, 1)));
  EXPECT_TRUE(peer.expect(reply(Opcode::kQueueDeclareOk, 1)));
  auto passive = peer.recv_command();
  ASSERT_TRUE(passive);
  auto* ok = std::get_if<protocol::QueueDeclareOk>(&passive->method);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->message_count, 2u);
  EXPECT_TRUE(peer.close());
}

TEST_F(BatchTest, ABadCommandInABatchClosesTheConnectionAndTheRestIsIgnored) {
  auto peer = consumer("q", false);
  // The declare in the middle is refused (406: different flags), which here
  // closes channel 1; the publish after it is on the closed channel and
  // must not be routed.
  peer.send({protocol::encode_batch({publish("q", "before"),
                       protocol::encode(1, protocol::QueueDeclare{"q", false, true, false, false, {}}),
                       publish("q", "after")})});
  auto first = peer.recv_command();
  ASSERT_TRUE(first);
  ASSERT_TRUE(std::holds_alternative<protocol::BasicDeliver>(first->method)) << describe(*first);
  EXPECT_EQ(first->body, "before");
  EXPECT_TRUE(peer.expect(channel_close(1, ReplyCode::kPreconditionFailed)));
  // The channel is gone with its consumer; a fresh channel sees no "after".
  EXPECT_TRUE(peer.open_channel(2));
  peer.send({protocol::encode(2, protocol::QueueDeclare{"q", true, false, false, false, {}})});
  auto passive = peer.recv_command();
  ASSERT_TRUE(passive);
  auto* ok = std::get_if<protocol::QueueDeclareOk>(&passive->method);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->message_count, 0u);
}

// The client's side: publishes in a burst are batched (ConnectionOptions::
// publish_linger). None may be held back: the last of a burst goes out on
// its own after the linger, with the publisher doing nothing more, with or
// without heartbeats; and any other command goes after the batch before it.
class PublishBatchTest : public BatchTest, public ::testing::WithParamInterface<int> {};

TEST_P(PublishBatchTest, TheLastOfABurstArrivesWithoutAnotherCallAndInOrder) {
  ConnectionOptions options;
  options.heartbeat = std::chrono::milliseconds(GetParam());  // 0: no heartbeat thread but for batching
  auto publisher = connect(options);
  auto ch = publisher.channel();
  ch.queue_declare("burst");
  // A few dozen go one by one until they are a burst (framework/src/
  // burst.hpp), then in batches of 64; the rest wait in a batch.
  for (int i = 0; i < 100; ++i) ch.basic_publish("", "burst", "m" + std::to_string(i));
  // The publisher's thread does not call into the library again; another
  // connection must still see all 100.
  auto reader = connect();
  auto rch = reader.channel();
  int next = 0;
  ASSERT_TRUE(wait_until([&] {
    while (auto m = rch.basic_get("burst", true)) {
      EXPECT_EQ(m->body, "m" + std::to_string(next));
      ++next;
    }
    return next == 100;
  })) << "got " << next << " of 100";
}

INSTANTIATE_TEST_SUITE_P(Heartbeat, PublishBatchTest, ::testing::Values(0, 3000));

TEST_F(BatchTest, ACommandAfterPublishesGoesAfterThem) {
  for (auto linger : {std::chrono::microseconds(0), std::chrono::microseconds(200), std::chrono::microseconds(1000000)}) {
    ConnectionOptions options;
    options.publish_linger = linger;
    auto publisher = connect(options);
    auto ch = publisher.channel();
    ch.queue_declare("ordered");
    // Enough to be a burst (framework/src/burst.hpp): with a linger, the
    // last of them wait in a batch when the declare is sent.
    for (int i = 0; i < 100; ++i) ch.basic_publish("", "ordered", "m");
    // The declare is answered after the broker has had the hundred.
    EXPECT_EQ(ch.queue_declare("ordered", {.passive = true}).message_count, 100u) << linger.count() << " us";
    ch.queue_delete("ordered");
  }
}

}  // namespace
}  // namespace warren::testing
