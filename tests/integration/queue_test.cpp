// queue.declare / queue.delete / queue.purge semantics and their error codes,
// against an in-process broker.
#include "support/broker_fixture.hpp"

namespace warren::testing {
namespace {

class QueueTest : public BrokerTest {};

TEST_F(QueueTest, DeclareCreatesAndRedeclareIsIdempotent) {
  auto conn = connect();
  auto ch = conn.channel();
  auto r = ch.queue_declare("hello");
  EXPECT_EQ(r.queue, "hello");
  EXPECT_EQ(r.message_count, 0u);
  EXPECT_EQ(r.consumer_count, 0u);
  ch.basic_publish("", "hello", "one");
  ch.basic_publish("", "hello", "two");
  r = ch.queue_declare("hello");
  EXPECT_EQ(r.message_count, 2u);
}

TEST_F(QueueTest, ServerNamedQueuesAreUnique) {
  auto conn = connect();
  auto ch = conn.channel();
  auto a = ch.queue_declare();
  auto b = ch.queue_declare("", {.exclusive = true});
  EXPECT_TRUE(a.queue.starts_with("amq.gen-")) << a.queue;
  EXPECT_TRUE(b.queue.starts_with("amq.gen-")) << b.queue;
  EXPECT_NE(a.queue, b.queue);
  EXPECT_EQ(ch.queue_declare(a.queue, {.passive = true}).queue, a.queue);
}

TEST_F(QueueTest, PassiveDeclareOfMissingQueueIs404AndClosesOnlyTheChannel) {
  auto conn = connect();
  auto ch = conn.channel();
  auto other = conn.channel();
  expect_refused<ChannelError>([&] { ch.queue_declare("missing", {.passive = true}); }, ReplyCode::kNotFound);
  EXPECT_FALSE(ch.is_open());
  // The channel stays closed; later calls report why.
  expect_refused<ChannelError>([&] { ch.queue_declare("x"); }, ReplyCode::kNotFound);
  // The connection and its other channels work.
  EXPECT_TRUE(conn.is_open());
  EXPECT_EQ(other.queue_declare("fine").queue, "fine");
  auto fresh = conn.channel();
  EXPECT_EQ(fresh.queue_declare("fine", {.passive = true}).queue, "fine");
}

TEST_F(QueueTest, RedeclareWithDifferentFlagsIs406) {
  auto conn = connect();
  {
    auto ch = conn.channel();
    ch.queue_declare("q", {.durable = true});
  }
  {
    auto ch = conn.channel();
    expect_refused<ChannelError>([&] { ch.queue_declare("q"); }, ReplyCode::kPreconditionFailed);
  }
  {
    auto ch = conn.channel();
    expect_refused<ChannelError>([&] { ch.queue_declare("q", {.durable = true, .auto_delete = true}); },
                                 ReplyCode::kPreconditionFailed);
  }
  {
    auto ch = conn.channel();
    expect_refused<ChannelError>(
        [&] { ch.queue_declare("q", {.durable = true, .arguments = {{"x-max-length", 10}}}); },
        ReplyCode::kPreconditionFailed);
  }
  auto ch = conn.channel();
  try {
    ch.queue_declare("q", {.durable = false});
    FAIL() << "expected 406";
  } catch (const ChannelError& e) {
    EXPECT_NE(e.text().find("inequivalent arg 'durable'"), std::string::npos) << e.text();
  }
}

TEST_F(QueueTest, ExclusiveQueueFromAnotherConnectionIs405) {
  auto owner = connect();
  auto och = owner.channel();
  auto q = och.queue_declare("private", {.exclusive = true}).queue;
  auto other = connect();
  for (auto attempt : {0, 1, 2, 3, 4, 5}) {
    auto ch = other.channel();
    auto call = [&] {
      switch (attempt) {
        case 0: ch.queue_declare(q, {.exclusive = true}); break;
        case 1: ch.queue_declare(q, {.passive = true}); break;
        case 2: ch.basic_consume(q, [](const Message&) {}); break;
        case 3: ch.basic_get(q); break;
        case 4: ch.queue_purge(q); break;
        case 5: ch.queue_delete(q); break;
      }
    };
    expect_refused<ChannelError>(call, ReplyCode::kResourceLocked);
  }
  // The owner still uses it freely.
  och.basic_publish("", q, "mine");
  auto m = och.basic_get(q, true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "mine");
}

TEST_F(QueueTest, ExclusiveQueueIsDeletedWithItsConnection) {
  auto keeper = connect();
  auto kch = keeper.channel();
  std::string name;
  {
    auto conn = connect();
    auto ch = conn.channel();
    name = ch.queue_declare("", {.exclusive = true}).queue;
    // Locked while the owner lives.
    expect_refused<ChannelError>([&] { kch.queue_declare(name, {.passive = true}); }, ReplyCode::kResourceLocked);
  }
  // The owner closed: the queue is gone.
  ASSERT_TRUE(wait_until([&] {
    auto ch = keeper.channel();
    try {
      ch.queue_declare(name, {.passive = true});
      return false;
    } catch (const ChannelError& e) {
      return e.code() == ReplyCode::kNotFound;
    }
  }));
}

TEST_F(QueueTest, NamesAreValidated) {
  auto conn = connect();
  {
    auto ch = conn.channel();
    EXPECT_EQ(ch.queue_declare(std::string(255, 'a')).queue.size(), 255u);
  }
  {
    auto ch = conn.channel();
    expect_refused<ChannelError>([&] { ch.queue_declare(std::string(256, 'a')); }, ReplyCode::kPreconditionFailed);
  }
  {
    auto ch = conn.channel();
    expect_refused<ChannelError>([&] { ch.queue_declare("bad\xff\xfe"); }, ReplyCode::kPreconditionFailed);
  }
  {
    auto ch = conn.channel();
    expect_refused<ChannelError>([&] { ch.queue_declare("amq.mine"); }, ReplyCode::kAccessRefused);
  }
  auto ch = conn.channel();
  EXPECT_EQ(ch.queue_declare("caf\xc3\xa9").queue, "caf\xc3\xa9");
}

TEST_F(QueueTest, DeleteReturnsCountAndHonoursIfUnusedAndIfEmpty) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("d");
  ch.basic_publish("", "d", "a");
  ch.basic_publish("", "d", "b");
  ch.queue_declare("d");  // a round trip: both publishes are in
  {
    auto c2 = conn.channel();
    expect_refused<ChannelError>([&] { c2.queue_delete("d", {.if_empty = true}); }, ReplyCode::kPreconditionFailed);
  }
  auto consumer_ch = conn.channel();
  consumer_ch.basic_qos(1);
  auto tag = consumer_ch.basic_consume("d", [](const Message&) {});
  {
    auto c2 = conn.channel();
    expect_refused<ChannelError>([&] { c2.queue_delete("d", {.if_unused = true}); },
                                 ReplyCode::kPreconditionFailed);
  }
  consumer_ch.basic_cancel(tag);
  consumer_ch.close();  // its unacked message goes back: 2 ready again
  EXPECT_EQ(ch.queue_delete("d", {.if_unused = true}), 2u);
  expect_refused<ChannelError>([&] { ch.queue_declare("d", {.passive = true}); }, ReplyCode::kNotFound);
}

TEST_F(QueueTest, DeletingAMissingQueueSucceeds) {
  auto conn = connect();
  auto ch = conn.channel();
  EXPECT_EQ(ch.queue_delete("never-declared"), 0u);
}

TEST_F(QueueTest, PurgeReturnsCountAndEmptiesTheQueue) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("p");
  for (int i = 0; i < 5; ++i) ch.basic_publish("", "p", "m");
  EXPECT_EQ(ch.queue_purge("p"), 5u);
  EXPECT_EQ(ch.queue_declare("p").message_count, 0u);
  EXPECT_FALSE(ch.basic_get("p"));
  expect_refused<ChannelError>([&] { ch.queue_purge("nope"); }, ReplyCode::kNotFound);
}

TEST_F(QueueTest, AutoDeleteQueueGoesWithItsLastConsumer) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("ad", {.auto_delete = true});
  auto t1 = ch.basic_consume("ad", [](const Message&) {});
  auto t2 = ch.basic_consume("ad", [](const Message&) {});
  ch.basic_cancel(t1);
  EXPECT_EQ(ch.queue_declare("ad", {.passive = true}).consumer_count, 1u);
  ch.basic_cancel(t2);
  expect_refused<ChannelError>([&] { ch.queue_declare("ad", {.passive = true}); }, ReplyCode::kNotFound);
}

TEST_F(QueueTest, DeletingAQueueCancelsItsConsumers) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("gone");
  ch.basic_consume("gone", [](const Message&) {});
  auto other = conn.channel();
  EXPECT_EQ(other.queue_delete("gone"), 0u);
  // The consumer's channel stays usable.
  EXPECT_EQ(ch.queue_declare("still-here").queue, "still-here");
}

}  // namespace
}  // namespace warren::testing
