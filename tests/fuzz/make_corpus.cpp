// Writes the seed corpora of the fuzz targets from real, valid commands:
//   make_corpus DIR  ->  DIR/protocol/*, DIR/broker/*, DIR/journal/*, DIR/pubsub/*
// The output is checked in under tests/fuzz/corpus; rerun this after a
// change to the wire or journal format and commit the difference.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pubsub_wire.hpp"
#include "store/journal_format.hpp"
#include "warren/properties.hpp"
#include "warren/protocol.hpp"

namespace {

using namespace warren;
using namespace warren::protocol;
namespace fs = std::filesystem;

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string persistent_properties() {
  Properties p;
  p.content_type = "text/plain";
  p.delivery_mode = kPersistent;
  p.priority = 3;
  p.correlation_id = "c-1";
  p.reply_to = "replies";
  p.expiration = "60000";
  p.message_id = "m-1";
  p.timestamp = 1700000000;
  p.headers = FieldTable{{"x-int", 7}, {"x-str", "v"}, {"x-bool", true}, {"x-float", 1.5},
                         {"x-null", nullptr}, {"x-bytes", Bytes{std::string("\x00\x01", 2)}},
                         {"x-array", FieldArray{1, "two", FieldTable{{"k", 3}}}}};
  return encode_properties(p);
}

FieldTable queue_arguments() {
  return FieldTable{{"x-message-ttl", 1000}, {"x-max-length", 3}, {"x-overflow", "reject-publish"},
                    {"x-dead-letter-exchange", "dlx"}, {"x-dead-letter-routing-key", "dead"},
                    {"x-max-priority", 5}, {"x-expires", 60000}, {"x-delivery-limit", 2}};
}

// ---- the broker target's input: see fuzz_broker.cpp ----
struct Script {
  std::string bytes;
  explicit Script(std::uint8_t limits) : bytes(1, static_cast<char>(limits)) {}
  // A step: `peer` sends `frames` (0-3), then the broker runs a turn.
  Script& step(int peer, const std::vector<std::string>& frames, bool reconnect = false) {
    auto control = static_cast<std::uint8_t>(peer | frames.size() << 2 | (reconnect ? 0x10 : 0));
    bytes.push_back(static_cast<char>(control));
    for (const auto& f : frames) {
      bytes.push_back(static_cast<char>(f.size() & 0xff));
      bytes.push_back(static_cast<char>(f.size() >> 8));
      bytes += f;
    }
    return *this;
  }
  Script& send(int peer, std::uint16_t channel, const Method& m) { return step(peer, {encode(channel, m)}); }
  Script& publish(int peer, std::uint16_t channel, std::string exchange, std::string key, std::string body,
                  const std::string& properties = {}) {
    return step(peer, {encode(channel, BasicPublish{std::move(exchange), std::move(key), true}, properties),
                       std::move(body)});
  }
  Script& open(int peer, std::uint16_t channel = 1) {
    send(peer, 0, ConnectionOpen{});
    return send(peer, channel, ChannelOpen{});
  }
};

void broker_corpus(const fs::path& dir) {
  auto props = persistent_properties();
  write(dir, "open-close", Script(0).open(0).send(0, 1, ChannelClose{200, "bye"})
                               .send(0, 0, ConnectionClose{200, "bye"}).bytes);
  write(dir, "publish-get-ack", Script(0).open(0)
            .send(0, 1, QueueDeclare{"q", false, false, false, false, {}})
            .publish(0, 1, "", "q", "hello", props).publish(0, 1, "", "q", "world")
            .send(0, 1, BasicGet{"q", false}).send(0, 1, BasicAck{1, false})
            .send(0, 1, BasicGet{"q", false}).send(0, 1, BasicNack{2, false, true})
            .send(0, 1, BasicRecover{true}).send(0, 1, QueuePurge{"q"}).send(0, 1, QueueDelete{"q", false, false}).bytes);
  write(dir, "consume-two-peers", Script(0).open(0).open(1)
            .send(0, 1, QueueDeclare{"work", false, false, false, false, queue_arguments()})
            .send(1, 1, BasicQos{1, false}).send(1, 1, BasicConsume{"work", "c1", false, false, {}})
            .send(0, 1, ConfirmSelect{}).publish(0, 1, "", "work", "a", props).publish(0, 1, "", "work", "b")
            .send(1, 1, BasicAck{1, false}).send(1, 1, BasicReject{2, false})
            .send(1, 1, BasicCancel{"c1"}).send(1, 0, ConnectionClose{200, "bye"}).bytes);
  write(dir, "exchanges-bindings", Script(0).open(0)
            .send(0, 1, ExchangeDeclare{"t", "topic", false, false, false, false, {}})
            .send(0, 1, ExchangeDeclare{"h", "headers", false, false, true, false, {}})
            .send(0, 1, ExchangeDeclare{"f", "fanout", false, true, false, false, {}})
            .send(0, 1, QueueDeclare{"", false, false, true, false, {}})
            .send(0, 1, QueueDeclare{"q2", false, true, false, true, {}})
            .send(0, 1, QueueBind{"q2", "t", "a.*.#", {}})
            .send(0, 1, QueueBind{"q2", "h", "", FieldTable{{"x-match", "any"}, {"k", 1}}})
            .send(0, 1, ExchangeBind{"f", "t", "#", {}})
            .publish(0, 1, "t", "a.b.c", "x", props).publish(0, 1, "h", "", "y", props)
            .send(0, 1, ExchangeUnbind{"f", "t", "#", {}}).send(0, 1, QueueUnbind{"q2", "t", "a.*.#", {}})
            .send(0, 1, ExchangeDelete{"t", false}).send(0, 1, ManagementQuery{"queues"})
            .send(0, 1, ManagementQuery{"connections"}).bytes);
  Properties rpc;
  rpc.reply_to = "amq.rabbitmq.reply-to";
  rpc.correlation_id = "1";
  auto with_reply_to = encode_properties(rpc);
  write(dir, "reply-to", Script(0).open(0).open(1)
            .send(0, 1, BasicConsume{"amq.rabbitmq.reply-to", "r", true, false, {}})
            .send(1, 1, QueueDeclare{"rpc", false, false, false, false, {}})
            .send(1, 1, BasicConsume{"rpc", "s", true, false, {}})
            .publish(0, 1, "", "rpc", "req", with_reply_to).bytes);
  write(dir, "limits", Script(3).open(0).open(1).open(2)
            .send(0, 2, ChannelOpen{}).send(0, 3, ChannelOpen{}).send(0, 4, ChannelOpen{}).send(0, 5, ChannelOpen{})
            .send(0, 1, QueueDeclare{"l", false, false, false, false, FieldTable{{"x-max-length-bytes", 10}}})
            .send(0, 1, BasicConsume{"l", "a", false, false, {}}).send(0, 1, BasicConsume{"l", "b", false, false, {}})
            .send(0, 1, BasicConsume{"l", "c", false, false, {}})
            .publish(0, 1, "", "l", std::string(600, 'x')).publish(0, 1, "", "l", std::string(300, 'y')).bytes);
  write(dir, "duplicate-identity", Script(0).open(0).open(2).step(2, {encode(0, ConnectionOpen{})}, true)
            .step(0, {encode(0, ConnectionOpen{})}, true).send(0, 1, ChannelOpen{}).bytes);
  // Batches both ways: peer 0 announces the capability (the broker then
  // batches what it sends it) and sends batches; peer 1 sends one unasked.
  ConnectionOpen batching;
  batching.client_properties = FieldTable{{"capabilities", FieldTable{{"batch", true}}}};
  write(dir, "batches", Script(0).send(0, 0, batching).send(0, 1, ChannelOpen{}).open(1)
            .step(0, {encode_batch({encode(1, QueueDeclare{"b", false, false, false, false, {}}),
                             encode(1, BasicConsume{"b", "c", true, false, {}}),
                             encode(1, BasicPublish{"", "b", false}, props) + "one",
                             encode(1, BasicPublish{"", "b", false}) + "two"})})
            .step(1, {encode_batch({encode(1, BasicPublish{"", "b", false}) + "three", encode(0, Heartbeat{})})})
            .step(1, {encode_batch({encode(1, QueueDeclare{"b", true, false, false, false, {}})}), "body"}).bytes);
  write(dir, "bad-frames", Script(0).step(0, {"garbage"}).step(1, {}).step(1, {"a", "b", "c"})
            .open(1).step(1, {encode(1, BasicPublish{"", "q", false})})
            .step(1, {encode(1, QueueDeclare{}), "unexpected body"}).bytes);
}

void protocol_corpus(const fs::path& dir) {
  auto props = persistent_properties();
  std::vector<std::pair<std::string, std::string>> frames = {
      {"connection-open", encode(0, ConnectionOpen{1000, 1 << 20, 16, FieldTable{{"product", "warren"}, {"n", 1}}})},
      {"connection-close", encode(0, ConnectionClose{320, "forced"})},
      {"channel-open", encode(7, ChannelOpen{})},
      {"queue-declare", encode(1, QueueDeclare{"q", false, true, false, false, queue_arguments()})},
      {"queue-bind", encode(1, QueueBind{"q", "amq.topic", "a.#", FieldTable{{"x-match", "all"}}})},
      {"exchange-declare", encode(1, ExchangeDeclare{"x", "headers", false, true, false, true, {}})},
      {"basic-publish", encode(1, BasicPublish{"amq.direct", "key", true}, props)},
      {"basic-deliver", encode(1, BasicDeliver{"ctag", 42, true, "x", "k"}, props)},
      {"basic-get-ok", encode(1, BasicGetOk{9, false, "", "q", 3}, encode_properties({}))},
      {"basic-nack", encode(1, BasicNack{5, true, false})},
      {"basic-return", encode(65535, BasicReturn{312, "NO_ROUTE", "x", "k"}, props)},
      {"management-query-ok", encode(0, ManagementQueryOk{FieldTable{{"rows", FieldArray{FieldTable{{"a", 1.25}}}}}})},
      {"batch", encode_batch({encode(0, Heartbeat{}), encode(1, BasicPublish{"", "q", false}, props) + "body",
                       encode(1, BasicAck{3, true})})},
      {"properties", props},
      {"table", encode_table(queue_arguments())},
  };
  for (const auto& [name, bytes] : frames) write(dir, name, bytes);
}

void journal_corpus(const fs::path& dir) {
  using namespace warren::detail::store;
  std::string segment = encode_segment_header(SegmentHeader{1, 0});
  std::vector<QueueState> queues = {{"q1", false}, {"q2", true}};
  append_publish(segment, 1, queues, "amq.direct", "k", persistent_properties(), "body one");
  append_publish(segment, 2, std::vector<QueueState>{{"q1", false}}, "", "q1", "", "");
  append_delivered(segment, 1, "q1");
  append_ack(segment, 1, "q1");
  append_drop_queue(segment, "q2");
  // Mode byte 0: the segment as it is on disk.
  write(dir, "segment", std::string(1, '\0') + segment);
  write(dir, "segment-torn", std::string(1, '\0') + segment.substr(0, segment.size() - 5));
  std::string flipped = segment;
  flipped[kSegmentHeaderSize + 12] ^= 0x40;
  write(dir, "segment-corrupt", std::string(1, '\0') + flipped);
  write(dir, "segment-compacted", std::string(1, '\0') + encode_segment_header(SegmentHeader{100, 7}));
  // Mode byte 1: records as [type][u16 length][payload], framed by the target.
  std::string records(1, '\1');
  RecordReader reader(segment);
  Record r;
  while (reader.next(&r)) {
    std::string_view rec = std::string_view(segment).substr(r.offset, r.size);
    std::size_t payload = r.size - kRecordHeaderSize;
    records.push_back(rec[8]);
    records.push_back(static_cast<char>(payload & 0xff));
    records.push_back(static_cast<char>(payload >> 8));
    records.append(rec.substr(kRecordHeaderSize));
  }
  write(dir, "records", records);
}

// Mode byte 0: three frames as [u16 topic length][u16 header length][topic]
// [header][payload]; mode byte 1: entries for the target to encode.
void pubsub_corpus(const fs::path& dir) {
  namespace wire = warren::detail::pubsub_wire;
  auto frames = [](const std::string& topic, const std::string& header, const std::string& payload) {
    std::string out(1, '\0');
    for (std::size_t n : {topic.size(), header.size()}) {
      out.push_back(static_cast<char>(n & 0xff));
      out.push_back(static_cast<char>(n >> 8));
    }
    return out + topic + header + payload;
  };
  Properties small;
  small.message_id = "m-1";
  std::string topic, header, batch;
  wire::topic(topic, "fm111.7");
  wire::single_header(header, 0x1122334455667788, 1, "");
  write(dir, "single", frames(topic, header, "alex db"));
  wire::single_header(header, 0x1122334455667788, 2, persistent_properties());
  write(dir, "single-properties", frames(topic, header, "{...}"));
  wire::append_entry(batch, "", "one");
  wire::append_entry(batch, encode_properties(small), "two");
  wire::append_entry(batch, "", "");
  wire::batch_header(header, 0x1122334455667788, 3, 3);
  write(dir, "batch", frames(topic, header, batch));
  wire::batch_header(header, 0x1122334455667788, 3, 4);
  write(dir, "batch-short", frames(topic, header, batch));
  std::string entries(1, '\1');
  entries += std::string(8, '\x11') + std::string("\x05\0\0\0\0\0\0\0", 8);
  for (const std::string& body : {std::string("a"), std::string(40, 'b')}) {
    entries.push_back(0);
    entries.push_back(static_cast<char>(body.size()));
    entries += body;
  }
  write(dir, "encode", entries);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus DIR\n");
    return 2;
  }
  fs::path dir = argv[1];
  protocol_corpus(dir / "protocol");
  broker_corpus(dir / "broker");
  journal_corpus(dir / "journal");
  pubsub_corpus(dir / "pubsub");
  return 0;
}
