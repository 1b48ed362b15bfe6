// warrenctl: inspect and poke a running warrend from the shell, the way
// rabbitmqctl and amqp-publish / amqp-get do.
//
//   warrenctl [--endpoint E] [--json] VERB [ARGS...]
//
// Exit status: 0 done; 2 usage error; 3 cannot reach the broker; 4 the
// broker refused (the reply code and text are printed).
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <iterator>
#include <map>

#include <boost/program_options.hpp>

#include <warren/warren.hpp>

namespace po = boost::program_options;

namespace {

constexpr int kUsage = 2, kUnreachable = 3, kRefused = 4;

// A value in a text table: strings bare, everything else as JSON.
std::string to_text(const warren::FieldValue& v) {
  if (v.is<std::string>()) return v.as<std::string>();
  return warren::to_json(v);
}

// rabbitmqctl's list format: a header line, then one tab-separated line per row.
void print_rows(const std::vector<warren::FieldTable>& rows, std::vector<std::string> columns, bool json) {
  if (columns.empty() && !rows.empty())
    for (const auto& [k, v] : rows.front()) columns.push_back(k);
  if (json) {
    std::string out = "[";
    for (const auto& row : rows) {
      warren::FieldTable picked;
      for (const auto& c : columns)
        if (auto it = row.find(c); it != row.end()) picked.emplace(c, it->second);
      out += (out.size() > 1 ? "," : "") + warren::to_json(picked);
    }
    std::cout << out << "]\n";
    return;
  }
  for (std::size_t i = 0; i < columns.size(); ++i) std::cout << (i ? "\t" : "") << columns[i];
  std::cout << "\n";
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      auto it = row.find(columns[i]);
      std::cout << (i ? "\t" : "") << (it == row.end() ? "" : to_text(it->second));
    }
    std::cout << "\n";
  }
}

struct Flags {
  std::string endpoint = "tcp://127.0.0.1:5673";
  std::string curve_server_key, curve_key;  // CURVE: the broker's NAME.pub, our NAME.key
  bool json = false, durable = false, exclusive = false, auto_delete = false, internal = false;
  bool if_unused = false, if_empty = false, requeue = false, persistent = false;
  long count = 1;
  double timeout = 0;  // consume: seconds; 0 waits for ever
  std::string content_type, correlation_id, reply_to, destination_type = "queue", tags;
  std::vector<std::string> headers;
  std::vector<std::string> words;  // the verb and its arguments
};

// "administrator,monitoring" -> ["administrator", "monitoring"]; "" -> [].
warren::FieldArray tag_list(const std::string& text) {
  warren::FieldArray tags;
  std::stringstream in(text);
  for (std::string tag; std::getline(in, tag, ',');)
    if (!tag.empty()) tags.emplace_back(tag);
  return tags;
}

[[noreturn]] void usage(const std::string& text) {
  std::cerr << "warrenctl: " << text << " (warrenctl --help)\n";
  std::exit(kUsage);
}

const std::string& arg(const Flags& f, std::size_t i, const char* what) {
  if (i >= f.words.size()) usage(f.words[0] + " needs " + what);
  return f.words[i];
}

int run(const Flags& f) {
  const std::string& verb = f.words[0];
  // verb -> management table and its default columns (docs/protocol.md).
  struct List {
    const char* table;
    std::vector<std::string> columns;
  };
  static const std::map<std::string, List> kLists = {
      {"list_queues",
       {"queues",
        {"name", "messages_ready", "messages_unacked", "consumers", "publish_rate", "deliver_rate", "durable",
         "exclusive", "auto_delete", "arguments"}}},
      {"list_exchanges", {"exchanges", {"name", "type", "durable", "auto_delete", "internal", "arguments"}}},
      {"list_bindings", {"bindings", {"source", "destination", "destination_kind", "routing_key", "arguments"}}},
      {"list_connections", {"connections", {"peer", "user", "channels", "heartbeat_ms", "connected_ms"}}},
      {"list_consumers",
       {"consumers", {"queue", "consumer_tag", "channel", "peer", "prefetch", "unacked", "ack_mode"}}},
      {"list_users", {"users", {"name", "tags"}}},
      {"list_permissions", {"permissions", {"user", "configure", "write", "read"}}}};
  warren::ConnectionOptions options{.connect_timeout = std::chrono::seconds(5)};
  if (!f.curve_server_key.empty() || !f.curve_key.empty()) {
    if (f.curve_server_key.empty() || f.curve_key.empty())
      usage("--curve-server-key and --curve-key go together");
    try {
      options.curve = warren::CurveClientOptions::from_files(f.curve_server_key, f.curve_key);
    } catch (const warren::Error& e) {
      usage(e.text());
    }
  }
  warren::Connection conn(f.endpoint, options);
  auto ch = conn.channel();
  if (verb == "status") {
    auto rows = ch.management_query("overview");
    if (f.json) return print_rows(rows, {}, true), 0;
    for (const auto& [k, v] : rows.at(0)) std::cout << k << ": " << to_text(v) << "\n";
  } else if (auto list = kLists.find(verb); list != kLists.end()) {
    std::vector<std::string> columns(f.words.begin() + 1, f.words.end());
    print_rows(ch.management_query(list->second.table), columns.empty() ? list->second.columns : columns, f.json);
  } else if (verb == "add_user") {
    ch.management_command("add_user", {{"name", arg(f, 1, "a user name")}, {"tags", tag_list(f.tags)}});
  } else if (verb == "delete_user") {
    ch.management_command("delete_user", {{"name", arg(f, 1, "a user name")}});
  } else if (verb == "set_user_tags") {
    warren::FieldArray tags(f.words.begin() + std::min<std::size_t>(2, f.words.size()), f.words.end());
    ch.management_command("set_user_tags", {{"name", arg(f, 1, "a user name")}, {"tags", std::move(tags)}});
  } else if (verb == "set_permissions") {
    ch.management_command("set_permissions", {{"user", arg(f, 1, "a user name")},
                                              {"configure", arg(f, 2, "CONFIGURE WRITE READ expressions")},
                                              {"write", arg(f, 3, "CONFIGURE WRITE READ expressions")},
                                              {"read", arg(f, 4, "CONFIGURE WRITE READ expressions")}});
  } else if (verb == "clear_permissions") {
    ch.management_command("clear_permissions", {{"user", arg(f, 1, "a user name")}});
  } else if (verb == "declare_queue") {
    auto r = ch.queue_declare(arg(f, 1, "a queue name"),
                              {.durable = f.durable, .exclusive = f.exclusive, .auto_delete = f.auto_delete});
    std::cout << r.queue << "\n";
  } else if (verb == "delete_queue") {
    std::cout << ch.queue_delete(arg(f, 1, "a queue name"), {.if_unused = f.if_unused, .if_empty = f.if_empty})
              << " messages deleted\n";
  } else if (verb == "purge_queue") {
    std::cout << ch.queue_purge(arg(f, 1, "a queue name")) << " messages purged\n";
  } else if (verb == "declare_exchange") {
    ch.exchange_declare(arg(f, 1, "an exchange name"), arg(f, 2, "a type"),
                        {.durable = f.durable, .auto_delete = f.auto_delete, .internal = f.internal});
  } else if (verb == "delete_exchange") {
    ch.exchange_delete(arg(f, 1, "an exchange name"), {.if_unused = f.if_unused});
  } else if (verb == "bind" || verb == "unbind") {
    const auto& source = arg(f, 1, "a source exchange");
    const auto& destination = arg(f, 2, "a destination");
    std::string key = f.words.size() > 3 ? f.words[3] : "";
    bool to_queue = f.destination_type == "queue";
    if (!to_queue && f.destination_type != "exchange") usage("--destination-type is queue or exchange");
    if (verb == "bind") {
      to_queue ? ch.queue_bind(destination, source, key) : ch.exchange_bind(destination, source, key);
    } else {
      to_queue ? ch.queue_unbind(destination, source, key) : ch.exchange_unbind(destination, source, key);
    }
  } else if (verb == "publish") {
    const auto& exchange = arg(f, 1, "an exchange (\"\" for the default)");
    const auto& key = arg(f, 2, "a routing key");
    std::string body;
    if (f.words.size() > 3) body = f.words[3];
    else body.assign(std::istreambuf_iterator<char>(std::cin), {});
    warren::Properties p;
    if (!f.content_type.empty()) p.content_type = f.content_type;
    if (!f.correlation_id.empty()) p.correlation_id = f.correlation_id;
    if (!f.reply_to.empty()) p.reply_to = f.reply_to;
    if (f.persistent) p.delivery_mode = warren::kPersistent;
    for (const auto& h : f.headers) {
      auto eq = h.find('=');
      if (eq == std::string::npos) usage("--header takes key=value");
      if (!p.headers) p.headers.emplace();
      (*p.headers)[h.substr(0, eq)] = h.substr(eq + 1);
    }
    bool returned = false;
    ch.on_return([&](const warren::ReturnedMessage&) { returned = true; });
    // Confirmed: warrenctl returns once the broker has taken the message (on
    // disk, when persistent and routed to a durable queue).
    ch.confirm_select();
    ch.basic_publish(exchange, key, body, p, {.mandatory = true});
    bool acked = ch.wait_for_confirms();
    conn.process_events(std::chrono::milliseconds(0));  // a return comes before its confirm
    if (!acked) {
      std::cerr << "warrenctl: the broker refused the message (basic.nack)\n";
      return kRefused;
    }
    if (returned) {
      std::cerr << "warrenctl: 312 NO_ROUTE - the message reached no queue\n";
      return kRefused;
    }
  } else if (verb == "get" || verb == "consume") {
    // get: what is there now (basic.get); consume: waits for messages
    // (basic.consume) until --count arrived or --timeout passed.
    const auto& queue = arg(f, 1, "a queue name");
    auto print = [&](const warren::Message& m) {
      if (f.json) {
        warren::FieldTable t{{"body", m.body}, {"routing_key", m.routing_key}, {"exchange", m.exchange},
                             {"redelivered", m.redelivered}};
        if (m.properties.content_type) t["content_type"] = *m.properties.content_type;
        if (m.properties.correlation_id) t["correlation_id"] = *m.properties.correlation_id;
        if (m.properties.reply_to) t["reply_to"] = *m.properties.reply_to;
        if (m.properties.delivery_mode) t["delivery_mode"] = static_cast<long long>(*m.properties.delivery_mode);
        if (m.properties.headers) t["headers"] = *m.properties.headers;
        std::cout << warren::to_json(t) << "\n";
      } else {
        std::cout << m.body << "\n";
      }
    };
    // Acked as printed, or with --requeue all put back together at the end
    // (one by one, each would come straight back to the next get).
    std::uint64_t last_tag = 0;
    long got = 0;
    if (verb == "get") {
      for (; got < f.count; ++got) {
        auto m = ch.basic_get(queue);
        if (!m) break;
        print(*m);
        last_tag = m->delivery_tag;
        if (!f.requeue) ch.basic_ack(m->delivery_tag);
      }
    } else {
      ch.basic_qos(static_cast<std::uint16_t>(std::clamp<long>(f.count, 1, 65535)));
      auto tag = ch.basic_consume(queue, [&](const warren::Message& m) {
        if (got >= f.count) return;  // past the count: left unacked, requeued on close
        ++got;
        print(m);
        std::cout.flush();
        last_tag = m.delivery_tag;
        if (!f.requeue) ch.basic_ack(m.delivery_tag);
        if (got >= f.count) conn.stop();
      });
      if (f.timeout > 0) conn.run_for(std::chrono::milliseconds(static_cast<long long>(f.timeout * 1000)));
      else conn.run();
      ch.basic_cancel(tag);
    }
    if (f.requeue && last_tag) ch.basic_nack(last_tag, true, true);
    if (verb == "consume" && got < f.count) {
      std::cerr << "warrenctl: " << got << " of " << f.count << " messages within " << f.timeout << " s\n";
      return kRefused;
    }
  } else {
    usage("unknown verb '" + verb + "'");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  po::options_description desc(
      "warrenctl [options] VERB [ARGS...]\n\n"
      "Verbs: status | list_queues|list_exchanges|list_bindings|list_connections|list_consumers [COLUMN...]\n"
      "       declare_queue NAME | delete_queue NAME | purge_queue NAME\n"
      "       declare_exchange NAME TYPE | delete_exchange NAME\n"
      "       bind SOURCE DESTINATION [KEY] | unbind SOURCE DESTINATION [KEY]\n"
      "       publish EXCHANGE ROUTING_KEY [BODY]   (BODY from stdin when absent; waits for the confirm)\n"
      "       get QUEUE                             (--count N, --requeue, --json)\n"
      "       consume QUEUE                         (waits: --count N, --timeout S, --requeue, --json)\n"
      "       list_users | list_permissions\n"
      "       add_user NAME [--tags T1,T2] | delete_user NAME | set_user_tags NAME [TAG...]\n"
      "       set_permissions NAME CONFIGURE WRITE READ | clear_permissions NAME\n"
      "         (tags: administrator, monitoring; permissions: regular expressions over names)\n\n"
      "Exit status: 0 done, 2 usage, 3 broker unreachable, 4 refused by the broker.\n\nOptions");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("endpoint,e", po::value(&f.endpoint)->default_value(f.endpoint), "the broker")
      ("curve-server-key", po::value(&f.curve_server_key), "CURVE: the broker's public key file (NAME.pub)")
      ("curve-key", po::value(&f.curve_key), "CURVE: this client's key pair file (NAME.key from warren-keygen)")
      ("json", po::bool_switch(&f.json), "print JSON")
      ("durable", po::bool_switch(&f.durable), "declare: durable")
      ("exclusive", po::bool_switch(&f.exclusive), "declare_queue: exclusive")
      ("auto-delete", po::bool_switch(&f.auto_delete), "declare: auto_delete")
      ("internal", po::bool_switch(&f.internal), "declare_exchange: internal")
      ("if-unused", po::bool_switch(&f.if_unused), "delete: only when unused")
      ("if-empty", po::bool_switch(&f.if_empty), "delete_queue: only when empty")
      ("destination-type", po::value(&f.destination_type)->default_value(f.destination_type),
       "bind/unbind: queue or exchange")
      ("count,n", po::value(&f.count)->default_value(f.count), "get/consume: how many messages")
      ("timeout", po::value(&f.timeout)->default_value(f.timeout), "consume: give up after this many seconds (0: wait)")
      ("requeue", po::bool_switch(&f.requeue), "get/consume: put the messages back (else they are acked)")
      ("content-type", po::value(&f.content_type), "publish: content_type")
      ("correlation-id", po::value(&f.correlation_id), "publish: correlation_id")
      ("reply-to", po::value(&f.reply_to), "publish: reply_to")
      ("persistent", po::bool_switch(&f.persistent), "publish: delivery_mode 2")
      ("header", po::value(&f.headers), "publish: a header key=value (repeatable)")
      ("tags", po::value(&f.tags), "add_user: the user's tags, comma-separated (administrator, monitoring)")
      ("words", po::value(&f.words), "the verb and its arguments");
  // clang-format on
  po::positional_options_description positional;
  positional.add("words", -1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(positional).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
  } catch (const po::error& e) {
    usage(e.what());
  }
  if (f.words.empty()) usage("no verb");
  try {
    return run(f);
  } catch (const warren::ConnectionError& e) {
    std::cerr << "warrenctl: " << e.what() << "\n";
    // Refused by a broker that answered (a 5xx / 320 close) or never reached.
    return e.code() == warren::ReplyCode::kConnectionForced ? kUnreachable : kRefused;
  } catch (const warren::Error& e) {
    std::cerr << "warrenctl: " << e.what() << "\n";
    return kRefused;
  }
}
