#include "exchange.hpp"

#include <algorithm>

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

namespace {
bool same(const Binding& a, const Binding& b) {
  return a.destination == b.destination && a.routing_key == b.routing_key && a.arguments == b.arguments;
}
}  // namespace

bool Exchange::bind(Binding binding) {
  for (const auto& b : bindings_)
    if (same(b, binding)) return false;
  if (type_ == ExchangeType::kDirect) direct_[binding.routing_key].push_back(binding.destination);
  if (type_ == ExchangeType::kTopic) topic_.insert(binding.routing_key, binding.destination);
  bindings_.push_back(std::move(binding));
  return true;
}

bool Exchange::unbind(const Binding& binding) {
  auto it = std::find_if(bindings_.begin(), bindings_.end(), [&](const Binding& b) { return same(b, binding); });
  if (it == bindings_.end()) return false;
  if (type_ == ExchangeType::kDirect) {
    auto d = direct_.find(it->routing_key);
    auto& v = d->second;
    v.erase(std::find(v.begin(), v.end(), it->destination));
    if (v.empty()) direct_.erase(d);
  }
  if (type_ == ExchangeType::kTopic) {
    // The trie holds (key, destination) once; keep it while another binding
    // with other arguments still needs the same pair.
    bool shared = std::any_of(bindings_.begin(), bindings_.end(), [&](const Binding& b) {
      return &b != &*it && b.destination == it->destination && b.routing_key == it->routing_key;
    });
    if (!shared) topic_.erase(it->routing_key, it->destination);
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
