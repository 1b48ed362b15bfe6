// The data directory: durable definitions (exchanges, queues, bindings,
// users and permissions) in one file rewritten atomically on every change,
// and the message journal (store/journal.hpp). docs/journal.md describes both.
#include <chrono>
#include <filesystem>
#include <set>
#include <system_error>

#include "broker_core.hpp"

namespace warren::detail {
namespace {

constexpr std::string_view kDefinitionsFile = "definitions";
constexpr std::int64_t kDefinitionsVersion = 1;

// A field of a definitions row, or a clear error naming what is wrong.
template <class T>
const T& field(const FieldTable& row, const char* name) {
  auto it = row.find(name);
  if (it == row.end() || !it->second.is<T>())
    throw std::runtime_error(std::string("definitions file: a row lacks '") + name + "' or has the wrong type");
  return it->second.as<T>();
}

const FieldTable& as_row(const FieldValue& v) {
  if (!v.is<FieldTable>()) throw std::runtime_error("definitions file: a row is not a table");
  return v.as<FieldTable>();
}

const FieldArray& rows(const FieldTable& definitions, const char* name) {
  static const FieldArray kNone;
  auto it = definitions.find(name);
  return it == definitions.end() ? kNone : field<FieldArray>(definitions, name);
}

}  // namespace

void BrokerCore::open_store() {
  namespace fs = std::filesystem;
  auto started = Clock::now();
  try {
    lock_.emplace(fs::path(options_.data_dir));
    if (auto bytes = store::read_file(lock_->dir() / kDefinitionsFile)) {
      FieldTable definitions;
      try {
        definitions = protocol::decode_table(*bytes);
      } catch (const ProtocolError& e) {
        throw std::runtime_error("definitions file " + (lock_->dir() / kDefinitionsFile).string() +
                                 " is unreadable: " + e.text());
      }
      restore_definitions(definitions);
    }
    std::vector<store::RecoveredMessage> recovered;
    store::JournalOptions options;
    options.dir = lock_->dir();
    options.sync_interval = options_.sync_interval;
    // With a memory limit, a journal bigger than memory is not loaded whole:
    // bodies past the paging threshold stay on disk until delivered.
    if (options_.memory_limit) options.recovery_body_budget = options_.memory_limit / 2;
    options.log = [this](std::string_view line) {
      // Routine reports are info; anything else (dropped records, failed
      // compactions, I/O errors) deserves an operator's attention.
      bool routine = line.starts_with("journal: recovered ") || line.starts_with("journal: compacted ");
      log_.write(routine ? LogLevel::kInfo : LogLevel::kWarning, "store", line);
    };
    journal_ = std::make_unique<store::Journal>(std::move(options), recovered);
    restore_messages(std::move(recovered));
  } catch (const std::system_error& e) {
    throw std::runtime_error("data directory " + options_.data_dir + ": " + e.what());
  }
  std::size_t durable_queues = 0, messages = 0;
  for (const auto& [name, q] : queues_) {
    durable_queues += q->kept_on_disk();
    messages += q->ready_count();
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  log_.write(LogLevel::kInfo, "data directory",
             options_.data_dir + ": " + std::to_string(durable_queues) + " durable queues, " +
                 std::to_string(messages) + " messages recovered in " + std::to_string(ms) + " ms");
}

void BrokerCore::definitions_changed() {
  if (!lock_ || restoring_) return;
  try {
    save_definitions();
  } catch (const std::exception& e) {
    // The change stands in memory; the next successful save carries it.
    log_.write(LogLevel::kError, "definitions not saved", e.what());
  }
}

// Rows with the columns of management.query (docs/protocol.md), for what is
// kept: durable exchanges other than the predeclared amq.*, durable
// non-exclusive queues, bindings whose two ends are both kept; and every
// user and its permissions.
void BrokerCore::save_definitions() {
  FieldArray exchanges, queues, bindings;
  for (const auto& [name, x] : exchanges_) {
    const auto& f = x->flags();
    if (f.durable && !name.starts_with("amq."))
      exchanges.push_back(FieldTable{{"name", name},
                                     {"type", std::string(exchange_type_name(x->type()))},
                                     {"auto_delete", f.auto_delete},
                                     {"internal", f.internal},
                                     {"arguments", f.arguments}});
    for (const auto& b : x->bindings()) {
      if (!kept_on_disk(*x, b.destination)) continue;
      const auto& d = b.destination;
      FieldTable row;
      row["source"] = name;
      row["destination"] = d.queue ? d.queue->name() : d.exchange->name();
      row["destination_kind"] = d.queue ? "queue" : "exchange";
      row["routing_key"] = b.routing_key;
      row["arguments"] = b.arguments;
      bindings.emplace_back(std::move(row));
    }
  }
  for (const auto& [name, q] : queues_)
    if (q->kept_on_disk())
      queues.push_back(FieldTable{
          {"name", name}, {"auto_delete", q->flags().auto_delete}, {"arguments", q->flags().arguments}});
  FieldTable definitions{{"version", FieldValue(static_cast<long long>(kDefinitionsVersion))},
                         {"exchanges", std::move(exchanges)},
                         {"queues", std::move(queues)},
                         {"bindings", std::move(bindings)},
                         {"users", users_.user_rows()},
                         {"permissions", users_.permission_rows()}};
  store::write_file_atomically(lock_->dir() / kDefinitionsFile, protocol::encode_table(definitions));
}

void BrokerCore::restore_definitions(const FieldTable& definitions) {
  restoring_ = true;
  auto version = field<std::int64_t>(definitions, "version");
  if (version != kDefinitionsVersion)
    throw std::runtime_error("definitions file has version " + std::to_string(version) + "; this broker reads " +
                             std::to_string(kDefinitionsVersion));
  for (const auto& v : rows(definitions, "exchanges")) {
    const auto& row = as_row(v);
    const auto& name = field<std::string>(row, "name");
    auto type = parse_exchange_type(field<std::string>(row, "type"));
    if (!type) throw std::runtime_error("definitions file: exchange " + name + " has an unknown type");
    if (!find_exchange(name))
      declare_exchange(name, *type,
                       ExchangeFlags{true, field<bool>(row, "auto_delete"), field<bool>(row, "internal"),
                                     field<FieldTable>(row, "arguments")});
  }
  for (const auto& v : rows(definitions, "queues")) {
    const auto& row = as_row(v);
    const auto& name = field<std::string>(row, "name");
    QueueLimits limits;
    if (auto error = parse_queue_limits(field<FieldTable>(row, "arguments"), name, limits))
      log_.write(LogLevel::kWarning, "definitions file", *error + " (ignored)");  // written before the check existed
    if (!find_queue(name))
      declare_queue(name, QueueFlags{true, false, field<bool>(row, "auto_delete"), field<FieldTable>(row, "arguments")},
                    nullptr);
  }
  for (const auto& v : rows(definitions, "bindings")) {
    const auto& row = as_row(v);
    Exchange* source = find_exchange(field<std::string>(row, "source"));
    const auto& destination = field<std::string>(row, "destination");
    Destination d;
    if (field<std::string>(row, "destination_kind") == "queue") d.queue = find_queue(destination).get();
    else d.exchange = find_exchange(destination);
    if (!source || (!d.queue && !d.exchange)) continue;  // cannot happen with files this broker wrote
    bind(*source, Binding{d, field<std::string>(row, "routing_key"), field<FieldTable>(row, "arguments")});
  }
  // Files written before users existed have neither key: no users.
  try {
    users_.load(rows(definitions, "users"), rows(definitions, "permissions"));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("definitions file: users: ") + e.what());
  }
  restoring_ = false;
}

void BrokerCore::restore_messages(std::vector<store::RecoveredMessage> recovered) {
  std::set<std::string> gone;  // queues the journal owes messages to that no longer exist
  now_ = Clock::now();
  for (auto& r : recovered) {
    // Owed to durable queues only, so pageable.
    auto m = StoredMessage::make({.exchange = r.exchange,
                                  .routing_key = r.routing_key,
                                  .properties = r.properties,
                                  .body = Content{r.body},
                                  .journal_id = r.id,
                                  .pageable = true});
    if (r.paged) m->restore_paged(r.body_size);
    m->charge(&message_bytes_);
    r.body = std::string();  // one copy at a time
    // TTLs count from now: the clock the expiry was set on did not survive.
    std::optional<std::chrono::milliseconds> ttl;
    try {
      ttl = expiration_of(m->properties()).ttl;
    } catch (const ProtocolError&) {
    }
    for (const auto& [name, redelivered] : r.queues) {
      auto q = find_queue(name);
      if (q && q->kept_on_disk()) q->push(m, expiry_of(*q, ttl), redelivered);
      else gone.insert(name);
    }
  }
  for (const auto& name : gone) {
    journal_->drop_queue(name);
    journal_dirty_ = true;
  }
  // Limits hold from the start (messages unacked at shutdown come back as
  // ready, and may overflow); dead letters go out on the loop's first turn.
  for (const auto& [name, q] : queues_) {
    if (q->limits().overflow == Overflow::kDropHead && q->limits().has_length_limit()) drop_overflow(*q);
    schedule_expiry(*q);
  }
}

}  // namespace warren::detail
