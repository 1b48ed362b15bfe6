#include "queue_limits.hpp"

#include <charconv>

#include "warren/protocol.hpp"

namespace warren::detail {
namespace {

std::string type_name(const FieldValue& v) {
  if (v.is<std::nullptr_t>()) return "nil";
  if (v.is<bool>()) return "a boolean";
  if (v.is<std::int64_t>()) return "an integer";
  if (v.is<double>()) return "a float";
  if (v.is<std::string>()) return "a string";
  if (v.is<Bytes>()) return "bytes";
  if (v.is<FieldArray>()) return "an array";
  return "a table";
}

class Parser {
 public:
  Parser(const FieldTable& arguments, std::string_view queue)
      : arguments_(arguments), queue_(queue) {}

  // The integer argument `name` if present and within [min, max]; records an
  // error otherwise.
  std::optional<std::int64_t> integer(const char* name, std::int64_t min,
                                      std::int64_t max = INT64_MAX) {
    const FieldValue* v = find(name);
    if (!v) return std::nullopt;
    if (!v->is<std::int64_t>()) return fail(name, "expected an integer, got " + type_name(*v));
    auto n = v->as<std::int64_t>();
    if (n < min)
      return fail(name,
                  "value " + std::to_string(n) + (min == 0 ? " is negative" : " is not positive"));
    if (n > max)
      return fail(name, "value " + std::to_string(n) + " is larger than " + std::to_string(max));
    return n;
  }

  std::optional<std::string> text(const char* name) {
    const FieldValue* v = find(name);
    if (!v) return std::nullopt;
    if (!v->is<std::string>()) return fail(name, "expected a string, got " + type_name(*v));
    return v->as<std::string>();
  }

  std::nullopt_t fail(const char* name, const std::string& why) {
    if (!error_) {
      error_ = "invalid arg '";
      error_->append(name)
          .append("' for queue '")
          .append(queue_)
          .append("' in vhost '/': ")
          .append(why);
    }
    return std::nullopt;
  }

  std::optional<std::string> error() const { return error_; }

 private:
  const FieldValue* find(const char* name) const {
    auto it = arguments_.find(name);
    return it == arguments_.end() ? nullptr : &it->second;
  }

  const FieldTable& arguments_;
  std::string_view queue_;
  std::optional<std::string> error_;
};

std::optional<std::chrono::milliseconds> as_ms(std::optional<std::int64_t> n) {
  if (!n) return std::nullopt;
  return std::chrono::milliseconds(*n);
}

std::optional<std::uint64_t> as_count(std::optional<std::int64_t> n) {
  if (!n) return std::nullopt;
  return static_cast<std::uint64_t>(*n);
}

}  // namespace

std::optional<std::string> parse_queue_limits(const FieldTable& arguments, std::string_view queue,
                                              QueueLimits& limits) {
  Parser p(arguments, queue);
  limits.message_ttl = as_ms(p.integer("x-message-ttl", 0, kMaxExpiryMs));
  limits.expires = as_ms(p.integer("x-expires", 1, kMaxExpiryMs));
  limits.max_length = as_count(p.integer("x-max-length", 0));
  limits.max_length_bytes = as_count(p.integer("x-max-length-bytes", 0));
  if (auto overflow = p.text("x-overflow")) {
    if (*overflow == "drop-head")
      limits.overflow = Overflow::kDropHead;
    else if (*overflow == "reject-publish")
      limits.overflow = Overflow::kRejectPublish;
    else
      p.fail("x-overflow", "expected 'drop-head' or 'reject-publish', got '" + *overflow + "'");
  }
  limits.dead_letter_exchange = p.text("x-dead-letter-exchange");
  limits.dead_letter_routing_key = p.text("x-dead-letter-routing-key");
  if (limits.dead_letter_routing_key && !arguments.contains("x-dead-letter-exchange"))
    p.fail("x-dead-letter-routing-key", "given without x-dead-letter-exchange");
  limits.delivery_limit = as_count(p.integer("x-delivery-limit", 0));
  return p.error();
}

std::optional<std::chrono::milliseconds> parse_expiration(std::string_view expiration) {
  std::int64_t ms = 0;
  const char* end = expiration.data() + expiration.size();
  // from_chars takes no sign and no space: digits only, as the contract says.
  if (expiration.empty() || expiration[0] == '-') return std::nullopt;
  auto [ptr, ec] = std::from_chars(expiration.data(), end, ms);
  if (ec != std::errc() || ptr != end || ms > kMaxExpiryMs) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

Expiration expiration_of(std::string_view raw_properties) {
  // Key 8 (expiration) contains the byte 0x08 however msgpack encodes it.
  if (raw_properties.find('\x08') == std::string_view::npos) return {};
  Expiration e;
  e.text = protocol::decode_properties(raw_properties).expiration;
  if (e.text) e.ttl = parse_expiration(*e.text);
  return e;
}

}  // namespace warren::detail
