// Batches (docs/protocol.md, "Batches"): what the encoder writes is the
// documented layout, split_batch gives back each command as it was encoded,
// a batch of one is the command alone, and malformed batches are 501 frame
// errors. Hand-written frames come from support/msgpack_bytes.hpp.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "support/msgpack_bytes.hpp"
#include "warren/protocol.hpp"

namespace warren::protocol {
namespace {

namespace mp = warren::testing::mp;

ReplyCode code_of(std::string_view frame) {
  std::vector<std::string_view> commands;
  try {
    split_batch(frame, commands);
  } catch (const ProtocolError& e) {
    return e.code();
  }
  return ReplyCode::kSuccess;
}

TEST(BatchTest, RoundTripsCommandsInOrder) {
  std::vector<std::string> commands = {encode(1, BasicPublish{"", "q", false}, encode_properties({})) + "body one",
                                       encode(0, Heartbeat{}),
                                       encode(7, BasicAck{42, true}),
                                       encode(3, BasicPublish{"x", "rk", true}, encode_properties({})) +
                                           std::string(8192, 'b')};
  auto frame = encode_batch(commands);
  std::vector<std::string_view> got;
  ASSERT_TRUE(split_batch(frame, got));
  ASSERT_EQ(got.size(), commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) EXPECT_EQ(got[i], commands[i]) << i;
  auto first = decode(got[0]);
  EXPECT_EQ(first.channel, 1);
  EXPECT_EQ(first.inline_body, "body one");
  EXPECT_EQ(std::get<BasicAck>(decode(got[2]).method).delivery_tag, 42u);
}

TEST(BatchTest, IsTheDocumentedLayout) {
  auto a = encode(0, Heartbeat{});
  auto b = encode(2, BasicAck{1, false});
  // version 1, opcode 0x17, channel 0 as fixints, array32, bin32 each.
  std::string expected = std::string("\x01\x17\x00\xdd\x00\x00\x00\x02", 8) + "\xc6" + std::string("\0\0\0", 3) +
                         static_cast<char>(a.size()) + a + "\xc6" + std::string("\0\0\0", 3) +
                         static_cast<char>(b.size()) + b;
  EXPECT_EQ(encode_batch({a, b}), expected);
  // A decoder reading any msgpack widths takes it too.
  std::vector<std::string_view> got;
  ASSERT_TRUE(split_batch(mp::head(0x17, 0) + mp::array(2) + mp::bin(a) + mp::bin(b), got));
  EXPECT_EQ(got.size(), 2u);
}

TEST(BatchTest, ABatchOfOneIsTheCommandAlone) {
  auto command = encode(5, BasicAck{9, false});
  auto frame = encode_batch({command});
  EXPECT_EQ(frame, command);
  std::vector<std::string_view> got;
  EXPECT_FALSE(split_batch(frame, got));
}

TEST(BatchTest, OtherFramesAreNotBatches) {
  std::vector<std::string_view> got;
  EXPECT_FALSE(split_batch("", got));
  EXPECT_FALSE(split_batch("\x01", got));
  EXPECT_FALSE(split_batch(encode(0, Heartbeat{}), got));
  // Version 2 with the batch opcode: for decode() to refuse (540), not a batch.
  EXPECT_FALSE(split_batch(mp::head(0x17, 0, 2) + mp::array(1) + mp::bin(encode(0, Heartbeat{})), got));
}

TEST(BatchTest, MalformedBatchesAreFrameErrors) {
  auto hb = encode(0, Heartbeat{});
  EXPECT_EQ(code_of(mp::head(0x17, 0) + mp::array(0)), ReplyCode::kFrameError);                      // empty
  EXPECT_EQ(code_of(mp::head(0x17, 1) + mp::array(1) + mp::bin(hb)), ReplyCode::kFrameError);         // channel 1
  EXPECT_EQ(code_of(mp::head(0x17, 0) + mp::array(1) + mp::str(hb)), ReplyCode::kFrameError);         // not bin
  EXPECT_EQ(code_of(mp::head(0x17, 0) + mp::array(2) + mp::bin(hb)), ReplyCode::kFrameError);         // short
  EXPECT_EQ(code_of(mp::head(0x17, 0) + mp::array(1) + mp::bin(hb) + "x"), ReplyCode::kFrameError);   // trailing
  EXPECT_EQ(code_of(mp::head(0x17, 0) + mp::map(1) + mp::bin(hb) + mp::bin(hb)), ReplyCode::kFrameError);
  EXPECT_EQ(code_of(mp::head(0x17, 0) + mp::array(1) + mp::bin(hb).substr(0, 3)), ReplyCode::kFrameError);
  auto inner = mp::head(0x17, 0) + mp::array(1) + mp::bin(hb);
  EXPECT_EQ(code_of(mp::head(0x17, 0) + mp::array(1) + mp::bin(inner)), ReplyCode::kFrameError);      // nested
  EXPECT_EQ(code_of(mp::head(0x17, 0) + mp::array(4097)), ReplyCode::kFrameError);                   // too many
}

TEST(BatchTest, CapabilityIsATrueEntryInTheCapabilitiesTable) {
  EXPECT_TRUE(has_capability({{"capabilities", FieldTable{{"batch", true}}}}, "batch"));
  EXPECT_FALSE(has_capability({{"capabilities", FieldTable{{"batch", false}}}}, "batch"));
  EXPECT_FALSE(has_capability({{"capabilities", FieldTable{{"batch", 1}}}}, "batch"));
  EXPECT_FALSE(has_capability({{"capabilities", FieldTable{{"other", true}}}}, "batch"));
  EXPECT_FALSE(has_capability({{"capabilities", true}}, "batch"));
  EXPECT_FALSE(has_capability({{"batch", true}}, "batch"));
  EXPECT_FALSE(has_capability({}, "batch"));
}

}  // namespace
}  // namespace warren::protocol
