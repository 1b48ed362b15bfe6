// The codec of docs/protocol.md, over msgpack-c. Decoding never trusts its
// input: every type, width, count and limit is checked, and any violation is
// a ProtocolError rather than undefined behaviour.
#include "warren/protocol.hpp"

#include <msgpack.hpp>

#include <array>
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

bool reference_everything(msgpack::type::object_type, std::size_t, void*) { return true; }

// Unpacks the next value at `offset`, referencing (not copying) the input.
msgpack::object_handle next_value(std::string_view bytes, std::size_t& offset, const char* what) {
  if (offset >= bytes.size()) frame_error(std::string("missing ") + what);
  try {
    return msgpack::unpack(bytes.data(), bytes.size(), offset, reference_everything, nullptr,
                           msgpack::unpack_limit(kMaxElements, kMaxElements, 0xffffffff,
                                                 0xffffffff, 0xffffffff, kMaxDepth));
  } catch (const std::exception& e) {
    frame_error(std::string("malformed ") + what + ": " + e.what());
  }
}

// ---- field values -----------------------------------------------------

void pack_value(Packer& pk, const FieldValue& v);

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
          pk.pack_double(x);
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

std::string_view as_string(const msgpack::object& o, std::string_view what) {
  if (o.type != msgpack::type::STR) frame_error(std::string(what) + ": expected a string");
  return {o.via.str.ptr, o.via.str.size};
}

FieldValue unpack_value(const msgpack::object& o, std::string_view what);

FieldTable unpack_table(const msgpack::object& o, std::string_view what) {
  if (o.type != msgpack::type::MAP) frame_error(std::string(what) + ": expected a table");
  FieldTable table;
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    auto key = as_string(kv.key, what);
    table.insert_or_assign(std::string(key), unpack_value(kv.val, what));
  }
  return table;
}

FieldValue unpack_value(const msgpack::object& o, std::string_view what) {
  switch (o.type) {
    case msgpack::type::NIL: return nullptr;
    case msgpack::type::BOOLEAN: return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        frame_error(std::string(what) + ": integer above the signed 64-bit range");
      return FieldValue(static_cast<long long>(o.via.u64));
    case msgpack::type::NEGATIVE_INTEGER: return FieldValue(static_cast<long long>(o.via.i64));
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return o.via.f64;
    case msgpack::type::STR: return std::string(o.via.str.ptr, o.via.str.size);
    case msgpack::type::BIN: return Bytes{std::string(o.via.bin.ptr, o.via.bin.size)};
    case msgpack::type::ARRAY: {
      FieldArray a;
      a.reserve(o.via.array.size);
      for (std::uint32_t i = 0; i < o.via.array.size; ++i)
        a.push_back(unpack_value(o.via.array.ptr[i], what));
      return a;
    }
    case msgpack::type::MAP: return unpack_table(o, what);
    default: frame_error(std::string(what) + ": unsupported value type");
  }
}

std::uint64_t as_uint(const msgpack::object& o, std::string_view what, std::uint64_t max) {
  if (o.type != msgpack::type::POSITIVE_INTEGER || o.via.u64 > max)
    frame_error(std::string(what) + ": expected an unsigned integer up to " + std::to_string(max));
  return o.via.u64;
}

// ---- method fields ----------------------------------------------------

struct FieldPacker {
  Packer& pk;
  void operator()(const char*, const std::string& s) { pack_string(pk, s); }
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

struct FieldReader {
  const msgpack::object_array& fields;
  std::string_view method;
  std::uint32_t index = 0;

  const msgpack::object& next(const char* name, std::string& where) {
    where = std::string(method) + "." + name;
    return fields.ptr[index++];
  }
  void operator()(const char* name, std::string& s) {
    std::string where;
    s = std::string(as_string(next(name, where), where));
  }
  void operator()(const char* name, bool& b) {
    std::string where;
    const auto& o = next(name, where);
    if (o.type != msgpack::type::BOOLEAN) frame_error(where + ": expected a bool");
    b = o.via.boolean;
  }
  void operator()(const char* name, FieldTable& t) {
    std::string where;
    t = unpack_table(next(name, where), where);
  }
  template <class T>
    requires std::is_unsigned_v<T>
  void operator()(const char* name, T& v) {
    std::string where;
    v = static_cast<T>(as_uint(next(name, where), where, std::numeric_limits<T>::max()));
  }
};

template <class M>
Method decode_method(const msgpack::object& fields) {
  if (fields.type != msgpack::type::ARRAY) frame_error(std::string(M::kName) + ": fields must be an array");
  M m;
  FieldCounter count;
  M::fields(m, count);
  if (fields.via.array.size != count.n)
    frame_error(std::string(M::kName) + ": expected " + std::to_string(count.n) + " fields, got " +
                std::to_string(fields.via.array.size));
  M::fields(m, FieldReader{fields.via.array, M::kName});
  return m;
}

using Decoder = Method (*)(const msgpack::object&);
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

Properties unpack_properties(const msgpack::object& o) {
  if (o.type != msgpack::type::MAP) frame_error("properties: expected a map");
  Properties p;
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    auto key = as_uint(kv.key, "properties key", kClusterId);
    bool known = false;
    for_each_property(p, [&](std::uint8_t k, auto& opt) {
      if (k != key) return;
      known = true;
      using T = std::decay_t<decltype(*opt)>;
      std::string_view what = "property";
      if constexpr (std::is_same_v<T, std::string>) {
        opt = std::string(as_string(kv.val, what));
      } else if constexpr (std::is_same_v<T, FieldTable>) {
        opt = unpack_table(kv.val, "headers");
      } else if constexpr (std::is_same_v<T, std::int64_t>) {
        auto v = unpack_value(kv.val, "timestamp");
        if (!v.is<std::int64_t>()) frame_error("timestamp: expected an integer");
        opt = v.as<std::int64_t>();
      } else {
        opt = static_cast<std::uint8_t>(as_uint(kv.val, what, 255));
      }
    });
    if (!known) frame_error("properties: unknown key " + std::to_string(key));
  }
  return p;
}

}  // namespace

Opcode opcode_of(const Method& m) {
  return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::kOpcode; }, m);
}

std::string_view name_of(Opcode op) { return kOps[static_cast<std::size_t>(op)].name; }
bool has_content(Opcode op) { return kOps[static_cast<std::size_t>(op)].content; }

void encode_to(std::string& out, std::uint16_t channel, const Method& method,
               std::string_view raw_properties) {
  StringSink sink{&out};
  Packer pk(sink);
  pk.pack_uint32(kVersion);
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        pk.pack_uint8(static_cast<std::uint8_t>(M::kOpcode));
        pk.pack_uint16(channel);
        FieldCounter count;
        M::fields(m, count);
        pk.pack_array(count.n);
        M::fields(m, FieldPacker{pk});
        if constexpr (M::kHasContent) {
          if (raw_properties.empty()) pk.pack_map(0);
          else out.append(raw_properties);
        }
      },
      method);
}

std::string encode(std::uint16_t channel, const Method& method, std::string_view raw_properties) {
  std::string out;
  out.reserve(64 + raw_properties.size());
  encode_to(out, channel, method, raw_properties);
  return out;
}

Command decode(std::string_view frame) {
  std::size_t offset = 0;
  auto version = next_value(frame, offset, "version");
  if (version.get().type != msgpack::type::POSITIVE_INTEGER)
    frame_error("version: expected an unsigned integer");
  if (version.get().via.u64 != kVersion)
    throw ProtocolError(ReplyCode::kNotImplemented,
                        "protocol version " + std::to_string(version.get().via.u64) +
                            " not supported; this side speaks version " + std::to_string(kVersion));
  auto op = next_value(frame, offset, "opcode");
  auto opcode = as_uint(op.get(), "opcode", 255);
  const OpInfo& info = kOps[opcode];
  if (!info.decode)
    throw ProtocolError(ReplyCode::kNotImplemented, "unknown opcode " + std::to_string(opcode));
  auto ch = next_value(frame, offset, "channel");
  Command cmd;
  cmd.channel = static_cast<std::uint16_t>(as_uint(ch.get(), "channel", 65535));
  auto fields = next_value(frame, offset, "fields");
  cmd.method = info.decode(fields.get());
  if (info.content) {
    std::size_t start = offset;
    auto props = next_value(frame, offset, "properties");
    unpack_properties(props.get());  // validate: the broker forwards these bytes verbatim
    cmd.properties = frame.substr(start, offset - start);
  }
  if (offset != frame.size())
    frame_error("trailing bytes after " + std::string(info.name));
  return cmd;
}

std::string encode_properties(const Properties& properties) {
  std::string out;
  StringSink sink{&out};
  Packer pk(sink);
  pack_properties(pk, properties);
  return out;
}

Properties decode_properties(std::string_view raw) {
  if (raw.empty()) return {};
  std::size_t offset = 0;
  auto h = next_value(raw, offset, "properties");
  if (offset != raw.size()) frame_error("trailing bytes after properties");
  return unpack_properties(h.get());
}

}  // namespace warren::protocol
