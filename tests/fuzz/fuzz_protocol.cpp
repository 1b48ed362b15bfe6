// Fuzz target: the wire codec (framework/src/protocol.cpp). The input is one
// header frame as a peer would send it. Decoding must either succeed or throw
// ProtocolError; whatever decodes must re-encode, and the re-encoding must
// decode to the same bytes again (the codec is its own inverse on its image).
// The same bytes are also tried as a properties map and as a field table.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "warren/errors.hpp"
#include "warren/protocol.hpp"

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_protocol: %s\n", what);
  std::abort();
}

void header_frame(std::string_view input) {
  using namespace warren::protocol;
  Command cmd;
  try {
    cmd = decode(input);
  } catch (const warren::ProtocolError& e) {
    auto code = static_cast<int>(e.code());
    check(code == 501 || code == 540, "decode threw a reply code other than 501 and 540");
    return;
  }
  std::string once;
  encode_to(once, cmd.channel, cmd.method, cmd.properties, cmd.inline_body);
  Command again;
  try {
    again = decode(once);
  } catch (const warren::ProtocolError&) {
    check(false, "a re-encoded command does not decode");
  }
  check(again.channel == cmd.channel, "channel changed in a round trip");
  check(opcode_of(again.method) == opcode_of(cmd.method), "opcode changed in a round trip");
  check(again.inline_body == cmd.inline_body, "inline body changed in a round trip");
  std::string twice;
  encode_to(twice, again.channel, again.method, again.properties, again.inline_body);
  check(twice == once, "re-encoding is not stable");
  if (has_content(opcode_of(cmd.method))) {
    warren::Properties p;
    try {
      p = decode_properties(cmd.properties);
    } catch (const warren::ProtocolError&) {
      check(false, "properties accepted by decode() are refused by decode_properties()");
    }
    std::string raw = encode_properties(p);
    check(encode_properties(decode_properties(raw)) == raw, "properties re-encoding is not stable");
  }
}

// A batch splits (or is refused with 501) and each command in it is a
// header frame like any other; writing the same commands back gives the
// same commands.
void batch(std::string_view input) {
  using namespace warren::protocol;
  std::vector<std::string_view> commands;
  try {
    if (!split_batch(input, commands)) return;
  } catch (const warren::ProtocolError& e) {
    check(static_cast<int>(e.code()) == 501, "split_batch threw a code other than 501");
    return;
  }
  check(!commands.empty(), "split_batch gave an empty batch");
  BatchWriter batch;
  for (auto c : commands) {
    header_frame(c);
    batch.add_encoded(c);
  }
  std::string written(batch.finish());
  std::vector<std::string_view> again;
  if (commands.size() == 1) {
    check(written == commands[0], "a batch of one is not its command");
    return;
  }
  check(split_batch(written, again) && again == commands, "a rewritten batch splits differently");
}

void properties(std::string_view input) {
  using namespace warren::protocol;
  try {
    auto p = decode_properties(input);
    std::string raw = encode_properties(p);
    check(encode_properties(decode_properties(raw)) == raw, "properties re-encoding is not stable");
  } catch (const warren::ProtocolError& e) {
    check(static_cast<int>(e.code()) == 501, "decode_properties threw a code other than 501");
  }
}

void table(std::string_view input) {
  using namespace warren::protocol;
  try {
    auto t = decode_table(input);
    std::string raw = encode_table(t);
    check(encode_table(decode_table(raw)) == raw, "table re-encoding is not stable");
  } catch (const warren::ProtocolError& e) {
    check(static_cast<int>(e.code()) == 501, "decode_table threw a code other than 501");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  header_frame(input);
  batch(input);
  properties(input);
  table(input);
  return 0;
}
