// Fuzz target: the pub/sub wire decoder (framework/src/pubsub_wire.hpp), the
// code every Subscriber runs over whatever a publisher on its forwarder
// sends. The input's first byte picks the mode:
//   even: the rest is three frames, [u16 topic length][u16 header length]
//         [topic][header][payload], given to pubsub_wire::parse as they are;
//   odd:  the rest makes a batch with the encoder: an 8-byte publisher id,
//         an 8-byte first sequence number, then entries
//         [u8 properties length][properties][u8 body length][body].
// What parses must re-encode to the same bytes, visit exactly its count of
// messages, and point only inside the frames; properties decode or throw
// ProtocolError; a batch the encoder made must parse back entry for entry.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pubsub_wire.hpp"
#include "warren/errors.hpp"
#include "warren/protocol.hpp"

namespace {

namespace wire = warren::detail::pubsub_wire;

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_pubsub: %s\n", what);
  std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::uint64_t le(std::string_view bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return v;
}

// Parses the frames and checks everything that must hold of what parses.
void parse_and_check(std::string_view topic, std::string_view header, std::string_view payload) {
  auto frame = wire::parse(topic, header, payload);
  if (!frame) return;
  check(frame->count >= 1 && frame->last() >= frame->first, "a frame without messages, or past 2^64");
  check(frame->channel.size() + 1 == topic.size() && inside(frame->channel, topic), "channel outside the topic");
  std::vector<std::pair<std::string_view, std::string_view>> entries;
  wire::for_each(*frame, [&](std::string_view properties, std::string_view body) {
    check(inside(properties, frame->batch ? payload : header), "properties outside their frame");
    check(inside(body, payload), "body outside the payload");
    entries.emplace_back(properties, body);
    try {
      (void)warren::protocol::decode_properties(properties);
    } catch (const warren::ProtocolError&) {
    }
    return true;
  });
  check(entries.size() == frame->count, "visited a different number of messages than the count");
  // Re-encoding gives the same bytes.
  std::string again, rebuilt;
  if (frame->batch) {
    wire::batch_header(again, le(frame->publisher), frame->first, static_cast<std::uint32_t>(frame->count));
    for (auto [properties, body] : entries) wire::append_entry(rebuilt, properties, body);
    check(rebuilt == payload, "a batch's payload re-encodes differently");
  } else {
    wire::single_header(again, le(frame->publisher), frame->first, frame->properties);
  }
  check(again == header, "a header re-encodes differently");
  wire::topic(again, frame->channel);
  check(again == topic, "a topic re-encodes differently");
}

// Builds a batch with the encoder from the fuzzer's entries; it must parse back.
void round_trip(std::string_view in) {
  if (in.size() < 16) return;
  const std::uint64_t publisher = le(in.substr(0, 8)), first = le(in.substr(8, 8));
  in.remove_prefix(16);
  std::vector<std::pair<std::string, std::string>> entries;
  std::string payload;
  while (in.size() >= 2) {
    std::size_t n = static_cast<unsigned char>(in[0]);
    std::string properties(in.substr(1, n));
    in.remove_prefix(std::min(in.size(), 1 + n));
    if (in.empty()) break;
    n = static_cast<unsigned char>(in[0]);
    std::string body(in.substr(1, n));
    in.remove_prefix(std::min(in.size(), 1 + n));
    wire::append_entry(payload, properties, body);
    entries.emplace_back(std::move(properties), std::move(body));
  }
  std::string topic, header;
  wire::topic(topic, "fuzz.channel");
  wire::batch_header(header, publisher, first, static_cast<std::uint32_t>(entries.size()));
  auto frame = wire::parse(topic, header, payload);
  const bool fits = !entries.empty() && first + (entries.size() - 1) >= first;
  check(frame.has_value() == fits, "an encoded batch does not parse (or an impossible one does)");
  if (!frame) return;
  check(frame->channel == "fuzz.channel" && frame->first == first && frame->count == entries.size(),
        "an encoded batch parses to other numbers");
  std::size_t i = 0;
  wire::for_each(*frame, [&](std::string_view properties, std::string_view body) {
    check(properties == entries[i].first && body == entries[i].second, "an entry parses back differently");
    ++i;
    return true;
  });
  check(i == entries.size(), "not every entry came back");
  parse_and_check(topic, header, payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty()) return 0;
  const bool encode = in[0] & 1;
  in.remove_prefix(1);
  if (encode) {
    round_trip(in);
    return 0;
  }
  if (in.size() < 4) return 0;
  std::size_t topic_size = le(in.substr(0, 2)), header_size = le(in.substr(2, 2));
  in.remove_prefix(4);
  topic_size = std::min(topic_size, in.size());
  std::string topic(in.substr(0, topic_size));  // own buffers, so reads past them are caught
  in.remove_prefix(topic_size);
  header_size = std::min(header_size, in.size());
  std::string header(in.substr(0, header_size));
  std::string payload(in.substr(header_size));
  parse_and_check(topic, header, payload);
  return 0;
}
