// A broker under bad input: raw DEALER peers send what docs/protocol.md
// forbids, and each gets the documented connection.close or channel.close
// (Errors table). Meanwhile a well-behaved client on the same broker keeps
// working, and the broker keeps no state for peers it refused.
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "support/bad_inputs.hpp"
#include "support/broker_fixture.hpp"
#include "support/raw_peer.hpp"
#include "warren/context.hpp"
#include "warren/protocol.hpp"

namespace warren::testing {
namespace {

constexpr BrokerLimits kLimits{.max_message_size = 1024, .max_channels = 2047};

// A broker with a small max_message_size, and one good client on it.
class BadInputTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerOptions options = quiet_broker();
    options.max_message_size = kLimits.max_message_size;
    options.max_channels = kLimits.max_channels;
    start_broker(options);
    good_.emplace(connect());
    good_channel_.emplace(good_->channel());
  }
  void TearDown() override {
    good_channel_.reset();
    good_.reset();
    BrokerTest::TearDown();
  }

  // The good client still does a full round trip.
  ::testing::AssertionResult good_client_works() {
    ++round_trips_;
    return round_trip(*good_channel_, "good-client", "message " + std::to_string(round_trips_));
  }
  // Only the good client is left: refused strangers and closed peers are forgotten.
  ::testing::AssertionResult only_good_client_left() {
    if (wait_until([&] { return broker_->stats().connections == 1; }))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << broker_->stats().connections << " connections, expected 1";
  }

  std::optional<Connection> good_;
  std::optional<Channel> good_channel_;
  int round_trips_ = 0;
};

// ---- the catalogue, one case per test -------------------------------------------

class BadInputCatalogueTest : public BadInputTest,
                              public ::testing::WithParamInterface<BadInput> {};

TEST_P(BadInputCatalogueTest, GetsTheDocumentedReply) {
  ASSERT_TRUE(good_client_works());
  EXPECT_TRUE(run_bad_input(default_context(), endpoint(), GetParam()));
  EXPECT_TRUE(good_client_works());
  EXPECT_TRUE(only_good_client_left());
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInputCatalogueTest,
                         ::testing::ValuesIn(bad_input_catalogue(kLimits)),
                         [](const ::testing::TestParamInfo<BadInput>& info) {
                           return info.param.name;
                         });

// ---- the whole catalogue against one broker -------------------------------------

TEST_F(BadInputTest, EveryBadInputInTurnWhileAGoodClientWorks) {
  for (const BadInput& input : bad_input_catalogue(kLimits)) {
    SCOPED_TRACE(input.name);
    EXPECT_TRUE(run_bad_input(default_context(), endpoint(), input));
    ASSERT_TRUE(good_client_works());
  }
  EXPECT_TRUE(only_good_client_left());
}

// ---- random bytes ---------------------------------------------------------------------

TEST_F(BadInputTest, RandomFramesFromAStrangerAreEachRefusedOnce) {
  RawPeer peer(default_context(), endpoint());
  std::mt19937_64 rng(20261125);
  const std::set<std::uint16_t> codes = {501, 505, 540};
  for (int i = 0; i < 500; ++i) {
    Frames frames(1 + rng() % 3);
    for (auto& frame : frames) {
      frame.resize(rng() % 48);
      for (auto& b : frame) b = static_cast<char>(rng() & 0xff);
    }
    peer.send(frames);
    // A stranger is answered once per message, and nothing is remembered.
    auto got = peer.recv_command();
    ASSERT_TRUE(got) << "no reply to random message " << i;
    auto* close = std::get_if<protocol::ConnectionClose>(&got->method);
    ASSERT_TRUE(close) << describe(*got);
    EXPECT_TRUE(codes.contains(close->reply_code)) << describe(*got);
    if (i % 100 == 0) {
      ASSERT_TRUE(good_client_works());
    }
  }
  EXPECT_TRUE(good_client_works());
  EXPECT_TRUE(only_good_client_left());
}

TEST_F(BadInputTest, RandomFramesAfterOpenCloseTheConnectionOnce) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50; ++i) {
    RawPeer peer(default_context(), endpoint());
    ASSERT_TRUE(peer.open());
    Frames frames(1 + rng() % 3);
    for (auto& frame : frames) {
      frame.resize(rng() % 48);
      for (auto& b : frame) b = static_cast<char>(rng() & 0xff);
    }
    peer.send(frames);
    auto got = peer.recv_command();
    ASSERT_TRUE(got) << "no reply to random message " << i;
    auto* close = std::get_if<protocol::ConnectionClose>(&got->method);
    ASSERT_TRUE(close) << describe(*got);
    // A random frame may decode as a command on a channel that is not open.
    EXPECT_TRUE((std::set<std::uint16_t>{501, 504, 505, 540}).contains(close->reply_code))
        << describe(*got);
    peer.send({protocol::encode(0, protocol::ConnectionCloseOk{})});
  }
  EXPECT_TRUE(good_client_works());
  EXPECT_TRUE(only_good_client_left());
}

// ---- what follows a connection error -----------------------------------------------

TEST_F(BadInputTest, AfterConnectionCloseOnlyCloseOkCounts) {
  RawPeer peer(default_context(), endpoint());
  ASSERT_TRUE(peer.open());
  ASSERT_TRUE(peer.open_channel(1));
  peer.send({bad_input_detail::garbage(3, 16)});
  ASSERT_TRUE(peer.expect(connection_close(ReplyCode::kFrameError)));
  // Discarded: nothing is answered, not even what would be a new error.
  peer.send({protocol::encode(2, protocol::ChannelOpen{})});
  peer.send({protocol::encode(1, declare_queue("after-close"))});
  peer.send({protocol::encode(9, declare_queue("after-close"))});
  peer.send({bad_input_detail::garbage(4, 16)});
  peer.send({protocol::encode(0, protocol::ConnectionOpen{})});
  peer.set_timeout(std::chrono::milliseconds(300));
  auto got = peer.recv_command();
  EXPECT_FALSE(got) << describe(*got);
  EXPECT_EQ(broker_->stats().queues, 0u) << "the declare after connection.close was executed";
  peer.send({protocol::encode(0, protocol::ConnectionCloseOk{})});
  EXPECT_TRUE(only_good_client_left());
  EXPECT_TRUE(good_client_works());
}

TEST(BadInputTimeoutTest, PeerThatNeverAnswersConnectionCloseIsForgotten) {
  BrokerOptions options = quiet_broker();
  options.heartbeat = std::chrono::milliseconds(100);
  Broker broker(options);
  broker.start();
  RawPeer peer(default_context(), broker.endpoint());
  ASSERT_TRUE(peer.open());
  ASSERT_TRUE(wait_until([&] { return broker.stats().connections == 1; }));
  peer.send({""});
  ASSERT_TRUE(peer.expect(connection_close(ReplyCode::kFrameError)));
  // No close_ok, no heartbeats: gone after 3 heartbeats (the broker allows
  // at least a second).
  EXPECT_TRUE(wait_until([&] { return broker.stats().connections == 0; }, std::chrono::seconds(5)));
}

// ---- channel errors --------------------------------------------------------------------

TEST_F(BadInputTest, BrokerClosedChannelDiscardsPipelinedPublishesUntilCloseOk) {
  auto conn = connect();
  auto failing = conn.channel();
  auto other = conn.channel();
  other.queue_declare("kept");
  // An unacknowledged message on the failing channel, requeued when it closes.
  other.basic_publish("", "kept", "unacked");
  auto unacked = failing.basic_get("kept", false);
  ASSERT_TRUE(unacked);
  EXPECT_FALSE(unacked->redelivered);

  failing.basic_publish("nope", "kept", "refused");  // 404: the channel closes
  // Pipelined after the refused publish, before the client knows: discarded.
  for (int i = 0; i < 3; ++i) {
    try {
      failing.basic_publish("", "kept", "lost " + std::to_string(i));
    } catch (const ChannelError& e) {
      EXPECT_EQ(e.code(), ReplyCode::kNotFound);  // the client may learn early
    }
  }
  expect_refused<ChannelError>([&] { failing.queue_declare("kept", {.passive = true}); },
                               ReplyCode::kNotFound);
  EXPECT_FALSE(failing.is_open());
  expect_refused<ChannelError>([&] { failing.basic_publish("", "kept", "late"); },
                               ReplyCode::kNotFound);
  expect_refused<ChannelError>([&] { failing.basic_get("kept"); }, ReplyCode::kNotFound);

  // The other channel never noticed; none of the pipelined publishes arrived,
  // and the unacknowledged message is back, marked redelivered.
  ASSERT_TRUE(conn.is_open());
  auto back = other.basic_get("kept", true);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->body, "unacked");
  EXPECT_TRUE(back->redelivered);
  EXPECT_FALSE(other.basic_get("kept", true))
      << "a publish pipelined after the channel error arrived";
  // New channels work, and so does the good client on its own connection.
  auto fresh = conn.channel();
  EXPECT_TRUE(round_trip(fresh, "kept", "after"));
  EXPECT_TRUE(round_trip(other, "kept", "after again"));
  EXPECT_TRUE(good_client_works());
}

TEST_F(BadInputTest, OversizeBodyClosesOnlyTheChannel) {
  RawPeer peer(default_context(), endpoint());
  ASSERT_TRUE(peer.open());
  ASSERT_TRUE(peer.open_channel(1));
  ASSERT_TRUE(peer.open_channel(2));
  peer.send({protocol::encode(2, declare_queue("sized"))});
  ASSERT_TRUE(peer.expect(reply(protocol::Opcode::kQueueDeclareOk, 2)));
  // Exactly max_message_size is fine; one byte more is 406.
  const std::string publish = protocol::encode(1, protocol::BasicPublish{"", "sized", false});
  peer.send({publish, std::string(kLimits.max_message_size, 'a')});
  peer.send({publish, std::string(kLimits.max_message_size + 1, 'b')});
  ASSERT_TRUE(peer.expect(channel_close(1, ReplyCode::kPreconditionFailed)));
  peer.send({protocol::encode(2, protocol::BasicGet{"sized", true})});
  auto got = peer.recv_command();
  ASSERT_TRUE(matches(got, reply(protocol::Opcode::kBasicGetOk, 2)));
  peer.send({protocol::encode(1, protocol::ChannelCloseOk{})});
  EXPECT_TRUE(peer.open_channel(1));
  EXPECT_TRUE(peer.close());
  EXPECT_TRUE(good_client_works());
}

TEST_F(BadInputTest, BodyFarAboveMaxMessageSizeIsDroppedByTheTransport) {
  // docs/protocol.md: a frame more than 64 KiB above max_message_size is
  // refused by the transport (it protects the broker's memory): the
  // connection is dropped without a reply, and the peer, reconnected under a
  // new identity, is a stranger that must open a connection again.
  RawPeer peer(default_context(), endpoint(), std::chrono::seconds(3));
  ASSERT_TRUE(peer.open());
  ASSERT_TRUE(peer.open_channel(1));
  peer.send(
      {protocol::encode(1, protocol::BasicPublish{"", "q", false}), std::string(1 << 20, 'x')});
  peer.send({protocol::encode(2, protocol::ChannelOpen{})});
  EXPECT_TRUE(peer.expect(connection_close(ReplyCode::kUnexpectedFrame)));
  EXPECT_TRUE(good_client_works());
}

TEST_F(BadInputTest, ClientRefusesOversizeBodyBeforeSending) {
  auto conn = connect();
  EXPECT_EQ(conn.max_message_size(), kLimits.max_message_size);
  auto ch = conn.channel();
  ch.queue_declare("client-side");
  expect_refused<ChannelError>([&] { ch.basic_publish("", "client-side", std::string(2000, 'x')); },
                               ReplyCode::kPreconditionFailed);
  EXPECT_TRUE(round_trip(ch, "client-side", "small"));
}

// ---- valid input the broker must not mistake for bad ---------------------------------

TEST_F(BadInputTest, HeaderDoublesOfEveryValueAreForwarded) {
  // A float header is a valid field value whatever its value; the broker
  // validates properties, so an encoding it refuses closes the publisher.
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("doubles");
  Properties p;
  p.headers = FieldTable{{"half", 0.5}, {"three", 3.0}, {"big", 1e19}};
  ch.basic_publish("", "doubles", "body", p);
  std::optional<Message> m;
  try {
    m = ch.basic_get("doubles", true);
  } catch (const Error& e) {
    FAIL() << "publishing headers "
           << "{half: 0.5, three: 3.0, big: 1e19} failed: " << e.what();
  }
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->properties.headers);
  EXPECT_EQ(m->properties.headers->at("half"), FieldValue(0.5));
  EXPECT_EQ(m->properties.headers->at("three"), FieldValue(3.0));
  EXPECT_EQ(m->properties.headers->at("big"), FieldValue(1e19));
}

}  // namespace
}  // namespace warren::testing
