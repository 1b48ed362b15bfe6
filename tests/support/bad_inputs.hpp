// A catalogue of bad inputs a peer can send a broker, each with the reply
// docs/protocol.md prescribes, and a runner that plays one against a broker
// from a fresh RawPeer. Shared by the integration test (in-process broker)
// and the e2e memory test (warrend), so both abuse the broker the same way.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "support/msgpack_bytes.hpp"
#include "support/raw_peer.hpp"
#include "warren/channel.hpp"
#include "warren/protocol.hpp"

namespace warren::testing {

// What the runner does before the case's steps.
enum class Setup {
  kNone,        // nothing: the peer is a stranger to the broker
  kConnection,  // connection.open
  kChannel,     // connection.open, then channel.open on channel 1
};

// Sends `send` in order, then (if set) expects the next non-heartbeat command
// to match `expect`.
struct Step {
  std::vector<Frames> send;
  std::optional<Expect> expect;
};

struct BadInput {
  std::string name;  // a valid GoogleTest name: letters, digits, underscores
  Setup setup = Setup::kNone;
  std::vector<Step> steps;
};

// The broker limits the catalogue is built for.
struct BrokerLimits {
  std::uint64_t max_message_size = 1024;
  std::uint16_t max_channels = 2047;
};

// queue.declare of `name` with every flag off.
inline protocol::QueueDeclare declare_queue(std::string name) {
  protocol::QueueDeclare declare;
  declare.queue = std::move(name);
  return declare;
}

// exchange.declare of `name` with `type` and every flag off.
inline protocol::ExchangeDeclare declare_exchange(std::string name, std::string type) {
  protocol::ExchangeDeclare declare;
  declare.exchange = std::move(name);
  declare.type = std::move(type);
  return declare;
}

inline protocol::QueueBind bind_queue(std::string queue, std::string exchange,
                                      FieldTable arguments = {}) {
  protocol::QueueBind bind;
  bind.queue = std::move(queue);
  bind.exchange = std::move(exchange);
  bind.arguments = std::move(arguments);
  return bind;
}

namespace bad_input_detail {

using protocol::Opcode;

inline std::uint8_t op(Opcode o) { return static_cast<std::uint8_t>(o); }

// Bytes that can never start a valid header: the first byte is not an
// unsigned integer (a str, array, map, negative or reserved type), so the
// version is malformed or of the wrong type whatever follows. Deterministic.
inline std::string garbage(std::uint64_t seed, std::size_t size) {
  static constexpr unsigned char kFirst[] = {0xc1, 0xc0, 0xc2, 0xc3, 0xa5, 0x93, 0x82,
                                             0xe0, 0xff, 0xca, 0xcb, 0xd9, 0xc4, 0xdc};
  std::mt19937_64 rng(seed);
  std::string bytes(size, '\0');
  for (auto& b : bytes) b = static_cast<char>(rng() & 0xff);
  if (!bytes.empty()) bytes[0] = static_cast<char>(kFirst[seed % sizeof kFirst]);
  return bytes;
}

inline std::string valid_open() { return protocol::encode(0, protocol::ConnectionOpen{}); }

inline std::string publish_header(std::uint16_t channel, std::string exchange,
                                  std::string routing_key, std::string_view raw_properties = {}) {
  return protocol::encode(
      channel, protocol::BasicPublish{std::move(exchange), std::move(routing_key), false},
      raw_properties);
}

// queue.declare with hand-written fields (6 in the spec).
inline std::string declare_fields(std::uint16_t channel, const std::string& fields) {
  return mp::head(op(Opcode::kQueueDeclare), channel) + fields;
}

// A table whose one value nests `depth` arrays: {"deep": [[...[]...]]}.
inline std::string deep_table(int depth) {
  std::string value;
  for (int i = 1; i < depth; ++i) value += mp::array(1);
  return mp::map(1) + mp::str("deep") + value + mp::array(0);
}

inline std::string long_array_table(std::uint32_t n) {
  std::string value = mp::array(n);
  for (std::uint32_t i = 0; i < n; ++i) value += mp::nil();
  return mp::map(1) + mp::str("long") + value;
}

inline Step send_expect(std::vector<Frames> send, Expect expect) {
  return Step{std::move(send), expect};
}
inline Step one(Frames frames, Expect expect) { return Step{{std::move(frames)}, expect}; }

inline Expect frame_error() { return connection_close(ReplyCode::kFrameError); }
inline Expect channel_error() { return connection_close(ReplyCode::kChannelError); }
inline Expect unexpected_frame() { return connection_close(ReplyCode::kUnexpectedFrame); }
inline Expect not_implemented() { return connection_close(ReplyCode::kNotImplemented); }

// queue.declare's fields after the name, up to (not including) arguments.
inline std::string declare_flags() {
  return mp::boolean(false) + mp::boolean(false) + mp::boolean(false) + mp::boolean(false);
}

// Before connection.open: each is answered once, and no state is kept.
inline std::vector<BadInput> stranger_inputs() {
  using protocol::encode;
  const auto k501 = frame_error();
  const auto k505 = unexpected_frame();
  const auto k540 = not_implemented();
  const std::string open = valid_open();
  std::vector<BadInput> all;
  all.push_back({"EmptyFrameFirst", Setup::kNone, {one({""}, k501)}});
  all.push_back({"GarbageFirst", Setup::kNone, {one({garbage(1, 64)}, k501)}});
  {
    BadInput truncated{"TruncatedOpenFirst", Setup::kNone, {}};
    for (std::size_t n = 1; n < open.size(); ++n)
      truncated.steps.push_back(one({open.substr(0, n)}, k501));
    all.push_back(std::move(truncated));
  }
  all.push_back({"VersionTwoFirst",
                 Setup::kNone,
                 {one({mp::head(0x10, 0, 2) + open.substr(mp::head(0x10, 0).size())}, k540)}});
  all.push_back({"VersionZeroFirst",
                 Setup::kNone,
                 {one({mp::head(0x10, 0, 0) + open.substr(mp::head(0x10, 0).size())}, k540)}});
  all.push_back(
      {"UnknownOpcodeFirst", Setup::kNone, {one({mp::head(0x18, 0) + mp::array(0)}, k540)}});
  all.push_back({"EmptyBatchFirst", Setup::kNone, {one({mp::head(protocol::kBatchOpcode, 0) + mp::array(0)}, k501)}});
  all.push_back({"BatchOfGarbageFirst",
                 Setup::kNone,
                 {one({mp::head(protocol::kBatchOpcode, 0) + mp::array(1) + mp::bin(garbage(3, 20))}, k501)}});
  all.push_back({"WrongTypeInOpen",
                 Setup::kNone,
                 {one({mp::head(0x10, 0) + mp::array(4) + mp::str("0") + mp::uint(0) + mp::uint(0) +
                       mp::empty_map()},
                      k501)}});
  all.push_back(
      {"WrongFieldCountInOpen",
       Setup::kNone,
       {one({mp::head(0x10, 0) + mp::array(3) + mp::uint(0) + mp::uint(0) + mp::uint(0)}, k501)}});
  all.push_back({"TrailingBytesAfterOpen", Setup::kNone, {one({open + mp::nil()}, k501)}});
  all.push_back({"OpenWithBodyFrame", Setup::kNone, {one({open, "body"}, k501)}});
  all.push_back({"ThreeFramesFirst", Setup::kNone, {one({open, "a", "b"}, k501)}});
  all.push_back(
      {"ChannelOpenFirst", Setup::kNone, {one({encode(1, protocol::ChannelOpen{})}, k505)}});
  all.push_back({"QueueDeclareFirst", Setup::kNone, {one({encode(1, declare_queue("q"))}, k505)}});
  all.push_back({"PublishFirst", Setup::kNone, {one({publish_header(1, "", "q"), "body"}, k505)}});
  all.push_back({"HeartbeatFirst", Setup::kNone, {one({encode(0, protocol::Heartbeat{})}, k505)}});
  all.push_back(
      {"OpenOkFirst", Setup::kNone, {one({encode(0, protocol::ConnectionOpenOk{})}, k505)}});
  return all;
}

// On an open connection: each is a connection error.
inline std::vector<BadInput> connection_error_inputs(const BrokerLimits& limits) {
  using protocol::encode;
  const auto k501 = frame_error();
  const auto k504 = channel_error();
  const auto k505 = unexpected_frame();
  const auto k540 = not_implemented();
  const std::string open = valid_open();
  const std::string flags = declare_flags();
  std::vector<BadInput> all;
  all.push_back({"GarbageAfterOpen", Setup::kConnection, {one({garbage(2, 200)}, k501)}});
  {
    // Batches (docs/protocol.md): malformed ones, and bad commands inside good ones.
    const auto hb = encode(0, protocol::Heartbeat{});
    const auto batch = mp::head(protocol::kBatchOpcode, 0);
    all.push_back({"EmptyBatch", Setup::kConnection, {one({batch + mp::array(0)}, k501)}});
    all.push_back({"BatchOnChannelOne",
                   Setup::kChannel,
                   {one({mp::head(protocol::kBatchOpcode, 1) + mp::array(1) + mp::bin(hb)}, k501)}});
    all.push_back({"BatchWithBodyFrame", Setup::kConnection, {one({batch + mp::array(2) + mp::bin(hb) + mp::bin(hb), "body"}, k501)}});
    all.push_back({"BatchElementNotBin", Setup::kConnection, {one({batch + mp::array(1) + mp::str(hb)}, k501)}});
    all.push_back({"BatchShorterThanItsCount", Setup::kConnection, {one({batch + mp::array(3) + mp::bin(hb)}, k501)}});
    all.push_back({"BatchInABatch",
                   Setup::kConnection,
                   {one({batch + mp::array(1) + mp::bin(batch + mp::array(1) + mp::bin(hb))}, k501)}});
    all.push_back({"GarbageInABatch",
                   Setup::kConnection,
                   {one({batch + mp::array(2) + mp::bin(hb) + mp::bin(garbage(4, 30))}, k501)}});
    all.push_back({"SecondOpenInABatch", Setup::kConnection, {one({batch + mp::array(2) + mp::bin(hb) + mp::bin(open)}, k505)}});
  }
  all.push_back({"EmptyFrameAfterOpen", Setup::kConnection, {one({""}, k501)}});
  all.push_back({"TruncatedDeclare",
                 Setup::kChannel,
                 {one({encode(1, declare_queue("q")).substr(0, 6)}, k501)}});
  all.push_back(
      {"UnknownOpcode0x00", Setup::kConnection, {one({mp::head(0x00, 0) + mp::array(0)}, k540)}});
  all.push_back(
      {"UnknownOpcode0xFF", Setup::kChannel, {one({mp::head(0xff, 1) + mp::array(0)}, k540)}});
  all.push_back({"VersionTwoAfterOpen",
                 Setup::kConnection,
                 {one({mp::head(0x14, 0, 2) + mp::array(0)}, k540)}});
  all.push_back({"SecondConnectionOpen", Setup::kConnection, {one({open}, k505)}});
  all.push_back({"OpenOkFromClient",
                 Setup::kConnection,
                 {one({encode(0, protocol::ConnectionOpenOk{})}, k505)}});
  all.push_back({"DeclareOkFromClient",
                 Setup::kChannel,
                 {one({encode(1, protocol::QueueDeclareOk{"q", 0, 0})}, k505)}});
  all.push_back({"DeliverFromClient",
                 Setup::kChannel,
                 {one({encode(1, protocol::BasicDeliver{"t", 1, false, "", "q"}), "body"}, k505)}});
  all.push_back(
      {"ReturnFromClient",
       Setup::kChannel,
       {one({encode(1, protocol::BasicReturn{312, "NO_ROUTE", "", "q"}), "body"}, k505)}});
  all.push_back({"UnknownExchangeType",
                 Setup::kChannel,
                 {one({encode(1, declare_exchange("x", "nonsense"))},
                      connection_close(ReplyCode::kCommandInvalid))}});
  all.push_back({"CommandOnUnopenedChannel",
                 Setup::kConnection,
                 {one({encode(7, declare_queue("q"))}, k504)}});
  all.push_back({"ChannelCommandOnChannelZero",
                 Setup::kConnection,
                 {one({encode(0, declare_queue("q"))}, k504)}});
  all.push_back({"ConnectionCommandOnChannelOne",
                 Setup::kChannel,
                 {one({encode(1, protocol::Heartbeat{})}, k504)}});
  all.push_back(
      {"ChannelOpenOnZero", Setup::kConnection, {one({encode(0, protocol::ChannelOpen{})}, k504)}});
  all.push_back(
      {"ChannelOpenAboveMax",
       Setup::kConnection,
       {one({encode(static_cast<std::uint16_t>(limits.max_channels + 1u), protocol::ChannelOpen{})},
            k504)}});
  all.push_back(
      {"ChannelOpenTwice", Setup::kChannel, {one({encode(1, protocol::ChannelOpen{})}, k504)}});
  all.push_back({"BodyOnNonContentMethod",
                 Setup::kChannel,
                 {one({encode(1, declare_queue("q")), "body"}, k501)}});
  all.push_back({"PublishWithBodyInlineAndAsAFrame",
                 Setup::kChannel,
                 {one({publish_header(1, "", "q") + "inline", "body"}, k501)}});
  all.push_back({"PublishWithThreeFrames",
                 Setup::kChannel,
                 {one({publish_header(1, "", "q"), "body", "extra"}, k501)}});
  all.push_back({"StringWhereBoolExpected",
                 Setup::kChannel,
                 {one({declare_fields(1, mp::array(6) + mp::str("q") + mp::str("false") +
                                             flags.substr(1) + mp::empty_map())},
                      k501)}});
  all.push_back(
      {"BoolWhereStringExpected",
       Setup::kChannel,
       {one({declare_fields(1, mp::array(6) + mp::boolean(true) + flags + mp::empty_map())},
            k501)}});
  all.push_back(
      {"IntegerWhereTableExpected",
       Setup::kChannel,
       {one({declare_fields(1, mp::array(6) + mp::str("q") + flags + mp::uint(0))}, k501)}});
  all.push_back(
      {"NegativeWhereUintExpected",
       Setup::kChannel,
       {one({mp::head(op(Opcode::kBasicQos), 1) + mp::array(2) + mp::sint(-1) + mp::boolean(false)},
            k501)}});
  all.push_back({"UintAboveWidth",
                 Setup::kChannel,
                 {one({mp::head(op(Opcode::kBasicQos), 1) + mp::array(2) + mp::uint(70000) +
                       mp::boolean(false)},
                      k501)}});
  all.push_back({"ChannelAbove65535",
                 Setup::kConnection,
                 {one({mp::head(op(Opcode::kChannelOpen), 70000) + mp::array(0)}, k501)}});
  all.push_back({"CloseReplyCodeAboveWidth",
                 Setup::kConnection,
                 {one({mp::head(op(Opcode::kConnectionClose), 0) + mp::array(2) + mp::uint(70000) +
                       mp::str("x")},
                      k501)}});
  all.push_back({"TooFewFields",
                 Setup::kChannel,
                 {one({declare_fields(1, mp::array(5) + mp::str("q") + flags)}, k501)}});
  all.push_back(
      {"TooManyFields",
       Setup::kChannel,
       {one({declare_fields(1, mp::array(7) + mp::str("q") + flags + mp::empty_map() + mp::nil())},
            k501)}});
  all.push_back(
      {"FieldsNotAnArray",
       Setup::kChannel,
       {one({mp::head(op(Opcode::kQueuePurge), 1) + mp::map(1) + mp::str("queue") + mp::str("q")},
            k501)}});
  all.push_back({"TrailingBytesAfterDeclare",
                 Setup::kChannel,
                 {one({encode(1, declare_queue("q")) + mp::uint(1)}, k501)}});
  all.push_back(
      {"UnknownPropertyKey",
       Setup::kChannel,
       {one({publish_header(1, "", "q", mp::map(1) + mp::uint(99) + mp::str("x")), "body"},
            k501)}});
  all.push_back(
      {"PropertyOfWrongType",
       Setup::kChannel,
       {one({publish_header(1, "", "q", mp::map(1) + mp::uint(4) + mp::str("persistent")), "body"},
            k501)}});
  all.push_back({"HeaderIntegerAboveInt64",
                 Setup::kChannel,
                 {one({publish_header(1, "", "q",
                                      mp::map(1) + mp::uint(3) + mp::map(1) + mp::str("n") +
                                          mp::uint64(0x8000000000000000ull)),
                       "body"},
                      k501)}});
  all.push_back(
      {"ArgumentsNestedTooDeep",
       Setup::kChannel,
       {one({declare_fields(1, mp::array(6) + mp::str("q") + flags + deep_table(17))}, k501)}});
  all.push_back(
      {"ArgumentsArrayTooLong",
       Setup::kChannel,
       {one({declare_fields(1, mp::array(6) + mp::str("q") + flags + long_array_table(4097))},
            k501)}});
  return all;
}

// Channel errors: the channel closes, the connection lives on.
inline std::vector<BadInput> channel_error_inputs(const BrokerLimits& limits) {
  using protocol::encode;
  const auto k504 = channel_error();
  std::vector<BadInput> all;
  all.push_back({"OversizeBody",
                 Setup::kChannel,
                 {one({publish_header(1, "", "q"), std::string(limits.max_message_size + 1, 'x')},
                      channel_close(1, ReplyCode::kPreconditionFailed))}});
  all.push_back(
      {"PublishToMissingExchange",
       Setup::kChannel,
       {one({publish_header(1, "nope", "q"), "body"}, channel_close(1, ReplyCode::kNotFound))}});
  all.push_back({"GetFromMissingQueue",
                 Setup::kChannel,
                 {one({encode(1, protocol::BasicGet{"no-such-queue", false})},
                      channel_close(1, ReplyCode::kNotFound))}});
  all.push_back({"AckUnknownDeliveryTag",
                 Setup::kChannel,
                 {one({encode(1, protocol::BasicAck{42, false})},
                      channel_close(1, ReplyCode::kPreconditionFailed))}});
  all.push_back(
      {"DeclareReservedName",
       Setup::kChannel,
       {one({encode(1, declare_queue("amq.mine"))}, channel_close(1, ReplyCode::kAccessRefused))}});
  all.push_back({"DeclareInvalidUtf8Name",
                 Setup::kChannel,
                 {one({encode(1, declare_queue("bad\xff"
                                               "\xfe"
                                               "name"))},
                      channel_close(1, ReplyCode::kPreconditionFailed))}});
  all.push_back({"BindToMissingExchange",
                 Setup::kChannel,
                 {one({encode(1, declare_queue("bind-me"))}, reply(Opcode::kQueueDeclareOk, 1)),
                  one({encode(1, bind_queue("bind-me", "no-such-exchange"))},
                      channel_close(1, ReplyCode::kNotFound))}});
  all.push_back(
      {"BindToDefaultExchange",
       Setup::kChannel,
       {one({encode(1, declare_queue("bind-me"))}, reply(Opcode::kQueueDeclareOk, 1)),
        one({encode(1, bind_queue("bind-me", ""))}, channel_close(1, ReplyCode::kAccessRefused))}});
  all.push_back({"DeclareReservedExchange",
                 Setup::kChannel,
                 {one({encode(1, declare_exchange("amq.mine", "fanout"))},
                      channel_close(1, ReplyCode::kAccessRefused))}});
  all.push_back(
      {"InvalidXMatch",
       Setup::kChannel,
       {one({encode(1, declare_exchange("bad-input-headers", "headers"))},
            reply(Opcode::kExchangeDeclareOk, 1)),
        one({encode(1, declare_queue("bind-me"))}, reply(Opcode::kQueueDeclareOk, 1)),
        one({encode(1, bind_queue("bind-me", "bad-input-headers", {{"x-match", "some"}}))},
            channel_close(1, ReplyCode::kPreconditionFailed))}});
  // After channel.close the broker discards the channel's commands until
  // channel.close_ok: the next reply is the one on channel 2, and the
  // publish on channel 1 never reached the queue. Once closed, the channel is
  // not open: using it is a connection error.
  all.push_back(
      {"CommandsOnBrokerClosedChannel",
       Setup::kChannel,
       {one({encode(2, protocol::ChannelOpen{})}, reply(Opcode::kChannelOpenOk, 2)),
        one({encode(2, protocol::QueueDeclare{"kept-by-script", false, false, true, false, {}})},
            reply(Opcode::kQueueDeclareOk, 2)),
        one({publish_header(1, "nope", "kept-by-script"), "body"},
            channel_close(1, ReplyCode::kNotFound)),
        send_expect({{encode(1, declare_queue("discarded"))},
                     {publish_header(1, "", "kept-by-script"), "discarded"},
                     {encode(1, protocol::BasicGet{"no-such-queue", false})},
                     {encode(1, protocol::BasicAck{7, false})},
                     {encode(2, protocol::BasicGet{"kept-by-script", true})}},
                    reply(Opcode::kBasicGetEmpty, 2)),
        send_expect({{encode(1, protocol::ChannelCloseOk{})}, {encode(1, declare_queue("q"))}},
                    k504)}});
  // channel.open is a command on the channel too: discarded while closing.
  all.push_back(
      {"ChannelOpenOnClosingChannel",
       Setup::kChannel,
       {one({encode(2, protocol::ChannelOpen{})}, reply(Opcode::kChannelOpenOk, 2)),
        one({publish_header(1, "nope", "q"), "body"}, channel_close(1, ReplyCode::kNotFound)),
        send_expect(
            {{encode(1, protocol::ChannelOpen{})}, {encode(2, protocol::BasicQos{0, false})}},
            reply(Opcode::kBasicQosOk, 2))}});
  // The client's channel.close crossing the broker's is answered, and the
  // number can be opened again after close_ok.
  all.push_back(
      {"ChannelReopensAfterBrokerClose",
       Setup::kChannel,
       {one({publish_header(1, "nope", "q"), "body"}, channel_close(1, ReplyCode::kNotFound)),
        one({encode(1, protocol::ChannelClose{200, "crossing"})},
            reply(Opcode::kChannelCloseOk, 1)),
        one({encode(1, protocol::ChannelOpen{})}, reply(Opcode::kChannelOpenOk, 1)),
        one({encode(1, protocol::QueueDeclare{"", false, false, true, false, {}})},
            reply(Opcode::kQueueDeclareOk, 1))}});
  return all;
}

}  // namespace bad_input_detail

// Every bad input, for a broker with `limits`.
inline std::vector<BadInput> bad_input_catalogue(BrokerLimits limits = {}) {
  std::vector<BadInput> all = bad_input_detail::stranger_inputs();
  for (auto* more :
       {&bad_input_detail::connection_error_inputs, &bad_input_detail::channel_error_inputs}) {
    auto inputs = more(limits);
    all.insert(all.end(), std::make_move_iterator(inputs.begin()),
               std::make_move_iterator(inputs.end()));
  }
  return all;
}

inline void PrintTo(const BadInput& input, std::ostream* os) { *os << input.name; }

// Plays `input` from a fresh RawPeer against the broker at `endpoint`, then
// leaves cleanly: answers a connection.close with close_ok, or closes the
// (still working) connection itself.
inline ::testing::AssertionResult run_bad_input(
    zmq::context_t& context, const std::string& endpoint, const BadInput& input,
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  RawPeer peer(context, endpoint, timeout);
  if (input.setup != Setup::kNone) {
    if (auto r = peer.open(); !r) return r << " (connection.open)";
  }
  if (input.setup == Setup::kChannel) {
    if (auto r = peer.open_channel(1); !r) return r << " (channel.open)";
  }
  std::optional<Expect> last;
  for (std::size_t i = 0; i < input.steps.size(); ++i) {
    const Step& step = input.steps[i];
    for (const auto& frames : step.send) peer.send(frames);
    if (!step.expect) continue;
    if (auto r = peer.expect(*step.expect); !r) return r << " (step " << i << ")";
    last = step.expect;
  }
  if (last && last->opcode == protocol::Opcode::kConnectionClose) {
    peer.send({protocol::encode(0, protocol::ConnectionCloseOk{})});
    return ::testing::AssertionSuccess();
  }
  if (input.setup == Setup::kNone) return ::testing::AssertionSuccess();
  if (last && last->opcode == protocol::Opcode::kChannelClose)
    peer.send({protocol::encode(last->channel, protocol::ChannelCloseOk{})});
  if (auto r = peer.close(); !r) return r << " (the connection should survive a channel error)";
  return ::testing::AssertionSuccess();
}

// A declare / publish / get round trip on a well-behaved client's channel.
inline ::testing::AssertionResult round_trip(Channel& channel, const std::string& queue,
                                             const std::string& body) {
  try {
    channel.queue_declare(queue);
    channel.basic_publish("", queue, body);
    auto m = channel.basic_get(queue, true);
    if (!m)
      return ::testing::AssertionFailure() << "queue " << queue << " is empty after a publish";
    if (m->body != body)
      return ::testing::AssertionFailure()
             << "got body '" << m->body << "', published '" << body << "'";
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "round trip on " << queue << " threw: " << e.what();
  }
}

}  // namespace warren::testing
