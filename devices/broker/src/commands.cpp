// The command table: one handler per opcode, with its checks beside it.
// Handlers throw Refusal; execute() turns it into channel.close or, for
// connection-level codes, connection.close.
#include <array>

#include "broker_core.hpp"
#include "headers_match.hpp"
#include "warren/version.hpp"

namespace warren::detail {
namespace {

using namespace protocol;

struct Context {
  BrokerCore& broker;
  Session& session;
  ChannelSession* channel;  // null for connection-level commands
  Command& command;
  Content body;  // see execute()

  ChannelSession& ch() { return *channel; }
  template <class M> M& method() { return std::get<M>(command.method); }
  void reply(const Method& m) { broker.send(session, command.channel, m); }
};

[[noreturn]] void refuse(ReplyCode code, std::string text) { throw Refusal{code, std::move(text)}; }

std::string in_quotes(std::string_view s) {
  std::string out;  // built step by step: "'" + std::string(s) trips GCC 12's -Wrestrict
  out.reserve(s.size() + 2);
  out.append(1, '\'').append(s).append(1, '\'');
  return out;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 4;
    if (n == 4 || i + n >= s.size() + (n == 0)) return n == 0;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n + 1;
  }
  return true;
}

void check_name(std::string_view kind, std::string_view name) {
  if (name.size() > 255)
    refuse(ReplyCode::kPreconditionFailed, std::string(kind) + " name too long (" + std::to_string(name.size()) +
                                                " bytes, max 255)");
  if (!valid_utf8(name)) refuse(ReplyCode::kPreconditionFailed, std::string(kind) + " name is not valid UTF-8");
}

// The queue `name`, usable from this connection: 404 if missing, 405 if
// exclusive to another connection.
std::shared_ptr<Queue> usable_queue(Context& c, std::string_view name) {
  auto q = c.broker.find_queue(name);
  if (!q) refuse(ReplyCode::kNotFound, "no queue " + in_quotes(name) + " in vhost '/'");
  if (q->owner() && q->owner() != &c.session)
    refuse(ReplyCode::kResourceLocked,
           "cannot obtain exclusive access to locked queue " + in_quotes(name) + " in vhost '/'");
  return q;
}

// The exchange `name`: 404 if missing. REQUIRES: name is not empty.
Exchange& usable_exchange(BrokerCore& broker, std::string_view name) {
  Exchange* x = broker.find_exchange(name);
  if (!x) refuse(ReplyCode::kNotFound, "no exchange " + in_quotes(name) + " in vhost '/'");
  return *x;
}

// ---- permissions (users.hpp; docs/security.md) ------------------------------------

// The name permissions see for an exchange: the default exchange is "amq.default".
std::string_view exchange_resource(std::string_view name) { return name.empty() ? "amq.default" : name; }

// 403 unless the connection's user has `access` to the queue or exchange
// `name`, with RabbitMQ's text. Free while no users are defined.
void check_access(Context& c, Access access, std::string_view kind, std::string_view name) {
  const Users& users = c.broker.users();
  if (!users.enabled() || users.permits(c.session.user(), access, name)) return;
  refuse(ReplyCode::kAccessRefused, std::string(access_name(access)) + " access to " + std::string(kind) + " " +
                                        in_quotes(name) + " in vhost '/' refused for user " +
                                        in_quotes(c.session.user()));
}

void check_queue_access(Context& c, Access access, std::string_view queue) { check_access(c, access, "queue", queue); }

void check_exchange_access(Context& c, Access access, std::string_view exchange) {
  check_access(c, access, "exchange", exchange_resource(exchange));
}

// basic.publish: write on the exchange, remembered per channel until the
// users change, so a stream of publishes to one exchange costs a compare.
void check_publish_access(Context& c, std::string_view exchange) {
  const Users& users = c.broker.users();
  if (!users.enabled()) return;
  auto& ch = c.ch();
  if (ch.write_epoch == users.epoch() && ch.write_exchange == exchange) return;
  check_exchange_access(c, Access::kWrite, exchange);
  ch.write_epoch = users.epoch();
  ch.write_exchange.assign(exchange);
}

// A tag the user needs for a management command (docs/security.md).
enum class Needs : std::uint8_t { kMonitoring, kAdministrator };

void check_tag(Context& c, Needs needs, std::string_view what) {
  const Users& users = c.broker.users();
  if (!users.enabled()) return;
  const User* u = users.find(c.session.user());
  if (u && (needs == Needs::kMonitoring ? u->monitoring() : u->administrator())) return;
  refuse(ReplyCode::kAccessRefused,
         std::string(what) + " refused for user " + in_quotes(c.session.user()) + ": it needs the tag " +
             (needs == Needs::kMonitoring ? "monitoring or administrator" : "administrator"));
}

// RabbitMQ's validated user-id: a message's user_id, if set, is the
// connection's user.
void check_user_id(Context& c, std::string_view raw_properties) {
  // Key 12 (user_id) contains the byte 0x0c however msgpack encodes it.
  if (raw_properties.find('\x0c') == std::string_view::npos) return;
  auto user_id = decode_properties(raw_properties).user_id;
  if (user_id && *user_id != c.session.user())
    refuse(ReplyCode::kPreconditionFailed, "user_id property set to " + in_quotes(*user_id) +
                                               " but authenticated user was " + in_quotes(c.session.user()));
}

// A tcp peer on this host; ipc and inproc peers always are. (libzmq's
// Peer-Address of an ipc peer is its credentials, ":uid:gid:pid".)
bool loopback(std::string_view endpoint, std::string_view peer) {
  if (!endpoint.starts_with("tcp://")) return true;
  return peer.starts_with("127.") || peer == "::1" || peer.starts_with("::ffff:127.");
}

std::uint32_t narrow(std::size_t n) { return static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX)); }

std::chrono::milliseconds::rep smaller_nonzero(std::chrono::milliseconds::rep a, std::chrono::milliseconds::rep b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

// ---- connection -------------------------------------------------------------

void connection_open(Context& c) {
  auto& m = c.method<ConnectionOpen>();
  if (c.session.opened) refuse(ReplyCode::kUnexpectedFrame, "connection.open on an open connection");
  const auto& o = c.broker.options();
  if (o.max_connections && c.broker.connections() > o.max_connections)  // this one included
    refuse(ReplyCode::kNotAllowed, "connection limit (" + std::to_string(o.max_connections) + ") is reached");
  const auto& user = c.session.user();
  if (user == "guest" && !o.allow_remote_guest && !loopback(c.broker.endpoint(), c.session.peer()))
    refuse(ReplyCode::kAccessRefused, "user 'guest' can only connect via localhost");
  if (c.broker.users().enabled() && !c.broker.users().find(user))
    refuse(ReplyCode::kAccessRefused, "access refused for user " + in_quotes(user) + ": no such user");
  auto heartbeat = (m.heartbeat_ms == 0 && o.heartbeat.count() == 0) ? 0 : smaller_nonzero(m.heartbeat_ms, o.heartbeat.count());
  c.session.heartbeat = std::chrono::milliseconds(heartbeat);
  c.session.max_channels = static_cast<std::uint16_t>(smaller_nonzero(m.max_channels, o.max_channels));
  c.session.opened = true;
  ConnectionOpenOk ok;
  ok.heartbeat_ms = static_cast<std::uint32_t>(heartbeat);
  ok.max_message_size = static_cast<std::uint64_t>(
      smaller_nonzero(static_cast<std::int64_t>(m.max_message_size), static_cast<std::int64_t>(o.max_message_size)));
  ok.max_channels = c.session.max_channels;
  ok.server_properties = {{"product", "warren"}, {"version", kVersionString},
                          {"capabilities", FieldTable{{"batch", true}}}};
  c.session.batching = has_capability(m.client_properties, "batch");
  c.reply(ok);
  if (c.broker.memory_blocked()) c.reply(ConnectionBlocked{c.broker.memory_blocked_reason()});
  c.broker.log().write(LogLevel::kInfo, "connection opened",
                       "peer=" + c.session.peer() + " user=" + c.session.user() +
                           " heartbeat=" + std::to_string(heartbeat) + "ms");
}

void connection_close(Context& c) {
  c.broker.finish_session(c.session);
  c.reply(ConnectionCloseOk{});
  c.session.dead = true;
}

void connection_close_ok(Context& c) { c.session.dead = true; }

void heartbeat(Context&) {}

// ---- channel ----------------------------------------------------------------

void channel_open(Context& c) {
  auto n = c.command.channel;
  if (n == 0 || n > c.session.max_channels)
    refuse(ReplyCode::kChannelError, "channel number " + std::to_string(n) + " out of range 1.." +
                                         std::to_string(c.session.max_channels));
  if (c.session.channels.contains(n))
    refuse(ReplyCode::kChannelError, "second 'channel.open' seen for channel " + std::to_string(n));
  auto& ch = c.session.channels[n];
  ch.number = n;
  ch.max_unacked = c.broker.options().max_unacked_per_channel;
  c.reply(ChannelOpenOk{});
}

void channel_close(Context& c) {
  c.broker.release_channel(c.session, c.ch());
  c.reply(ChannelCloseOk{});
  c.session.channels.erase(c.command.channel);
}

void channel_close_ok(Context& c) {
  // Only meaningful while closing; execute() handles that case.
  (void)c;
}

// ---- queue ------------------------------------------------------------------

std::string flag_text(bool b) { return b ? "'true'" : "'false'"; }

void check_equivalent(const Queue& q, const QueueDeclare& m) {
  auto mismatch = [&](std::string_view arg, std::string received, std::string current) {
    refuse(ReplyCode::kPreconditionFailed, "inequivalent arg '" + std::string(arg) + "' for queue " +
                                               in_quotes(q.name()) + " in vhost '/': received " + received +
                                               " but current is " + current);
  };
  const auto& f = q.flags();
  if (f.durable != m.durable) mismatch("durable", flag_text(m.durable), flag_text(f.durable));
  if (f.exclusive != m.exclusive) mismatch("exclusive", flag_text(m.exclusive), flag_text(f.exclusive));
  if (f.auto_delete != m.auto_delete) mismatch("auto_delete", flag_text(m.auto_delete), flag_text(f.auto_delete));
  if (f.arguments != m.arguments) mismatch("arguments", "other arguments", "the arguments it was declared with");
}

void queue_declare(Context& c) {
  auto& m = c.method<QueueDeclare>();
  std::string name = m.queue;
  if (name.empty()) {
    if (m.passive) refuse(ReplyCode::kNotFound, "no queue '' in vhost '/'");
    name = c.broker.generate_name("amq.gen-");
  } else {
    check_name("queue", name);
    // amq.* is reserved; amq.gen-* names (server-generated) may be re-claimed,
    // so a recovering client gets its server-named queue back under its name.
    if (!m.passive && name.starts_with("amq.") && !name.starts_with("amq.gen-"))
      refuse(ReplyCode::kAccessRefused,
             "queue name " + in_quotes(name) + " contains reserved prefix 'amq.*'");
  }
  if (!m.passive) {
    QueueLimits limits;
    if (auto error = parse_queue_limits(m.arguments, name, limits)) refuse(ReplyCode::kPreconditionFailed, *error);
    check_queue_access(c, Access::kConfigure, name);
    if (limits.dead_letter_exchange) {  // as RabbitMQ: dead letters are written there, read from here
      check_exchange_access(c, Access::kWrite, *limits.dead_letter_exchange);
      check_queue_access(c, Access::kRead, name);
    }
  }
  std::shared_ptr<Queue> q;
  if (m.passive) {
    q = usable_queue(c, name);
    c.broker.queue_used(*q);
  } else if ((q = c.broker.find_queue(name))) {
    q = usable_queue(c, name);
    check_equivalent(*q, m);
    c.broker.queue_used(*q);
  } else {
    auto limit = c.broker.options().max_queues;
    if (limit && c.broker.queue_count() >= limit)
      refuse(ReplyCode::kPreconditionFailed, "cannot declare queue " + in_quotes(name) + ": queue limit (" +
                                                 std::to_string(limit) + ") is reached");
    q = c.broker.declare_queue(name, QueueFlags{m.durable, m.exclusive, m.auto_delete, m.arguments},
                               m.exclusive ? &c.session : nullptr);
  }
  c.reply(QueueDeclareOk{q->name(), narrow(q->ready_count()), narrow(q->consumers().size())});
}

void queue_delete(Context& c) {
  auto& m = c.method<QueueDelete>();
  check_name("queue", m.queue);
  check_queue_access(c, Access::kConfigure, m.queue);
  if (!c.broker.find_queue(m.queue)) {  // deleting what is not there succeeds, as in RabbitMQ
    c.reply(QueueDeleteOk{0});
    return;
  }
  auto q = usable_queue(c, m.queue);
  if (m.if_unused && !q->consumers().empty())
    refuse(ReplyCode::kPreconditionFailed, "queue " + in_quotes(m.queue) + " in vhost '/' in use");
  if (m.if_empty && !q->empty())
    refuse(ReplyCode::kPreconditionFailed, "queue " + in_quotes(m.queue) + " in vhost '/' is not empty");
  auto count = narrow(q->ready_count());
  c.broker.delete_queue(q);
  c.reply(QueueDeleteOk{count});
}

void queue_purge(Context& c) {
  auto& m = c.method<QueuePurge>();
  check_queue_access(c, Access::kRead, m.queue);
  auto q = usable_queue(c, m.queue);
  c.reply(QueuePurgeOk{narrow(c.broker.purge_queue(*q))});
}

// ---- exchange -----------------------------------------------------------------

void check_exchange_name(std::string_view name) { check_name("exchange", name); }

void refuse_default_exchange(std::string_view name) {
  if (name.empty()) refuse(ReplyCode::kAccessRefused, "operation not permitted on the default exchange");
}

void exchange_declare(Context& c) {
  auto& m = c.method<ExchangeDeclare>();
  check_exchange_name(m.exchange);
  if (m.passive) {
    if (!m.exchange.empty()) usable_exchange(c.broker, m.exchange);
    c.reply(ExchangeDeclareOk{});
    return;
  }
  refuse_default_exchange(m.exchange);
  check_exchange_access(c, Access::kConfigure, m.exchange);
  if (m.exchange.starts_with("amq."))
    refuse(ReplyCode::kAccessRefused,
           "exchange name " + in_quotes(m.exchange) + " contains reserved prefix 'amq.*'");
  auto type = parse_exchange_type(m.type);
  if (!type) refuse(ReplyCode::kCommandInvalid, "unknown exchange type " + in_quotes(m.type));
  if (auto ae = m.arguments.find("alternate-exchange");
      ae != m.arguments.end()) {
    if (!ae->second.is<std::string>()) refuse(ReplyCode::kPreconditionFailed, "alternate-exchange must be a string");
    // As RabbitMQ: unroutable messages are written there, read from here.
    check_exchange_access(c, Access::kWrite, ae->second.as<std::string>());
    check_exchange_access(c, Access::kRead, m.exchange);
  }
  if (Exchange* x = c.broker.find_exchange(m.exchange)) {
    auto mismatch = [&](std::string_view arg, std::string received, std::string current) {
      refuse(ReplyCode::kPreconditionFailed, "inequivalent arg '" + std::string(arg) + "' for exchange " +
                                                 in_quotes(m.exchange) + " in vhost '/': received " + received +
                                                 " but current is " + current);
    };
    const auto& f = x->flags();
    if (x->type() != *type)
      mismatch("type", in_quotes(m.type), in_quotes(exchange_type_name(x->type())));
    if (f.durable != m.durable) mismatch("durable", flag_text(m.durable), flag_text(f.durable));
    if (f.auto_delete != m.auto_delete) mismatch("auto_delete", flag_text(m.auto_delete), flag_text(f.auto_delete));
    if (f.internal != m.internal) mismatch("internal", flag_text(m.internal), flag_text(f.internal));
    if (f.arguments != m.arguments) mismatch("arguments", "other arguments", "the arguments it was declared with");
  } else {
    c.broker.declare_exchange(m.exchange, *type, ExchangeFlags{m.durable, m.auto_delete, m.internal, m.arguments});
  }
  c.reply(ExchangeDeclareOk{});
}

void exchange_delete(Context& c) {
  auto& m = c.method<ExchangeDelete>();
  check_exchange_name(m.exchange);
  refuse_default_exchange(m.exchange);
  check_exchange_access(c, Access::kConfigure, m.exchange);
  if (m.exchange.starts_with("amq."))
    refuse(ReplyCode::kAccessRefused, "cannot delete exchange " + in_quotes(m.exchange) + ": reserved prefix 'amq.*'");
  Exchange* x = c.broker.find_exchange(m.exchange);
  if (!x) {  // as in RabbitMQ, deleting what is not there succeeds
    c.reply(ExchangeDeleteOk{});
    return;
  }
  if (m.if_unused && !x->bindings().empty())
    refuse(ReplyCode::kPreconditionFailed, "exchange " + in_quotes(m.exchange) + " in vhost '/' in use");
  c.broker.delete_exchange(*x);
  c.reply(ExchangeDeleteOk{});
}

// REQUIRES: name checked, not the default exchange.
Exchange& binding_source(Context& c, const std::string& name) { return usable_exchange(c.broker, name); }

void check_headers_binding(const Exchange& x, const FieldTable& arguments) {
  if (x.type() != ExchangeType::kHeaders) return;
  if (auto error = validate_headers_binding(arguments)) refuse(ReplyCode::kPreconditionFailed, *error);
}

// queue.bind / queue.unbind / exchange.bind / exchange.unbind: one shape,
// told apart by whether the destination is a queue or an exchange.
template <class M>
std::pair<Exchange*, Binding> binding_of(Context& c, const M& m) {
  if constexpr (requires { m.queue; }) {
    check_exchange_name(m.exchange);
    refuse_default_exchange(m.exchange);
    check_name("queue", m.queue);
    // As RabbitMQ: write on the destination, read on the source, before
    // either is looked up.
    check_queue_access(c, Access::kWrite, m.queue);
    check_exchange_access(c, Access::kRead, m.exchange);
    Exchange& source = binding_source(c, m.exchange);
    auto q = usable_queue(c, m.queue);
    return {&source, Binding{Destination{.queue = q.get()}, m.routing_key, m.arguments}};
  } else {
    check_exchange_name(m.source);
    refuse_default_exchange(m.source);
    check_exchange_name(m.destination);
    refuse_default_exchange(m.destination);
    check_exchange_access(c, Access::kWrite, m.destination);
    check_exchange_access(c, Access::kRead, m.source);
    Exchange& source = binding_source(c, m.source);
    Exchange& destination = usable_exchange(c.broker, m.destination);
    return {&source, Binding{Destination{.exchange = &destination}, m.routing_key, m.arguments}};
  }
}

template <class M, class Reply>
void bind_command(Context& c) {
  auto [source, binding] = binding_of(c, c.method<M>());
  check_headers_binding(*source, binding.arguments);
  c.broker.bind(*source, std::move(binding));
  c.reply(Reply{});
}

template <class M, class Reply>
void unbind_command(Context& c) {
  auto [source, binding] = binding_of(c, c.method<M>());
  c.broker.unbind(*source, binding);
  c.reply(Reply{});
}

// ---- basic ------------------------------------------------------------------

void basic_qos(Context& c) {
  auto& m = c.method<BasicQos>();
  if (m.global) c.ch().global_prefetch = m.prefetch_count;
  else c.ch().prefetch_count = m.prefetch_count;
  c.reply(BasicQosOk{});
}

// basic.consume of the pseudo queue amq.rabbitmq.reply-to.
void consume_replies(Context& c, const BasicConsume& m) {
  if (!m.no_ack) refuse(ReplyCode::kPreconditionFailed, "reply consumer cannot acknowledge");
  if (!c.ch().reply_token.empty())
    refuse(ReplyCode::kPreconditionFailed, "reply consumer already set on this channel");
  std::string tag = m.consumer_tag.empty() ? c.broker.generate_name("amq.ctag-") : m.consumer_tag;
  check_name("consumer tag", tag);
  if (c.ch().consumers.contains(tag)) refuse(ReplyCode::kNotAllowed, "attempt to reuse consumer tag " + in_quotes(tag));
  c.broker.open_reply_route(c.session, c.ch(), tag);
  c.reply(BasicConsumeOk{tag});
}

// A request whose reply_to is the pseudo queue gets this channel's address.
// Returns the rewritten properties, or nullopt when there is nothing to do.
std::optional<std::string> rewrite_reply_to(Context& c, std::string_view raw) {
  if (raw.find(kReplyTo) == std::string_view::npos) return std::nullopt;  // cheap pre-check
  auto p = decode_properties(raw);
  if (p.reply_to != kReplyTo) return std::nullopt;
  if (c.ch().reply_token.empty())
    refuse(ReplyCode::kPreconditionFailed, "fast reply consumer does not exist");
  p.reply_to = std::string(kReplyTo) + "." + c.ch().reply_token;
  return encode_properties(p);
}

void basic_consume(Context& c) {
  auto& m = c.method<BasicConsume>();
  if (m.queue == kReplyTo) return consume_replies(c, m);
  check_name("queue", m.queue);
  check_queue_access(c, Access::kRead, m.queue);
  auto q = usable_queue(c, m.queue);
  std::string tag = m.consumer_tag.empty() ? c.broker.generate_name("amq.ctag-") : m.consumer_tag;
  check_name("consumer tag", tag);
  if (c.ch().consumers.contains(tag))
    refuse(ReplyCode::kNotAllowed, "attempt to reuse consumer tag " + in_quotes(tag));
  if ((m.exclusive && !q->consumers().empty()) || q->has_exclusive_consumer())
    refuse(ReplyCode::kAccessRefused, "queue " + in_quotes(m.queue) + " in vhost '/' in exclusive use");
  if (auto limit = c.broker.options().max_consumers_per_channel; limit && c.ch().consumers.size() >= limit)
    refuse(ReplyCode::kNotAllowed, "consumer limit (" + std::to_string(limit) + ") per channel is reached");
  auto consumer = std::make_shared<Consumer>();
  consumer->tag = tag;
  consumer->queue = q;
  consumer->session = &c.session;
  consumer->channel = &c.ch();
  consumer->no_ack = m.no_ack;
  consumer->exclusive = m.exclusive;
  consumer->prefetch = c.ch().prefetch_count;
  c.ch().consumers.emplace(tag, consumer);
  q->add_consumer(consumer.get());
  c.reply(BasicConsumeOk{tag});
  c.broker.dispatch(*q);
}

void basic_cancel(Context& c) {
  auto& m = c.method<BasicCancel>();
  if (!m.consumer_tag.empty() && m.consumer_tag == c.ch().reply_consumer_tag) c.broker.close_reply_route(c.ch());
  auto it = c.ch().consumers.find(m.consumer_tag);
  if (it != c.ch().consumers.end()) {
    auto consumer = it->second;
    c.ch().consumers.erase(it);
    c.broker.cancel_consumer(*consumer);
  }
  c.reply(BasicCancelOk{m.consumer_tag});
}

void basic_publish(Context& c) {
  auto& m = c.method<BasicPublish>();
  if (c.body.bytes.size() > c.broker.options().max_message_size)
    refuse(ReplyCode::kPreconditionFailed, "message size " + std::to_string(c.body.bytes.size()) +
                                               " is larger than configured max size " +
                                               std::to_string(c.broker.options().max_message_size));
  Exchange* x = nullptr;
  if (!m.exchange.empty()) check_name("exchange", m.exchange);
  check_publish_access(c, m.exchange);
  if (!m.exchange.empty()) {
    x = &usable_exchange(c.broker, m.exchange);
    if (x->flags().internal)
      refuse(ReplyCode::kAccessRefused,
             "cannot publish to internal exchange " + in_quotes(m.exchange) + " in vhost '/'");
  }
  auto expiration = expiration_of(c.command.properties);
  if (!expiration.valid())
    refuse(ReplyCode::kPreconditionFailed, "invalid expiration " + in_quotes(*expiration.text) +
                                               ": not a whole number of milliseconds from 0 to " +
                                               std::to_string(kMaxExpiryMs));
  check_user_id(c, c.command.properties);
  auto rewritten = rewrite_reply_to(c, c.command.properties);
  std::string_view properties = rewritten ? std::string_view(*rewritten) : c.command.properties;
  if (c.ch().confirm) ++c.ch().publish_seq;
  auto outcome = c.broker.publish(x, m.routing_key, properties, c.body, PublishDetails{.message_ttl = expiration.ttl});
  if (!outcome.routed && !outcome.refused && m.mandatory) {
    // Unroutable and mandatory: back to the publisher (before its confirm).
    // The body is still ours.
    c.broker.send(c.session, c.command.channel,
                  BasicReturn{static_cast<std::uint16_t>(ReplyCode::kNoRoute), "NO_ROUTE", m.exchange, m.routing_key},
                  properties, c.body);
  }
  if (c.ch().confirm) c.broker.confirm(c.session, c.ch(), outcome);
}

void confirm_select(Context& c) {
  c.ch().confirm = true;
  c.reply(ConfirmSelectOk{});
}

void basic_get(Context& c) {
  auto& m = c.method<BasicGet>();
  check_name("queue", m.queue);
  check_queue_access(c, Access::kRead, m.queue);
  auto q = usable_queue(c, m.queue);
  if (!m.no_ack && c.ch().max_unacked && c.ch().unacked.size() >= c.ch().max_unacked)
    refuse(ReplyCode::kPreconditionFailed,
           "unacked limit (" + std::to_string(c.ch().max_unacked) + ") per channel is reached: ack first");
  c.broker.queue_used(*q);
  auto taken = c.broker.take_ready(*q);
  if (!taken) {
    c.reply(BasicGetEmpty{});
    return;
  }
  QueueEntry entry = std::move(*taken);
  auto message = entry.message;
  BasicGetOk ok{0, entry.redelivered, std::string(message->exchange()), std::string(message->routing_key()),
                narrow(q->ready_count())};
  if (m.no_ack) {
    ok.delivery_tag = c.ch().next_delivery_tag++;
    c.broker.settled_from(*q, *message);
  } else {
    c.broker.delivered_from(*q, *message);
    ok.delivery_tag = c.broker.record_unacked(c.ch(), q, std::move(entry), nullptr);
  }
  c.broker.send(c.session, c.command.channel, ok, message->properties(), message->content());
  c.broker.count_delivered();
  ++q->delivered;
}

// Takes the deliveries that `tag` (and with `multiple`, every earlier tag)
// names off the channel's unacked list. tag 0 with multiple means all.
std::vector<Unacked> take_unacked(Context& c, std::uint64_t tag, bool multiple) {
  auto& unacked = c.ch().unacked;
  if (!(multiple && tag == 0) && !unacked.contains(tag))
    refuse(ReplyCode::kPreconditionFailed, "unknown delivery tag " + std::to_string(tag));
  std::vector<Unacked> taken;
  unacked.take(tag, multiple, [&](Unacked&& u) {
    if (u.consumer) --u.consumer->unacked;
    taken.push_back(std::move(u));
  });
  return taken;
}

// Acked or dropped messages free prefetch credit: let their consumers' queues move.
void redispatch(Context& c, const std::vector<Unacked>& settled) {
  Queue* last = nullptr;
  for (const auto& u : settled) {
    if (u.queue.get() == last || u.queue->deleted()) continue;
    last = u.queue.get();
    c.broker.dispatch(*u.queue);
  }
  if (c.ch().global_prefetch)
    for (auto& [tag, consumer] : c.ch().consumers) c.broker.dispatch(*consumer->queue);
}

enum class Settlement : std::uint8_t { kAck, kRequeue, kReject };

void settle(Context& c, std::uint64_t tag, bool multiple, Settlement how) {
  auto taken = take_unacked(c, tag, multiple);
  if (how == Settlement::kRequeue) {
    c.broker.requeue(taken);
  } else {
    for (auto& u : taken) {
      // Rejected without requeue: dead-lettered, unless its queue is gone.
      if (how == Settlement::kReject && !u.queue->deleted())
        c.broker.discard(*u.queue, std::move(u.entry), DeathReason::kRejected);
      else
        c.broker.settled_from(*u.queue, *u.entry.message);
    }
  }
  redispatch(c, taken);
}

Settlement nack_settlement(bool requeue) { return requeue ? Settlement::kRequeue : Settlement::kReject; }

void basic_ack(Context& c) {
  auto& m = c.method<BasicAck>();
  settle(c, m.delivery_tag, m.multiple, Settlement::kAck);
}

void basic_nack(Context& c) {
  auto& m = c.method<BasicNack>();
  settle(c, m.delivery_tag, m.multiple, nack_settlement(m.requeue));
}

void basic_reject(Context& c) {
  auto& m = c.method<BasicReject>();
  settle(c, m.delivery_tag, false, nack_settlement(m.requeue));
}

void basic_recover(Context& c) {
  // Both requeue=true and requeue=false put every unacked message back in its
  // queue (RabbitMQ does the same); they may go to any consumer.
  auto taken = take_unacked(c, 0, true);
  c.broker.requeue(taken);
  redispatch(c, taken);
  c.reply(BasicRecoverOk{});
}

// ---- management -----------------------------------------------------------------

void management_query(Context& c) {
  const auto& what = c.method<ManagementQuery>().what;
  bool secret = what == "users" || what == "permissions";
  check_tag(c, secret ? Needs::kAdministrator : Needs::kMonitoring, "management.query " + in_quotes(what));
  c.reply(ManagementQueryOk{c.broker.management(what)});
}

void management_command(Context& c) {
  auto& m = c.method<ManagementCommand>();
  check_tag(c, Needs::kAdministrator, "management.command " + in_quotes(m.verb));
  c.reply(ManagementCommandOk{c.broker.management_command(m.verb, m.arguments)});
}

// ---- the table ----------------------------------------------------------------

enum class Scope : std::uint8_t { kNone, kConnection, kChannel };
struct Entry {
  void (*handler)(Context&) = nullptr;
  Scope scope = Scope::kNone;
};

constexpr std::array<Entry, 256> make_table() {
  std::array<Entry, 256> t{};
  auto set = [&](Opcode op, void (*h)(Context&), Scope s) { t[static_cast<std::size_t>(op)] = {h, s}; };
  set(Opcode::kConnectionOpen, connection_open, Scope::kConnection);
  set(Opcode::kConnectionClose, connection_close, Scope::kConnection);
  set(Opcode::kConnectionCloseOk, connection_close_ok, Scope::kConnection);
  set(Opcode::kHeartbeat, heartbeat, Scope::kConnection);
  set(Opcode::kChannelOpen, channel_open, Scope::kConnection);
  set(Opcode::kChannelClose, channel_close, Scope::kChannel);
  set(Opcode::kChannelCloseOk, channel_close_ok, Scope::kChannel);
  set(Opcode::kConfirmSelect, confirm_select, Scope::kChannel);
  set(Opcode::kQueueDeclare, queue_declare, Scope::kChannel);
  set(Opcode::kQueueDelete, queue_delete, Scope::kChannel);
  set(Opcode::kQueuePurge, queue_purge, Scope::kChannel);
  set(Opcode::kQueueBind, bind_command<QueueBind, QueueBindOk>, Scope::kChannel);
  set(Opcode::kQueueUnbind, unbind_command<QueueUnbind, QueueUnbindOk>, Scope::kChannel);
  set(Opcode::kExchangeDeclare, exchange_declare, Scope::kChannel);
  set(Opcode::kExchangeDelete, exchange_delete, Scope::kChannel);
  set(Opcode::kExchangeBind, bind_command<ExchangeBind, ExchangeBindOk>, Scope::kChannel);
  set(Opcode::kExchangeUnbind, unbind_command<ExchangeUnbind, ExchangeUnbindOk>, Scope::kChannel);
  set(Opcode::kBasicQos, basic_qos, Scope::kChannel);
  set(Opcode::kBasicConsume, basic_consume, Scope::kChannel);
  set(Opcode::kBasicCancel, basic_cancel, Scope::kChannel);
  set(Opcode::kBasicPublish, basic_publish, Scope::kChannel);
  set(Opcode::kBasicGet, basic_get, Scope::kChannel);
  set(Opcode::kBasicAck, basic_ack, Scope::kChannel);
  set(Opcode::kBasicNack, basic_nack, Scope::kChannel);
  set(Opcode::kBasicReject, basic_reject, Scope::kChannel);
  set(Opcode::kBasicRecover, basic_recover, Scope::kChannel);
  set(Opcode::kManagementQuery, management_query, Scope::kChannel);
  set(Opcode::kManagementCommand, management_command, Scope::kChannel);
  return t;
}
constexpr auto kTable = make_table();

void channel_error(BrokerCore& broker, Session& s, ChannelSession& ch, const Refusal& r) {
  broker.log().write(LogLevel::kInfo, "channel error",
                     "peer=" + s.peer() + " channel=" + std::to_string(ch.number) + " " +
                         std::to_string(static_cast<int>(r.code)) + " " + std::string(reply_code_name(r.code)) +
                         " - " + r.text);
  broker.release_channel(s, ch);
  ch.closing = true;
  broker.send(s, ch.number, ChannelClose{static_cast<std::uint16_t>(r.code), r.text});
}

}  // namespace

void execute(BrokerCore& broker, Session& session, Command& command, Content body) {
  auto op = opcode_of(command.method);
  const Entry& entry = kTable[static_cast<std::size_t>(op)];
  if (!entry.handler) {
    broker.close_connection(session, ReplyCode::kUnexpectedFrame,
                            std::string(name_of(op)) + " is not sent by clients");
    return;
  }
  if (!session.opened && op != Opcode::kConnectionOpen) {
    broker.close_connection(session, ReplyCode::kUnexpectedFrame, "expected connection.open first");
    return;
  }
  ChannelSession* channel = nullptr;
  if (op == Opcode::kChannelOpen) {
    // Like any command on a channel the broker is closing: discarded until
    // channel.close_ok (docs/protocol.md, Errors).
    auto it = session.channels.find(command.channel);
    if (it != session.channels.end() && it->second.closing) return;
  }
  if (entry.scope == Scope::kConnection) {
    if (command.channel != 0 && op != Opcode::kChannelOpen) {
      broker.close_connection(session, ReplyCode::kChannelError,
                              std::string(name_of(op)) + " must be sent on channel 0");
      return;
    }
  } else {
    auto it = session.channels.find(command.channel);
    if (it == session.channels.end()) {
      if (op == Opcode::kChannelClose) broker.send(session, command.channel, ChannelCloseOk{});
      if (op == Opcode::kChannelClose || op == Opcode::kChannelCloseOk) return;
      broker.close_connection(session, ReplyCode::kChannelError,
                              "expected 'channel.open' for channel " + std::to_string(command.channel) +
                                  ", got " + std::string(name_of(op)));
      return;
    }
    channel = &it->second;
    if (channel->closing) {  // discard everything until the client confirms the close
      if (op == Opcode::kChannelClose) broker.send(session, command.channel, ChannelCloseOk{});
      if (op == Opcode::kChannelClose || op == Opcode::kChannelCloseOk) session.channels.erase(it);
      return;
    }
  }
  Context context{broker, session, channel, command, body};
  try {
    entry.handler(context);
  } catch (const Refusal& r) {
    if (is_connection_error(r.code) || !channel) broker.close_connection(session, r.code, r.text);
    else channel_error(broker, session, *channel, r);
  } catch (const ProtocolError& e) {
    broker.close_connection(session, e.code(), e.text());
  } catch (const std::exception& e) {
    broker.close_connection(session, ReplyCode::kInternalError, e.what());
  }
}

}  // namespace warren::detail
