// StoredMessage (queue.hpp): one allocation for a message with a small body,
// a shared ZeroMQ frame for a large one, paging, and the bytes it charges to
// the broker's account.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "queue.hpp"
#include "warren/protocol.hpp"

namespace warren::detail {
namespace {

StoredMessage::Parts parts(std::string_view body, zmq::message_t* frame = nullptr) {
  return {.exchange = "logs", .routing_key = "kern.critical", .properties = "\x81\x01\x02", .body = {body, frame}};
}

TEST(StoredMessage, KeepsItsStringsAndASmallBodyOfItsOwn) {
  std::string body(100, 'b');
  zmq::message_t frame(body.data(), body.size());  // a slice of a receive buffer, say
  auto m = StoredMessage::make(parts(frame.to_string_view(), &frame));
  EXPECT_EQ(m->exchange(), "logs");
  EXPECT_EQ(m->routing_key(), "kern.critical");
  EXPECT_EQ(m->properties(), "\x81\x01\x02");
  EXPECT_EQ(m->body(), body);
  EXPECT_EQ(m->body_size(), 100u);
  // Copied into the message, not holding the frame: a small frame may be a
  // slice of ZeroMQ's 8 KiB receive buffer, which it would keep alive.
  EXPECT_EQ(m->content().frame, nullptr);
  EXPECT_NE(m->body().data(), frame.data());
  frame = zmq::message_t();
  EXPECT_EQ(m->body(), body);
}

TEST(StoredMessage, TheLargestInlineBodyIsStillInline) {
  std::string body(protocol::kInlineBodyMax, 'x');
  auto m = StoredMessage::make(parts(body));
  EXPECT_EQ(m->content().frame, nullptr);
  EXPECT_EQ(m->body(), body);
}

TEST(StoredMessage, ALargeBodySharesThePublishersFrame) {
  std::string body(protocol::kInlineBodyMax + 1, 'L');
  zmq::message_t frame(body.data(), body.size());
  auto m = StoredMessage::make(parts(frame.to_string_view(), &frame));
  ASSERT_NE(m->content().frame, nullptr);
  EXPECT_EQ(m->body().data(), frame.data());  // no copy
  frame = zmq::message_t();                   // the publisher's frame goes; the message keeps the buffer
  EXPECT_EQ(m->body(), body);
  EXPECT_EQ(m->content().bytes, body);
}

TEST(StoredMessage, ALargeBodyWithoutAFrameIsCopiedIntoOne) {
  std::string body(protocol::kInlineBodyMax + 1, 'L');
  auto m = StoredMessage::make(parts(body));
  ASSERT_NE(m->content().frame, nullptr);
  EXPECT_NE(m->body().data(), body.data());
  body.assign(body.size(), '!');
  EXPECT_EQ(m->body(), std::string(protocol::kInlineBodyMax + 1, 'L'));
}

TEST(StoredMessage, EmptyPartsAreFine) {
  auto m = StoredMessage::make({});
  EXPECT_EQ(m->exchange(), "");
  EXPECT_EQ(m->routing_key(), "");
  EXPECT_EQ(m->properties(), "");
  EXPECT_EQ(m->body(), "");
  EXPECT_EQ(m->body_size(), 0u);
  EXPECT_FALSE(m->paged());
}

TEST(StoredMessage, APageableBodyLeavesMemoryAndComesBack) {
  std::uint64_t account = 0;
  const std::string body(100, 'p');  // Parts holds views: keep the bytes alive
  auto p = parts(body);
  p.journal_id = 7;
  p.pageable = true;
  auto m = StoredMessage::make(p);
  m->charge(&account);
  const std::uint64_t in_memory = account;
  EXPECT_EQ(m->journal_id(), 7u);
  EXPECT_TRUE(m->pageable());

  m->page_out();
  EXPECT_TRUE(m->paged());
  EXPECT_EQ(m->body(), "");
  EXPECT_EQ(m->body_size(), 100u);  // still known, for the queue's byte counts
  EXPECT_EQ(account, in_memory - 100);
  EXPECT_EQ(m->exchange(), "logs");

  m->page_in(body);
  EXPECT_FALSE(m->paged());
  EXPECT_EQ(m->body(), body);
  EXPECT_EQ(account, in_memory);
}

TEST(StoredMessage, ARecoveredMessageMayStartPaged) {
  std::uint64_t account = 0;
  auto p = parts("");
  p.journal_id = 3;
  p.pageable = true;
  auto m = StoredMessage::make(p);
  m->restore_paged(5000);
  m->charge(&account);
  EXPECT_TRUE(m->paged());
  EXPECT_EQ(m->body_size(), 5000u);
  EXPECT_EQ(m->body(), "");
  m->page_in(std::string(5000, 'r'));
  EXPECT_EQ(m->body().size(), 5000u);
}

TEST(StoredMessage, ChargesItsBytesUntilItIsDestroyed) {
  std::uint64_t account = 0;
  auto small = StoredMessage::make(parts(std::string(100, 's')));
  small->charge(&account);
  const std::uint64_t one = account;
  // The strings and body, and a fixed overhead for the header and its queue entry.
  EXPECT_GE(one, 4u + 13u + 3u + 100u + sizeof(StoredMessage) + sizeof(QueueEntry));
  EXPECT_LT(one, 4u + 13u + 3u + 100u + 256u);

  auto big = StoredMessage::make(parts(std::string(20000, 'B')));
  big->charge(&account);
  EXPECT_GE(account, one + 20000);

  auto shared = small;  // a second queue holding it: counted once
  small.reset();
  EXPECT_GE(account, one + 20000);
  shared.reset();
  big.reset();
  EXPECT_EQ(account, 0u);
}

}  // namespace
}  // namespace warren::detail
