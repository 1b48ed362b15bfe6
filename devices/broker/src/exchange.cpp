#include "exchange.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "headers_match.hpp"

namespace warren::detail {

std::optional<ExchangeType> parse_exchange_type(std::string_view name) {
  if (name == "direct") return ExchangeType::kDirect;
  if (name == "fanout") return ExchangeType::kFanout;
  if (name == "topic") return ExchangeType::kTopic;
  if (name == "headers") return ExchangeType::kHeaders;
  return std::nullopt;
}

std::string_view exchange_type_name(ExchangeType type) {
  switch (type) {
    case ExchangeType::kDirect: return "direct";
    case ExchangeType::kFanout: return "fanout";
    case ExchangeType::kTopic: return "topic";
    case ExchangeType::kHeaders: return "headers";
  }
  return "direct";
}

std::string Exchange::alternate_exchange() const {
  auto it = flags_.arguments.find("alternate-exchange");
  if (it == flags_.arguments.end() || !it->second.is<std::string>()) return {};
  return it->second.as<std::string>();
}

std::string Exchange::index_key(const Binding& b) {
  const void* target = b.destination.queue ? static_cast<const void*>(b.destination.queue)
                                           : static_cast<const void*>(b.destination.exchange);
  std::string key(sizeof target + 1, '\0');
  std::memcpy(key.data(), &target, sizeof target);
  key[sizeof target] = b.destination.queue ? 'q' : 'x';
  key.append(b.routing_key);
  return key;
}

bool Exchange::bind(Binding binding) {
  auto& same_route = index_[index_key(binding)];
  for (auto it : same_route)
    if (it->arguments == binding.arguments) return false;
  if (type_ == ExchangeType::kDirect) direct_[binding.routing_key].push_back(binding.destination);
  // The trie holds each (key, destination) once, however many arguments.
  if (type_ == ExchangeType::kTopic && same_route.empty()) topic_.insert(binding.routing_key, binding.destination);
  bindings_.push_back(std::move(binding));
  same_route.push_back(std::prev(bindings_.end()));
  return true;
}

bool Exchange::unbind(const Binding& binding) {
  auto entry = index_.find(index_key(binding));
  if (entry == index_.end()) return false;
  auto& same_route = entry->second;
  auto pos = std::find_if(same_route.begin(), same_route.end(),
                          [&](auto it) { return it->arguments == binding.arguments; });
  if (pos == same_route.end()) return false;
  auto it = *pos;
  if (type_ == ExchangeType::kDirect) {
    auto d = direct_.find(it->routing_key);
    auto& v = d->second;
    v.erase(std::find(v.begin(), v.end(), it->destination));
    if (v.empty()) direct_.erase(d);
  }
  same_route.erase(pos);
  if (same_route.empty()) {
    if (type_ == ExchangeType::kTopic) topic_.erase(it->routing_key, it->destination);
    index_.erase(entry);
  }
  bindings_.erase(it);
  return true;
}

std::size_t Exchange::unbind_all(const Destination& destination) {
  std::vector<Binding> doomed;
  for (const auto& b : bindings_)
    if (b.destination == destination) doomed.push_back(b);
  for (const auto& b : doomed) unbind(b);
  return doomed.size();
}

bool Exchange::headers_binding_matches(const Binding& b, const FieldTable* headers) const {
  return headers_match(b.arguments, headers);
}

}  // namespace warren::detail
