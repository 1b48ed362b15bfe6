// Queue arguments (docs/protocol.md, "Queue arguments") against an
// in-process broker: message TTL and per-message expiration, idle queue
// expiry, length limits and overflow, dead-lettering with x-death, the
// delivery limit, and what survives a restart. TTLs are tens of ms; tests
// wait for the broker to act, with deadlines.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "support/broker_fixture.hpp"
#include "support/temp_dir.hpp"

namespace warren::testing {
namespace {

Properties expiring(std::string ms) {
  Properties p;
  p.expiration = std::move(ms);
  return p;
}

Properties persistent() {
  Properties p;
  p.delivery_mode = kPersistent;
  return p;
}

// Lets `d` of wall time pass: for tests whose subject is time itself (a TTL
// running out while nothing else happens), there is no event to wait for.
void let_pass(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

class QueueLimitsTest : public BrokerTest {
 protected:
  // Ready messages in `queue`, without touching it (a declare would count as
  // use for x-expires): from management.query.
  std::optional<std::int64_t> ready(Channel& ch, const std::string& queue) {
    for (const auto& row : ch.management_query("queues"))
      if (row.at("name").as<std::string>() == queue)
        return row.at("messages_ready").as<std::int64_t>();
    return std::nullopt;
  }
  bool exists(Channel& ch, const std::string& queue) { return ready(ch, queue).has_value(); }
  // Ready messages, by passive declare (a round trip: what was sent before is handled).
  std::uint32_t count(Channel& ch, const std::string& queue) {
    return ch.queue_declare(queue, {.passive = true}).message_count;
  }
  // Waits until `queue` holds `n` ready messages.
  bool wait_ready(Channel& ch, const std::string& queue, std::int64_t n) {
    return wait_until([&] { return ready(ch, queue) == n; });
  }
  std::vector<std::string> drain(Channel& ch, const std::string& queue) {
    std::vector<std::string> bodies;
    while (auto m = ch.basic_get(queue, true)) bodies.push_back(m->body);
    return bodies;
  }
};

// The x-death entries of a dead-lettered message.
const FieldArray& deaths(const Message& m) {
  static const FieldArray kNone;
  if (!m.properties.headers) return kNone;
  auto it = m.properties.headers->find("x-death");
  return it == m.properties.headers->end() ? kNone : it->second.as<FieldArray>();
}

const FieldTable& death(const Message& m, std::size_t i) {
  return deaths(m).at(i).as<FieldTable>();
}

std::string text(const FieldTable& t, const char* name) { return t.at(name).as<std::string>(); }
std::int64_t integer(const FieldTable& t, const char* name) {
  return t.at(name).as<std::int64_t>();
}

std::int64_t epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- message TTL ---------------------------------------------------------------

TEST_F(QueueLimitsTest, QueueTtlDropsMessagesFromAQueueWithoutConsumers) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q", {.arguments = {{"x-message-ttl", 30}}});
  ch.basic_publish("", "q", "a");
  ch.basic_publish("", "q", "b");
  EXPECT_TRUE(wait_ready(ch, "q", 0));  // the broker's timer dropped them, nobody asked
  EXPECT_FALSE(ch.basic_get("q"));
}

TEST_F(QueueLimitsTest, ExpiredMessagesAreNeverGot) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q");
  // Only the head is watched by the timer: b expires behind a, and basic.get
  // skips it once it reaches the head.
  ch.basic_publish("", "q", "a");
  ch.basic_publish("", "q", "b", expiring("10"));
  ch.basic_publish("", "q", "c", expiring("60000"));
  let_pass(30ms);
  EXPECT_EQ(drain(ch, "q"), (std::vector<std::string>{"a", "c"}));
}

TEST_F(QueueLimitsTest, ExpiredMessagesAreNeverDeliveredToAConsumer) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q", {.arguments = {{"x-message-ttl", 20}}});
  ch.basic_qos(1);
  std::vector<Message> got;
  ch.basic_consume("q", [&](const Message& m) { got.push_back(m); });
  ch.basic_publish("", "q", "first");
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 1; }));
  // "first" holds the only credit; these wait, and expire.
  ch.basic_publish("", "q", "second");
  ch.basic_publish("", "q", "third", expiring("60000"));  // the queue's 20 ms is shorter
  let_pass(40ms);
  ch.basic_publish("", "q", "fresh");
  ch.basic_ack(got[0].delivery_tag);
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 2; }));
  EXPECT_EQ(got[1].body, "fresh");
  EXPECT_EQ(count(ch, "q"), 0u);
}

TEST_F(QueueLimitsTest, ExpiredBehindTheHeadIsSkippedOnDelivery) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q");
  ch.basic_qos(1);
  std::vector<Message> got;
  ch.basic_consume("q", [&](const Message& m) { got.push_back(m); });
  ch.basic_publish("", "q", "first");
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 1; }));
  ch.basic_publish("", "q", "head");  // no expiry: the timer has nothing to watch
  ch.basic_publish("", "q", "expires", expiring("10"));
  ch.basic_publish("", "q", "last");
  let_pass(30ms);
  ch.basic_ack(got[0].delivery_tag);
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 2; }));
  ch.basic_ack(got[1].delivery_tag);
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 3; }));
  EXPECT_EQ(got[1].body, "head");
  EXPECT_EQ(got[2].body, "last");
  ch.basic_ack(got[2].delivery_tag);
  EXPECT_EQ(count(ch, "q"), 0u);
  EXPECT_EQ(got.size(), 3u);
}

TEST_F(QueueLimitsTest, PerMessageExpirationBelowTheQueueTtlWins) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("long", {.arguments = {{"x-message-ttl", 60000}}});
  ch.basic_publish("", "long", "short-lived", expiring("20"));
  EXPECT_TRUE(wait_ready(ch, "long", 0));
}

TEST_F(QueueLimitsTest, ZeroTtlReachesAReadyConsumerAndIsDroppedOtherwise) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("now", {.arguments = {{"x-message-ttl", 0}}});
  ch.basic_publish("", "now", "nobody there");
  EXPECT_TRUE(wait_ready(ch, "now", 0));
  std::vector<std::string> got;
  ch.basic_consume("now", [&](const Message& m) { got.push_back(m.body); }, {.auto_ack = true});
  ch.basic_publish("", "now", "taken at once");
  EXPECT_TRUE(pump_until(conn, [&] { return got.size() == 1; }));
  EXPECT_EQ(got, std::vector<std::string>{"taken at once"});
}

TEST_F(QueueLimitsTest, RequeuedMessagesKeepTheirExpiry) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q", {.arguments = {{"x-message-ttl", 40}}});
  ch.basic_publish("", "q", "m");
  auto m = ch.basic_get("q");
  ASSERT_TRUE(m);
  let_pass(60ms);
  ch.basic_reject(m->delivery_tag, true);  // back in the queue, already past its expiry
  EXPECT_FALSE(ch.basic_get("q"));
}

TEST_F(QueueLimitsTest, InvalidExpirationIs406OnPublish) {
  auto conn = connect();
  {
    auto setup = conn.channel();
    setup.queue_declare("q");
  }
  for (std::string bad :
       {"abc", "-1", "", "1.5", " 5", "+5", "4294967296", "99999999999999999999"}) {
    auto ch = conn.channel();
    expect_refused<ChannelError>(
        [&] {
          ch.basic_publish("", "q", "x", expiring(bad));
          count(ch, "q");  // the publish's refusal arrives first
        },
        ReplyCode::kPreconditionFailed);
  }
  auto ch = conn.channel();
  ch.basic_publish("", "q", "fine", expiring("4294967295"));
  EXPECT_EQ(count(ch, "q"), 1u);
}

// ---- x-expires ---------------------------------------------------------------

TEST_F(QueueLimitsTest, IdleQueueIsDeleted) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("idle", {.arguments = {{"x-expires", 30}}});
  ch.basic_publish("", "idle", "messages do not keep it");
  EXPECT_TRUE(wait_until([&] { return !exists(ch, "idle"); }));
  expect_refused<ChannelError>([&] { ch.queue_declare("idle", {.passive = true}); },
                               ReplyCode::kNotFound);
}

TEST_F(QueueLimitsTest, QueueWithAConsumerIsKeptAndExpiresAfterItLeaves) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("watched", {.arguments = {{"x-expires", 30}}});
  auto tag = ch.basic_consume("watched", [](const Message&) {});
  let_pass(100ms);  // more than 3 x-expires
  EXPECT_TRUE(exists(ch, "watched"));
  ch.basic_cancel(tag);
  EXPECT_TRUE(wait_until([&] { return !exists(ch, "watched"); }));
}

TEST_F(QueueLimitsTest, BasicGetAndRedeclareCountAsUse) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("used", {.arguments = {{"x-expires", 200}}});
  auto until = std::chrono::steady_clock::now() + 500ms;
  for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
    if (i % 2)
      ch.basic_get("used");
    else
      ch.queue_declare("used", {.arguments = {{"x-expires", 200}}});
    let_pass(20ms);
  }
  EXPECT_TRUE(exists(ch, "used"));
  EXPECT_TRUE(wait_until([&] { return !exists(ch, "used"); }));
}

// ---- length limits -------------------------------------------------------------

TEST_F(QueueLimitsTest, MaxLengthDropsTheOldest) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q", {.arguments = {{"x-max-length", 2}}});
  for (auto body : {"1", "2", "3", "4"}) ch.basic_publish("", "q", body);
  EXPECT_EQ(drain(ch, "q"), (std::vector<std::string>{"3", "4"}));
}

TEST_F(QueueLimitsTest, MaxLengthCountsReadyMessagesOnly) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q", {.arguments = {{"x-max-length", 1}}});
  ch.basic_publish("", "q", "1");
  auto m = ch.basic_get("q");  // unacked: no longer ready
  ASSERT_TRUE(m);
  ch.basic_publish("", "q", "2");
  EXPECT_EQ(count(ch, "q"), 1u);
  ch.basic_ack(m->delivery_tag);
  EXPECT_EQ(drain(ch, "q"), std::vector<std::string>{"2"});
}

TEST_F(QueueLimitsTest, MaxLengthBytesCountsBodies) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q", {.arguments = {{"x-max-length-bytes", 10}}});
  for (auto body : {"aaaaa", "bbbbb", "ccccc"}) ch.basic_publish("", "q", body);
  EXPECT_EQ(drain(ch, "q"), (std::vector<std::string>{"bbbbb", "ccccc"}));
  ch.basic_publish("", "q", "more than ten bytes");  // alone over the limit: dropped too
  EXPECT_EQ(count(ch, "q"), 0u);
}

TEST_F(QueueLimitsTest, RejectPublishNacksAndOtherQueuesStillGetIt) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.exchange_declare("both", "fanout");
  ch.queue_declare("small", {.arguments = {{"x-max-length", 1}, {"x-overflow", "reject-publish"}}});
  ch.queue_declare("big");
  ch.queue_bind("small", "both");
  ch.queue_bind("big", "both");
  ch.confirm_select();
  ch.basic_publish("both", "", "1");
  EXPECT_TRUE(ch.wait_for_confirms(5s));
  ch.basic_publish("both", "", "2");
  EXPECT_FALSE(ch.wait_for_confirms(5s));                        // nacked: "small" refused it
  EXPECT_EQ(drain(ch, "small"), std::vector<std::string>{"1"});  // the oldest stays
  EXPECT_EQ(drain(ch, "big"), (std::vector<std::string>{"1", "2"}));
  ch.basic_publish("both", "", "3");  // room again
  EXPECT_TRUE(ch.wait_for_confirms(5s));
}

TEST_F(QueueLimitsTest, RejectPublishByBytes) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q",
                   {.arguments = {{"x-max-length-bytes", 4}, {"x-overflow", "reject-publish"}}});
  ch.confirm_select();
  ch.basic_publish("", "q", "abcd");
  EXPECT_TRUE(ch.wait_for_confirms(5s));
  ch.basic_publish("", "q", "e");
  EXPECT_FALSE(ch.wait_for_confirms(5s));
  EXPECT_EQ(drain(ch, "q"), std::vector<std::string>{"abcd"});
}

// ---- dead-lettering ------------------------------------------------------------

class DeadLetterTest : public QueueLimitsTest {
 protected:
  void SetUp() override {
    QueueLimitsTest::SetUp();
    conn_.emplace(connect());
    ch_.emplace(conn_->channel());
    ch_->exchange_declare("dlx", "fanout");
    ch_->queue_declare("dlq");
    ch_->queue_bind("dlq", "dlx");
  }
  void TearDown() override {
    ch_.reset();
    conn_.reset();
    QueueLimitsTest::TearDown();
  }
  // The next message dead-lettered into `queue`, waiting for it.
  Message next_dead(const std::string& queue = "dlq") {
    std::optional<Message> m;
    EXPECT_TRUE(wait_until([&] { return (m = ch_->basic_get(queue, true)).has_value(); }));
    return m ? *m : Message{};
  }
  void expect_death(const Message& m, const std::string& queue, const std::string& reason,
                    const std::string& exchange, const std::string& routing_key) {
    ASSERT_EQ(deaths(m).size(), 1u);
    const auto& d = death(m, 0);
    EXPECT_EQ(text(d, "queue"), queue);
    EXPECT_EQ(text(d, "reason"), reason);
    EXPECT_EQ(integer(d, "count"), 1);
    EXPECT_EQ(text(d, "exchange"), exchange);
    EXPECT_EQ(d.at("routing-keys"), FieldValue(FieldArray{routing_key}));
    EXPECT_NEAR(static_cast<double>(integer(d, "time")), static_cast<double>(epoch_seconds()), 60);
    const auto& h = *m.properties.headers;
    EXPECT_EQ(h.at("x-first-death-queue"), FieldValue(queue));
    EXPECT_EQ(h.at("x-first-death-reason"), FieldValue(reason));
    EXPECT_EQ(h.at("x-first-death-exchange"), FieldValue(exchange));
  }

  std::optional<Connection> conn_;
  std::optional<Channel> ch_;
};

TEST_F(DeadLetterTest, RejectedAndNackedWithoutRequeue) {
  auto& ch = *ch_;
  ch.queue_declare("work", {.arguments = {{"x-dead-letter-exchange", "dlx"}}});
  Properties p;
  p.message_id = "id-1";
  p.headers = FieldTable{{"app", "kept"}};
  ch.basic_publish("", "work", "rejected", p);
  ch.basic_publish("", "work", "nacked");
  ch.basic_publish("", "work", "requeued");
  auto a = ch.basic_get("work");
  auto b = ch.basic_get("work");
  auto c = ch.basic_get("work");
  ch.basic_reject(a->delivery_tag, false);
  ch.basic_nack(b->delivery_tag, false, false);
  ch.basic_nack(c->delivery_tag, false, true);  // requeued: not dead
  auto first = next_dead();
  EXPECT_EQ(first.body, "rejected");
  EXPECT_EQ(first.properties.message_id, "id-1");
  EXPECT_EQ(first.properties.headers->at("app"), FieldValue("kept"));
  EXPECT_EQ(first.exchange, "dlx");
  EXPECT_EQ(first.routing_key, "work");  // no dead-letter routing key: the original one
  expect_death(first, "work", "rejected", "", "work");
  auto second = next_dead();
  EXPECT_EQ(second.body, "nacked");
  expect_death(second, "work", "rejected", "", "work");
  EXPECT_EQ(drain(ch, "work"), std::vector<std::string>{"requeued"});
  EXPECT_FALSE(ch.basic_get("dlq"));
}

TEST_F(DeadLetterTest, AckedMessagesAreNotDeadLettered) {
  auto& ch = *ch_;
  ch.queue_declare("work", {.arguments = {{"x-dead-letter-exchange", "dlx"}}});
  ch.basic_publish("", "work", "fine");
  auto m = ch.basic_get("work");
  ch.basic_ack(m->delivery_tag);
  ch.basic_publish("", "work", "marker");
  auto marker = ch.basic_get("work");
  ch.basic_reject(marker->delivery_tag, false);
  EXPECT_EQ(next_dead().body, "marker");  // the only one
  EXPECT_FALSE(ch.basic_get("dlq"));
}

TEST_F(DeadLetterTest, DeadLetterRoutingKeyReplacesTheOriginal) {
  auto& ch = *ch_;
  ch.exchange_declare("in", "direct");
  ch.queue_declare("work", {.arguments = {{"x-dead-letter-exchange", ""},
                                          {"x-dead-letter-routing-key", "parked"}}});
  ch.queue_declare("parked");
  ch.queue_bind("work", "in", "job");
  ch.basic_publish("in", "job", "m");
  auto m = ch.basic_get("work");
  ch.basic_reject(m->delivery_tag, false);
  auto dead = next_dead("parked");
  EXPECT_EQ(dead.routing_key, "parked");
  EXPECT_EQ(dead.exchange, "");
  expect_death(dead, "work", "rejected", "in", "job");
}

TEST_F(DeadLetterTest, ExpiredLoseTheirExpiration) {
  auto& ch = *ch_;
  ch.queue_declare("short", {.arguments = {{"x-dead-letter-exchange", "dlx"}}});
  ch.queue_declare("ttl",
                   {.arguments = {{"x-message-ttl", 20}, {"x-dead-letter-exchange", "dlx"}}});
  ch.basic_publish("", "short", "per-message", expiring("20"));
  auto m = next_dead();
  EXPECT_EQ(m.body, "per-message");
  EXPECT_FALSE(m.properties.expiration);
  expect_death(m, "short", "expired", "", "short");
  EXPECT_EQ(death(m, 0).at("original-expiration"), FieldValue("20"));
  ch.basic_publish("", "ttl", "per-queue");
  m = next_dead();
  expect_death(m, "ttl", "expired", "", "ttl");
  EXPECT_FALSE(death(m, 0).contains("original-expiration"));
}

TEST_F(DeadLetterTest, DroppedByMaxLength) {
  auto& ch = *ch_;
  ch.queue_declare("q", {.arguments = {{"x-max-length", 1}, {"x-dead-letter-exchange", "dlx"}}});
  ch.basic_publish("", "q", "old");
  ch.basic_publish("", "q", "new");
  auto m = next_dead();
  EXPECT_EQ(m.body, "old");
  expect_death(m, "q", "maxlen", "", "q");
  EXPECT_EQ(drain(ch, "q"), std::vector<std::string>{"new"});
}

TEST_F(DeadLetterTest, RejectPublishDoesNotDeadLetter) {
  auto& ch = *ch_;
  ch.queue_declare("q", {.arguments = {{"x-max-length", 0},
                                       {"x-overflow", "reject-publish"},
                                       {"x-dead-letter-exchange", "dlx"}}});
  ch.basic_publish("", "q", "refused");
  EXPECT_EQ(count(ch, "q"), 0u);
  EXPECT_FALSE(ch.basic_get("dlq"));
}

TEST_F(DeadLetterTest, RepeatedDeathCountsUpInOneEntry) {
  auto& ch = *ch_;
  // Rejected back into itself: a client's decision each time, so no cycle.
  ch.queue_declare("again", {.arguments = {{"x-dead-letter-exchange", ""}}});
  ch.basic_publish("", "again", "m");
  for (int round = 1; round <= 3; ++round) {
    std::optional<Message> m;
    ASSERT_TRUE(wait_until([&] { return (m = ch.basic_get("again")).has_value(); }));
    if (round > 1) {
      ASSERT_EQ(deaths(*m).size(), 1u);
      EXPECT_EQ(integer(death(*m, 0), "count"), round - 1);
    }
    ch.basic_reject(m->delivery_tag, false);
  }
}

TEST_F(DeadLetterTest, NewReasonGoesInFront) {
  auto& ch = *ch_;
  ch.queue_declare(
      "a", {.arguments = {{"x-dead-letter-exchange", ""}, {"x-dead-letter-routing-key", "b"}}});
  ch.queue_declare("b", {.arguments = {{"x-message-ttl", 10}, {"x-dead-letter-exchange", "dlx"}}});
  ch.basic_publish("", "a", "m");
  auto m = ch.basic_get("a");
  ch.basic_reject(m->delivery_tag, false);
  auto dead = next_dead();
  ASSERT_EQ(deaths(dead).size(), 2u);
  EXPECT_EQ(text(death(dead, 0), "queue"), "b");
  EXPECT_EQ(text(death(dead, 0), "reason"), "expired");
  EXPECT_EQ(text(death(dead, 0), "exchange"), "");
  EXPECT_EQ(death(dead, 0).at("routing-keys"), FieldValue(FieldArray{"b"}));
  EXPECT_EQ(text(death(dead, 1), "queue"), "a");
  EXPECT_EQ(text(death(dead, 1), "reason"), "rejected");
  EXPECT_EQ(dead.properties.headers->at("x-first-death-queue"), FieldValue("a"));
}

TEST_F(DeadLetterTest, AutomaticCycleIsBroken) {
  auto& ch = *ch_;
  // ping expires into pong, pong expires into "back" (fanout to ping and
  // dlq): the copy would go round forever, so ping is skipped; dlq sees it.
  ch.exchange_declare("back", "fanout");
  ch.queue_declare("ping", {.arguments = {{"x-message-ttl", 10},
                                          {"x-dead-letter-exchange", ""},
                                          {"x-dead-letter-routing-key", "pong"}}});
  ch.queue_declare("pong",
                   {.arguments = {{"x-message-ttl", 10}, {"x-dead-letter-exchange", "back"}}});
  ch.queue_bind("ping", "back");
  ch.queue_bind("dlq", "back");
  ch.basic_publish("", "ping", "m");
  auto m = next_dead();
  ASSERT_EQ(deaths(m).size(), 2u);
  EXPECT_EQ(text(death(m, 0), "queue"), "pong");
  EXPECT_EQ(text(death(m, 1), "queue"), "ping");
  // Published to ping and dlq at once, so ping had it now if at all.
  EXPECT_EQ(ready(ch, "ping"), 0);
  EXPECT_EQ(ready(ch, "pong"), 0);
  let_pass(50ms);
  EXPECT_FALSE(ch.basic_get("dlq"));
}

TEST_F(DeadLetterTest, MaxLengthCycleEnds) {
  auto& ch = *ch_;
  // Two full queues dead-lettering into each other: every drop moves a
  // message, and each may enter each queue once without a rejection.
  ch.queue_declare("l", {.arguments = {{"x-max-length", 1},
                                       {"x-dead-letter-exchange", ""},
                                       {"x-dead-letter-routing-key", "r"}}});
  ch.queue_declare("r", {.arguments = {{"x-max-length", 1},
                                       {"x-dead-letter-exchange", ""},
                                       {"x-dead-letter-routing-key", "l"}}});
  for (int i = 0; i < 10; ++i) ch.basic_publish("", "l", std::to_string(i));
  EXPECT_EQ(count(ch, "l"), 1u);
  EXPECT_EQ(count(ch, "r"), 1u);
  EXPECT_EQ(drain(ch, "l"), std::vector<std::string>{"9"});
  EXPECT_EQ(drain(ch, "r"), std::vector<std::string>{"8"});
}

TEST_F(DeadLetterTest, MissingDeadLetterExchangeDropsTheMessage) {
  auto& ch = *ch_;
  ch.queue_declare("q", {.arguments = {{"x-dead-letter-exchange", "nowhere"}}});
  ch.basic_publish("", "q", "m");
  auto m = ch.basic_get("q");
  ch.basic_reject(m->delivery_tag, false);
  EXPECT_EQ(count(ch, "q"), 0u);
  ch.exchange_declare("nowhere", "fanout");  // too late for it
  ch.queue_bind("dlq", "nowhere");
  EXPECT_FALSE(ch.basic_get("dlq"));
}

TEST_F(DeadLetterTest, AlternateExchangeOfTheDeadLetterExchangeApplies) {
  auto& ch = *ch_;
  ch.exchange_declare("dl-direct", "direct", {.arguments = {{"alternate-exchange", "dlx"}}});
  ch.queue_declare("q", {.arguments = {{"x-dead-letter-exchange", "dl-direct"}}});
  ch.basic_publish("", "q", "m");
  auto m = ch.basic_get("q");
  ch.basic_reject(m->delivery_tag, false);
  EXPECT_EQ(next_dead().body, "m");  // dl-direct routes nothing: its alternate, dlx, took it
}

// ---- delivery limit --------------------------------------------------------------

TEST_F(DeadLetterTest, DeliveryLimitDeadLettersInsteadOfRequeueing) {
  auto& ch = *ch_;
  ch.queue_declare("q",
                   {.arguments = {{"x-delivery-limit", 2}, {"x-dead-letter-exchange", "dlx"}}});
  ch.basic_publish("", "q", "poison");
  std::vector<Message> got;
  ch.basic_consume("q", [&](const Message& m) {
    got.push_back(m);
    ch.basic_nack(m.delivery_tag, false, true);
  });
  ASSERT_TRUE(pump_until(*conn_, [&] { return got.size() == 3; }));  // the limit, then one more
  auto dead = next_dead();
  EXPECT_EQ(dead.body, "poison");
  expect_death(dead, "q", "delivery_limit", "", "q");
  EXPECT_FALSE(got[0].redelivered);
  EXPECT_TRUE(got[2].redelivered);
  EXPECT_EQ(ready(ch, "q"), 0);
  EXPECT_EQ(got.size(), 3u);
}

TEST_F(QueueLimitsTest, DeliveryLimitCountsChannelCloseAndRecover) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q", {.arguments = {{"x-delivery-limit", 1}}});  // no DLX: dropped
  ch.basic_publish("", "q", "m");
  {
    auto other = conn.channel();
    ASSERT_TRUE(other.basic_get("q"));
  }  // closed: back in the queue (1 delivery, within the limit)
  ASSERT_TRUE(ch.basic_get("q"));
  ch.basic_recover();  // 2 deliveries: over the limit
  EXPECT_EQ(count(ch, "q"), 0u);
  EXPECT_FALSE(ch.basic_get("q"));
}

TEST_F(QueueLimitsTest, DeliveryLimitZeroMeansNoRedelivery) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q", {.arguments = {{"x-delivery-limit", 0}}});
  ch.basic_publish("", "q", "once");
  auto m = ch.basic_get("q");
  ASSERT_TRUE(m);
  ch.basic_reject(m->delivery_tag, true);
  EXPECT_FALSE(ch.basic_get("q"));
}

// ---- arguments ---------------------------------------------------------------

TEST_F(QueueLimitsTest, InvalidArgumentsAre406) {
  auto conn = connect();
  std::vector<std::pair<std::string, FieldValue>> bad = {
      {"x-message-ttl", -1},
      {"x-message-ttl", "10"},
      {"x-message-ttl", 1.5},
      {"x-message-ttl", 4294967296LL},
      {"x-expires", 0},
      {"x-expires", -5},
      {"x-expires", "60000"},
      {"x-max-length", -1},
      {"x-max-length", true},
      {"x-max-length-bytes", -1},
      {"x-overflow", "drop-tail"},
      {"x-overflow", 1},
      {"x-overflow", "reject-publish-dlx"},
      {"x-dead-letter-exchange", 5},
      {"x-delivery-limit", -1},
      {"x-delivery-limit", "3"},
  };
  for (const auto& [name, value] : bad) {
    auto ch = conn.channel();
    try {
      ch.queue_declare("q", {.arguments = {{name, value}}});
      ADD_FAILURE() << name << " accepted";
    } catch (const ChannelError& e) {
      EXPECT_EQ(e.code(), ReplyCode::kPreconditionFailed) << name;
      EXPECT_TRUE(e.text().starts_with("invalid arg '" + name + "' for queue 'q' in vhost '/': "))
          << e.text();
    }
  }
  auto ch = conn.channel();
  expect_refused<ChannelError>(
      [&] {
        ch.queue_declare("q", {.arguments = {{"x-dead-letter-routing-key", "k"}}});
      },
      ReplyCode::kPreconditionFailed);
  EXPECT_FALSE(ch.is_open());
  // None of them made a queue.
  auto fresh = conn.channel();
  expect_refused<ChannelError>([&] { fresh.queue_declare("q", {.passive = true}); },
                               ReplyCode::kNotFound);
}

TEST_F(QueueLimitsTest, ValidAndUnknownArgumentsAreAccepted) {
  auto conn = connect();
  auto ch = conn.channel();
  FieldTable all{{"x-message-ttl", 0},
                 {"x-expires", 4294967295LL},
                 {"x-max-length", 0},
                 {"x-max-length-bytes", 0},
                 {"x-overflow", "drop-head"},
                 {"x-dead-letter-exchange", ""},
                 {"x-dead-letter-routing-key", ""},
                 {"x-delivery-limit", 0},
                 {"x-queue-type", "classic"},
                 {"x-something-new", FieldTable{}}};
  ch.queue_declare("q", {.arguments = all});
  ch.queue_declare("q", {.arguments = all});  // same arguments: fine
  expect_refused<ChannelError>(
      [&] {
        ch.queue_declare("q", {.arguments = {{"x-max-length", 1}}});
      },
      ReplyCode::kPreconditionFailed);  // different: 406, as before
}

// ---- with a data directory ---------------------------------------------------------

class QueueLimitsDurableTest : public QueueLimitsTest {
 protected:
  void SetUp() override { start_broker(with_store(quiet_broker())); }
  BrokerOptions with_store(BrokerOptions o) {
    o.data_dir = data_.path.string();
    return o;
  }
  bool restart() {
    if (broker_) where_ = endpoint();
    broker_.reset();
    return start_broker_again(with_store(quiet_broker(where_)));
  }
  TempDir data_;
  std::string where_;
};

// Under a memory limit, bodies of persistent messages in durable queues
// leave memory (paging); a message that dies while paged must take its body
// along to the dead-letter queue.
TEST_F(QueueLimitsDurableTest, PagedMessagesAreDeadLetteredWithTheirBodies) {
  constexpr int kMessages = 100;
  auto body = [](int i) { return std::to_string(i) + std::string(4096, '.'); };
  broker_.reset();
  auto o = with_store(quiet_broker());
  o.memory_limit = 256 << 10;  // paging above 128 KiB: about 30 of these
  start_broker(std::move(o));
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("dlq", {.durable = true});
  ch.queue_declare("src", {.durable = true,
                           .arguments = {{"x-message-ttl", 300},
                                         {"x-dead-letter-exchange", ""},
                                         {"x-dead-letter-routing-key", "dlq"}}});
  ch.confirm_select();
  for (int i = 0; i < kMessages; ++i) {
    ch.wait_for_confirm_window(20, 10s);
    ch.basic_publish("", "src", body(i), persistent());
  }
  ASSERT_TRUE(ch.wait_for_confirms(10s));
  EXPECT_GT(ch.management_query("overview").at(0).at("paged_out").as<std::int64_t>(), 0);
  ASSERT_TRUE(wait_ready(ch, "dlq", kMessages));
  for (int i = 0; i < kMessages; ++i) {
    auto m = ch.basic_get("dlq", true);
    ASSERT_TRUE(m);
    ASSERT_EQ(m->body, body(i));
  }
}

TEST_F(QueueLimitsDurableTest, MessagesThatLeftDoNotComeBackAfterRestart) {
  std::vector<std::string> dead_reasons;
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.exchange_declare("dlx", "fanout", {.durable = true});
    ch.queue_declare("dlq", {.durable = true});
    ch.queue_bind("dlq", "dlx");
    FieldTable dl{{"x-dead-letter-exchange", "dlx"}};
    auto with = [&](FieldTable extra) {
      extra.insert(dl.begin(), dl.end());
      return QueueDeclareOptions{.durable = true, .arguments = extra};
    };
    ch.queue_declare("ttl", with({{"x-message-ttl", 10}}));
    ch.queue_declare("len", with({{"x-max-length", 1}}));
    ch.queue_declare("rej", with({}));
    ch.queue_declare("lim", with({{"x-delivery-limit", 0}}));
    ch.queue_declare("drop", {.durable = true, .arguments = {{"x-message-ttl", 10}}});  // no DLX
    ch.confirm_select();
    ch.basic_publish("", "ttl", "expired", persistent());
    ch.basic_publish("", "len", "dropped", persistent());
    ch.basic_publish("", "len", "kept", persistent());
    ch.basic_publish("", "rej", "rejected", persistent());
    ch.basic_publish("", "lim", "limited", persistent());
    ch.basic_publish("", "drop", "gone", persistent());
    ASSERT_TRUE(ch.wait_for_confirms(5s));
    auto r = ch.basic_get("rej");
    ch.basic_reject(r->delivery_tag, false);
    auto l = ch.basic_get("lim");
    ch.basic_reject(l->delivery_tag, true);
    ASSERT_TRUE(wait_ready(ch, "dlq", 4));
    ASSERT_TRUE(wait_ready(ch, "drop", 0));
  }
  ASSERT_TRUE(restart());
  auto conn = connect();
  auto ch = conn.channel();
  EXPECT_EQ(drain(ch, "ttl"), std::vector<std::string>{});
  EXPECT_EQ(drain(ch, "len"), std::vector<std::string>{"kept"});
  EXPECT_EQ(drain(ch, "rej"), std::vector<std::string>{});
  EXPECT_EQ(drain(ch, "lim"), std::vector<std::string>{});
  EXPECT_EQ(drain(ch, "drop"), std::vector<std::string>{});
  // The dead-lettered copies were journaled anew, with their history.
  std::map<std::string, std::string> reasons;
  while (auto m = ch.basic_get("dlq", true)) reasons[m->body] = text(death(*m, 0), "reason");
  EXPECT_EQ(reasons, (std::map<std::string, std::string>{{"expired", "expired"},
                                                         {"dropped", "maxlen"},
                                                         {"rejected", "rejected"},
                                                         {"limited", "delivery_limit"}}));
}

TEST_F(QueueLimitsDurableTest, TtlCountsFromTheRestart) {
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.queue_declare("slow", {.durable = true, .arguments = {{"x-message-ttl", 60000}}});
    ch.queue_declare("fast", {.durable = true});
    ch.confirm_select();
    ch.basic_publish("", "slow", "kept", persistent());
    // Usually restored before it expires: then the timer must run for it.
    ch.basic_publish("", "fast", "expires", [] {
      Properties p = persistent();
      p.expiration = "300";
      return p;
    }());
    ASSERT_TRUE(ch.wait_for_confirms(5s));
  }
  ASSERT_TRUE(restart());
  auto conn = connect();
  auto ch = conn.channel();
  EXPECT_TRUE(wait_ready(ch, "fast", 0));
  EXPECT_EQ(drain(ch, "slow"), std::vector<std::string>{"kept"});
}

TEST_F(QueueLimitsDurableTest, DurableQueueWithExpiresIsRestoredAndExpiresAgain) {
  {
    auto conn = connect();
    auto ch = conn.channel();
    ch.queue_declare("long", {.durable = true, .arguments = {{"x-expires", 60000}}});
    ch.queue_declare("brief", {.durable = true, .arguments = {{"x-expires", 30}}});
    ch.basic_consume("brief", [](const Message&) {});  // in use until the broker stops
    where_ = endpoint();
    broker_.reset();
  }
  ASSERT_TRUE(restart());
  auto conn = connect();
  auto ch = conn.channel();
  // "brief" existed at the shutdown, so it was restored; idle again, it goes.
  EXPECT_TRUE(wait_until([&] { return !exists(ch, "brief"); }));
  EXPECT_TRUE(exists(ch, "long"));
}

TEST_F(QueueLimitsDurableTest, ShutdownDoesNotCountAsDeliveries) {
  {
    // Two connections, each holding one message unacked and each with a
    // consumer ready for more. Shutdown releases them one after the other:
    // the first one's message must not go to the other (a delivery that
    // would use up its limit of 1, and kill it as the other closes).
    std::vector<Connection> conns;
    for (int i = 0; i < 2; ++i) conns.push_back(connect());
    std::vector<Channel> holders, ready;
    int held = 0;
    for (auto& conn : conns) {
      holders.push_back(conn.channel());
      holders.back().basic_qos(1);
    }
    holders[0].queue_declare("q", {.durable = true, .arguments = {{"x-delivery-limit", 1}}});
    for (auto& h : holders) h.basic_consume("q", [&](const Message&) { ++held; });
    holders[0].confirm_select();
    holders[0].basic_publish("", "q", "a", persistent());
    holders[0].basic_publish("", "q", "b", persistent());
    ASSERT_TRUE(holders[0].wait_for_confirms(5s));
    ASSERT_TRUE(wait_until([&] {
      for (auto& conn : conns) conn.process_events(1ms);
      return held == 2;
    }));
    for (auto& conn : conns) {
      ready.push_back(conn.channel());
      ready.back().basic_consume("q", [](const Message&) {});
    }
    where_ = endpoint();
    broker_.reset();
  }
  ASSERT_TRUE(restart());
  auto conn = connect();
  auto ch = conn.channel();
  auto left = drain(ch, "q");
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace warren::testing
