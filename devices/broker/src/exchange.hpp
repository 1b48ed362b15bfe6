// Exchange: routes a message to queues and other exchanges by its bindings.
// One class, four types; each type keeps the index that makes its match
// cheap (direct: hash by key; topic: a trie over words; fanout and headers:
// the binding list). The exchange owns the bindings whose source it is.
#pragma once

#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "queue.hpp"
#include "topic_trie.hpp"
#include "warren/field_value.hpp"

namespace warren::detail {

class Exchange;

enum class ExchangeType { kDirect, kFanout, kTopic, kHeaders };
std::optional<ExchangeType> parse_exchange_type(std::string_view name);
std::string_view exchange_type_name(ExchangeType type);

// Where a binding leads: a queue or an exchange (exactly one is set).
struct Destination {
  Queue* queue = nullptr;
  Exchange* exchange = nullptr;
  bool operator==(const Destination&) const = default;
};

struct Binding {
  Destination destination;
  std::string routing_key;
  FieldTable arguments{};
};

struct ExchangeFlags {
  bool durable = false;
  bool auto_delete = false;
  bool internal = false;
  FieldTable arguments{};
};

}  // namespace warren::detail

template <>
struct std::hash<warren::detail::Destination> {
  std::size_t operator()(const warren::detail::Destination& d) const noexcept {
    return std::hash<const void*>{}(d.queue ? static_cast<const void*>(d.queue) : static_cast<const void*>(d.exchange));
  }
};

namespace warren::detail {

class Exchange {
 public:
  Exchange(std::string name, ExchangeType type, ExchangeFlags flags)
      : name_(std::move(name)), type_(type), flags_(std::move(flags)) {}

  const std::string& name() const { return name_; }
  ExchangeType type() const { return type_; }
  const ExchangeFlags& flags() const { return flags_; }
  // The alternate-exchange argument, or empty.
  std::string alternate_exchange() const;

  // Adds a binding; false if an identical one exists (binding is idempotent).
  bool bind(Binding binding);
  // Removes the identical binding; false if there was none.
  bool unbind(const Binding& binding);
  // Removes every binding to `destination`; returns how many.
  std::size_t unbind_all(const Destination& destination);
  const std::list<Binding>& bindings() const { return bindings_; }

  // Calls out(const Destination&) for each binding that matches; a
  // destination bound several ways may be reported more than once.
  // `headers()` returns the message's headers (or nullptr); it is called only
  // by headers exchanges, so other routes never decode properties.
  template <class H, class F>
  void match(std::string_view routing_key, H&& headers, F&& out) const;

  // Exchanges with bindings to this one, and how many bindings each.
  std::unordered_map<Exchange*, std::size_t> sources;
  // The publish that last passed through here: breaks cycles.
  std::uint64_t route_mark = 0;

 private:
  bool headers_binding_matches(const Binding& b, const FieldTable* headers) const;
  static std::string index_key(const Binding& b);

  std::string name_;
  ExchangeType type_;
  ExchangeFlags flags_;
  std::list<Binding> bindings_;
  // (destination, routing key) -> its bindings (they differ in arguments):
  // bind, unbind and the duplicate check cost O(1), not a scan of the list.
  std::unordered_map<std::string, std::vector<std::list<Binding>::iterator>> index_;
  std::unordered_map<std::string, std::vector<Destination>> direct_;
  TopicTrie<Destination> topic_;
};

template <class H, class F>
void Exchange::match(std::string_view routing_key, H&& headers, F&& out) const {
  switch (type_) {
    case ExchangeType::kDirect: {
      auto it = direct_.find(std::string(routing_key));
      if (it != direct_.end())
        for (const auto& d : it->second) out(d);
      return;
    }
    case ExchangeType::kFanout:
      for (const auto& b : bindings_) out(b.destination);
      return;
    case ExchangeType::kTopic:
      topic_.match(routing_key, out);
      return;
    case ExchangeType::kHeaders:
      for (const auto& b : bindings_)
        if (headers_binding_matches(b, headers())) out(b.destination);
      return;
  }
}

}  // namespace warren::detail
