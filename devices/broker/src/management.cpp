// management.query: the broker's state as rows, for warrenctl (the
// rabbitmqctl list_* verbs). Columns are specified in docs/protocol.md.
#include <unistd.h>

#include <cstdio>
#include <map>

#include "broker_core.hpp"
#include "warren/version.hpp"

namespace warren::detail {
namespace {

using Ms = std::chrono::milliseconds;

std::int64_t ms_since(Clock::time_point then) {
  return std::chrono::duration_cast<Ms>(Clock::now() - then).count();
}

FieldValue count(std::size_t n) { return FieldValue(static_cast<long long>(n)); }

// Resident memory of this process, from /proc/self/statm (0 if unreadable).
std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long pages = 0, resident = 0;
  int got = std::fscanf(f, "%lu %lu", &pages, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// Unacked deliveries per queue, over every channel of every connection.
template <class Sessions>
std::map<const Queue*, std::size_t> unacked_by_queue(const Sessions& sessions) {
  std::map<const Queue*, std::size_t> counts;
  for (const auto& [id, s] : sessions)
    for (const auto& [n, ch] : s->channels)
      ch.unacked.for_each([&](const Unacked& u) { ++counts[u.queue.get()]; });
  return counts;
}

}  // namespace

FieldTable BrokerCore::management(std::string_view what) {
  FieldArray rows;
  if (what == "overview") {
    std::size_t channels = 0, consumers = 0, unacked = 0, ready = 0;
    for (const auto& [id, s] : sessions_) {
      channels += s->channels.size();
      for (const auto& [n, ch] : s->channels) {
        consumers += ch.consumers.size();
        unacked += ch.unacked.size();
      }
    }
    for (const auto& [name, q] : queues_) ready += q->ready_count();
    rows.push_back(FieldTable{{"version", kVersionString},
                              {"uptime_ms", FieldValue(static_cast<long long>(ms_since(started_at_)))},
                              {"memory_bytes", count(resident_bytes())},
                              {"connections", count(sessions_.size())},
                              {"channels", count(channels)},
                              {"queues", count(queues_.size())},
                              {"exchanges", count(exchanges_.size() + 1)},  // and the default exchange
                              {"consumers", count(consumers)},
                              {"messages_ready", count(ready)},
                              {"messages_unacked", count(unacked)},
                              {"published", FieldValue(static_cast<long long>(published_.load()))},
                              {"delivered", FieldValue(static_cast<long long>(delivered_.load()))},
                              {"publish_rate", publish_rate_},
                              {"deliver_rate", deliver_rate_},
                              {"message_bytes", count(message_bytes_)},
                              {"memory_limit", count(options_.memory_limit)},
                              {"blocked", memory_blocked_},
                              {"refused", FieldValue(static_cast<long long>(refused_.load()))},
                              {"paged_out", FieldValue(static_cast<long long>(paged_out_))},
                              {"paged_in", FieldValue(static_cast<long long>(paged_in_))}});
  } else if (what == "queues") {
    auto unacked = unacked_by_queue(sessions_);
    for (const auto& [name, q] : queues_) {
      const auto& f = q->flags();
      rows.push_back(FieldTable{{"name", name},
                                {"durable", f.durable},
                                {"exclusive", f.exclusive},
                                {"auto_delete", f.auto_delete},
                                {"arguments", f.arguments},
                                {"messages_ready", count(q->ready_count())},
                                {"messages_unacked", count(unacked[q.get()])},
                                {"consumers", count(q->consumers().size())},
                                {"publish_rate", q->publish_rate},
                                {"deliver_rate", q->deliver_rate}});
    }
  } else if (what == "exchanges") {
    rows.push_back(FieldTable{{"name", ""}, {"type", "direct"}, {"durable", true}, {"auto_delete", false},
                              {"internal", false}, {"arguments", FieldTable{}}});
    for (const auto& [name, x] : exchanges_) {
      const auto& f = x->flags();
      rows.push_back(FieldTable{{"name", name},
                                {"type", std::string(exchange_type_name(x->type()))},
                                {"durable", f.durable},
                                {"auto_delete", f.auto_delete},
                                {"internal", f.internal},
                                {"arguments", f.arguments}});
    }
  } else if (what == "bindings") {
    for (const auto& [name, q] : queues_)  // the default exchange's implicit bindings
      rows.push_back(FieldTable{{"source", ""}, {"destination", name}, {"destination_kind", "queue"},
                                {"routing_key", name}, {"arguments", FieldTable{}}});
    for (const auto& [name, x] : exchanges_) {
      for (const auto& b : x->bindings()) {
        bool to_queue = b.destination.queue != nullptr;
        rows.push_back(FieldTable{
            {"source", name},
            {"destination", to_queue ? b.destination.queue->name() : b.destination.exchange->name()},
            {"destination_kind", to_queue ? "queue" : "exchange"},
            {"routing_key", b.routing_key},
            {"arguments", b.arguments}});
      }
    }
  } else if (what == "connections") {
    for (const auto& [id, s] : sessions_) {
      if (s->closing || s->dead) continue;
      rows.push_back(FieldTable{{"peer", s->peer()},
                                {"user", s->user()},
                                {"channels", count(s->channels.size())},
                                {"heartbeat_ms", FieldValue(static_cast<long long>(s->heartbeat.count()))},
                                {"connected_ms", FieldValue(static_cast<long long>(ms_since(s->opened_at)))}});
    }
  } else if (what == "consumers") {
    for (const auto& [id, s] : sessions_) {
      for (const auto& [n, ch] : s->channels) {
        for (const auto& [tag, c] : ch.consumers)
          rows.push_back(FieldTable{{"queue", c->queue->name()},
                                    {"consumer_tag", tag},
                                    {"channel", count(n)},
                                    {"peer", s->peer()},
                                    {"prefetch", count(c->prefetch)},
                                    {"unacked", count(c->unacked)},
                                    {"ack_mode", c->no_ack ? "auto" : "manual"}});
      }
    }
  } else if (what == "users") {
    rows = users_.user_rows();
  } else if (what == "permissions") {
    rows = users_.permission_rows();
  } else {
    throw Refusal{ReplyCode::kNotFound,
                  "no management table '" + std::string(what) +
                      "' (overview, queues, exchanges, bindings, connections, consumers, users, permissions)"};
  }
  return FieldTable{{"rows", std::move(rows)}};
}

namespace {

// An argument of a management.command: 406 when missing or of another type.
const std::string& text_argument(const FieldTable& arguments, const char* name) {
  auto it = arguments.find(name);
  if (it == arguments.end() || !it->second.is<std::string>())
    throw Refusal{ReplyCode::kPreconditionFailed, std::string("argument '") + name + "' (a string) is missing"};
  return it->second.as<std::string>();
}

std::vector<std::string> tags_argument(const FieldTable& arguments) {
  std::vector<std::string> tags;
  auto it = arguments.find("tags");
  if (it == arguments.end()) return tags;
  if (!it->second.is<FieldArray>())
    throw Refusal{ReplyCode::kPreconditionFailed, "argument 'tags' must be an array of strings"};
  for (const auto& t : it->second.as<FieldArray>()) {
    if (!t.is<std::string>()) throw Refusal{ReplyCode::kPreconditionFailed, "argument 'tags' must be an array of strings"};
    tags.push_back(t.as<std::string>());
  }
  return tags;
}

// Runs a change of `users`, turning its complaint into a 406.
template <class F>
void change(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    throw Refusal{ReplyCode::kPreconditionFailed, e.what()};
  }
}

}  // namespace

FieldTable BrokerCore::management_command(std::string_view verb, const FieldTable& arguments) {
  auto existing = [&](const char* argument) -> const std::string& {
    const auto& name = text_argument(arguments, argument);
    if (!users_.find(name)) throw Refusal{ReplyCode::kNotFound, "no user '" + name + "'"};
    return name;
  };
  FieldTable result;
  if (verb == "add_user") {
    const auto& name = text_argument(arguments, "name");
    if (users_.find(name)) throw Refusal{ReplyCode::kPreconditionFailed, "user '" + name + "' already exists"};
    change([&] { users_.put_user(name, tags_argument(arguments)); });
  } else if (verb == "delete_user") {
    const auto& name = existing("name");
    if (users_.size() == 1)
      throw Refusal{ReplyCode::kPreconditionFailed,
                    "cannot delete '" + name + "', the last user: with no users the broker lets every connection do "
                    "everything (docs/security.md)"};
    users_.remove_user(name);
  } else if (verb == "set_user_tags") {
    const auto& name = existing("name");
    change([&] { users_.put_user(name, tags_argument(arguments)); });
  } else if (verb == "set_permissions") {
    const auto& name = existing("user");
    const auto& configure = text_argument(arguments, "configure");
    const auto& write = text_argument(arguments, "write");
    const auto& read = text_argument(arguments, "read");
    change([&] { users_.set_permissions(name, configure, write, read); });
  } else if (verb == "clear_permissions") {
    users_.clear_permissions(existing("user"));
  } else {
    throw Refusal{ReplyCode::kNotFound,
                  "no management command '" + std::string(verb) +
                      "' (add_user, delete_user, set_user_tags, set_permissions, clear_permissions)"};
  }
  log_.write(LogLevel::kInfo, "users changed", std::string(verb) + ": " + std::to_string(users_.size()) + " users");
  definitions_changed();
  return result;
}

}  // namespace warren::detail
