// Routing ids that more than one connection uses (docs/protocol.md, "Routing
// ids"). Malamute crashed when two clients used the same address; here raw
// DEALER peers choose their ZMQ_ROUTING_ID and the broker must neither crash
// nor mix up sessions: a routing id held by a live connection stays with it
// (the newcomer is ignored); connection.open under an id whose old peer is
// gone but whose session the broker still holds is refused (505), which ends
// that session as a lost connection's, and the next open starts afresh.
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "support/broker_fixture.hpp"
#include "support/raw_peer.hpp"
#include "warren/context.hpp"
#include "warren/protocol.hpp"

namespace warren::testing {
namespace {

using protocol::Opcode;

class DuplicateIdentityTest : public BrokerTest {
 protected:
  // A peer under `id` that got connection.open_ok, and how many times the
  // broker answered its open with connection.close 505 (a session still held
  // under the id) first. Until the ROUTER has dropped a dead peer's
  // connection (tcp, in the background) the id is taken and the open goes
  // unanswered: a fresh socket retries until the deadline.
  std::unique_ptr<RawPeer> open_as(const std::string& id, int* refused = nullptr) {
    std::unique_ptr<RawPeer> peer;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!peer) peer = std::make_unique<RawPeer>(default_context(), endpoint(), id, std::chrono::milliseconds(300));
      peer->send({protocol::encode(0, protocol::ConnectionOpen{})});
      auto got = peer->recv_command();
      if (!got) {
        peer.reset();
        continue;
      }
      if (std::holds_alternative<protocol::ConnectionOpenOk>(got->method)) {
        peer->set_timeout(5s);
        return peer;
      }
      auto* close = std::get_if<protocol::ConnectionClose>(&got->method);
      if (!close || close->reply_code != 505) {
        ADD_FAILURE() << "unexpected answer to connection.open: " << describe(*got);
        return nullptr;
      }
      if (refused) ++*refused;
      peer->send({protocol::encode(0, protocol::ConnectionCloseOk{})});  // frees the id
    }
    return nullptr;
  }

  void declare(RawPeer& peer, const std::string& queue, bool exclusive = false) {
    peer.send({protocol::encode(1, protocol::QueueDeclare{queue, false, false, exclusive, false, {}})});
    ASSERT_TRUE(peer.expect(reply(Opcode::kQueueDeclareOk, 1)));
  }
  void publish(RawPeer& peer, const std::string& queue, const std::string& body) {
    peer.send({protocol::encode(1, protocol::BasicPublish{"", queue, false}), body});
  }
  // basic.get on channel 1: the body, or nullopt for get_empty.
  std::optional<std::string> get(RawPeer& peer, const std::string& queue, bool* redelivered = nullptr) {
    peer.send({protocol::encode(1, protocol::BasicGet{queue, true})});
    std::optional<Frames> frames;
    protocol::Command cmd;
    do {  // heartbeats may come first
      frames = peer.recv_frames();
      if (!frames) {
        ADD_FAILURE() << "no answer to basic.get";
        return std::nullopt;
      }
      cmd = protocol::decode((*frames)[0]);
    } while (std::holds_alternative<protocol::Heartbeat>(cmd.method));
    if (auto* ok = std::get_if<protocol::BasicGetOk>(&cmd.method)) {
      if (redelivered) *redelivered = ok->redelivered;
      return body_of(*frames, cmd);
    }
    EXPECT_TRUE(std::holds_alternative<protocol::BasicGetEmpty>(cmd.method));
    return std::nullopt;
  }
};

TEST_F(DuplicateIdentityTest, SecondPeerWithALiveIdentityNeverTouchesTheFirstSession) {
  RawPeer first(default_context(), endpoint(), "same-id");
  ASSERT_TRUE(first.open());
  ASSERT_TRUE(first.open_channel(1));
  declare(first, "first-q");

  // The second peer's connection is not given the id: libzmq's ROUTER
  // (handover off) keeps it for the first connection and ignores the
  // newcomer, so nothing it sends reaches the broker and nothing answers it;
  // a client's connect gives up at its connect_timeout.
  RawPeer second(default_context(), endpoint(), "same-id", std::chrono::milliseconds(500));
  second.send({protocol::encode(0, protocol::ConnectionOpen{})});
  EXPECT_FALSE(second.recv_command()) << "the second peer must not get a session under a live id";
  second.send({protocol::encode(1, protocol::ChannelOpen{})});
  second.send({protocol::encode(1, protocol::QueueDelete{"first-q", false, false})});
  EXPECT_FALSE(second.recv_command());
  EXPECT_EQ(broker_->stats().connections, 1u);

  // Nothing the second sent touched the first session: its channel, queue
  // and messages are as they were.
  publish(first, "first-q", "still mine");
  EXPECT_EQ(get(first, "first-q"), "still mine");
  ASSERT_TRUE(first.close());
  EXPECT_TRUE(wait_until([&] { return broker_->stats().connections == 0; }));
}

TEST_F(DuplicateIdentityTest, PeerReconnectingUnderItsIdAfterItsConnectionDiedGetsAFreshSession) {
  auto old = open_as("restarting");
  ASSERT_TRUE(old);
  ASSERT_TRUE(old->open_channel(1));
  declare(*old, "shared");
  declare(*old, "old-exclusive", true);
  publish(*old, "shared", "in flight");
  // Unacked on the old session (basic.get without no_ack).
  old->send({protocol::encode(1, protocol::BasicGet{"shared", false})});
  ASSERT_TRUE(old->expect(reply(Opcode::kBasicGetOk, 1)));
  // The old peer vanishes without connection.close (its process died); its
  // session is still open in the broker, heartbeats have not noticed yet.
  old.reset();
  ASSERT_EQ(broker_->stats().connections, 1u);

  // The restarted peer's first open meets the old session: 505, which ends
  // it; after close_ok the next open gets a fresh session.
  int refused = 0;
  auto fresh = open_as("restarting", &refused);
  ASSERT_TRUE(fresh) << "the restarted peer never got connection.open_ok";
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(broker_->stats().connections, 1u) << "the old session must be gone, not kept beside the new one";
  // Nothing of the old session is the new one's: its exclusive queue is
  // gone, and its unacked message was requeued as a lost connection's is.
  ASSERT_TRUE(fresh->open_channel(1));
  fresh->send({protocol::encode(1, protocol::QueueDeclare{"old-exclusive", true, false, false, false, {}})});
  EXPECT_TRUE(fresh->expect(channel_close(1, ReplyCode::kNotFound)));
  fresh->send({protocol::encode(1, protocol::ChannelCloseOk{})});
  ASSERT_TRUE(fresh->open_channel(1));
  bool redelivered = false;
  EXPECT_EQ(get(*fresh, "shared", &redelivered), "in flight");
  EXPECT_TRUE(redelivered);
  ASSERT_TRUE(fresh->close());
}

TEST_F(DuplicateIdentityTest, ManySequentialConnectionsReusingIdentities) {
  // 60 connections under 3 ids, one after another; every other one vanishes
  // without connection.close, so the next under its id finds the old
  // session still open (505, then a fresh session).
  constexpr int kConnections = 60;
  RawPeer reader(default_context(), endpoint());
  ASSERT_TRUE(reader.open());
  ASSERT_TRUE(reader.open_channel(1));
  declare(reader, "reuse");
  int refused = 0;
  for (int i = 0; i < kConnections; ++i) {
    // The reader says it is alive: on a loaded machine this loop can take
    // longer than 3 of the broker's heartbeat intervals.
    reader.send({protocol::encode(0, protocol::Heartbeat{})});
    auto peer = open_as("reused-" + std::to_string(i % 3), &refused);
    ASSERT_TRUE(peer) << "connection " << i << " never opened";
    ASSERT_TRUE(peer->open_channel(1)) << "connection " << i;
    publish(*peer, "reuse", std::to_string(i));
    declare(*peer, "reuse");  // a round trip: the publish has arrived before the peer may vanish
    if (i % 2 == 0) {
      ASSERT_TRUE(peer->close()) << "connection " << i;
    }
  }
  // Every message arrived once, in order, and the broker holds at most the
  // reader and one session per id.
  for (int i = 0; i < kConnections; ++i) ASSERT_EQ(get(reader, "reuse"), std::to_string(i));
  EXPECT_EQ(get(reader, "reuse"), std::nullopt);
  EXPECT_LE(broker_->stats().connections, 4u);
  EXPECT_GT(refused, 0) << "no connection met its predecessor's session";
  ASSERT_TRUE(reader.close());
}

}  // namespace
}  // namespace warren::testing
