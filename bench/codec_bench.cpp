// codec-bench: the per-message cost of the wire codec (docs/protocol.md).
//
// Every message crosses the codec four times: the client encodes
// basic.publish, the broker decodes it (validating the properties), the broker
// encodes basic.deliver (splicing the raw properties in), and the client
// decodes basic.deliver and then the properties into a Properties struct.
// Each benchmark is one of those steps, with no properties ("empty") and with
// the properties a typical RPC-ish message carries ("typical").
#include <benchmark/benchmark.h>

#include <string>

#include "warren/protocol.hpp"

namespace {

using namespace warren;
namespace proto = warren::protocol;

Properties typical_properties() {
  Properties p;
  p.content_type = "application/json";
  p.delivery_mode = kPersistent;
  p.correlation_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
  p.reply_to = "amq.gen-JzTY20BRgKO-HjmUJj0wLg";
  p.message_id = "msg-000000012345";
  p.timestamp = 1700000000;
  p.app_id = "orders";
  p.headers = FieldTable{{"x-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736"}, {"attempt", 1}};
  return p;
}

// state.range(0): 0 = no properties, 1 = typical properties.
std::string raw_properties(const benchmark::State& state) {
  return state.range(0) == 0 ? std::string() : proto::encode_properties(typical_properties());
}
void label(benchmark::State& state) { state.SetLabel(state.range(0) == 0 ? "empty" : "typical"); }

proto::BasicPublish publish_method() { return {"", "perf", false}; }
proto::BasicDeliver deliver_method() {
  return {"amq.ctag-JzTY20BRgKO-HjmUJj0wLg", 123456, false, "", "perf"};
}

// Client: basic_publish encodes the properties (when there are any) ...
void BM_EncodeProperties(benchmark::State& state) {
  Properties p = state.range(0) == 0 ? Properties{} : typical_properties();
  for (auto _ : state) benchmark::DoNotOptimize(proto::encode_properties(p));
  label(state);
}

// ... and the basic.publish header, into a reused buffer.
void BM_EncodePublish(benchmark::State& state) {
  std::string raw = raw_properties(state);
  proto::Method method = publish_method();
  std::string out;
  for (auto _ : state) {
    out.clear();
    proto::encode_to(out, 1, method, raw);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
  label(state);
}

// Broker: decodes basic.publish; decode() also validates the properties.
void BM_DecodePublish(benchmark::State& state) {
  std::string frame = proto::encode(1, publish_method(), raw_properties(state));
  for (auto _ : state) benchmark::DoNotOptimize(proto::decode(frame));
  label(state);
}

// Broker: encodes basic.deliver with the publisher's raw properties spliced in.
void BM_EncodeDeliver(benchmark::State& state) {
  std::string raw = raw_properties(state);
  proto::Method method = deliver_method();
  std::string out;
  for (auto _ : state) {
    out.clear();
    proto::encode_to(out, 1, method, raw);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
  label(state);
}

// Broker, as it runs today: builds the BasicDeliver (copying tag, exchange and
// routing key into std::strings) and the Method variant for every delivery.
void BM_BuildAndEncodeDeliver(benchmark::State& state) {
  std::string raw = raw_properties(state);
  const std::string tag = "amq.ctag-JzTY20BRgKO-HjmUJj0wLg", exchange, key = "perf";
  std::string out;
  std::uint64_t delivery_tag = 0;
  for (auto _ : state) {
    proto::BasicDeliver d{tag, ++delivery_tag, false, exchange, key};
    out.clear();
    proto::encode_to(out, 1, d, raw);
    benchmark::DoNotOptimize(out.data());
  }
  label(state);
}

// Client: decodes basic.deliver (validating the properties) ...
void BM_DecodeDeliver(benchmark::State& state) {
  std::string frame = proto::encode(1, deliver_method(), raw_properties(state));
  for (auto _ : state) benchmark::DoNotOptimize(proto::decode(frame));
  label(state);
}

// ... and then the properties again, into the Message handed to the callback.
void BM_DecodeDeliverAndProperties(benchmark::State& state) {
  std::string frame = proto::encode(1, deliver_method(), raw_properties(state));
  for (auto _ : state) {
    auto cmd = proto::decode(frame);
    benchmark::DoNotOptimize(proto::decode_properties(cmd.properties));
  }
  label(state);
}

// Small: the header of basic.ack, sent per message with manual acks.
void BM_EncodeAck(benchmark::State& state) {
  std::string out;
  std::uint64_t tag = 0;
  for (auto _ : state) {
    out.clear();
    proto::encode_to(out, 1, proto::BasicAck{++tag, false});
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_DecodeAck(benchmark::State& state) {
  std::string frame = proto::encode(1, proto::BasicAck{123456, false});
  for (auto _ : state) benchmark::DoNotOptimize(proto::decode(frame));
}

BENCHMARK(BM_EncodeProperties)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodePublish)->Arg(0)->Arg(1);
BENCHMARK(BM_DecodePublish)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeDeliver)->Arg(0)->Arg(1);
BENCHMARK(BM_BuildAndEncodeDeliver)->Arg(0)->Arg(1);
BENCHMARK(BM_DecodeDeliver)->Arg(0)->Arg(1);
BENCHMARK(BM_DecodeDeliverAndProperties)->Arg(0)->Arg(1);
BENCHMARK(BM_EncodeAck);
BENCHMARK(BM_DecodeAck);

}  // namespace

BENCHMARK_MAIN();
