// The wire protocol codec: pure functions between header-frame bytes and
// commands. No sockets here; the client and the broker both use it, so the
// wire format (docs/protocol.md) is written exactly once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "warren/errors.hpp"
#include "warren/field_value.hpp"
#include "warren/properties.hpp"

namespace warren::protocol {

inline constexpr std::uint32_t kVersion = 1;

enum class Opcode : std::uint8_t {
  kConnectionOpen = 0x10,
  kConnectionOpenOk = 0x11,
  kConnectionClose = 0x12,
  kConnectionCloseOk = 0x13,
  kHeartbeat = 0x14,
  kConnectionBlocked = 0x15,
  kConnectionUnblocked = 0x16,
  kChannelOpen = 0x20,
  kChannelOpenOk = 0x21,
  kChannelClose = 0x22,
  kChannelCloseOk = 0x23,
  kConfirmSelect = 0x24,
  kConfirmSelectOk = 0x25,
  kQueueDeclare = 0x30,
  kQueueDeclareOk = 0x31,
  kQueueDelete = 0x32,
  kQueueDeleteOk = 0x33,
  kQueuePurge = 0x34,
  kQueuePurgeOk = 0x35,
  kQueueBind = 0x36,
  kQueueBindOk = 0x37,
  kQueueUnbind = 0x38,
  kQueueUnbindOk = 0x39,
  kExchangeDeclare = 0x40,
  kExchangeDeclareOk = 0x41,
  kExchangeDelete = 0x42,
  kExchangeDeleteOk = 0x43,
  kExchangeBind = 0x44,
  kExchangeBindOk = 0x45,
  kExchangeUnbind = 0x46,
  kExchangeUnbindOk = 0x47,
  kBasicQos = 0x50,
  kBasicQosOk = 0x51,
  kBasicConsume = 0x52,
  kBasicConsumeOk = 0x53,
  kBasicCancel = 0x54,
  kBasicCancelOk = 0x55,
  kBasicPublish = 0x56,
  kBasicDeliver = 0x57,
  kBasicGet = 0x58,
  kBasicGetOk = 0x59,
  kBasicGetEmpty = 0x5A,
  kBasicAck = 0x5B,
  kBasicReject = 0x5C,
  kBasicNack = 0x5D,
  kBasicRecover = 0x5E,
  kBasicRecoverOk = 0x5F,
  kBasicReturn = 0x60,
  kManagementQuery = 0x70,
  kManagementQueryOk = 0x71,
  kManagementCommand = 0x72,
  kManagementCommandOk = 0x73,
};

enum class Direction : std::uint8_t { kToBroker = 1, kToClient = 2, kBoth = 3 };

// Each method is a struct with its fields in wire order. fields() lists them
// once for both the encoder and the decoder.
#define WARREN_METHOD(Type, op, text, dir, content)                       \
  static constexpr Opcode kOpcode = Opcode::op;                          \
  static constexpr std::string_view kName = text;                        \
  static constexpr Direction kDirection = Direction::dir;                \
  static constexpr bool kHasContent = content;                           \
  bool operator==(const Type&) const = default;

struct ConnectionOpen {
  WARREN_METHOD(ConnectionOpen, kConnectionOpen, "connection.open", kToBroker, false)
  std::uint32_t heartbeat_ms = 0;
  std::uint64_t max_message_size = 0;
  std::uint16_t max_channels = 0;
  FieldTable client_properties;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("heartbeat_ms", s.heartbeat_ms); f("max_message_size", s.max_message_size);
    f("max_channels", s.max_channels); f("client_properties", s.client_properties);
  }
};
struct ConnectionOpenOk {
  WARREN_METHOD(ConnectionOpenOk, kConnectionOpenOk, "connection.open_ok", kToClient, false)
  std::uint32_t heartbeat_ms = 0;
  std::uint64_t max_message_size = 0;
  std::uint16_t max_channels = 0;
  FieldTable server_properties;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("heartbeat_ms", s.heartbeat_ms); f("max_message_size", s.max_message_size);
    f("max_channels", s.max_channels); f("server_properties", s.server_properties);
  }
};
struct ConnectionClose {
  WARREN_METHOD(ConnectionClose, kConnectionClose, "connection.close", kBoth, false)
  std::uint16_t reply_code = 200;
  std::string reply_text;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("reply_code", s.reply_code); f("reply_text", s.reply_text);
  }
};
struct ConnectionCloseOk {
  WARREN_METHOD(ConnectionCloseOk, kConnectionCloseOk, "connection.close_ok", kBoth, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
struct Heartbeat {
  WARREN_METHOD(Heartbeat, kHeartbeat, "heartbeat", kBoth, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
// The broker refuses publishes for now (its memory limit is reached) and
// asks publishers to wait; unblocked says they may go on.
struct ConnectionBlocked {
  WARREN_METHOD(ConnectionBlocked, kConnectionBlocked, "connection.blocked", kToClient, false)
  std::string reason;
  template <class S, class F> static void fields(S& s, F&& f) { f("reason", s.reason); }
};
struct ConnectionUnblocked {
  WARREN_METHOD(ConnectionUnblocked, kConnectionUnblocked, "connection.unblocked", kToClient, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
struct ChannelOpen {
  WARREN_METHOD(ChannelOpen, kChannelOpen, "channel.open", kToBroker, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
struct ChannelOpenOk {
  WARREN_METHOD(ChannelOpenOk, kChannelOpenOk, "channel.open_ok", kToClient, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
struct ChannelClose {
  WARREN_METHOD(ChannelClose, kChannelClose, "channel.close", kBoth, false)
  std::uint16_t reply_code = 200;
  std::string reply_text;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("reply_code", s.reply_code); f("reply_text", s.reply_text);
  }
};
struct ChannelCloseOk {
  WARREN_METHOD(ChannelCloseOk, kChannelCloseOk, "channel.close_ok", kBoth, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
// Publisher confirms: from confirm.select on, the broker answers every
// basic.publish on the channel with basic.ack (or basic.nack) carrying the
// publish's sequence number (1, 2, ... per channel) as delivery_tag.
struct ConfirmSelect {
  WARREN_METHOD(ConfirmSelect, kConfirmSelect, "confirm.select", kToBroker, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
struct ConfirmSelectOk {
  WARREN_METHOD(ConfirmSelectOk, kConfirmSelectOk, "confirm.select_ok", kToClient, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
struct QueueDeclare {
  WARREN_METHOD(QueueDeclare, kQueueDeclare, "queue.declare", kToBroker, false)
  std::string queue;
  bool passive = false;
  bool durable = false;
  bool exclusive = false;
  bool auto_delete = false;
  FieldTable arguments;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("queue", s.queue); f("passive", s.passive); f("durable", s.durable);
    f("exclusive", s.exclusive); f("auto_delete", s.auto_delete); f("arguments", s.arguments);
  }
};
struct QueueDeclareOk {
  WARREN_METHOD(QueueDeclareOk, kQueueDeclareOk, "queue.declare_ok", kToClient, false)
  std::string queue;
  std::uint32_t message_count = 0;
  std::uint32_t consumer_count = 0;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("queue", s.queue); f("message_count", s.message_count); f("consumer_count", s.consumer_count);
  }
};
struct QueueDelete {
  WARREN_METHOD(QueueDelete, kQueueDelete, "queue.delete", kToBroker, false)
  std::string queue;
  bool if_unused = false;
  bool if_empty = false;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("queue", s.queue); f("if_unused", s.if_unused); f("if_empty", s.if_empty);
  }
};
struct QueueDeleteOk {
  WARREN_METHOD(QueueDeleteOk, kQueueDeleteOk, "queue.delete_ok", kToClient, false)
  std::uint32_t message_count = 0;
  template <class S, class F> static void fields(S& s, F&& f) { f("message_count", s.message_count); }
};
struct QueuePurge {
  WARREN_METHOD(QueuePurge, kQueuePurge, "queue.purge", kToBroker, false)
  std::string queue;
  template <class S, class F> static void fields(S& s, F&& f) { f("queue", s.queue); }
};
struct QueuePurgeOk {
  WARREN_METHOD(QueuePurgeOk, kQueuePurgeOk, "queue.purge_ok", kToClient, false)
  std::uint32_t message_count = 0;
  template <class S, class F> static void fields(S& s, F&& f) { f("message_count", s.message_count); }
};
// queue.bind and queue.unbind, exchange.bind and exchange.unbind share a shape.
#define WARREN_BINDING(Type, op, text, first, second)                                  \
  struct Type {                                                                         \
    WARREN_METHOD(Type, op, text, kToBroker, false)                                     \
    std::string first;                                                                  \
    std::string second;                                                                 \
    std::string routing_key;                                                            \
    FieldTable arguments;                                                               \
    template <class S, class F> static void fields(S& s, F&& f) {                       \
      f(#first, s.first); f(#second, s.second); f("routing_key", s.routing_key);        \
      f("arguments", s.arguments);                                                      \
    }                                                                                   \
  };
#define WARREN_EMPTY(Type, op, text)                            \
  struct Type {                                                 \
    WARREN_METHOD(Type, op, text, kToClient, false)             \
    template <class S, class F> static void fields(S&, F&&) {}  \
  };
WARREN_BINDING(QueueBind, kQueueBind, "queue.bind", queue, exchange)
WARREN_EMPTY(QueueBindOk, kQueueBindOk, "queue.bind_ok")
WARREN_BINDING(QueueUnbind, kQueueUnbind, "queue.unbind", queue, exchange)
WARREN_EMPTY(QueueUnbindOk, kQueueUnbindOk, "queue.unbind_ok")
WARREN_BINDING(ExchangeBind, kExchangeBind, "exchange.bind", destination, source)
WARREN_EMPTY(ExchangeBindOk, kExchangeBindOk, "exchange.bind_ok")
WARREN_BINDING(ExchangeUnbind, kExchangeUnbind, "exchange.unbind", destination, source)
WARREN_EMPTY(ExchangeUnbindOk, kExchangeUnbindOk, "exchange.unbind_ok")
WARREN_EMPTY(ExchangeDeclareOk, kExchangeDeclareOk, "exchange.declare_ok")
WARREN_EMPTY(ExchangeDeleteOk, kExchangeDeleteOk, "exchange.delete_ok")
#undef WARREN_BINDING
#undef WARREN_EMPTY

struct ExchangeDeclare {
  WARREN_METHOD(ExchangeDeclare, kExchangeDeclare, "exchange.declare", kToBroker, false)
  std::string exchange;
  std::string type = "direct";
  bool passive = false;
  bool durable = false;
  bool auto_delete = false;
  bool internal = false;
  FieldTable arguments;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("exchange", s.exchange); f("type", s.type); f("passive", s.passive); f("durable", s.durable);
    f("auto_delete", s.auto_delete); f("internal", s.internal); f("arguments", s.arguments);
  }
};
struct ExchangeDelete {
  WARREN_METHOD(ExchangeDelete, kExchangeDelete, "exchange.delete", kToBroker, false)
  std::string exchange;
  bool if_unused = false;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("exchange", s.exchange); f("if_unused", s.if_unused);
  }
};
struct BasicReturn {
  WARREN_METHOD(BasicReturn, kBasicReturn, "basic.return", kToClient, true)
  std::uint16_t reply_code = 0;
  std::string reply_text;
  std::string exchange;
  std::string routing_key;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("reply_code", s.reply_code); f("reply_text", s.reply_text); f("exchange", s.exchange);
    f("routing_key", s.routing_key);
  }
};
struct ManagementQuery {
  WARREN_METHOD(ManagementQuery, kManagementQuery, "management.query", kToBroker, false)
  std::string what;
  template <class S, class F> static void fields(S& s, F&& f) { f("what", s.what); }
};
struct ManagementQueryOk {
  WARREN_METHOD(ManagementQueryOk, kManagementQueryOk, "management.query_ok", kToClient, false)
  FieldTable result;
  template <class S, class F> static void fields(S& s, F&& f) { f("result", s.result); }
};
struct ManagementCommand {
  WARREN_METHOD(ManagementCommand, kManagementCommand, "management.command", kToBroker, false)
  std::string verb;
  FieldTable arguments;
  template <class S, class F> static void fields(S& s, F&& f) { f("verb", s.verb); f("arguments", s.arguments); }
};
struct ManagementCommandOk {
  WARREN_METHOD(ManagementCommandOk, kManagementCommandOk, "management.command_ok", kToClient, false)
  FieldTable result;
  template <class S, class F> static void fields(S& s, F&& f) { f("result", s.result); }
};
struct BasicQos {
  WARREN_METHOD(BasicQos, kBasicQos, "basic.qos", kToBroker, false)
  std::uint16_t prefetch_count = 0;
  bool global = false;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("prefetch_count", s.prefetch_count); f("global", s.global);
  }
};
struct BasicQosOk {
  WARREN_METHOD(BasicQosOk, kBasicQosOk, "basic.qos_ok", kToClient, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
struct BasicConsume {
  WARREN_METHOD(BasicConsume, kBasicConsume, "basic.consume", kToBroker, false)
  std::string queue;
  std::string consumer_tag;
  bool no_ack = false;
  bool exclusive = false;
  FieldTable arguments;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("queue", s.queue); f("consumer_tag", s.consumer_tag); f("no_ack", s.no_ack);
    f("exclusive", s.exclusive); f("arguments", s.arguments);
  }
};
struct BasicConsumeOk {
  WARREN_METHOD(BasicConsumeOk, kBasicConsumeOk, "basic.consume_ok", kToClient, false)
  std::string consumer_tag;
  template <class S, class F> static void fields(S& s, F&& f) { f("consumer_tag", s.consumer_tag); }
};
struct BasicCancel {
  WARREN_METHOD(BasicCancel, kBasicCancel, "basic.cancel", kBoth, false)
  std::string consumer_tag;
  template <class S, class F> static void fields(S& s, F&& f) { f("consumer_tag", s.consumer_tag); }
};
struct BasicCancelOk {
  WARREN_METHOD(BasicCancelOk, kBasicCancelOk, "basic.cancel_ok", kToClient, false)
  std::string consumer_tag;
  template <class S, class F> static void fields(S& s, F&& f) { f("consumer_tag", s.consumer_tag); }
};
struct BasicPublish {
  WARREN_METHOD(BasicPublish, kBasicPublish, "basic.publish", kToBroker, true)
  std::string exchange;
  std::string routing_key;
  bool mandatory = false;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("exchange", s.exchange); f("routing_key", s.routing_key); f("mandatory", s.mandatory);
  }
};
struct BasicDeliver {
  WARREN_METHOD(BasicDeliver, kBasicDeliver, "basic.deliver", kToClient, true)
  std::string consumer_tag;
  std::uint64_t delivery_tag = 0;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("consumer_tag", s.consumer_tag); f("delivery_tag", s.delivery_tag);
    f("redelivered", s.redelivered); f("exchange", s.exchange); f("routing_key", s.routing_key);
  }
};
struct BasicGet {
  WARREN_METHOD(BasicGet, kBasicGet, "basic.get", kToBroker, false)
  std::string queue;
  bool no_ack = false;
  template <class S, class F> static void fields(S& s, F&& f) { f("queue", s.queue); f("no_ack", s.no_ack); }
};
struct BasicGetOk {
  WARREN_METHOD(BasicGetOk, kBasicGetOk, "basic.get_ok", kToClient, true)
  std::uint64_t delivery_tag = 0;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  std::uint32_t message_count = 0;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("delivery_tag", s.delivery_tag); f("redelivered", s.redelivered); f("exchange", s.exchange);
    f("routing_key", s.routing_key); f("message_count", s.message_count);
  }
};
struct BasicGetEmpty {
  WARREN_METHOD(BasicGetEmpty, kBasicGetEmpty, "basic.get_empty", kToClient, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
struct BasicAck {
  WARREN_METHOD(BasicAck, kBasicAck, "basic.ack", kBoth, false)
  std::uint64_t delivery_tag = 0;
  bool multiple = false;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("delivery_tag", s.delivery_tag); f("multiple", s.multiple);
  }
};
struct BasicReject {
  WARREN_METHOD(BasicReject, kBasicReject, "basic.reject", kToBroker, false)
  std::uint64_t delivery_tag = 0;
  bool requeue = true;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("delivery_tag", s.delivery_tag); f("requeue", s.requeue);
  }
};
struct BasicNack {
  WARREN_METHOD(BasicNack, kBasicNack, "basic.nack", kBoth, false)
  std::uint64_t delivery_tag = 0;
  bool multiple = false;
  bool requeue = true;
  template <class S, class F> static void fields(S& s, F&& f) {
    f("delivery_tag", s.delivery_tag); f("multiple", s.multiple); f("requeue", s.requeue);
  }
};
struct BasicRecover {
  WARREN_METHOD(BasicRecover, kBasicRecover, "basic.recover", kToBroker, false)
  bool requeue = true;
  template <class S, class F> static void fields(S& s, F&& f) { f("requeue", s.requeue); }
};
struct BasicRecoverOk {
  WARREN_METHOD(BasicRecoverOk, kBasicRecoverOk, "basic.recover_ok", kToClient, false)
  template <class S, class F> static void fields(S&, F&&) {}
};
#undef WARREN_METHOD

using Method = std::variant<
    ConnectionOpen, ConnectionOpenOk, ConnectionClose, ConnectionCloseOk, Heartbeat,
    ConnectionBlocked, ConnectionUnblocked,
    ChannelOpen, ChannelOpenOk, ChannelClose, ChannelCloseOk, ConfirmSelect, ConfirmSelectOk,
    QueueDeclare, QueueDeclareOk, QueueDelete, QueueDeleteOk, QueuePurge, QueuePurgeOk,
    QueueBind, QueueBindOk, QueueUnbind, QueueUnbindOk, ExchangeDeclare, ExchangeDeclareOk,
    ExchangeDelete, ExchangeDeleteOk, ExchangeBind, ExchangeBindOk, ExchangeUnbind, ExchangeUnbindOk,
    BasicQos, BasicQosOk, BasicConsume, BasicConsumeOk, BasicCancel, BasicCancelOk,
    BasicPublish, BasicDeliver, BasicGet, BasicGetOk, BasicGetEmpty, BasicAck, BasicReject,
    BasicNack, BasicRecover, BasicRecoverOk, BasicReturn, ManagementQuery, ManagementQueryOk,
    ManagementCommand, ManagementCommandOk>;

Opcode opcode_of(const Method& m);
std::string_view name_of(Opcode op);  // "queue.declare"; "unknown" if not a method
bool has_content(Opcode op);

// basic.deliver with its strings viewed, not owned: what the broker encodes
// for every delivery (no string copied per message). Encodes to the same
// bytes as the BasicDeliver with the same values.
struct BasicDeliverView {
  static constexpr Opcode kOpcode = Opcode::kBasicDeliver;
  static constexpr bool kHasContent = true;
  std::string_view consumer_tag;
  std::uint64_t delivery_tag = 0;
  bool redelivered = false;
  std::string_view exchange;
  std::string_view routing_key;
  template <class S, class F> static void fields(S& s, F&& f) { BasicDeliver::fields(s, f); }
};

// Bodies up to this size travel inline, after the properties in the header
// frame (one frame per message instead of two: measured 1.4 to 1.6 times the
// messages per second through a ZeroMQ pipe at 100 bytes); larger ones as a
// frame of their own, which the broker forwards without copying. A receiver
// takes either form (docs/protocol.md, Commands).
inline constexpr std::size_t kInlineBodyMax = 8192;

// A decoded header frame. `properties` is the raw msgpack map of a content
// method (empty otherwise) and `inline_body` the bytes after it (the body when
// the command came as one frame); both point into the decoded frame's bytes.
struct Command {
  std::uint16_t channel = 0;
  Method method;
  std::string_view properties;
  std::string_view inline_body;
};

// Decodes a header frame. Throws ProtocolError: 540 NOT_IMPLEMENTED for an
// unknown version or opcode, 501 FRAME_ERROR for anything else malformed
// (including malformed properties).
Command decode(std::string_view frame);
// Checks that a decoded command came in as many frames as its method allows:
// a content method in one frame (its body inline) or in two (the body frame,
// nothing inline), anything else in one. Throws ProtocolError(501).
void check_frames(const Command& command, std::size_t frames);

// Batches (docs/protocol.md, "Batches"): one frame that carries several
// commands, each a complete one-frame command (body inline), to a peer that
// announced the "batch" capability. A busy sender puts what it has ready in
// one frame: ZeroMQ's cost is per message, not per byte.
inline constexpr std::uint8_t kBatchOpcode = 0x17;
// Whether client_properties / server_properties announce a capability: a
// table "capabilities" with `name` set to true (as AMQP 0-9-1 does).
bool has_capability(const FieldTable& properties, std::string_view name);
inline constexpr std::uint32_t kBatchMaxCommands = 4096;  // the decoder's array limit
// Writes one batch in place: each command is encoded straight into it, never
// copied. The broker keeps one per connection, the client one for its
// publishes.
class BatchWriter {
 public:
  // Appends the command when its body goes inline (encode_to_send's rule);
  // otherwise appends nothing and returns false.
  bool add(std::uint16_t channel, const Method& method, std::string_view raw_properties, std::string_view body);
  bool add(std::uint16_t channel, const BasicDeliverView& deliver, std::string_view raw_properties,
           std::string_view body);
  // Appends one complete one-frame command.
  void add_encoded(std::string_view command);
  std::uint32_t count() const { return count_; }
  std::size_t bytes() const { return out_.size(); }
  // The frame to send: the batch or, when it holds one command, that command
  // alone (a peer gets a batch only when there is more than one). Valid
  // until the next add or reset.
  std::string_view finish();
  // Empties it, keeping a buffer of up to 16 KiB for the next batch.
  void reset();

 private:
  template <class Encode>
  bool append(Encode&& encode);
  std::string out_;
  std::uint32_t count_ = 0;
};
// The same in one call, from complete one-frame commands (tools, tests).
std::string encode_batch(const std::vector<std::string>& commands);
// Reading one: false when `frame` is not a batch; otherwise `commands` holds
// views of its commands' frames, in order. Throws ProtocolError(501) for a
// malformed batch (an empty one, a nested one, one not on channel 0).
bool split_batch(std::string_view frame, std::vector<std::string_view>& commands);

// Encodes a header frame. REQUIRES: raw_properties is empty or a msgpack map
// produced by encode_properties (or received and validated by decode);
// content methods get an empty map when raw_properties is empty.
std::string encode(std::uint16_t channel, const Method& method, std::string_view raw_properties = {});
// Same, appending to `out` (lets hot paths reuse a buffer), with
// `inline_body` after the properties (content methods only).
void encode_to(std::string& out, std::uint16_t channel, const Method& method,
               std::string_view raw_properties = {}, std::string_view inline_body = {});
void encode_to(std::string& out, std::uint16_t channel, const BasicDeliverView& deliver,
               std::string_view raw_properties, std::string_view inline_body = {});
// Encodes a command to send, its body (empty for a method without content)
// inline when it is at most kInlineBodyMax bytes. Returns false when the
// body is not in `out` and must follow as a frame of its own.
bool encode_to_send(std::string& out, std::uint16_t channel, const Method& method,
                    std::string_view raw_properties, std::string_view body);
bool encode_to_send(std::string& out, std::uint16_t channel, const BasicDeliverView& deliver,
                    std::string_view raw_properties, std::string_view body);

std::string encode_properties(const Properties& properties);
// Throws ProtocolError(501) when `raw` is not a valid properties map.
Properties decode_properties(std::string_view raw);

// A field table on its own, in the wire's encoding (the broker stores its
// definitions this way). decode_table throws ProtocolError(501) on bad bytes.
std::string encode_table(const FieldTable& table);
FieldTable decode_table(std::string_view raw);

}  // namespace warren::protocol
