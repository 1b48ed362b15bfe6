#include "dead_letter.hpp"

#include <optional>

#include "warren/protocol.hpp"

namespace warren::detail {
namespace {

// The text field `name` of an x-death entry, or empty.
std::string_view entry_text(const FieldValue& entry, const char* name) {
  if (!entry.is<FieldTable>()) return {};
  const auto& table = entry.as<FieldTable>();
  auto it = table.find(name);
  return it != table.end() && it->second.is<std::string>()
             ? std::string_view(it->second.as<std::string>())
             : std::string_view();
}

FieldTable new_entry(const Death& death, const std::optional<std::string>& expiration) {
  FieldTable entry;
  entry["queue"] = std::string(death.queue);
  entry["reason"] = std::string(reason_name(death.reason));
  entry["count"] = FieldValue(std::int64_t{1});
  entry["time"] = FieldValue(death.time);
  entry["exchange"] = std::string(death.exchange);
  entry["routing-keys"] = FieldArray{FieldValue(std::string(death.routing_key))};
  if (expiration) entry["original-expiration"] = *expiration;
  return entry;
}

}  // namespace

std::string_view reason_name(DeathReason reason) {
  switch (reason) {
    case DeathReason::kRejected:
      return "rejected";
    case DeathReason::kExpired:
      return "expired";
    case DeathReason::kMaxLen:
      return "maxlen";
    case DeathReason::kDeliveryLimit:
      return "delivery_limit";
  }
  return "rejected";
}

DeadLetterCopy dead_letter_copy(std::string_view raw, const Death& death) {
  Properties p = protocol::decode_properties(raw);
  FieldTable headers = p.headers ? std::move(*p.headers) : FieldTable{};
  FieldArray old;
  if (auto it = headers.find("x-death"); it != headers.end() && it->second.is<FieldArray>())
    old = it->second.as<FieldArray>();
  auto reason = reason_name(death.reason);
  DeadLetterCopy copy;
  copy.deaths.reserve(old.size() + 1);
  copy.deaths.emplace_back();  // the front: filled below
  bool found = false;
  for (auto& entry : old) {
    if (!found && entry_text(entry, "queue") == death.queue &&
        entry_text(entry, "reason") == reason) {
      // Counts up; keeps the first time, exchange and routing keys, as RabbitMQ does.
      FieldTable updated = entry.as<FieldTable>();
      auto count = updated.find("count");
      std::int64_t n = count != updated.end() && count->second.is<std::int64_t>()
                           ? count->second.as<std::int64_t>()
                           : 0;
      updated["count"] = FieldValue(n + 1);
      copy.deaths.front() = FieldValue(std::move(updated));
      found = true;
    } else {
      copy.deaths.push_back(std::move(entry));
    }
  }
  if (!found) copy.deaths.front() = FieldValue(new_entry(death, p.expiration));
  if (!headers.contains("x-first-death-queue")) {
    headers["x-first-death-queue"] = std::string(death.queue);
    headers["x-first-death-reason"] = std::string(reason);
    headers["x-first-death-exchange"] = std::string(death.exchange);
  }
  headers["x-death"] = copy.deaths;
  p.headers = std::move(headers);
  p.expiration.reset();
  copy.properties = protocol::encode_properties(p);
  return copy;
}

bool is_dead_letter_cycle(const FieldArray& deaths, std::string_view queue) {
  for (const auto& entry : deaths) {
    if (entry_text(entry, "reason") == "rejected") return false;
    if (entry_text(entry, "queue") == queue) return true;
  }
  return false;
}

}  // namespace warren::detail
