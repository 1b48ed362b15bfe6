// The codec of docs/protocol.md. Encoding uses msgpack-c's packer. Decoding
// uses the small Reader below instead of msgpack::unpack: it reads the
// header in place with no allocation (unpack's zones were half the broker's
// CPU per message), and it never trusts its input: every type, width, count
// and limit is checked, and any violation is a ProtocolError, never
// undefined behaviour.
#include "warren/protocol.hpp"

#include <msgpack.hpp>

#include <array>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

namespace warren::protocol {
namespace {

constexpr std::size_t kMaxElements = 4096;
constexpr std::size_t kMaxDepth = 16;

[[noreturn]] void frame_error(std::string text) {
  throw ProtocolError(ReplyCode::kFrameError, std::move(text));
}

// Appends to a std::string; the stream type msgpack::packer writes to.
struct StringSink {
  std::string* out;
  void write(const char* data, std::size_t size) { out->append(data, size); }
};
using Packer = msgpack::packer<StringSink>;

// ---- field values -----------------------------------------------------

void pack_value(Packer& pk, const FieldValue& v);

// msgpack-c's pack_double writes a double whose value is integral as an
// integer (3.0 -> 3, 1e19 -> a uint64 the decoder refuses); field values keep
// floats and integers apart, so write float 64 ourselves.
void pack_float64(Packer& pk, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char buf[9];
  buf[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i) buf[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  pk.pack_bin_body(buf, sizeof buf);  // appends the bytes as they are
}

void pack_table(Packer& pk, const FieldTable& table) {
  pk.pack_map(static_cast<std::uint32_t>(table.size()));
  for (const auto& [key, value] : table) {
    pk.pack_str(static_cast<std::uint32_t>(key.size()));
    pk.pack_str_body(key.data(), static_cast<std::uint32_t>(key.size()));
    pack_value(pk, value);
  }
}

void pack_string(Packer& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

void pack_value(Packer& pk, const FieldValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<T, bool>) {
          x ? pk.pack_true() : pk.pack_false();
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          pk.pack_int64(x);
        } else if constexpr (std::is_same_v<T, double>) {
          pack_float64(pk, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          pack_string(pk, x);
        } else if constexpr (std::is_same_v<T, Bytes>) {
          pk.pack_bin(static_cast<std::uint32_t>(x.data.size()));
          pk.pack_bin_body(x.data.data(), static_cast<std::uint32_t>(x.data.size()));
        } else if constexpr (std::is_same_v<T, FieldArray>) {
          pk.pack_array(static_cast<std::uint32_t>(x.size()));
          for (const auto& e : x) pack_value(pk, e);
        } else {
          pack_table(pk, x);
        }
      },
      v.value);
}

// ---- method fields ----------------------------------------------------

struct FieldPacker {
  Packer& pk;
  void operator()(const char*, std::string_view s) { pack_string(pk, s); }
  void operator()(const char*, bool b) { b ? pk.pack_true() : pk.pack_false(); }
  void operator()(const char*, const FieldTable& t) { pack_table(pk, t); }
  template <class T>
    requires std::is_unsigned_v<T>
  void operator()(const char*, T v) { pk.pack_uint64(v); }
};

struct FieldCounter {
  std::uint32_t n = 0;
  template <class T> void operator()(const char*, const T&) { ++n; }
};

// Reads msgpack values in place. Every read checks type, width and the
// bytes left; counts are limited to kMaxElements and nesting to kMaxDepth
// (the fields array or the properties map is level 1).
class Reader {
 public:
  explicit Reader(std::string_view bytes)
      : p_(reinterpret_cast<const std::uint8_t*>(bytes.data())), end_(p_ + bytes.size()) {}

  bool at_end() const { return p_ == end_; }
  const char* position() const { return reinterpret_cast<const char*>(p_); }

  std::uint64_t read_uint(const char* what, std::uint64_t max) {
    std::uint64_t v = 0;
    if (!try_uint(v) || v > max) fail(what, "an unsigned integer up to " + std::to_string(max));
    return v;
  }
  bool read_bool(const char* what) {
    std::uint8_t b = byte(what);
    if (b == 0xc2) return false;
    if (b == 0xc3) return true;
    fail(what, "a bool");
  }
  std::string_view read_str(const char* what) {
    std::uint8_t b = byte(what);
    std::size_t n;
    if ((b & 0xe0) == 0xa0) n = b & 0x1f;
    else if (b == 0xd9) n = be(1, what);
    else if (b == 0xda) n = be(2, what);
    else if (b == 0xdb) n = be(4, what);
    else fail(what, "a string");
    return std::string_view(reinterpret_cast<const char*>(take(n, what)), n);
  }
  std::string_view read_bin(const char* what) {
    std::uint8_t b = byte(what);
    std::size_t n;
    if (b == 0xc4) n = be(1, what);
    else if (b == 0xc5) n = be(2, what);
    else if (b == 0xc6) n = be(4, what);
    else fail(what, "bytes");
    return std::string_view(reinterpret_cast<const char*>(take(n, what)), n);
  }
  std::uint32_t read_array(const char* what) { return container(what, 0x90, 0xdc, "an array"); }
  std::uint32_t read_map(const char* what) { return container(what, 0x80, 0xde, "a map"); }

  // A field value at nesting `level` (the level it has if it is a container);
  // with `out` null, only validates it.
  void read_value(const char* what, FieldValue* out, std::size_t level) {
    if (p_ == end_) fail(what, "a value");
    std::uint8_t b = *p_;
    if (b <= 0x7f || b == 0xcc || b == 0xcd || b == 0xce || b == 0xcf) {
      std::uint64_t v = read_uint(what, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
      if (out) out->value = static_cast<std::int64_t>(v);
    } else if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) {
      std::int64_t v = read_negative(what);
      if (out) out->value = v;
    } else if (b == 0xc0) {
      ++p_;
      if (out) out->value = nullptr;
    } else if (b == 0xc2 || b == 0xc3) {
      bool v = read_bool(what);
      if (out) out->value = v;
    } else if (b == 0xca || b == 0xcb) {
      double v = read_float(what);
      if (out) out->value = v;
    } else if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb) {
      auto v = read_str(what);
      if (out) out->value = std::string(v);
    } else if (b == 0xc4 || b == 0xc5 || b == 0xc6) {
      ++p_;
      std::size_t n = be(b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4, what);
      const auto* data = take(n, what);
      if (out) out->value = Bytes{std::string(reinterpret_cast<const char*>(data), n)};
    } else if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
      if (level > kMaxDepth) fail(what, "nesting at most " + std::to_string(kMaxDepth) + " deep");
      std::uint32_t n = read_array(what);
      FieldArray* array = nullptr;
      if (out) {
        out->value = FieldArray{};
        array = &std::get<FieldArray>(out->value);
        array->resize(n);
      }
      for (std::uint32_t i = 0; i < n; ++i) read_value(what, array ? &(*array)[i] : nullptr, level + 1);
    } else if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
      if (level > kMaxDepth) fail(what, "nesting at most " + std::to_string(kMaxDepth) + " deep");
      FieldTable* table = nullptr;
      if (out) {
        out->value = FieldTable{};
        table = &std::get<FieldTable>(out->value);
      }
      read_table_body(what, table, level);
    } else {
      fail(what, "a supported value type");
    }
  }
  // A table (map of string to value) at nesting `level`; with `out` null,
  // only validates it.
  void read_table(const char* what, FieldTable* out, std::size_t level) {
    if (p_ == end_ || !(((*p_ & 0xf0) == 0x80) || *p_ == 0xde || *p_ == 0xdf)) fail(what, "a table");
    read_table_body(what, out, level);
  }
  std::int64_t read_int(const char* what) {
    if (p_ != end_ && (*p_ >= 0xe0 || (*p_ >= 0xd0 && *p_ <= 0xd3))) return read_negative(what);
    return static_cast<std::int64_t>(
        read_uint(what, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
  }

  [[noreturn]] static void fail(const char* what, const std::string& expected) {
    frame_error(std::string(what) + ": expected " + expected);
  }

 private:
  std::uint8_t byte(const char* what) {
    if (p_ == end_) fail(what, "more bytes");
    return *p_++;
  }
  const std::uint8_t* take(std::size_t n, const char* what) {
    if (static_cast<std::size_t>(end_ - p_) < n) fail(what, "more bytes");
    const auto* start = p_;
    p_ += n;
    return start;
  }
  std::uint64_t be(int width, const char* what) {
    const auto* d = take(static_cast<std::size_t>(width), what);
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i) v = (v << 8) | d[i];
    return v;
  }
  bool try_uint(std::uint64_t& v) {
    if (p_ == end_) return false;
    std::uint8_t b = *p_;
    int width;
    if (b <= 0x7f) {
      ++p_;
      v = b;
      return true;
    }
    bool is_signed = b >= 0xd0 && b <= 0xd3;  // a signed encoding of a value >= 0 is fine
    if (b == 0xcc || b == 0xd0) width = 1;
    else if (b == 0xcd || b == 0xd1) width = 2;
    else if (b == 0xce || b == 0xd2) width = 4;
    else if (b == 0xcf || b == 0xd3) width = 8;
    else return false;
    if (end_ - p_ < 1 + width) return false;
    if (is_signed && (p_[1] & 0x80)) return false;  // negative
    ++p_;
    v = be(width, "integer");
    return true;
  }
  std::int64_t read_negative(const char* what) {
    std::uint8_t b = byte(what);
    if (b >= 0xe0) return static_cast<std::int8_t>(b);
    int width = b == 0xd0 ? 1 : b == 0xd1 ? 2 : b == 0xd2 ? 4 : 8;
    std::uint64_t raw = be(width, what);
    int shift = 64 - 8 * width;  // sign-extend
    return static_cast<std::int64_t>(raw << shift) >> shift;
  }
  double read_float(const char* what) {
    std::uint8_t b = byte(what);
    if (b == 0xca) {
      auto bits = static_cast<std::uint32_t>(be(4, what));
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    std::uint64_t bits = be(8, what);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  std::uint32_t container(const char* what, std::uint8_t fix, std::uint8_t wide, const char* kind) {
    std::uint8_t b = byte(what);
    std::size_t n;
    if ((b & 0xf0) == fix) n = b & 0x0f;
    else if (b == wide) n = be(2, what);
    else if (b == wide + 1) n = be(4, what);
    else fail(what, kind);
    // Every element takes at least one byte: a count beyond what is left is a lie.
    if (n > kMaxElements || n > static_cast<std::size_t>(end_ - p_))
      fail(what, std::string(kind) + " of at most " + std::to_string(kMaxElements) + " elements that fit the frame");
    return static_cast<std::uint32_t>(n);
  }
  void read_table_body(const char* what, FieldTable* out, std::size_t level) {
    std::uint32_t n = read_map(what);
    for (std::uint32_t i = 0; i < n; ++i) {
      auto key = read_str(what);
      if (out) read_value(what, &(*out)[std::string(key)], level + 1);
      else read_value(what, nullptr, level + 1);
    }
  }

  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

// Field names in errors ("queue.declare.passive") are built only on failure.
struct FieldReader {
  Reader& r;
  std::string_view method;

  template <class F>
  auto guarded(const char* name, F&& read) {
    try {
      return read();
    } catch (const ProtocolError& e) {
      frame_error(std::string(method) + "." + name + " " + e.text());
    }
  }
  void operator()(const char* name, std::string& s) {
    s = guarded(name, [&] { return std::string(r.read_str("field")); });
  }
  void operator()(const char* name, bool& b) {
    b = guarded(name, [&] { return r.read_bool("field"); });
  }
  void operator()(const char* name, FieldTable& t) {
    guarded(name, [&] {
      r.read_table("field", &t, 2);  // inside the fields array
      return 0;
    });
  }
  template <class T>
    requires std::is_unsigned_v<T>
  void operator()(const char* name, T& v) {
    v = guarded(name, [&] { return static_cast<T>(r.read_uint("field", std::numeric_limits<T>::max())); });
  }
};

template <class M>
Method decode_method(Reader& r) {
  M m;
  FieldCounter count;
  M::fields(m, count);
  std::uint32_t n;
  try {
    n = r.read_array("fields");
  } catch (const ProtocolError& e) {
    frame_error(std::string(M::kName) + ": " + e.text());
  }
  if (n != count.n)
    frame_error(std::string(M::kName) + ": expected " + std::to_string(count.n) + " fields, got " +
                std::to_string(n));
  M::fields(m, FieldReader{r, M::kName});
  return m;
}

using Decoder = Method (*)(Reader&);
struct OpInfo {
  Decoder decode = nullptr;
  std::string_view name = "unknown";
  bool content = false;
};

template <std::size_t... I>
constexpr std::array<OpInfo, 256> make_op_table(std::index_sequence<I...>) {
  std::array<OpInfo, 256> table{};
  ((table[static_cast<std::size_t>(std::variant_alternative_t<I, Method>::kOpcode)] =
        OpInfo{&decode_method<std::variant_alternative_t<I, Method>>,
               std::variant_alternative_t<I, Method>::kName,
               std::variant_alternative_t<I, Method>::kHasContent}),
   ...);
  return table;
}
constexpr auto kOps = make_op_table(std::make_index_sequence<std::variant_size_v<Method>>{});

// ---- properties -------------------------------------------------------

enum PropertyKey : std::uint8_t {
  kContentType = 1, kContentEncoding, kHeaders, kDeliveryMode, kPriority, kCorrelationId,
  kReplyTo, kExpiration, kMessageId, kTimestamp, kType, kUserId, kAppId, kClusterId,
};

template <class F>
void for_each_property(auto& p, F&& f) {
  f(kContentType, p.content_type); f(kContentEncoding, p.content_encoding);
  f(kHeaders, p.headers); f(kDeliveryMode, p.delivery_mode); f(kPriority, p.priority);
  f(kCorrelationId, p.correlation_id); f(kReplyTo, p.reply_to); f(kExpiration, p.expiration);
  f(kMessageId, p.message_id); f(kTimestamp, p.timestamp); f(kType, p.type);
  f(kUserId, p.user_id); f(kAppId, p.app_id); f(kClusterId, p.cluster_id);
}

void pack_properties(Packer& pk, const Properties& p) {
  std::uint32_t n = 0;
  for_each_property(p, [&](auto, const auto& opt) { n += opt.has_value(); });
  pk.pack_map(n);
  for_each_property(p, [&](std::uint8_t key, const auto& opt) {
    if (!opt) return;
    pk.pack_uint8(key);
    using T = std::decay_t<decltype(*opt)>;
    if constexpr (std::is_same_v<T, std::string>) pack_string(pk, *opt);
    else if constexpr (std::is_same_v<T, FieldTable>) pack_table(pk, *opt);
    else if constexpr (std::is_same_v<T, std::int64_t>) pk.pack_int64(*opt);
    else pk.pack_uint8(*opt);
  });
}

// Reads a properties map; with `out` null, only validates it (the broker
// forwards the bytes as they are).
void read_properties(Reader& r, Properties* out) {
  Properties scratch;
  Properties& p = out ? *out : scratch;
  std::uint32_t n = r.read_map("properties");
  for (std::uint32_t i = 0; i < n; ++i) {
    auto key = r.read_uint("properties key", 255);
    bool known = false;
    for_each_property(p, [&](std::uint8_t k, auto& opt) {
      if (k != key) return;
      known = true;
      using T = std::decay_t<decltype(*opt)>;
      if constexpr (std::is_same_v<T, std::string>) {
        auto v = r.read_str("property");
        if (out) opt = std::string(v);
      } else if constexpr (std::is_same_v<T, FieldTable>) {
        if (out) opt.emplace();
        r.read_table("headers", out ? &*opt : nullptr, 2);  // inside the properties map
      } else if constexpr (std::is_same_v<T, std::int64_t>) {
        opt = r.read_int("timestamp");
      } else {
        opt = static_cast<std::uint8_t>(r.read_uint("property", 255));
      }
    });
    if (!known) frame_error("properties: unknown key " + std::to_string(key));
  }
}

}  // namespace

Opcode opcode_of(const Method& m) {
  return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::kOpcode; }, m);
}

std::string_view name_of(Opcode op) { return kOps[static_cast<std::size_t>(op)].name; }
bool has_content(Opcode op) { return kOps[static_cast<std::size_t>(op)].content; }

namespace {

template <class M>
void encode_method_to(std::string& out, std::uint16_t channel, const M& m, std::string_view raw_properties,
                      std::string_view inline_body) {
  StringSink sink{&out};
  Packer pk(sink);
  pk.pack_uint32(kVersion);
  pk.pack_uint8(static_cast<std::uint8_t>(M::kOpcode));
  pk.pack_uint16(channel);
  FieldCounter count;
  M::fields(m, count);
  pk.pack_array(count.n);
  M::fields(m, FieldPacker{pk});
  if constexpr (M::kHasContent) {
    if (raw_properties.empty()) pk.pack_map(0);
    else out.append(raw_properties);
    out.append(inline_body);
  }
}

template <class M>
bool encode_method_to_send(std::string& out, std::uint16_t channel, const M& m, std::string_view raw_properties,
                           std::string_view body) {
  bool inline_body = body.size() <= kInlineBodyMax;
  encode_to(out, channel, m, raw_properties, inline_body ? body : std::string_view());
  return inline_body;
}

}  // namespace

bool encode_to_send(std::string& out, std::uint16_t channel, const Method& method,
                    std::string_view raw_properties, std::string_view body) {
  return encode_method_to_send(out, channel, method, raw_properties, body);
}

bool encode_to_send(std::string& out, std::uint16_t channel, const BasicDeliverView& deliver,
                    std::string_view raw_properties, std::string_view body) {
  return encode_method_to_send(out, channel, deliver, raw_properties, body);
}

void encode_to(std::string& out, std::uint16_t channel, const Method& method,
               std::string_view raw_properties, std::string_view inline_body) {
  std::visit([&](const auto& m) { encode_method_to(out, channel, m, raw_properties, inline_body); }, method);
}

void encode_to(std::string& out, std::uint16_t channel, const BasicDeliverView& deliver,
               std::string_view raw_properties, std::string_view inline_body) {
  encode_method_to(out, channel, deliver, raw_properties, inline_body);
}

std::string encode(std::uint16_t channel, const Method& method, std::string_view raw_properties) {
  std::string out;
  out.reserve(64 + raw_properties.size());
  encode_to(out, channel, method, raw_properties);
  return out;
}

Command decode(std::string_view frame) {
  Reader r(frame);
  std::uint64_t version = r.read_uint("version", std::numeric_limits<std::uint64_t>::max());
  if (version != kVersion)
    throw ProtocolError(ReplyCode::kNotImplemented,
                        "protocol version " + std::to_string(version) + " not supported; this side speaks version " +
                            std::to_string(kVersion));
  // Any unsigned integer not in the table is an unknown opcode (540), however wide.
  std::uint64_t opcode = r.read_uint("opcode", std::numeric_limits<std::uint64_t>::max());
  if (opcode >= kOps.size() || !kOps[opcode].decode)
    throw ProtocolError(ReplyCode::kNotImplemented, "unknown opcode " + std::to_string(opcode));
  const OpInfo& info = kOps[opcode];
  Command cmd;
  cmd.channel = static_cast<std::uint16_t>(r.read_uint("channel", 65535));
  cmd.method = info.decode(r);
  if (info.content) {
    const char* start = r.position();
    read_properties(r, nullptr);
    cmd.properties = std::string_view(start, static_cast<std::size_t>(r.position() - start));
    cmd.inline_body = frame.substr(static_cast<std::size_t>(r.position() - frame.data()));
    return cmd;
  }
  if (!r.at_end()) frame_error("trailing bytes after " + std::string(info.name));
  return cmd;
}

void check_frames(const Command& command, std::size_t frames) {
  auto op = opcode_of(command.method);
  if (frames == 2 && !has_content(op))
    throw ProtocolError(ReplyCode::kFrameError, std::string(name_of(op)) + ": unexpected body frame");
  if (frames == 2 && !command.inline_body.empty())
    throw ProtocolError(ReplyCode::kFrameError, std::string(name_of(op)) + ": a body frame and an inline body");
  if (frames > 2) throw ProtocolError(ReplyCode::kFrameError, "command with more than two frames");
}

bool has_capability(const FieldTable& properties, std::string_view name) {
  auto it = properties.find("capabilities");
  if (it == properties.end() || !it->second.is<FieldTable>()) return false;
  const auto& table = it->second.as<FieldTable>();
  auto cap = table.find(std::string(name));
  return cap != table.end() && cap->second.is<bool>() && cap->second.as<bool>();
}

// A batch: [version, 0x17, channel 0, [bin32, ...]], each bin32's length
// patched in when its command is written and the array's count (array32)
// by finish(), so commands are encoded in place, never copied.
namespace {
constexpr std::size_t kBatchHeader = 3 + 5;  // version, opcode, channel as fixints; array32
constexpr std::size_t kBatchKeep = 16 * 1024;  // buffer kept by reset()

void put_be32(std::string& out, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (24 - 8 * i));
}
}  // namespace

template <class Encode>
bool BatchWriter::append(Encode&& encode) {
  if (count_ == 0) {
    out_.clear();
    StringSink sink{&out_};
    Packer pk(sink);
    pk.pack_uint32(kVersion);
    pk.pack_uint8(kBatchOpcode);
    pk.pack_uint16(0);
    out_.append("\xdd\0\0\0\0", 5);
  }
  auto at = out_.size();
  out_.append("\xc6\0\0\0\0", 5);
  if (!encode()) {
    out_.resize(at);
    return false;
  }
  put_be32(out_, at + 1, static_cast<std::uint32_t>(out_.size() - at - 5));
  ++count_;
  return true;
}

bool BatchWriter::add(std::uint16_t channel, const Method& method, std::string_view raw_properties,
                      std::string_view body) {
  return append([&] { return encode_to_send(out_, channel, method, raw_properties, body); });
}

bool BatchWriter::add(std::uint16_t channel, const BasicDeliverView& deliver, std::string_view raw_properties,
                      std::string_view body) {
  return append([&] { return encode_to_send(out_, channel, deliver, raw_properties, body); });
}

void BatchWriter::add_encoded(std::string_view command) {
  append([&] {
    out_.append(command);
    return true;
  });
}

std::string_view BatchWriter::finish() {
  if (count_ == 1) return std::string_view(out_).substr(kBatchHeader + 5);
  put_be32(out_, kBatchHeader - 4, count_);
  return out_;
}

void BatchWriter::reset() {
  count_ = 0;
  if (out_.capacity() > kBatchKeep) out_ = std::string();
}

std::string encode_batch(const std::vector<std::string>& commands) {
  BatchWriter batch;
  for (const auto& c : commands) batch.add_encoded(c);
  return std::string(batch.finish());
}

bool split_batch(std::string_view frame, std::vector<std::string_view>& commands) {
  // Version and opcode as positive fixints, as BatchWriter writes them;
  // anything else is left to decode() (an unknown opcode, a bad version).
  if (frame.size() < 2 || frame[0] != static_cast<char>(kVersion) || frame[1] != static_cast<char>(kBatchOpcode))
    return false;
  Reader r(frame.substr(2));
  if (r.read_uint("channel", 65535) != 0) frame_error("batch: not on channel 0");
  std::uint32_t n = r.read_array("batch");
  if (n == 0) frame_error("batch: no commands");
  commands.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    auto command = r.read_bin("batch command");
    if (command.size() >= 2 && command[0] == static_cast<char>(kVersion) && command[1] == static_cast<char>(kBatchOpcode))
      frame_error("batch: a batch inside a batch");
    commands.push_back(command);
  }
  if (!r.at_end()) frame_error("trailing bytes after batch");
  return true;
}

std::string encode_properties(const Properties& properties) {
  std::string out;
  StringSink sink{&out};
  Packer pk(sink);
  pack_properties(pk, properties);
  return out;
}

Properties decode_properties(std::string_view raw) {
  Properties p;
  if (raw.empty() || raw == std::string_view("\x80", 1)) return p;  // none set: the common case
  Reader r(raw);
  read_properties(r, &p);
  if (!r.at_end()) frame_error("trailing bytes after properties");
  return p;
}

std::string encode_table(const FieldTable& table) {
  std::string out;
  StringSink sink{&out};
  Packer pk(sink);
  pack_table(pk, table);
  return out;
}

FieldTable decode_table(std::string_view raw) {
  FieldTable t;
  Reader r(raw);
  r.read_table("table", &t, 1);
  if (!r.at_end()) frame_error("trailing bytes after table");
  return t;
}

}  // namespace warren::protocol
