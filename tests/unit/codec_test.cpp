// The codec of docs/protocol.md: every method and every property round-trips,
// hand-written frames decode to the documented structs, and every kind of
// malformed frame is refused with the documented ProtocolError code, never a
// crash. Frames are built by hand (support/msgpack_bytes.hpp), not with
// msgpack-c, so the codec is checked against the document, not against itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "support/msgpack_bytes.hpp"
#include "warren/protocol.hpp"

namespace warren {

// Readable failure messages for the codec's value types (found by ADL).
void PrintTo(const FieldValue& v, std::ostream* os);

void PrintTo(const FieldTable& t, std::ostream* os) {
  *os << "{";
  for (const auto& [key, value] : t) {
    *os << '"' << key << "\": ";
    PrintTo(value, os);
    *os << ", ";
  }
  *os << "}";
}

void PrintTo(const FieldValue& v, std::ostream* os) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>)
          *os << "nil";
        else if constexpr (std::is_same_v<T, bool>)
          *os << (x ? "true" : "false");
        else if constexpr (std::is_same_v<T, std::int64_t>)
          *os << x;
        else if constexpr (std::is_same_v<T, double>)
          *os << x << "d";
        else if constexpr (std::is_same_v<T, std::string>)
          *os << '"' << x << '"';
        else if constexpr (std::is_same_v<T, Bytes>)
          *os << "bin(" << x.data.size() << ")";
        else if constexpr (std::is_same_v<T, FieldArray>) {
          *os << "[";
          for (const auto& e : x) {
            PrintTo(e, os);
            *os << ", ";
          }
          *os << "]";
        } else {
          PrintTo(x, os);
        }
      },
      v.value);
}

void PrintTo(const Properties& p, std::ostream* os) {
  auto field = [&](const char* name, const auto& opt) {
    if (!opt) return;
    *os << name << "=";
    using T = std::decay_t<decltype(*opt)>;
    if constexpr (std::is_same_v<T, FieldTable>)
      PrintTo(*opt, os);
    else if constexpr (std::is_same_v<T, std::uint8_t>)
      *os << static_cast<int>(*opt);
    else
      *os << *opt;
    *os << " ";
  };
  *os << "Properties{";
  field("content_type", p.content_type);
  field("content_encoding", p.content_encoding);
  field("headers", p.headers);
  field("delivery_mode", p.delivery_mode);
  field("priority", p.priority);
  field("correlation_id", p.correlation_id);
  field("reply_to", p.reply_to);
  field("expiration", p.expiration);
  field("message_id", p.message_id);
  field("timestamp", p.timestamp);
  field("type", p.type);
  field("user_id", p.user_id);
  field("app_id", p.app_id);
  field("cluster_id", p.cluster_id);
  *os << "}";
}

}  // namespace warren

namespace warren::protocol {
namespace {

namespace mp = warren::testing::mp;

constexpr std::uint16_t kFrameError = 501;
constexpr std::uint16_t kNotImplemented = 540;

// ---- helpers ----------------------------------------------------------------

// Calls f(M{}) for every alternative M of Method.
template <class F>
void for_each_method(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::variant_alternative_t<I, Method>{}), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Method>>{});
}

// The reply code decode(frame) throws, or 0 if it returns.
std::uint16_t decode_code(std::string_view frame) {
  try {
    decode(frame);
    return 0;
  } catch (const ProtocolError& e) {
    return static_cast<std::uint16_t>(e.code());
  }
}

std::uint16_t decode_properties_code(std::string_view raw) {
  try {
    decode_properties(raw);
    return 0;
  } catch (const ProtocolError& e) {
    return static_cast<std::uint16_t>(e.code());
  }
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// A table with every field value type, at several msgpack widths, nested.
FieldTable rich_table() {
  return FieldTable{
      {"nil", nullptr},
      {"true", true},
      {"false", false},
      {"zero", 0},
      {"fixint", 127},
      {"u8", 255},
      {"u16", 65535},
      {"u32", 4294967295LL},
      {"int64_max", std::numeric_limits<std::int64_t>::max()},
      {"neg_fixint", -32},
      {"i8", -128},
      {"i16", -32768},
      {"i32", static_cast<long long>(std::numeric_limits<std::int32_t>::min())},
      {"int64_min", std::numeric_limits<std::int64_t>::min()},
      {"double", 3.25},
      {"negative_double", -1e300},
      {"infinity", std::numeric_limits<double>::infinity()},
      {"denormal", std::numeric_limits<double>::denorm_min()},
      {"str", "h\xc3\xa9llo \xe2\x9c\x93"},
      {"empty_str", ""},
      {"str8", std::string(200, 's')},
      {"str16", std::string(300, 's')},
      {"bytes", Bytes{std::string("\0\x01\xff\xc1", 4)}},
      {"empty_bytes", Bytes{}},
      {"bin16", Bytes{std::string(300, 'b')}},
      {"array", FieldArray{1, "two", 3.5, nullptr, false, Bytes{"b"},
                           FieldArray{FieldArray{true, -7}}, FieldTable{{"k", Bytes{"v"}}}}},
      {"empty_array", FieldArray{}},
      {"table", FieldTable{{"inner", FieldTable{{"deeper", FieldArray{-1, FieldTable{}}}}}}},
      {"empty_table", FieldTable{}},
      {"", "an empty key"},
  };
}

Properties all_properties() {
  Properties p;
  p.content_type = "application/json";
  p.content_encoding = "gzip";
  p.headers = rich_table();
  p.delivery_mode = kPersistent;
  p.priority = 9;
  p.correlation_id = "corr-1";
  p.reply_to = "amq.rabbitmq.reply-to";
  p.expiration = "60000";
  p.message_id = "msg-1";
  p.timestamp = 1700000000;
  p.type = "order.created";
  p.user_id = "guest";
  p.app_id = "codec_test";
  p.cluster_id = "cluster-1";
  return p;
}

// An encoder written by hand from the document, independent of the codec.
std::string hand_value(const FieldValue& v);

std::string hand_table(const FieldTable& t) {
  std::string out = mp::map(static_cast<std::uint32_t>(t.size()));
  for (const auto& [key, value] : t) out += mp::str(key) + hand_value(value);
  return out;
}

std::string hand_value(const FieldValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>)
          return mp::nil();
        else if constexpr (std::is_same_v<T, bool>)
          return mp::boolean(x);
        else if constexpr (std::is_same_v<T, std::int64_t>)
          return mp::sint(x);
        else if constexpr (std::is_same_v<T, double>)
          return mp::f64(x);
        else if constexpr (std::is_same_v<T, std::string>)
          return mp::str(x);
        else if constexpr (std::is_same_v<T, Bytes>)
          return mp::bin(x.data);
        else if constexpr (std::is_same_v<T, FieldArray>) {
          std::string out = mp::array(static_cast<std::uint32_t>(x.size()));
          for (const auto& e : x) out += hand_value(e);
          return out;
        } else {
          return hand_table(x);
        }
      },
      v.value);
}

std::string hand_properties(const Properties& p) {
  std::vector<std::string> entries;
  auto add = [&](int key, const auto& opt, auto&& write) {
    if (opt) entries.push_back(mp::uint(static_cast<std::uint64_t>(key)) + write(*opt));
  };
  auto s = [](const std::string& v) { return mp::str(v); };
  auto u = [](std::uint8_t v) { return mp::uint(v); };
  add(1, p.content_type, s);
  add(2, p.content_encoding, s);
  add(3, p.headers, [](const FieldTable& t) { return hand_table(t); });
  add(4, p.delivery_mode, u);
  add(5, p.priority, u);
  add(6, p.correlation_id, s);
  add(7, p.reply_to, s);
  add(8, p.expiration, s);
  add(9, p.message_id, s);
  add(10, p.timestamp, [](std::int64_t v) { return mp::sint(v); });
  add(11, p.type, s);
  add(12, p.user_id, s);
  add(13, p.app_id, s);
  add(14, p.cluster_id, s);
  std::string out = mp::map(static_cast<std::uint32_t>(entries.size()));
  for (const auto& e : entries) out += e;
  return out;
}

// Sets every field of a method: strings to text (or empty), bools to the
// opposite of their default, unsigned integers to `uint_value` clamped to the
// field's width, tables to rich_table() (or empty).
struct Filler {
  std::uint64_t uint_value = 0;
  bool rich = true;
  void operator()(const char* name, std::string& s) const {
    s = rich ? std::string(name) + " \xe2\x9c\x93" : std::string();
  }
  void operator()(const char*, bool& b) const { b = !b; }
  void operator()(const char*, FieldTable& t) const { t = rich ? rich_table() : FieldTable{}; }
  template <class T>
  requires std::is_unsigned_v<T>
  void operator()(const char*, T& v) const {
    v = static_cast<T>(std::min<std::uint64_t>(uint_value, std::numeric_limits<T>::max()));
  }
};

template <class M>
M filled(std::uint64_t uint_value, bool rich) {
  M m;
  M::fields(m, Filler{uint_value, rich});
  return m;
}

// One field of a method: its hand-written bytes, and values of wrong types
// (or out of range) for it.
struct FieldSpec {
  std::string name;
  std::string good;
  std::vector<std::string> bad;
};

struct FieldSpecs {
  std::vector<FieldSpec> specs;
  void operator()(const char* name, const std::string& s) {
    specs.push_back({name,
                     mp::str(s),
                     {mp::boolean(true), mp::uint(1), mp::nil(), mp::bin(s), mp::array(0),
                      mp::empty_map(), mp::f64(1)}});
  }
  void operator()(const char* name, bool b) {
    specs.push_back({name,
                     mp::boolean(b),
                     {mp::str("true"), mp::uint(1), mp::uint(0), mp::nil(), mp::array(0)}});
  }
  void operator()(const char* name, const FieldTable& t) {
    specs.push_back({name,
                     hand_table(t),
                     {mp::array(0), mp::str("{}"), mp::nil(), mp::uint(0), mp::boolean(false),
                      mp::map(1) + mp::uint(1) + mp::nil(),             // key not a str
                      mp::map(1) + mp::str("k") + mp::fixext1(1, 'x'),  // ext value
                      mp::map(1) + mp::str("k") + mp::uint64(0x8000000000000000ull)}});
  }
  template <class T>
  requires std::is_unsigned_v<T>
  void operator()(const char* name, T v) {
    FieldSpec spec{name,
                   mp::uint(v),
                   {mp::str("1"), mp::sint(-1), mp::int64(-1), mp::boolean(true), mp::nil(),
                    mp::f64(1.0), mp::array(0)}};
    if constexpr (sizeof(T) < 8) {
      spec.bad.push_back(mp::uint(std::uint64_t{std::numeric_limits<T>::max()} + 1));
      spec.bad.push_back(mp::uint64(std::numeric_limits<std::uint64_t>::max()));
    }
    specs.push_back(std::move(spec));
  }
};

template <class M>
std::vector<FieldSpec> field_specs(M m) {
  FieldSpecs collect;
  M::fields(m, collect);
  return collect.specs;
}

// A header frame from hand-written field bytes. Content methods get
// `properties` (an empty map unless given).
template <class M>
std::string hand_frame(std::uint16_t channel, const std::vector<std::string>& fields,
                       std::string properties = mp::empty_map()) {
  std::string out = mp::head(static_cast<std::uint8_t>(M::kOpcode), channel) +
                    mp::array(static_cast<std::uint32_t>(fields.size()));
  for (const auto& f : fields) out += f;
  if constexpr (M::kHasContent) out += properties;
  return out;
}

template <class M>
std::vector<std::string> good_fields(const M& m) {
  std::vector<std::string> out;
  for (auto& spec : field_specs(m)) out.push_back(spec.good);
  return out;
}

// A value nesting `depth` containers (arrays, with a table in the middle).
std::string nested(int depth) {
  std::string out;
  for (int i = 1; i < depth; ++i)
    out += (i == depth / 2) ? mp::map(1) + mp::str("k") : mp::array(1);
  return out + mp::array(0);
}

// A small table of every field value type, for seeds that must stay short.
FieldTable small_table() {
  return FieldTable{{"i", -5},
                    {"s", "x"},
                    {"b", Bytes{std::string(1, '\0')}},
                    {"d", 1.5},
                    {"a", FieldArray{1, nullptr, FieldArray{true}}},
                    {"t", FieldTable{{"u", 300}}}};
}

// Valid frames of every method. `compact` keeps them short (for fuzzing);
// otherwise tables and headers are rich_table().
std::vector<std::string> sample_frames(bool compact = false) {
  std::vector<std::string> frames;
  Properties p = all_properties();
  if (compact) p.headers = small_table();
  const std::string props = encode_properties(p);
  for (std::uint64_t u : {std::uint64_t{0}, std::uint64_t{300}, ~std::uint64_t{0}}) {
    for_each_method([&](auto m) {
      using M = decltype(m);
      M filled_method = filled<M>(u, u != 0);
      if (compact)
        M::fields(filled_method, [](const char*, auto& field) {
          if constexpr (std::is_same_v<std::decay_t<decltype(field)>, FieldTable>) {
            if (!field.empty()) field = small_table();
          }
        });
      frames.push_back(encode(7, filled_method));
      if constexpr (M::kHasContent) frames.push_back(encode(65535, filled_method, props));
    });
  }
  return frames;
}

// ---- the opcode table -----------------------------------------------------------

// One row of a method table in docs/protocol.md.
struct DocumentedMethod {
  std::string name;
  std::string direction;            // C→B, B→C or both
  std::vector<std::string> fields;  // "name:type"
  bool content = false;
};

std::string trim(std::string_view s) {
  auto first = s.find_first_not_of(' ');
  if (first == std::string_view::npos) return {};
  return std::string(s.substr(first, s.find_last_not_of(' ') - first + 1));
}

// Every "| 0x.. | name | direction | fields | content |" row of the document.
std::map<int, DocumentedMethod> documented_methods() {
  std::ifstream doc(std::string(SOURCE_DIR) + "/docs/protocol.md");
  std::map<int, DocumentedMethod> methods;
  std::string line;
  while (std::getline(doc, line)) {
    if (line.rfind("| 0x", 0) != 0) continue;
    std::vector<std::string> cells;
    std::size_t at = 1;
    for (std::size_t bar; (bar = line.find('|', at)) != std::string::npos; at = bar + 1)
      cells.push_back(trim(std::string_view(line).substr(at, bar - at)));
    if (cells.size() < 4) continue;
    DocumentedMethod m{cells[1], cells[2], {}, cells.size() > 4 && cells[4] == "yes"};
    std::string_view fields = cells[3];
    while (!fields.empty()) {
      auto comma = fields.find(',');
      std::string field = trim(fields.substr(0, comma));
      if (!field.empty()) m.fields.push_back(field);
      fields = comma == std::string_view::npos ? std::string_view() : fields.substr(comma + 1);
    }
    methods[std::stoi(cells[0], nullptr, 16)] = std::move(m);
  }
  return methods;
}

// "name:type" for each field of M, with the document's type names.
struct FieldTypes {
  std::vector<std::string> fields;
  void operator()(const char* name, const std::string&) {
    fields.push_back(std::string(name) + ":str");
  }
  void operator()(const char* name, bool) { fields.push_back(std::string(name) + ":bool"); }
  void operator()(const char* name, const FieldTable&) {
    fields.push_back(std::string(name) + ":table");
  }
  template <class T>
  requires std::is_unsigned_v<T>
  void operator()(const char* name, T) {
    fields.push_back(std::string(name) + ":uint" + std::to_string(8 * sizeof(T)));
  }
};

TEST(CodecTest, MethodTableMatchesTheDocument) {
  const auto documented = documented_methods();
  ASSERT_GE(documented.size(), 31u) << "cannot read the method tables of docs/protocol.md";
  std::set<int> in_codec;
  for_each_method([&](auto m) {
    using M = decltype(m);
    const int op = static_cast<int>(M::kOpcode);
    in_codec.insert(op);
    auto row = documented.find(op);
    if (row == documented.end()) {
      ADD_FAILURE() << M::kName << " (opcode " << op << ") is not in docs/protocol.md";
      return;
    }
    const DocumentedMethod& doc = row->second;
    EXPECT_EQ(M::kName, doc.name) << "opcode " << op;
    const char* direction = M::kDirection == Direction::kToBroker   ? "C→B"
                            : M::kDirection == Direction::kToClient ? "B→C"
                                                                    : "both";
    EXPECT_EQ(direction, doc.direction) << doc.name;
    EXPECT_EQ(M::kHasContent, doc.content) << doc.name;
    FieldTypes types;
    M::fields(m, types);
    EXPECT_EQ(types.fields, doc.fields) << doc.name;
    EXPECT_EQ(opcode_of(Method{m}), M::kOpcode);
    EXPECT_EQ(name_of(M::kOpcode), doc.name);
    EXPECT_EQ(has_content(M::kOpcode), doc.content) << doc.name;
  });
  for (const auto& [op, doc] : documented)
    EXPECT_TRUE(in_codec.contains(op))
        << doc.name << " (opcode " << op << ") is documented but not in Method";
  EXPECT_EQ(name_of(static_cast<Opcode>(0x00)), "unknown");
}

// ---- round trips ------------------------------------------------------------------

TEST(CodecTest, EveryMethodRoundTripsOnEveryChannelWidth) {
  const std::string props = encode_properties(all_properties());
  for (std::uint64_t u :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{127}, std::uint64_t{128},
        std::uint64_t{255}, std::uint64_t{256}, std::uint64_t{65535}, std::uint64_t{65536},
        std::uint64_t{0xffffffff}, std::uint64_t{1} << 32, ~std::uint64_t{0}}) {
    for (std::uint16_t channel : {0, 1, 127, 128, 255, 256, 65535}) {
      for_each_method([&](auto m) {
        using M = decltype(m);
        SCOPED_TRACE(std::string(M::kName) + " uint=" + std::to_string(u) +
                     " channel=" + std::to_string(channel));
        const M sent = filled<M>(u, u % 2 == 1);
        const std::string frame = encode(channel, sent, M::kHasContent ? props : "");
        Command got = decode(frame);
        EXPECT_EQ(got.channel, channel);
        ASSERT_TRUE(std::holds_alternative<M>(got.method));
        EXPECT_EQ(std::get<M>(got.method), sent);
        if constexpr (M::kHasContent) {
          EXPECT_EQ(got.properties, props);  // the bytes, verbatim
          EXPECT_EQ(decode_properties(got.properties), all_properties());
        } else {
          EXPECT_TRUE(got.properties.empty());
        }
        std::string appended = "prefix";
        encode_to(appended, channel, sent, M::kHasContent ? props : "");
        EXPECT_EQ(appended, "prefix" + frame);
      });
    }
  }
}

TEST(CodecTest, HandWrittenFramesOfEveryMethodDecode) {
  // Written from the document with the shortest and the widest integer
  // encodings: a decoder must accept any width.
  for (bool wide : {false, true}) {
    for_each_method([&](auto m) {
      using M = decltype(m);
      SCOPED_TRACE(std::string(M::kName) + (wide ? " wide" : " short"));
      const M want = filled<M>(wide ? 65535 : 3, true);
      std::string frame = hand_frame<M>(300, good_fields(want), hand_properties(all_properties()));
      if (wide) {
        frame = mp::uint64(1) + mp::uint64(static_cast<std::uint8_t>(M::kOpcode)) +
                mp::uint64(300) +
                frame.substr(mp::head(static_cast<std::uint8_t>(M::kOpcode), 300).size());
      }
      Command got = decode(frame);
      EXPECT_EQ(got.channel, 300);
      ASSERT_TRUE(std::holds_alternative<M>(got.method));
      EXPECT_EQ(std::get<M>(got.method), want);
      if constexpr (M::kHasContent) {
        EXPECT_EQ(decode_properties(got.properties), all_properties());
      }
    });
  }
}

TEST(CodecTest, EncodesTheDocumentedLayout) {
  // Values concatenated, not wrapped in an array: version, opcode, channel,
  // fields; properties last for content methods.
  EXPECT_EQ(hex(encode(3, ChannelClose{404, "NOT_FOUND"})),
            hex(mp::head(0x22, 3) + mp::array(2) + mp::uint(404) + mp::str("NOT_FOUND")));
  EXPECT_EQ(hex(encode(0, Heartbeat{})), hex(mp::head(0x14, 0) + mp::array(0)));
  EXPECT_EQ(hex(encode(1, BasicPublish{"", "q", true})),
            hex(mp::head(0x56, 1) + mp::array(3) + mp::str("") + mp::str("q") + mp::boolean(true) +
                mp::empty_map()));
}

TEST(CodecTest, FieldIntegersOfAnyEncodingDecode) {
  // Non-negative values written as signed msgpack integers are still
  // unsigned integers; floats are not.
  auto qos = [](const std::string& prefetch) {
    return mp::head(0x50, 1) + mp::array(2) + prefetch + mp::boolean(true);
  };
  for (const std::string& five :
       {mp::uint(5), mp::uint64(5), mp::int64(5), mp::tagged(0xd0, 5, 1), mp::tagged(0xcd, 5, 2)}) {
    SCOPED_TRACE(hex(five));
    Command got = decode(qos(five));
    EXPECT_EQ(std::get<BasicQos>(got.method), (BasicQos{5, true}));
  }
  EXPECT_EQ(decode_code(qos(mp::f32(5))), kFrameError);
}

// ---- properties ---------------------------------------------------------------------

TEST(CodecTest, EachPropertyAloneRoundTrips) {
  const Properties all = all_properties();
  const std::vector<std::pair<int, std::function<void(Properties&)>>> each = {
      {1, [&](Properties& p) { p.content_type = all.content_type; }},
      {2, [&](Properties& p) { p.content_encoding = all.content_encoding; }},
      {3, [&](Properties& p) { p.headers = all.headers; }},
      {4, [&](Properties& p) { p.delivery_mode = all.delivery_mode; }},
      {5, [&](Properties& p) { p.priority = all.priority; }},
      {6, [&](Properties& p) { p.correlation_id = all.correlation_id; }},
      {7, [&](Properties& p) { p.reply_to = all.reply_to; }},
      {8, [&](Properties& p) { p.expiration = all.expiration; }},
      {9, [&](Properties& p) { p.message_id = all.message_id; }},
      {10, [&](Properties& p) { p.timestamp = all.timestamp; }},
      {11, [&](Properties& p) { p.type = all.type; }},
      {12, [&](Properties& p) { p.user_id = all.user_id; }},
      {13, [&](Properties& p) { p.app_id = all.app_id; }},
      {14, [&](Properties& p) { p.cluster_id = all.cluster_id; }},
  };
  for (const auto& [key, set] : each) {
    SCOPED_TRACE("property key " + std::to_string(key));
    Properties p;
    set(p);
    ASSERT_NE(p, Properties{});
    const std::string raw = encode_properties(p);
    EXPECT_EQ(decode_properties(raw), p);
    // The key is the one the document gives the property.
    EXPECT_EQ(decode_properties(hand_properties(p)), p);
    ASSERT_GE(raw.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(raw[0]), 0x81);  // a map of one entry
    EXPECT_EQ(static_cast<unsigned char>(raw[1]), key);
    // And it travels inside a content method, verbatim.
    const std::string frame = encode(9, BasicPublish{"x", "y", false}, raw);
    Command got = decode(frame);  // got.properties points into frame
    EXPECT_EQ(got.properties, raw);
    EXPECT_EQ(decode_properties(got.properties), p);
  }
}

TEST(CodecTest, AllPropertiesTogetherRoundTrip) {
  const Properties p = all_properties();
  EXPECT_EQ(decode_properties(encode_properties(p)), p);
  EXPECT_EQ(decode_properties(hand_properties(p)), p);
  EXPECT_EQ(decode_properties(encode_properties(Properties{})), Properties{});
  EXPECT_EQ(decode_properties(mp::empty_map()), Properties{});
  EXPECT_EQ(decode_properties(""), Properties{});  // no properties at all
  for (const std::string& raw : {encode_properties(p), hand_properties(p)}) {
    const std::string frame = encode(1, BasicDeliver{"ctag", 1, false, "", "q"}, raw);
    Command got = decode(frame);
    EXPECT_EQ(got.properties, raw);
    EXPECT_EQ(decode_properties(got.properties), p);
  }
  // A content method encoded without properties carries an empty map.
  const std::string frame = encode(1, BasicGetOk{1, false, "", "q", 0});
  Command got = decode(frame);
  EXPECT_EQ(got.properties, mp::empty_map());
}

TEST(CodecTest, PropertyValuesAtTheirLimits) {
  Properties p;
  p.delivery_mode = 255;
  p.priority = 0;
  p.timestamp = std::numeric_limits<std::int64_t>::min();
  p.content_type = "";
  EXPECT_EQ(decode_properties(encode_properties(p)), p);
  p.timestamp = std::numeric_limits<std::int64_t>::max();
  p.headers = FieldTable{};
  EXPECT_EQ(decode_properties(encode_properties(p)), p);
  p.timestamp = -1;
  EXPECT_EQ(decode_properties(encode_properties(p)), p);
  // A timestamp written with a wide encoding is still an integer.
  EXPECT_EQ(decode_properties(mp::map(1) + mp::uint(10) + mp::uint64(5)).timestamp, 5);
  EXPECT_EQ(decode_properties(mp::map(1) + mp::uint(10) + mp::int64(-5)).timestamp, -5);
}

TEST(CodecTest, HeaderValuesOfEveryType) {
  Properties p;
  p.headers = rich_table();
  Properties got = decode_properties(encode_properties(p));
  ASSERT_TRUE(got.headers);
  const FieldTable& h = *got.headers;
  EXPECT_EQ(h, *p.headers);
  EXPECT_TRUE(h.at("nil").is<std::nullptr_t>());
  EXPECT_EQ(h.at("true").as<bool>(), true);
  EXPECT_EQ(h.at("int64_min").as<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(h.at("int64_max").as<std::int64_t>(), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(h.at("neg_fixint").as<std::int64_t>(), -32);
  EXPECT_EQ(h.at("negative_double").as<double>(), -1e300);
  EXPECT_TRUE(std::isinf(h.at("infinity").as<double>()));
  EXPECT_EQ(h.at("bytes").as<Bytes>().data, std::string("\0\x01\xff\xc1", 4));
  EXPECT_EQ(h.at("bin16").as<Bytes>().data.size(), 300u);
  EXPECT_EQ(h.at("array").as<FieldArray>().at(6).as<FieldArray>().at(0).as<FieldArray>().at(1),
            FieldValue(-7));
  EXPECT_TRUE(h.at("table").as<FieldTable>().at("inner").is<FieldTable>());
  // str and bin stay distinct; integers are int64 whatever their width;
  // float32 decodes as double.
  const std::string raw = mp::map(1) + mp::uint(3) + mp::map(7) + mp::str("a") + mp::str("x") +
                          mp::str("b") + mp::bin("x") + mp::str("c") + mp::tagged(0xd0, 5, 1) +
                          mp::str("d") + mp::uint64(5) + mp::str("e") + mp::f32(1.5f) +
                          mp::str("f") + mp::int64(-1) + mp::str("g") + mp::tagged(0xd1, 0xff85, 2);
  Properties hand = decode_properties(raw);
  ASSERT_TRUE(hand.headers);
  EXPECT_EQ(hand.headers->at("a"), FieldValue("x"));
  EXPECT_EQ(hand.headers->at("b"), FieldValue(Bytes{"x"}));
  EXPECT_EQ(hand.headers->at("c"), FieldValue(5));
  EXPECT_EQ(hand.headers->at("d"), FieldValue(5));
  EXPECT_EQ(hand.headers->at("e"), FieldValue(1.5));
  EXPECT_EQ(hand.headers->at("f"), FieldValue(-1));
  EXPECT_EQ(hand.headers->at("g"), FieldValue(-123));
}

TEST(CodecTest, IntegralDoublesStayDoubles) {
  // A float is a float even when its value is integral: 3.0 must not come
  // back as the integer 3, -0.0 must keep its sign, and 1e19 (above INT64_MAX)
  // must not become an integer the decoder then refuses.
  for (double d :
       {0.0, -0.0, 1.0, 3.0, -2.0, 1e15, 1e19, -9.2233720368547758e18, 18446744073709551616.0}) {
    SCOPED_TRACE(d);
    Properties p;
    p.headers = FieldTable{{"d", d}, {"a", FieldArray{d}}};
    const std::string raw = encode_properties(p);
    Properties got;
    try {
      got = decode_properties(raw);
    } catch (const ProtocolError& e) {
      ADD_FAILURE() << "encode_properties wrote what decode_properties refuses: " << e.what() << " "
                    << hex(raw);
      continue;
    }
    const FieldValue& v = got.headers->at("d");
    if (!v.is<double>()) {
      ADD_FAILURE() << "came back as another type: " << ::testing::PrintToString(v) << " "
                    << hex(raw);
      continue;
    }
    EXPECT_EQ(v.as<double>(), d);
    EXPECT_EQ(std::signbit(v.as<double>()), std::signbit(d));
    EXPECT_EQ(got, p);
    QueueDeclare declare{"q", false, false, false, false, *p.headers};
    EXPECT_EQ(decode_code(encode(1, declare)), 0);
  }
}

// ---- malformed frames ----------------------------------------------------------------

TEST(CodecTest, EmptyFrameIsAFrameError) {
  EXPECT_EQ(decode_code(""), kFrameError);
  EXPECT_EQ(decode_code(mp::uint(1)), kFrameError);  // a version and nothing else
}

TEST(CodecTest, EveryTruncationIsAFrameError) {
  for (const std::string& frame : sample_frames()) {
    ASSERT_EQ(decode_code(frame), 0) << hex(frame);
    for (std::size_t n = 0; n < frame.size(); ++n)
      ASSERT_EQ(decode_code(frame.substr(0, n)), kFrameError)
          << "prefix " << n << " of " << hex(frame);
  }
  const std::string raw = encode_properties(all_properties());
  for (std::size_t n = 1; n < raw.size(); ++n)
    ASSERT_EQ(decode_properties_code(raw.substr(0, n)), kFrameError) << "prefix " << n;
}

TEST(CodecTest, UnsupportedVersionIsNotImplemented) {
  const std::string rest = encode(0, Heartbeat{}).substr(1);
  for (std::uint64_t version : {std::uint64_t{0}, std::uint64_t{2}, std::uint64_t{127},
                                std::uint64_t{255}, std::uint64_t{70000}, ~std::uint64_t{0}}) {
    EXPECT_EQ(decode_code(mp::uint(version) + rest), kNotImplemented) << version;
    EXPECT_EQ(decode_code(mp::uint(version)), kNotImplemented) << version << " alone";
  }
  EXPECT_EQ(decode_code(mp::uint64(1) + rest), 0);  // version 1, wide encoding
  // A version that is not an unsigned integer is a malformed header.
  EXPECT_EQ(decode_code(mp::str("1") + rest), kFrameError);
  EXPECT_EQ(decode_code(mp::sint(-1) + rest), kFrameError);
  EXPECT_EQ(decode_code(mp::nil() + rest), kFrameError);
}

TEST(CodecTest, UnknownOpcodeIsNotImplemented) {
  std::vector<bool> known(256, false);
  for_each_method([&](auto m) { known[static_cast<std::uint8_t>(decltype(m)::kOpcode)] = true; });
  for (std::uint64_t op = 0; op < 256; ++op) {
    if (known[op]) continue;
    EXPECT_EQ(decode_code(mp::head(op, 0) + mp::array(0)), kNotImplemented) << "opcode " << op;
    EXPECT_EQ(decode_code(mp::head(op, 0)), kNotImplemented) << "opcode " << op << " alone";
  }
  // "opcode: unsigned integer, from the table": any other unsigned integer
  // is an unknown opcode, however wide.
  for (std::uint64_t op :
       {std::uint64_t{256}, std::uint64_t{0x110}, std::uint64_t{65535}, ~std::uint64_t{0}})
    EXPECT_EQ(decode_code(mp::head(op, 0) + mp::array(0)), kNotImplemented) << "opcode " << op;
  // An opcode that is not an unsigned integer is a malformed header.
  EXPECT_EQ(decode_code(mp::uint(1) + mp::str("heartbeat") + mp::uint(0) + mp::array(0)),
            kFrameError);
  EXPECT_EQ(decode_code(mp::uint(1) + mp::sint(-20) + mp::uint(0) + mp::array(0)), kFrameError);
}

TEST(CodecTest, BadChannelIsAFrameError) {
  for (const std::string& channel :
       {mp::uint(65536), mp::uint(70000), mp::uint64(~std::uint64_t{0}), mp::sint(-1), mp::str("1"),
        mp::nil(), mp::f64(1)}) {
    EXPECT_EQ(decode_code(mp::uint(1) + mp::uint(0x14) + channel + mp::array(0)), kFrameError)
        << hex(channel);
  }
  EXPECT_EQ(decode_code(mp::uint(1) + mp::uint(0x14) + mp::uint64(65535) + mp::array(0)), 0);
}

TEST(CodecTest, WrongFieldCountIsAFrameError) {
  for_each_method([&](auto m) {
    using M = decltype(m);
    SCOPED_TRACE(M::kName);
    auto fields = good_fields(filled<M>(1, true));
    ASSERT_EQ(decode_code(hand_frame<M>(1, fields)), 0);
    auto more = fields;
    more.push_back(mp::nil());
    EXPECT_EQ(decode_code(hand_frame<M>(1, more)), kFrameError);
    if (!fields.empty()) {
      auto fewer = fields;
      fewer.pop_back();
      EXPECT_EQ(decode_code(hand_frame<M>(1, fewer)), kFrameError);
      EXPECT_EQ(decode_code(hand_frame<M>(1, {})), kFrameError);
    }
    // Fields must be an array.
    std::string as_map = mp::head(static_cast<std::uint8_t>(M::kOpcode), 1) + mp::empty_map();
    if constexpr (M::kHasContent) as_map += mp::empty_map();
    EXPECT_EQ(decode_code(as_map), kFrameError);
    EXPECT_EQ(decode_code(mp::head(static_cast<std::uint8_t>(M::kOpcode), 1)), kFrameError);
  });
}

TEST(CodecTest, WrongFieldTypesAreFrameErrors) {
  int cases = 0;
  for_each_method([&](auto m) {
    using M = decltype(m);
    const auto specs = field_specs(filled<M>(1, true));
    for (std::size_t i = 0; i < specs.size(); ++i) {
      for (const std::string& bad : specs[i].bad) {
        std::vector<std::string> fields;
        for (const auto& s : specs) fields.push_back(s.good);
        fields[i] = bad;
        EXPECT_EQ(decode_code(hand_frame<M>(1, fields)), kFrameError)
            << M::kName << "." << specs[i].name << " = " << hex(bad);
        ++cases;
      }
    }
  });
  EXPECT_GT(cases, 300);
  // The examples the document's error table names.
  EXPECT_EQ(decode_code(hand_frame<ConnectionClose>(0, {mp::uint(70000), mp::str("x")})),
            kFrameError);
  EXPECT_EQ(decode_code(hand_frame<ChannelClose>(1, {mp::uint(70000), mp::str("x")})), kFrameError);
  EXPECT_EQ(decode_code(hand_frame<BasicQos>(1, {mp::sint(-1), mp::boolean(false)})), kFrameError);
  EXPECT_EQ(decode_code(hand_frame<BasicGet>(1, {mp::str("q"), mp::str("true")})), kFrameError);
}

TEST(CodecTest, TrailingBytesAreAFrameErrorOrAContentMethodsInlineBody) {
  for (const std::string& frame : sample_frames()) {
    bool content = has_content(opcode_of(decode(frame).method));
    for (const std::string& tail : {mp::nil(), frame, std::string(1, '\0')}) {
      if (!content) {
        EXPECT_EQ(decode_code(frame + tail), kFrameError) << hex(frame);
        continue;
      }
      const std::string whole = frame + tail;
      auto cmd = decode(whole);
      EXPECT_EQ(cmd.inline_body, tail) << hex(frame);
      EXPECT_EQ(cmd.properties, decode(frame).properties) << hex(frame);
      EXPECT_NO_THROW(check_frames(cmd, 1));
      EXPECT_THROW(check_frames(cmd, 2), ProtocolError) << "a body frame and an inline body";
    }
  }
  const std::string raw = encode_properties(all_properties());
  EXPECT_EQ(decode_properties_code(raw + mp::nil()), kFrameError);
  EXPECT_EQ(decode_properties_code(mp::empty_map() + mp::empty_map()), kFrameError);
}

TEST(CodecTest, InlineBodyRoundTripsAndFrameCountsAreChecked) {
  Properties p;
  p.content_type = "text/plain";
  const std::string raw = encode_properties(p);
  for (const std::string& body : {std::string(), std::string("hello"), std::string(5000, '\xff')}) {
    std::string frame;
    encode_to(frame, 7, BasicPublish{"x", "rk", true}, raw, body);
    auto cmd = decode(frame);
    EXPECT_EQ(cmd.channel, 7);
    EXPECT_EQ(cmd.properties, raw);
    EXPECT_EQ(cmd.inline_body, body);
    EXPECT_EQ(std::get<BasicPublish>(cmd.method).routing_key, "rk");
    EXPECT_NO_THROW(check_frames(cmd, 1));
    if (body.empty()) EXPECT_NO_THROW(check_frames(cmd, 2));  // the body as a frame of its own
    else EXPECT_THROW(check_frames(cmd, 2), ProtocolError);
    EXPECT_THROW(check_frames(cmd, 3), ProtocolError);
  }
  auto frame_code = [](const Command& cmd, std::size_t frames) -> int {
    try {
      check_frames(cmd, frames);
      return 0;
    } catch (const ProtocolError& e) {
      return static_cast<int>(e.code());
    }
  };
  const std::string declare = encode(1, QueueDeclare{"q", false, false, false, false, {}});
  auto cmd = decode(declare);
  EXPECT_EQ(frame_code(cmd, 1), 0);
  EXPECT_EQ(frame_code(cmd, 2), kFrameError);  // a body on a method without content
  EXPECT_EQ(frame_code(cmd, 3), kFrameError);
}

TEST(CodecTest, EncodeToSendInlinesBodiesUpToTheLimit) {
  for (std::size_t size : {std::size_t{0}, std::size_t{100}, kInlineBodyMax, kInlineBodyMax + 1}) {
    const std::string body(size, 'b');
    std::string frame;
    bool inlined = encode_to_send(frame, 1, BasicPublish{"", "q", false}, "", body);
    EXPECT_EQ(inlined, size <= kInlineBodyMax) << size;
    EXPECT_EQ(decode(frame).inline_body, inlined ? body : "") << size;
    std::string viewed;
    EXPECT_EQ(encode_to_send(viewed, 1, BasicDeliverView{"t", 1, false, "", "q"}, "", body), inlined);
    EXPECT_EQ(decode(viewed).inline_body, inlined ? body : "") << size;
  }
  std::string frame;  // a method without content: nothing left to send
  EXPECT_TRUE(encode_to_send(frame, 1, QueueDeclare{"q", false, false, false, false, {}}, "", ""));
  EXPECT_EQ(frame, encode(1, QueueDeclare{"q", false, false, false, false, {}}));
}

TEST(CodecTest, DeliverViewEncodesAsBasicDeliver) {
  const std::string raw = encode_properties(all_properties());
  const std::string tag(40, 't');
  for (std::uint64_t delivery_tag : {std::uint64_t{1}, std::uint64_t{300}, ~std::uint64_t{0}}) {
    for (bool redelivered : {false, true}) {
      BasicDeliver owned{tag, delivery_tag, redelivered, "amq.topic", "a.b.c"};
      BasicDeliverView viewed{tag, delivery_tag, redelivered, "amq.topic", "a.b.c"};
      std::string a, b;
      encode_to(a, 9, Method(owned), raw, "body");
      encode_to(b, 9, viewed, raw, "body");
      EXPECT_EQ(a, b);
      EXPECT_EQ(std::get<BasicDeliver>(decode(b).method), owned);
    }
  }
}

TEST(CodecTest, MissingOrMalformedPropertiesAreFrameErrors) {
  const std::string publish =
      hand_frame<BasicPublish>(1, {mp::str(""), mp::str("q"), mp::boolean(false)}, "");
  EXPECT_EQ(decode_code(publish), kFrameError);  // no properties value
  for (const std::string& props : {mp::nil(), mp::array(0), mp::str(""), mp::uint(0), mp::bin("")})
    EXPECT_EQ(decode_code(publish + props), kFrameError) << hex(props);
  EXPECT_EQ(decode_code(publish + mp::empty_map()), 0);
}

TEST(CodecTest, BadPropertiesAreFrameErrors) {
  auto one = [](const std::string& key, const std::string& value) {
    return mp::map(1) + key + value;
  };
  std::vector<std::string> bad = {
      // Unknown keys, and keys that are not small unsigned integers.
      one(mp::uint(0), mp::str("x")),
      one(mp::uint(15), mp::str("x")),
      one(mp::uint(99), mp::str("x")),
      one(mp::uint(255), mp::str("x")),
      one(mp::uint(70000), mp::str("x")),
      one(mp::uint64(~std::uint64_t{0}), mp::str("x")),
      one(mp::str("content_type"), mp::str("x")),
      one(mp::sint(-1), mp::str("x")),
      one(mp::nil(), mp::str("x")),
      // Headers that are not a table, or hold what a field value cannot be.
      one(mp::uint(3), mp::array(0)),
      one(mp::uint(3), mp::str("h")),
      one(mp::uint(3), mp::nil()),
      one(mp::uint(3), mp::map(1) + mp::uint(1) + mp::str("v")),
      one(mp::uint(3), mp::map(1) + mp::str("k") + mp::fixext1(5, 'z')),
      one(mp::uint(3), mp::map(1) + mp::str("n") + mp::uint64(0x8000000000000000ull)),
      one(mp::uint(3), mp::map(1) + mp::str("n") + mp::uint64(~std::uint64_t{0})),
      one(mp::uint(3), mp::map(1) + mp::str("a") + mp::array(2) + mp::sint(1) +
                           mp::uint64(0x8000000000000000ull)),
      one(mp::uint(3), mp::map(1) + mp::str("t") + mp::map(1) + mp::str("u") +
                           mp::uint64(0x8000000000000000ull)),
      // uint8 properties out of range or of another type.
      one(mp::uint(4), mp::uint(256)),
      one(mp::uint(4), mp::sint(-1)),
      one(mp::uint(4), mp::str("2")),
      one(mp::uint(4), mp::boolean(true)),
      one(mp::uint(4), mp::f64(2)),
      one(mp::uint(4), mp::nil()),
      one(mp::uint(5), mp::uint(70000)),
      one(mp::uint(5), mp::sint(-100)),
      // timestamp: an integer within int64.
      one(mp::uint(10), mp::str("2024-01-01")),
      one(mp::uint(10), mp::f64(1.5)),
      one(mp::uint(10), mp::boolean(false)),
      one(mp::uint(10), mp::nil()),
      one(mp::uint(10), mp::uint64(0x8000000000000000ull)),
      one(mp::uint(10), mp::array(0)),
  };
  // Every str property refuses every other type.
  for (int key : {1, 2, 6, 7, 8, 9, 11, 12, 13, 14})
    for (const std::string& v : {mp::uint(1), mp::boolean(true), mp::nil(), mp::bin("b"),
                                 mp::array(0), mp::empty_map(), mp::f64(0), mp::sint(-3)})
      bad.push_back(one(mp::uint(static_cast<std::uint64_t>(key)), v));
  // A bad entry after good ones still fails the whole map.
  bad.push_back(mp::map(2) + mp::uint(1) + mp::str("text/plain") + mp::uint(42) + mp::str("x"));
  for (const std::string& raw : bad) {
    EXPECT_EQ(decode_properties_code(raw), kFrameError) << hex(raw);
    // decode() validates the properties of a content method too.
    EXPECT_EQ(decode_code(hand_frame<BasicPublish>(
                  1, {mp::str(""), mp::str("q"), mp::boolean(false)}, raw)),
              kFrameError)
        << hex(raw);
    EXPECT_EQ(decode_code(hand_frame<BasicDeliver>(
                  1, good_fields(BasicDeliver{"t", 1, false, "", "q"}), raw)),
              kFrameError)
        << hex(raw);
  }
  // The boundaries that are fine.
  EXPECT_EQ(decode_properties_code(one(mp::uint(4), mp::uint(255))), 0);
  EXPECT_EQ(decode_properties_code(
                one(mp::uint(3), mp::map(1) + mp::str("n") + mp::uint64(0x7fffffffffffffffull))),
            0);
}

TEST(CodecTest, IntegerAboveInt64InATableIsAFrameError) {
  const std::string big = mp::uint64(0x8000000000000000ull);
  auto declare = [](const std::string& arguments) {
    return hand_frame<QueueDeclare>(1, {mp::str("q"), mp::boolean(false), mp::boolean(false),
                                        mp::boolean(false), mp::boolean(false), arguments});
  };
  EXPECT_EQ(decode_code(declare(mp::map(1) + mp::str("x-n") + big)), kFrameError);
  EXPECT_EQ(decode_code(declare(mp::map(1) + mp::str("x-n") + mp::array(1) + big)), kFrameError);
  EXPECT_EQ(decode_code(declare(mp::map(1) + mp::str("x-n") + mp::uint64(0x7fffffffffffffffull))),
            0);
}

TEST(CodecTest, NestingDeeperThanSixteenIsAFrameError) {
  // Depth counts containers from the outermost value of the header (the
  // fields array, or the properties map) down: at most 16.
  auto declare = [](int depth_in_arguments) {
    // fields array (1) + arguments table (2) + the nested value.
    return hand_frame<QueueDeclare>(
        1, {mp::str("q"), mp::boolean(false), mp::boolean(false), mp::boolean(false),
            mp::boolean(false), mp::map(1) + mp::str("x") + nested(depth_in_arguments)});
  };
  EXPECT_EQ(decode_code(declare(14)), 0);  // 16 in all
  EXPECT_EQ(decode_code(declare(15)), kFrameError);
  EXPECT_EQ(decode_code(declare(40)), kFrameError);
  auto headers = [](int depth_in_headers) {
    // properties map (1) + headers table (2) + the nested value.
    return mp::map(1) + mp::uint(3) + mp::map(1) + mp::str("x") + nested(depth_in_headers);
  };
  EXPECT_EQ(decode_properties_code(headers(14)), 0);
  EXPECT_EQ(decode_properties_code(headers(15)), kFrameError);
  // Far too deep must not exhaust the stack either.
  std::string abyss(100000, static_cast<char>(0x91));
  EXPECT_EQ(decode_properties_code(mp::map(1) + mp::uint(3) + mp::map(1) + mp::str("x") + abyss +
                                   mp::nil()),
            kFrameError);
  EXPECT_EQ(decode_code(mp::head(0x30, 1) + abyss), kFrameError);
}

TEST(CodecTest, MoreThan4096ElementsIsAFrameError) {
  auto headers = [](const std::string& value) {
    return mp::map(1) + mp::uint(3) + mp::map(1) + mp::str("x") + value;
  };
  auto array_of = [](std::uint32_t n) {
    std::string out = mp::array(n);
    for (std::uint32_t i = 0; i < n; ++i) out += mp::uint(i % 100);
    return out;
  };
  auto map_of = [](std::uint32_t n) {
    std::string out = mp::map(n);
    for (std::uint32_t i = 0; i < n; ++i) out += mp::str("k" + std::to_string(i)) + mp::nil();
    return out;
  };
  EXPECT_EQ(decode_properties_code(headers(array_of(4096))), 0);
  EXPECT_EQ(decode_properties_code(headers(array_of(4097))), kFrameError);
  EXPECT_EQ(decode_properties_code(headers(map_of(4096))), 0);
  EXPECT_EQ(decode_properties_code(headers(map_of(4097))), kFrameError);
  EXPECT_EQ(decode_properties_code(mp::map(1) + mp::uint(3) + map_of(4097)), kFrameError);
  // Lengths far beyond the bytes present: refused, never allocated.
  EXPECT_EQ(decode_properties_code(headers(mp::array(0xffffffff))), kFrameError);
  EXPECT_EQ(decode_properties_code(headers(mp::map(0xffffffff))), kFrameError);
  EXPECT_EQ(decode_properties_code(headers(mp::tagged(0xdb, 0xffffffff, 4) + "abc")), kFrameError);
  EXPECT_EQ(decode_properties_code(headers(mp::tagged(0xc6, 0xffffffff, 4) + "abc")), kFrameError);
  EXPECT_EQ(decode_code(mp::head(0x30, 1) + mp::array(0xffffffff)), kFrameError);
  auto declare = [](const std::string& arguments) {
    return hand_frame<QueueDeclare>(1, {mp::str("q"), mp::boolean(false), mp::boolean(false),
                                        mp::boolean(false), mp::boolean(false), arguments});
  };
  EXPECT_EQ(decode_code(declare(map_of(4096))), 0);
  EXPECT_EQ(decode_code(declare(mp::map(1) + mp::str("a") + array_of(4097))), kFrameError);
}

TEST(CodecTest, ReservedAndExtTypesAreFrameErrors) {
  EXPECT_EQ(decode_code(std::string(1, '\xc1')), kFrameError);
  EXPECT_EQ(decode_code(mp::head(0x14, 0) + std::string(1, '\xc1')), kFrameError);
  EXPECT_EQ(decode_properties_code(std::string(1, '\xc1')), kFrameError);
  EXPECT_EQ(decode_properties_code(mp::map(1) + mp::uint(3) + mp::map(1) + mp::str("e") +
                                   mp::tagged(0xc7, 1, 1) + "\x01" + "z"),
            kFrameError);
}

// ---- fuzzing -------------------------------------------------------------------------

// Mutates `input` in place with one of several byte-level edits.
void mutate(std::string& input, std::mt19937_64& rng, const std::vector<std::string>& corpus) {
  static constexpr unsigned char kInteresting[] = {
      0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc6,
      0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd3, 0xd4, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
  auto pick = [&](std::size_t n) {
    return n == 0 ? std::size_t{0} : static_cast<std::size_t>(rng() % n);
  };
  switch (rng() % 8) {
    case 0:  // flip a bit
      if (!input.empty()) input[pick(input.size())] ^= static_cast<char>(1u << (rng() % 8));
      break;
    case 1:  // overwrite a byte
      if (!input.empty()) input[pick(input.size())] = static_cast<char>(rng() & 0xff);
      break;
    case 2:  // a byte that means something to msgpack
      if (!input.empty())
        input[pick(input.size())] = static_cast<char>(kInteresting[pick(sizeof kInteresting)]);
      break;
    case 3:  // truncate
      input.resize(pick(input.size() + 1));
      break;
    case 4: {  // insert random bytes
      std::string bytes(1 + pick(8), '\0');
      for (auto& b : bytes) b = static_cast<char>(rng() & 0xff);
      input.insert(pick(input.size() + 1), bytes);
      break;
    }
    case 5: {  // delete a range
      std::size_t at = pick(input.size() + 1);
      input.erase(at, 1 + pick(8));
      break;
    }
    case 6: {  // duplicate a range
      std::size_t at = pick(input.size() + 1);
      std::string chunk = input.substr(at, 1 + pick(16));
      input.insert(pick(input.size() + 1), chunk);
      break;
    }
    default: {  // splice with the tail of another valid input
      const std::string& other = corpus[pick(corpus.size())];
      input = input.substr(0, pick(input.size() + 1)) + other.substr(pick(other.size() + 1));
      break;
    }
  }
}

TEST(CodecFuzzTest, MutatedFramesOnlyDecodeOrThrowProtocolError) {
  std::vector<std::string> frames = sample_frames(true);
  Properties small = all_properties();
  small.headers = small_table();
  std::vector<std::string> props = {encode_properties(small), hand_properties(small)};
  for (int key = 1; key <= 14; ++key) props.push_back(mp::map(1) + mp::uint(key) + mp::str("v"));
  std::vector<std::string> corpus = frames;
  corpus.insert(corpus.end(), props.begin(), props.end());

  std::mt19937_64 rng(0x5eed'c0dec);
  constexpr int kIterations = 200000;
  int decoded = 0, refused = 0, failures = 0;
  auto fail = [&](const std::string& input, const std::string& what) {
    if (++failures <= 10) ADD_FAILURE() << what << " on input " << hex(input);
  };
  for (int i = 0; i < kIterations; ++i) {
    const bool frame_seed = i % 4 != 3;
    std::string input = frame_seed ? frames[rng() % frames.size()] : props[rng() % props.size()];
    for (int edits = 1 + static_cast<int>(rng() % 4); edits > 0; --edits)
      mutate(input, rng, corpus);
    std::optional<Command> cmd;
    try {
      cmd = decode(input);
      ++decoded;
    } catch (const ProtocolError& e) {
      ++refused;
      auto code = static_cast<std::uint16_t>(e.code());
      if (code != kFrameError && code != kNotImplemented)
        fail(input, "code " + std::to_string(code));
    } catch (const std::exception& e) {
      fail(input, std::string("decode threw a non-ProtocolError: ") + e.what());
    } catch (...) {
      fail(input, "decode threw a non-exception");
    }
    if (cmd) {
      // What decodes is consistent: the properties lie inside the frame and
      // decode, and re-encoding reaches a fixed point after one round.
      const char* begin = cmd->properties.data();
      if (!cmd->properties.empty() &&
          (begin < input.data() || begin + cmd->properties.size() > input.data() + input.size()))
        fail(input, "properties outside the frame");
      try {
        decode_properties(cmd->properties);
        std::string once = encode(cmd->channel, cmd->method, cmd->properties);
        Command again = decode(once);
        if (encode(again.channel, again.method, again.properties) != once)
          fail(input, "re-encoding differs");
      } catch (const std::exception& e) {
        fail(input, std::string("a decoded frame does not re-encode: ") + e.what());
      }
    }
    try {
      decode_properties(input);
    } catch (const ProtocolError& e) {
      if (static_cast<std::uint16_t>(e.code()) != kFrameError)
        fail(input, "decode_properties code " + std::to_string(static_cast<int>(e.code())));
    } catch (const std::exception& e) {
      fail(input, std::string("decode_properties threw a non-ProtocolError: ") + e.what());
    } catch (...) {
      fail(input, "decode_properties threw a non-exception");
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(decoded + refused, kIterations);
  // The mutations reach both outcomes (a fuzzer that only hits one tests little).
  EXPECT_GT(decoded, kIterations / 50);
  EXPECT_GT(refused, kIterations / 2);
  std::printf("fuzz: %d mutated frames, %d decoded, %d refused\n", kIterations, decoded, refused);
}

}  // namespace
}  // namespace warren::protocol
