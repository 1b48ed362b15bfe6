// Exchanges against a real broker: declare/delete rules, bindings, the four
// types, exchange-to-exchange routes and cycles, alternate exchanges,
// mandatory returns, and topology recovery.
#include <set>

#include "support/broker_fixture.hpp"

namespace warren::testing {
namespace {

class ExchangeTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    conn_.emplace(connect());
    ch_.emplace(conn_->channel());
  }
  void TearDown() override {
    ch_.reset();
    conn_.reset();
    BrokerTest::TearDown();
  }
  Channel& ch() { return *ch_; }
  // A fresh channel for a call expected to fail (the failure closes it).
  Channel fresh() { return conn_->channel(); }

  // Declares `queue` and returns the bodies it holds after a round trip.
  std::vector<std::string> drain(const std::string& queue) {
    std::vector<std::string> bodies;
    while (auto m = ch().basic_get(queue, true)) bodies.push_back(m->body);
    return bodies;
  }
  void queues(std::initializer_list<std::string> names) {
    for (const auto& n : names) ch().queue_declare(n);
  }

  std::optional<Connection> conn_;
  std::optional<Channel> ch_;
};

using Bodies = std::vector<std::string>;

TEST_F(ExchangeTest, PredeclaredExchangesExist) {
  for (auto name : {"amq.direct", "amq.fanout", "amq.topic", "amq.headers"})
    ch().exchange_declare(name, "direct", {.passive = true});
  ch().exchange_declare("", "direct", {.passive = true});
}

TEST_F(ExchangeTest, DeclareRules) {
  ch().exchange_declare("x", "fanout");
  ch().exchange_declare("x", "fanout");  // idempotent
  expect_refused<ChannelError>([&] { fresh().exchange_declare("x", "direct"); }, ReplyCode::kPreconditionFailed);
  expect_refused<ChannelError>([&] { fresh().exchange_declare("x", "fanout", {.durable = true}); },
                               ReplyCode::kPreconditionFailed);
  expect_refused<ChannelError>([&] { fresh().exchange_declare("missing", "direct", {.passive = true}); },
                               ReplyCode::kNotFound);
  expect_refused<ChannelError>([&] { fresh().exchange_declare("amq.mine", "direct"); }, ReplyCode::kAccessRefused);
  expect_refused<ChannelError>([&] { fresh().exchange_delete("amq.direct"); }, ReplyCode::kAccessRefused);
  expect_refused<ChannelError>([&] { fresh().exchange_delete(""); }, ReplyCode::kAccessRefused);
  expect_refused<ChannelError>([&] { fresh().exchange_declare(std::string(256, 'x'), "direct"); },
                               ReplyCode::kPreconditionFailed);
  // An unknown type is a connection error (503), as in RabbitMQ.
  auto other = connect();
  auto och = other.channel();
  expect_refused<ConnectionError>([&] { och.exchange_declare("odd", "no-such-type"); }, ReplyCode::kCommandInvalid);
  EXPECT_FALSE(other.is_open());
  EXPECT_TRUE(conn_->is_open());
}

TEST_F(ExchangeTest, DefaultExchangeCannotBeBoundOrUnbound) {
  queues({"q"});
  expect_refused<ChannelError>([&] { fresh().queue_bind("q", ""); }, ReplyCode::kAccessRefused);
  expect_refused<ChannelError>([&] { fresh().queue_unbind("q", "", "q"); }, ReplyCode::kAccessRefused);
}

TEST_F(ExchangeTest, BindErrors) {
  queues({"q"});
  ch().exchange_declare("x", "direct");
  expect_refused<ChannelError>([&] { fresh().queue_bind("nope", "x", "k"); }, ReplyCode::kNotFound);
  expect_refused<ChannelError>([&] { fresh().queue_bind("q", "nope", "k"); }, ReplyCode::kNotFound);
  expect_refused<ChannelError>([&] { fresh().exchange_bind("nope", "x", "k"); }, ReplyCode::kNotFound);
  ch().exchange_declare("h", "headers");
  expect_refused<ChannelError>([&] { fresh().queue_bind("q", "h", "", {{"x-match", "some"}}); },
                               ReplyCode::kPreconditionFailed);
  // Unbinding what is not bound is fine.
  ch().queue_unbind("q", "x", "never");
}

TEST_F(ExchangeTest, DirectRoutesByExactKey) {
  queues({"errors", "all"});
  ch().exchange_declare("logs", "direct");
  ch().queue_bind("errors", "logs", "error");
  for (auto k : {"info", "warning", "error"}) ch().queue_bind("all", "logs", k);
  for (auto k : {"info", "warning", "error", "debug", "error.x", ""}) ch().basic_publish("logs", k, k);
  EXPECT_EQ(drain("errors"), (Bodies{"error"}));
  EXPECT_EQ(drain("all"), (Bodies{"info", "warning", "error"}));
  ch().queue_unbind("all", "logs", "info");
  ch().basic_publish("logs", "info", "again");
  EXPECT_EQ(drain("all"), Bodies{});
}

TEST_F(ExchangeTest, FanoutIgnoresTheKey) {
  queues({"a", "b", "c"});
  ch().exchange_declare("f", "fanout");
  ch().queue_bind("a", "f");
  ch().queue_bind("b", "f", "whatever");
  ch().basic_publish("f", "k", "m");
  EXPECT_EQ(drain("a"), (Bodies{"m"}));
  EXPECT_EQ(drain("b"), (Bodies{"m"}));
  EXPECT_EQ(drain("c"), Bodies{});
}

TEST_F(ExchangeTest, TopicMatchesTheTutorialBindings) {
  queues({"q1", "q2"});
  ch().exchange_declare("topic_logs", "topic");
  ch().queue_bind("q1", "topic_logs", "www.*.#");
  ch().queue_bind("q2", "topic_logs", "hello.*");
  for (auto k : {"www.baidu.com", "www.x", "www", "hello.world", "hello", "hello.a.b", "www.a.b.c"})
    ch().basic_publish("topic_logs", k, k);
  EXPECT_EQ(drain("q1"), (Bodies{"www.baidu.com", "www.x", "www.a.b.c"}));
  EXPECT_EQ(drain("q2"), (Bodies{"hello.world"}));
}

TEST_F(ExchangeTest, OneCopyPerQueueHoweverManyBindingsMatch) {
  queues({"q"});
  ch().exchange_declare("t", "topic");
  for (auto k : {"#", "a.*", "a.b", "*.b", "#.b"}) ch().queue_bind("q", "t", k);
  ch().basic_publish("t", "a.b", "once");
  EXPECT_EQ(drain("q"), (Bodies{"once"}));
}

TEST_F(ExchangeTest, HeadersExchangeAllAndAny) {
  queues({"all", "any", "presence"});
  ch().exchange_declare("h", "headers");
  ch().queue_bind("all", "h", "", {{"x-match", "all"}, {"format", "pdf"}, {"type", "report"}});
  ch().queue_bind("any", "h", "", {{"x-match", "any"}, {"format", "pdf"}, {"type", "report"}});
  ch().queue_bind("presence", "h", "", {{"flag", nullptr}});
  auto publish = [&](FieldTable headers, const std::string& body) {
    Properties p;
    p.headers = std::move(headers);
    ch().basic_publish("h", "ignored", body, p);
  };
  publish({{"format", "pdf"}, {"type", "report"}}, "both");
  publish({{"format", "pdf"}}, "one");
  publish({{"format", 1}}, "typed");
  publish({{"flag", 42}}, "flagged");
  ch().basic_publish("h", "", "none");
  EXPECT_EQ(drain("all"), (Bodies{"both"}));
  EXPECT_EQ(drain("any"), (Bodies{"both", "one"}));
  EXPECT_EQ(drain("presence"), (Bodies{"flagged"}));
}

TEST_F(ExchangeTest, ExchangeToExchangeAndCyclesGiveOneCopy) {
  queues({"q"});
  ch().exchange_declare("a", "fanout");
  ch().exchange_declare("b", "fanout");
  ch().exchange_declare("c", "topic");
  ch().exchange_bind("b", "a");
  ch().exchange_bind("c", "b");
  ch().exchange_bind("a", "c", "#");  // a cycle: a -> b -> c -> a
  ch().queue_bind("q", "a");
  ch().queue_bind("q", "b");
  ch().queue_bind("q", "c", "k.#");
  ch().basic_publish("a", "k.x", "1");
  ch().basic_publish("c", "k.y", "2");
  ch().basic_publish("b", "other", "3");
  EXPECT_EQ(drain("q"), (Bodies{"1", "2", "3"}));
  ch().exchange_unbind("b", "a");
  ch().queue_unbind("q", "b");
  ch().queue_unbind("q", "c", "k.#");
  ch().basic_publish("b", "k", "4");  // b -> c -> a -> q
  ch().exchange_unbind("a", "c", "#");
  ch().basic_publish("b", "k", "5");  // b -> c -> nothing
  EXPECT_EQ(drain("q"), (Bodies{"4"}));
}

TEST_F(ExchangeTest, BindingsGoWithTheirQueueOrExchange) {
  queues({"q", "keep"});
  ch().exchange_declare("x", "fanout");
  ch().exchange_declare("y", "fanout");
  ch().queue_bind("q", "x");
  ch().queue_bind("keep", "y");
  ch().exchange_bind("y", "x");
  ch().queue_delete("q");
  ch().queue_declare("q");  // a new queue of the same name is not bound
  ch().basic_publish("x", "", "m");
  EXPECT_EQ(drain("q"), Bodies{});
  EXPECT_EQ(drain("keep"), (Bodies{"m"}));
  ch().exchange_delete("y");
  ch().exchange_declare("y", "fanout");
  ch().basic_publish("x", "", "m2");
  EXPECT_EQ(drain("keep"), Bodies{});
}

TEST_F(ExchangeTest, DeleteIfUnusedAndAutoDelete) {
  queues({"q"});
  ch().exchange_declare("x", "direct");
  ch().queue_bind("q", "x", "k");
  expect_refused<ChannelError>([&] { fresh().exchange_delete("x", {.if_unused = true}); },
                               ReplyCode::kPreconditionFailed);
  ch().exchange_delete("x");
  expect_refused<ChannelError>([&] { fresh().exchange_declare("x", "direct", {.passive = true}); },
                               ReplyCode::kNotFound);
  ch().exchange_delete("never-there");

  ch().exchange_declare("auto", "direct", {.auto_delete = true});
  ch().queue_bind("q", "auto", "a");
  ch().queue_bind("q", "auto", "b");
  ch().queue_unbind("q", "auto", "a");
  ch().exchange_declare("auto", "direct", {.passive = true, .auto_delete = true});
  ch().queue_unbind("q", "auto", "b");  // the last binding: the exchange goes
  expect_refused<ChannelError>([&] { fresh().exchange_declare("auto", "direct", {.passive = true}); },
                               ReplyCode::kNotFound);
  ch().exchange_declare("auto2", "fanout", {.auto_delete = true});
  ch().queue_declare("tmp");
  ch().queue_bind("tmp", "auto2");
  ch().queue_delete("tmp");  // deleting the bound queue removes the last binding too
  expect_refused<ChannelError>([&] { fresh().exchange_declare("auto2", "fanout", {.passive = true}); },
                               ReplyCode::kNotFound);
}

TEST_F(ExchangeTest, InternalExchangesRefuseDirectPublishes) {
  queues({"q"});
  ch().exchange_declare("front", "fanout");
  ch().exchange_declare("inside", "fanout", {.internal = true});
  ch().exchange_bind("inside", "front");
  ch().queue_bind("q", "inside");
  ch().basic_publish("front", "", "via front");
  EXPECT_EQ(drain("q"), (Bodies{"via front"}));
  auto c = fresh();
  c.basic_publish("inside", "", "direct");
  expect_refused<ChannelError>([&] { c.queue_declare("q"); }, ReplyCode::kAccessRefused);
}

TEST_F(ExchangeTest, MandatoryUnroutableComesBack) {
  std::vector<ReturnedMessage> returned;
  ch().on_return([&](const ReturnedMessage& r) { returned.push_back(r); });
  ch().exchange_declare("x", "direct");
  queues({"q"});
  ch().queue_bind("q", "x", "yes");
  Properties p;
  p.message_id = "m1";
  ch().basic_publish("x", "no", "lost?", p, {.mandatory = true});
  ch().basic_publish("x", "yes", "routed", {}, {.mandatory = true});
  ch().basic_publish("x", "no", "not mandatory");
  ch().basic_publish("", "no-such-queue", "default", {}, {.mandatory = true});
  ASSERT_TRUE(pump_until(*conn_, [&] { return returned.size() == 2; }));
  EXPECT_EQ(returned[0].reply_code, ReplyCode::kNoRoute);
  EXPECT_EQ(returned[0].reply_text, "NO_ROUTE");
  EXPECT_EQ(returned[0].exchange, "x");
  EXPECT_EQ(returned[0].routing_key, "no");
  EXPECT_EQ(returned[0].body, "lost?");
  EXPECT_EQ(returned[0].properties.message_id, "m1");
  EXPECT_EQ(returned[1].body, "default");
  EXPECT_EQ(drain("q"), (Bodies{"routed"}));
}

TEST_F(ExchangeTest, AlternateExchangesChainWithoutLoops) {
  queues({"unrouted", "q"});
  ch().exchange_declare("ae2", "fanout");
  ch().queue_bind("unrouted", "ae2");
  ch().exchange_declare("ae1", "direct", {.arguments = {{"alternate-exchange", "ae2"}}});
  ch().exchange_declare("main", "direct", {.arguments = {{"alternate-exchange", "ae1"}}});
  ch().queue_bind("q", "main", "known");
  std::vector<ReturnedMessage> returned;
  ch().on_return([&](const ReturnedMessage& r) { returned.push_back(r); });
  ch().basic_publish("main", "known", "a", {}, {.mandatory = true});
  ch().basic_publish("main", "unknown", "b", {}, {.mandatory = true});
  EXPECT_EQ(drain("q"), (Bodies{"a"}));
  EXPECT_EQ(drain("unrouted"), (Bodies{"b"}));
  // A loop of alternates that routes nowhere ends, and mandatory returns.
  ch().exchange_declare("loop1", "direct", {.arguments = {{"alternate-exchange", "loop2"}}});
  ch().exchange_declare("loop2", "direct", {.arguments = {{"alternate-exchange", "loop1"}}});
  ch().basic_publish("loop1", "k", "c", {}, {.mandatory = true});
  ASSERT_TRUE(pump_until(*conn_, [&] { return returned.size() == 1; }));
  EXPECT_EQ(returned[0].body, "c");
}

TEST_F(ExchangeTest, ManyBindingsComeAndGo) {
  // 20 000 bindings on one queue (bind, route, unbind, delete): cheap per
  // binding, and the routing answer stays right throughout.
  queues({"many"});
  ch().exchange_declare("big", "topic", {.auto_delete = true});
  constexpr int kBindings = 20000;
  for (int i = 0; i < kBindings; ++i) ch().queue_bind("many", "big", "noise." + std::to_string(i) + ".*");
  ch().queue_bind("many", "big", "signal.#");
  ch().basic_publish("big", "noise.19999.x", "n");
  ch().basic_publish("big", "signal.a.b", "s");
  ch().basic_publish("big", "nothing", "x");
  EXPECT_EQ(drain("many"), (Bodies{"n", "s"}));
  for (int i = 0; i < kBindings; i += 2) ch().queue_unbind("many", "big", "noise." + std::to_string(i) + ".*");
  ch().basic_publish("big", "noise.0.x", "gone");
  ch().basic_publish("big", "noise.1.x", "kept");
  EXPECT_EQ(drain("many"), (Bodies{"kept"}));
  ch().queue_delete("many");  // takes the last bindings, and the auto_delete exchange with them
  expect_refused<ChannelError>([&] { fresh().exchange_declare("big", "topic", {.passive = true}); },
                               ReplyCode::kNotFound);
}

TEST_F(ExchangeTest, RecoveryRestoresExchangesAndBindings) {
  ConnectionOptions o;
  o.heartbeat = 100ms;
  o.automatic_recovery = true;
  o.recovery_interval = 20ms;
  auto conn = connect(o);
  auto ch = conn.channel();
  ch.exchange_declare("logs", "topic");
  ch.exchange_declare("front", "fanout");
  ch.exchange_bind("logs", "front");
  auto q = ch.queue_declare("", {.exclusive = true}).queue;
  ch.queue_bind(q, "logs", "kern.*");
  std::vector<std::string> got;
  ch.basic_consume(q, [&](const Message& m) { got.push_back(m.body); }, {.auto_ack = true});
  ch_.reset();
  conn_.reset();
  ASSERT_TRUE(restart_broker());
  ASSERT_TRUE(pump_until(conn, [&] { return conn.recovery_count() == 1; }, 10s));
  auto producer = connect();
  auto pch = producer.channel();
  pch.basic_publish("front", "kern.critical", "disk on fire");
  pch.basic_publish("front", "user.info", "not for us");
  ASSERT_TRUE(pump_until(conn, [&] { return got.size() == 1; }));
  EXPECT_EQ(got[0], "disk on fire");
}

}  // namespace
}  // namespace warren::testing
