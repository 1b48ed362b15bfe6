// basic.publish / consume / get / cancel / ack: order, round-robin,
// properties, consumer tags, and the errors they can raise.
#include <set>

#include "support/broker_fixture.hpp"

namespace warren::testing {
namespace {

class BasicTest : public BrokerTest {};

TEST_F(BasicTest, PublishConsumeKeepsOrder) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("order");
  constexpr int kCount = 2000;
  for (int i = 0; i < kCount; ++i) ch.basic_publish("", "order", std::to_string(i));
  std::vector<std::string> got;
  ch.basic_consume("order", [&](const Message& m) { got.push_back(m.body); }, {.auto_ack = true});
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == kCount; }));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(got[i], std::to_string(i));
}

TEST_F(BasicTest, RoundRobinBetweenTwoConsumers) {
  auto producer = connect();
  auto pch = producer.channel();
  pch.queue_declare("rr");
  auto consumer = connect();
  auto c1 = consumer.channel();
  auto c2 = consumer.channel();
  std::vector<int> first, second;
  c1.basic_consume("rr", [&](const Message& m) { first.push_back(std::stoi(m.body)); }, {.auto_ack = true});
  c2.basic_consume("rr", [&](const Message& m) { second.push_back(std::stoi(m.body)); }, {.auto_ack = true});
  for (int i = 0; i < 10; ++i) pch.basic_publish("", "rr", std::to_string(i));
  ASSERT_TRUE(pump_until(consumer, [&] { return first.size() + second.size() == 10; }));
  EXPECT_EQ(first, (std::vector<int>{0, 2, 4, 6, 8}));
  EXPECT_EQ(second, (std::vector<int>{1, 3, 5, 7, 9}));
}

TEST_F(BasicTest, GetReturnsMessagesThenEmpty) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("g");
  ch.basic_publish("", "g", "a");
  ch.basic_publish("", "g", "b");
  auto m = ch.basic_get("g", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "a");
  EXPECT_EQ(m->message_count, 1u);
  EXPECT_EQ(m->routing_key, "g");
  EXPECT_EQ(m->exchange, "");
  EXPECT_FALSE(m->redelivered);
  m = ch.basic_get("g", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "b");
  EXPECT_EQ(m->message_count, 0u);
  EXPECT_FALSE(ch.basic_get("g", true));
  expect_refused<ChannelError>([&] { ch.basic_get("missing"); }, ReplyCode::kNotFound);
}

TEST_F(BasicTest, GetWithoutAutoAckNeedsAckAndRequeuesOnClose) {
  auto conn = connect();
  {
    auto ch = conn.channel();
    ch.queue_declare("unacked");
    ch.basic_publish("", "unacked", "x");
    auto m = ch.basic_get("unacked");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->delivery_tag, 1u);
    EXPECT_FALSE(ch.basic_get("unacked"));
  }  // closed without ack: requeued
  auto ch = conn.channel();
  auto m = ch.basic_get("unacked");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "x");
  EXPECT_TRUE(m->redelivered);
  ch.basic_ack(m->delivery_tag);
  ch.close();
  auto again = conn.channel();
  EXPECT_FALSE(again.basic_get("unacked"));
}

TEST_F(BasicTest, EveryPropertyRoundTrips) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("props");
  Properties p;
  p.content_type = "application/json";
  p.content_encoding = "gzip";
  p.headers = FieldTable{{"int", 42},
                         {"neg", -7},
                         {"str", "text"},
                         {"bool", true},
                         {"double", 2.5},
                         {"nil", nullptr},
                         {"bytes", Bytes{std::string("\0\1\2", 3)}},
                         {"array", FieldArray{1, "two", FieldArray{3}}},
                         {"table", FieldTable{{"nested", FieldTable{{"deep", 1}}}}}};
  p.delivery_mode = kPersistent;
  p.priority = 9;
  p.correlation_id = "corr-1";
  p.reply_to = "amq.gen-reply";
  p.expiration = "60000";
  p.message_id = "msg-1";
  p.timestamp = 1764000000;
  p.type = "order.created";
  p.user_id = "guest";
  p.app_id = "tests";
  p.cluster_id = "c1";
  std::string body("binary\0body", 11);
  ch.basic_publish("", "props", body, p);
  auto got = ch.basic_get("props", true);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->properties, p);
  EXPECT_EQ(got->body, body);

  std::optional<Message> delivered;
  ch.basic_publish("", "props", body, p);
  ch.basic_consume("props", [&](const Message& m) { delivered = m; }, {.auto_ack = true});
  ASSERT_TRUE(pump_until(conn, [&] { return delivered.has_value(); }));
  EXPECT_EQ(delivered->properties, p);
  EXPECT_EQ(delivered->body, body);
}

TEST_F(BasicTest, EmptyAndLargeBodies) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("sizes");
  std::string big(4 * 1024 * 1024, 'z');
  big[12345] = 'q';
  ch.basic_publish("", "sizes", "");
  ch.basic_publish("", "sizes", big);
  auto a = ch.basic_get("sizes", true);
  auto b = ch.basic_get("sizes", true);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "");
  EXPECT_EQ(b->body, big);
}

TEST_F(BasicTest, PublishToMissingExchangeIs404OnTheNextCall) {
  auto conn = connect();
  auto ch = conn.channel();
  auto other = conn.channel();
  ch.basic_publish("no-such-exchange", "k", "x");
  expect_refused<ChannelError>([&] { ch.queue_declare("after"); }, ReplyCode::kNotFound);
  EXPECT_FALSE(ch.is_open());
  EXPECT_EQ(other.queue_declare("after").queue, "after");
}

TEST_F(BasicTest, OversizeBodyIsRefusedLocallyAndByTheBroker) {
  BrokerOptions o = quiet_broker();
  o.max_message_size = 1000;
  start_broker(o);
  auto conn = connect();
  EXPECT_EQ(conn.max_message_size(), 1000u);
  auto ch = conn.channel();
  ch.queue_declare("small");
  ch.basic_publish("", "small", std::string(1000, 'a'));
  expect_refused<ChannelError>([&] { ch.basic_publish("", "small", std::string(1001, 'a')); },
                               ReplyCode::kPreconditionFailed);
  EXPECT_EQ(ch.queue_declare("small").message_count, 1u);
}

TEST_F(BasicTest, PublishToUnknownQueueIsDropped) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.basic_publish("", "nobody-home", "x");
  ch.queue_declare("nobody-home");
  EXPECT_EQ(ch.queue_declare("nobody-home").message_count, 0u);
}

TEST_F(BasicTest, ConsumerTagsGeneratedOrChosenAndReuseIs530) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("tags");
  auto generated = ch.basic_consume("tags", [](const Message&) {});
  EXPECT_TRUE(generated.starts_with("amq.ctag-")) << generated;
  EXPECT_EQ(ch.basic_consume("tags", [](const Message&) {}, {.consumer_tag = "mine"}), "mine");
  expect_refused<ChannelError>(
      [&] { ch.basic_consume("tags", [](const Message&) {}, {.consumer_tag = "mine"}); }, ReplyCode::kNotAllowed);
  // The same tag on another channel is fine.
  auto other = conn.channel();
  EXPECT_EQ(other.basic_consume("tags", [](const Message&) {}, {.consumer_tag = "mine"}), "mine");
}

TEST_F(BasicTest, ConsumeOnMissingQueueIs404) {
  auto conn = connect();
  auto ch = conn.channel();
  expect_refused<ChannelError>([&] { ch.basic_consume("missing", [](const Message&) {}); }, ReplyCode::kNotFound);
}

TEST_F(BasicTest, ExclusiveConsumerRefusesOthers) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("solo");
  ch.basic_consume("solo", [](const Message&) {}, {.exclusive = true});
  auto other = conn.channel();
  expect_refused<ChannelError>([&] { other.basic_consume("solo", [](const Message&) {}); },
                               ReplyCode::kAccessRefused);
  auto third = conn.channel();
  third.queue_declare("shared");
  third.basic_consume("shared", [](const Message&) {});
  expect_refused<ChannelError>(
      [&] { ch.basic_consume("shared", [](const Message&) {}, {.exclusive = true}); }, ReplyCode::kAccessRefused);
}

TEST_F(BasicTest, CancelStopsDeliveries) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("cancel");
  int got = 0;
  auto tag = ch.basic_consume("cancel", [&](const Message&) { ++got; }, {.auto_ack = true});
  ch.basic_publish("", "cancel", "1");
  ASSERT_TRUE(pump_until(conn, [&] { return got == 1; }));
  ch.basic_cancel(tag);
  ch.basic_publish("", "cancel", "2");
  EXPECT_EQ(ch.queue_declare("cancel").message_count, 1u);
  EXPECT_EQ(got, 1);
  // Cancelling an unknown tag is not an error.
  ch.basic_cancel("unknown-tag");
}

// An application polling from its own loop with a zero timeout must still
// get what has arrived (the heartbeat, 3 s here, never reads for it).
TEST_F(BasicTest, ProcessEventsWithZeroTimeoutDelivers) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("poll");
  int got = 0;
  ch.basic_consume("poll", [&](const Message&) { ++got; }, {.auto_ack = true});
  for (int i = 0; i < 3; ++i) ch.basic_publish("", "poll", "x");
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (got < 3 && std::chrono::steady_clock::now() < deadline) conn.process_events(0ms);
  EXPECT_EQ(got, 3);
}

TEST_F(BasicTest, ManualAckWithPrefetchLimitsUnacked) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("work");
  for (int i = 0; i < 10; ++i) ch.basic_publish("", "work", std::to_string(i));
  ch.basic_qos(3);
  std::vector<Message> held;
  ch.basic_consume("work", [&](const Message& m) { held.push_back(m); });
  ASSERT_TRUE(pump_until(conn, [&] { return held.size() == 3; }));
  conn.process_events(50ms);
  EXPECT_EQ(held.size(), 3u) << "prefetch 3 must hold back the rest";
  ch.basic_ack(held.back().delivery_tag, true);  // acks all three
  ASSERT_TRUE(pump_until(conn, [&] { return held.size() == 6; }));
  EXPECT_EQ(held[3].body, "3");
}

TEST_F(BasicTest, NackAndRejectRequeueInOriginalOrder) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("nack");
  for (int i = 0; i < 4; ++i) ch.basic_publish("", "nack", std::to_string(i));
  auto m0 = ch.basic_get("nack");
  auto m1 = ch.basic_get("nack");
  auto m2 = ch.basic_get("nack");
  ASSERT_TRUE(m0 && m1 && m2);
  ch.basic_reject(m2->delivery_tag, true);
  ch.basic_nack(m1->delivery_tag, true, true);  // m0 and m1
  std::vector<std::string> order;
  while (auto m = ch.basic_get("nack", true)) order.push_back(m->body + (m->redelivered ? "r" : ""));
  EXPECT_EQ(order, (std::vector<std::string>{"0r", "1r", "2r", "3"}));
}

TEST_F(BasicTest, RejectWithoutRequeueDrops) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("drop");
  ch.basic_publish("", "drop", "x");
  auto m = ch.basic_get("drop");
  ASSERT_TRUE(m);
  ch.basic_reject(m->delivery_tag, false);
  EXPECT_FALSE(ch.basic_get("drop"));
}

TEST_F(BasicTest, UnknownOrDoubleAckIs406) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("acks");
  ch.basic_publish("", "acks", "x");
  auto m = ch.basic_get("acks");
  ASSERT_TRUE(m);
  ch.basic_ack(m->delivery_tag);
  ch.basic_ack(m->delivery_tag);
  expect_refused<ChannelError>([&] { ch.queue_declare("acks"); }, ReplyCode::kPreconditionFailed);
  auto ch2 = conn.channel();
  ch2.basic_ack(999);
  expect_refused<ChannelError>([&] { ch2.queue_declare("acks"); }, ReplyCode::kPreconditionFailed);
}

TEST_F(BasicTest, RecoverRequeuesUnacked) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("recover");
  ch.basic_publish("", "recover", "x");
  ASSERT_TRUE(ch.basic_get("recover"));
  ch.basic_recover();
  auto m = ch.basic_get("recover", true);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->redelivered);
}

TEST_F(BasicTest, ClosingAChannelRequeuesToAnotherConsumer) {
  auto conn = connect();
  auto keep = conn.channel();
  keep.queue_declare("handover");
  keep.basic_publish("", "handover", "task");
  std::optional<Message> first;
  {
    auto dying = conn.channel();
    dying.basic_consume("handover", [&](const Message& m) { first = m; });
    ASSERT_TRUE(pump_until(conn, [&] { return first.has_value(); }));
  }  // closed without ack
  std::optional<Message> second;
  keep.basic_consume("handover", [&](const Message& m) { second = m; });
  ASSERT_TRUE(pump_until(conn, [&] { return second.has_value(); }));
  EXPECT_EQ(second->body, "task");
  EXPECT_TRUE(second->redelivered);
}

TEST_F(BasicTest, ManyChannelsOnOneConnection) {
  auto conn = connect();
  std::vector<Channel> channels;
  for (int i = 0; i < 50; ++i) channels.push_back(conn.channel());
  std::set<std::uint16_t> numbers;
  for (auto& c : channels) numbers.insert(c.number());
  EXPECT_EQ(numbers.size(), 50u);
  channels.clear();
  auto again = conn.channel();
  EXPECT_EQ(again.number(), 1u) << "numbers are reused after close";
}

}  // namespace
}  // namespace warren::testing
