// The broker's event loop, message flow (publish -> queue -> dispatch), and
// connection lifecycle. Command handlers live in commands.cpp.
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "broker_core.hpp"
#include "warren/context.hpp"

namespace warren::detail {

namespace {
constexpr std::size_t kBatch = 1024;  // commands read per loop turn before timers run
// A batch to a peer (docs/protocol.md, "Batches") is sent when the loop turn
// ends or when it reaches either limit.
constexpr std::uint32_t kBatchCommands = 256;
constexpr std::size_t kBatchBytes = 64 * 1024;

bool releases_credit(protocol::Opcode op) {
  using protocol::Opcode;
  return op == Opcode::kBasicAck || op == Opcode::kBasicNack || op == Opcode::kBasicReject ||
         op == Opcode::kBasicRecover || op == Opcode::kBasicQos;
}

constexpr auto kBlockedRetry = std::chrono::milliseconds(1);
constexpr std::uint64_t kFrameSlack = 64 * 1024;  // header room above max_message_size

std::string peer_address(zmq::message_t& frame) {
  try {
    const char* addr = frame.gets("Peer-Address");
    return addr ? addr : "local";
  } catch (const zmq::error_t&) {
    return "local";  // inproc and ipc carry no peer address
  }
}

// The user a connection acts as: the User-Id its ZAP handler gave it (CURVE
// connections), or "guest" where no handler authenticated it.
std::string connection_user(zmq::message_t& frame) {
  try {
    const char* user = frame.gets("User-Id");
    return user && *user ? user : "guest";
  } catch (const zmq::error_t&) {
    return "guest";
  }
}
}  // namespace

BrokerCore::BrokerCore(BrokerOptions options)
    : options_(std::move(options)),
      log_(options_.log_level, options_.log_sink, options_.log_format),
      router_(options_.context ? *options_.context : default_context(), zmq::socket_type::router) {
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::sndhwm, 100000);
  router_.set(zmq::sockopt::rcvhwm, 100000);
  router_.set(zmq::sockopt::linger, 500);
  router_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(options_.max_message_size + kFrameSlack));
  if (!options_.curve_secret_key.empty()) {
    try {
      curve_ = std::make_unique<CurveServer>(
          options_.context ? *options_.context : default_context(),
          CurveServerOptions{options_.curve_secret_key, options_.keys_dir, [this](bool admitted, std::string_view text) {
                               log_.write(admitted ? LogLevel::kInfo : LogLevel::kWarning, "curve", text);
                             }});
    } catch (const Error& e) {
      throw std::runtime_error("CURVE: " + e.text());
    }
    curve_->apply(router_);
  } else if (!options_.zap_domain.empty()) {
    router_.set(zmq::sockopt::zap_domain, options_.zap_domain);
  }
  try {
    router_.bind(options_.endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("cannot bind " + options_.endpoint + ": " + e.what());
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  for (auto [name, type] : {std::pair{"amq.direct", ExchangeType::kDirect}, {"amq.fanout", ExchangeType::kFanout},
                            {"amq.topic", ExchangeType::kTopic}, {"amq.headers", ExchangeType::kHeaders},
                            {"amq.match", ExchangeType::kHeaders}})
    declare_exchange(name, type, ExchangeFlags{.durable = true});
  wakeup_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeup_fd_ < 0) throw std::runtime_error("eventfd failed");
  try {
    if (!options_.data_dir.empty()) open_store();
    seed_users();
  } catch (...) {
    ::close(wakeup_fd_);
    throw;
  }
}

void BrokerCore::seed_users() {
  if (!options_.users_file.empty()) {
    apply_users_file(options_.users_file, users_);
    definitions_changed();
  }
  if (users_.enabled())
    log_.write(LogLevel::kInfo, "permissions on", std::to_string(users_.size()) + " users defined");
  else
    log_.write(LogLevel::kInfo, "permissions off", "no users defined: every connection may do everything");
}

BrokerCore::~BrokerCore() {
  stop();
  join();
  ::close(wakeup_fd_);
}

void BrokerCore::start() {
  thread_ = std::thread([this] { run(); });
}

void BrokerCore::join() {
  if (thread_.joinable()) thread_.join();
}

void BrokerCore::stop() noexcept {
  stop_requested_.store(true);
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wakeup_fd_, &one, sizeof one);
}

void BrokerCore::drain_wakeup() noexcept {
  std::uint64_t v;
  [[maybe_unused]] auto r = ::read(wakeup_fd_, &v, sizeof v);
}

BrokerStats BrokerCore::stats() const {
  BrokerStats s;
  s.connections = connection_count_.load(std::memory_order_relaxed);
  s.queues = queue_count_.load(std::memory_order_relaxed);
  s.published = published_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.message_bytes = message_bytes_stat_.load(std::memory_order_relaxed);
  s.blocked = blocked_stat_.load(std::memory_order_relaxed);
  s.refused = refused_.load(std::memory_order_relaxed);
  return s;
}

void BrokerCore::run() {
  log_.write(LogLevel::kInfo, "broker listening",
             curve_ ? endpoint_ + " (CURVE; client keys in " + options_.keys_dir + ")" : endpoint_);
  loop();
  shutdown();
  log_.write(LogLevel::kInfo, "broker stopped", endpoint_);
}

void BrokerCore::loop() {
  while (!stop_requested_.load())
    if (!turn(std::nullopt)) return;
}

bool BrokerCore::turn(std::optional<std::chrono::milliseconds> max_wait) {
  auto now = Clock::now();
  now_ = now;
  if (now >= next_sweep_) {
    sample_rates(now);
    sweep_heartbeats(now);
    reap();
    auto interval = std::chrono::milliseconds(250);
    for (auto& [id, s] : sessions_)
      if (s->heartbeat.count() > 0) interval = std::min(interval, std::max(s->heartbeat / 4, std::chrono::milliseconds(5)));
    next_sweep_ = now + interval;
  }
  run_timers();
  flush_dead_letters();
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_sweep_ - now);
  if (!timers_.empty())
    wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(timers_.top().at - now));
  if (!blocked_.empty()) wait = std::min<std::chrono::milliseconds>(wait, kBlockedRetry);
  // Work left by the last turn's reap (dead letters, journal records): now.
  if (journal_dirty_ || !dead_letters_.empty()) wait = std::chrono::milliseconds(0);
  if (max_wait) wait = std::min(wait, *max_wait);
  flush_batches();  // all this turn sent, before waiting
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                             {nullptr, wakeup_fd_, ZMQ_POLLIN, 0},
                             {nullptr, journal_ ? journal_->notify_fd() : -1, ZMQ_POLLIN, 0}};
  try {
    zmq::poll(items, journal_ ? 3 : 2, std::max(wait, std::chrono::milliseconds(0)));
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return true;
    log_.write(LogLevel::kError, "poll failed", e.what());
    return false;
  }
  if (items[1].revents & ZMQ_POLLIN) drain_wakeup();
  if (journal_ && (items[2].revents & ZMQ_POLLIN)) journal_->clear_notify();
  if (items[0].revents & ZMQ_POLLIN) {
    now_ = Clock::now();
    receive_batch();
  }
  flush_dead_letters();
  flush_confirms();  // commits this turn's journal records (group commit)
  if (!blocked_.empty()) flush_blocked();
  check_memory();
  reap();
  return true;
}

void BrokerCore::sample_rates(Clock::time_point now) {
  auto elapsed = std::chrono::duration<double>(now - rates_at_).count();
  if (elapsed < 1.0) return;
  auto published = published_.load(std::memory_order_relaxed);
  auto delivered = delivered_.load(std::memory_order_relaxed);
  publish_rate_ = static_cast<double>(published - rates_published_) / elapsed;
  deliver_rate_ = static_cast<double>(delivered - rates_delivered_) / elapsed;
  for (auto& [name, q] : queues_) {
    q->publish_rate = static_cast<double>(q->published - q->sampled_published) / elapsed;
    q->deliver_rate = static_cast<double>(q->delivered - q->sampled_delivered) / elapsed;
    q->sampled_published = q->published;
    q->sampled_delivered = q->delivered;
  }
  rates_published_ = published;
  rates_delivered_ = delivered;
  rates_at_ = now;
}

void BrokerCore::receive_batch() {
  for (std::size_t i = 0; i < kBatch; ++i) {
    zmq::message_t identity;
    if (!router_.recv(identity, zmq::recv_flags::dontwait)) return;
    zmq::message_t header, body;
    std::size_t frames = 0;
    bool more = identity.more();
    while (more) {
      zmq::message_t part;
      (void)router_.recv(part, zmq::recv_flags::none);
      more = part.more();
      if (frames == 0) header = std::move(part);
      else if (frames == 1) body = std::move(part);
      ++frames;
    }
    std::string_view frame = header.to_string_view();
    try {
      if (protocol::split_batch(frame, batch_commands_)) {
        if (frames != 1) throw ProtocolError(ReplyCode::kFrameError, "batch: more than one frame");
        // Each command in turn, as if it had come alone (the views point
        // into `header`, which outlives them).
        auto commands = std::move(batch_commands_);
        for (auto command : commands) handle(identity.to_string_view(), header, command, nullptr, 1);
        i += commands.size() - 1;  // kBatch counts commands
        batch_commands_ = std::move(commands);
        continue;
      }
    } catch (const ProtocolError& e) {
      refuse(identity.to_string_view(), e);
      continue;
    }
    handle(identity.to_string_view(), header, frame, frames >= 2 ? &body : nullptr, frames);
  }
}

void BrokerCore::handle(std::string_view identity, zmq::message_t& header, std::string_view frame,
                        zmq::message_t* body, std::size_t frames) {
  auto it = sessions_.find(identity);
  Session* session = it == sessions_.end() ? nullptr : it->second.get();
  if (session) {
    session->last_recv = now_;  // the loop turn's time: no clock read per command
    if (session->closing) {  // discard all but the answer to our close
      if (frames >= 1) {
        try {
          auto cmd = protocol::decode(frame);
          auto op = protocol::opcode_of(cmd.method);
          if (op == protocol::Opcode::kConnectionCloseOk || op == protocol::Opcode::kConnectionClose)
            session->dead = true;
        } catch (const ProtocolError&) {
        }
      }
      return;
    }
  }
  protocol::Command cmd;
  try {
    if (frames == 0) throw ProtocolError(ReplyCode::kFrameError, "empty command");
    cmd = protocol::decode(frame);
    protocol::check_frames(cmd, frames);
  } catch (const ProtocolError& e) {
    refuse(identity, e);
    return;
  }
  if (!session) {
    if (!std::holds_alternative<protocol::ConnectionOpen>(cmd.method)) {
      send_to_stranger(identity, protocol::ConnectionClose{505, "expected connection.open first"});
      return;
    }
    auto created = std::make_unique<Session>(std::string(identity), peer_address(header), connection_user(header));
    session = created.get();
    sessions_.emplace(std::string(identity), std::move(created));
    connection_count_.fetch_add(1, std::memory_order_relaxed);
  }
  const auto op = protocol::opcode_of(cmd.method);
  // The body: inline in the command's frame, or a frame of its own.
  Content content;
  if (frames >= 2) content = Content{body->to_string_view(), body};
  else if (protocol::has_content(op)) content.bytes = cmd.inline_body;
  auto batched_before = session->batch.count();
  execute(*this, *session, cmd, content);
  // An ack that released several deliveries (a multiple ack, a nack, a
  // recover) sends them now: the consumer is waiting for them, and a turn
  // of a publisher's flood could otherwise hold them back for a millisecond.
  // No later command of the turn can add much to them (the consumer's
  // credit is spent again), and an ack of one keeps gathering for the turn.
  if (releases_credit(op) && session->batch.count() >= batched_before + 2) flush_batch(*session);
  // Messages the command killed are republished before the next command.
  flush_dead_letters();
}

void BrokerCore::refuse(std::string_view identity, const ProtocolError& e) {
  auto it = sessions_.find(identity);
  if (it != sessions_.end()) {
    if (!it->second->closing) close_connection(*it->second, e.code(), e.text());
    return;
  }
  // Not a connection yet: answer once so the peer knows, keep no state.
  send_to_stranger(identity, protocol::ConnectionClose{static_cast<std::uint16_t>(e.code()), e.text()});
  log_.write(LogLevel::kWarning, "refused unknown peer", std::to_string(static_cast<int>(e.code())) + " " + e.text());
}

void BrokerCore::send_to_stranger(std::string_view identity, const protocol::Method& method) {
  // Best effort, no state kept: a peer that is gone or full is not waited for.
  zmq::message_t id(identity.data(), identity.size());
  zmq::message_t header(protocol::encode(0, method));
  try {
    if (router_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait))
      router_.send(header, zmq::send_flags::none);
  } catch (const zmq::error_t&) {
  }
}

bool BrokerCore::try_send(Session& s, std::vector<zmq::message_t>& frames) {
  zmq::message_t identity(s.identity().data(), s.identity().size());
  try {
    if (!router_.send(identity, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) {  // the peer is gone
      s.dead = true;
      return true;
    }
    throw;
  }
  for (std::size_t i = 0; i < frames.size(); ++i)
    router_.send(frames[i], i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  s.last_send = now_;
  return true;
}

void BrokerCore::send(Session& s, std::uint16_t channel, const protocol::Method& method,
                      std::string_view properties, Content body) {
  send_command(s, channel, method, properties, body);
}

template <class M>
void BrokerCore::send_command(Session& s, std::uint16_t channel, const M& method, std::string_view properties,
                              Content body) {
  if (s.dead) return;
  if (s.batching && !s.blocked()) {
    // Into this turn's batch when it fits in one frame; else the batch so
    // far goes first, then this command as usual.
    if (s.batch.add(channel, method, properties, body.bytes)) {
      if (s.batch.count() == 1) batching_.push_back(&s);
      if (s.batch.count() == kBatchCommands || s.batch.bytes() >= kBatchBytes) flush_batch(s);
      return;
    }
    flush_batch(s);
    if (s.dead) return;
  }
  encode_buffer_.clear();
  // A small body goes inline, in the header's frame; a large one as a frame
  // of its own that shares the publisher's buffer (no copy).
  bool inline_body = protocol::encode_to_send(encode_buffer_, channel, method, properties, body.bytes);
  zmq::message_t header(encode_buffer_.data(), encode_buffer_.size());
  zmq::message_t content;
  if (!inline_body) {
    if (body.frame) content.copy(*body.frame);
    else content = zmq::message_t(body.bytes.data(), body.bytes.size());
  }
  send_frames(s, header, inline_body ? nullptr : &content);
}

void BrokerCore::send_frames(Session& s, zmq::message_t& header, zmq::message_t* content) {
  if (!s.blocked()) {
    // The common case: straight out, no outbox entry built.
    zmq::message_t identity(s.identity().data(), s.identity().size());
    try {
      if (router_.send(identity, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        router_.send(header, content ? zmq::send_flags::sndmore : zmq::send_flags::none);
        if (content) router_.send(*content, zmq::send_flags::none);
        s.last_send = now_;
        return;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != EHOSTUNREACH) throw;
      s.dead = true;  // the peer is gone
      return;
    }
  }
  std::vector<zmq::message_t> frames;
  frames.push_back(std::move(header));
  if (content) frames.push_back(std::move(*content));
  s.outbox.push_back(std::move(frames));
  blocked_.insert(&s);
}

void BrokerCore::flush_batch(Session& s) {
  if (s.batch.count() == 0) return;
  auto frame = s.batch.finish();
  zmq::message_t header(frame.data(), frame.size());
  s.batch.reset();
  send_frames(s, header, nullptr);
}

void BrokerCore::flush_batches() {
  for (Session* s : batching_) flush_batch(*s);
  batching_.clear();
}

void BrokerCore::flush_blocked() {
  std::vector<Session*> unblocked;
  for (Session* s : blocked_) {
    while (!s->outbox.empty() && try_send(*s, s->outbox.front())) s->outbox.pop_front();
    if (s->outbox.empty() || s->dead) unblocked.push_back(s);
  }
  for (Session* s : unblocked) {
    blocked_.erase(s);
    s->outbox.clear();
    if (s->dead) continue;
    // Its consumers may take messages again.
    for (auto& [n, ch] : s->channels)
      for (auto& [tag, c] : ch.consumers) dispatch(*c->queue);
  }
}

std::shared_ptr<Queue> BrokerCore::find_queue(std::string_view name) {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second;
}

std::shared_ptr<Queue> BrokerCore::declare_queue(std::string name, QueueFlags flags, Session* owner) {
  auto q = std::make_shared<Queue>(name, std::move(flags), owner);
  queues_.emplace(std::move(name), q);
  q->last_used = now_;
  schedule_idle(*q);
  queue_count_.fetch_add(1, std::memory_order_relaxed);
  log_.write(LogLevel::kDebug, "queue declared", q->name());
  if (q->kept_on_disk()) definitions_changed();
  return q;
}

void BrokerCore::delete_queue(const std::shared_ptr<Queue>& q) {
  if (q->deleted()) return;
  q->mark_deleted();
  // Copy: cancelling edits the queue's consumer list.
  auto consumers = q->consumers();
  for (Consumer* c : consumers) {
    send(*c->session, c->channel->number, protocol::BasicCancel{c->tag});
    auto keep = c->channel->consumers.find(c->tag);
    c->active = false;
    q->remove_consumer(c);
    if (keep != c->channel->consumers.end()) c->channel->consumers.erase(keep);
  }
  q->purge();
  if (journal_ && q->kept_on_disk()) {
    journal_->drop_queue(q->name());
    journal_dirty_ = true;
  }
  // By name: an auto_delete exchange going may take others with it.
  for (const auto& name : source_names(q->sources)) {
    Exchange* x = find_exchange(name);
    if (!x) continue;
    x->unbind_all(Destination{.queue = q.get()});
    if (x->flags().auto_delete && x->bindings().empty()) delete_exchange(*x);
  }
  q->sources.clear();
  queues_.erase(q->name());
  queue_count_.fetch_sub(1, std::memory_order_relaxed);
  log_.write(LogLevel::kDebug, "queue deleted", q->name());
  if (q->kept_on_disk()) definitions_changed();
}

Exchange* BrokerCore::find_exchange(std::string_view name) {
  auto it = exchanges_.find(name);
  return it == exchanges_.end() ? nullptr : it->second.get();
}

Exchange& BrokerCore::declare_exchange(std::string name, ExchangeType type, ExchangeFlags flags) {
  auto x = std::make_unique<Exchange>(name, type, std::move(flags));
  Exchange& ref = *x;
  exchanges_.emplace(std::move(name), std::move(x));
  if (ref.flags().durable) definitions_changed();
  return ref;
}

std::vector<std::string> BrokerCore::source_names(const std::unordered_map<Exchange*, std::size_t>& sources) {
  std::vector<std::string> names;
  for (const auto& [x, count] : sources) names.push_back(x->name());
  return names;
}

void BrokerCore::forget_source(std::unordered_map<Exchange*, std::size_t>& sources, Exchange* source) {
  auto it = sources.find(source);
  if (it != sources.end() && --it->second == 0) sources.erase(it);
}

void BrokerCore::delete_exchange(Exchange& x) {
  // Bindings from x: their destinations forget x.
  for (const auto& b : x.bindings()) {
    if (b.destination.queue) forget_source(b.destination.queue->sources, &x);
    else forget_source(b.destination.exchange->sources, &x);
  }
  // Bindings to x: their sources drop them (and may auto-delete in turn).
  std::vector<std::string> emptied;
  for (const auto& name : source_names(x.sources)) {
    Exchange* s = find_exchange(name);
    s->unbind_all(Destination{.exchange = &x});
    if (s != &x && s->flags().auto_delete && s->bindings().empty()) emptied.push_back(name);
  }
  bool durable = x.flags().durable;
  exchanges_.erase(x.name());  // destroys x
  if (durable) definitions_changed();
  for (const auto& name : emptied)
    if (Exchange* s = find_exchange(name)) delete_exchange(*s);
}

void BrokerCore::bind(Exchange& source, Binding binding) {
  Destination d = binding.destination;
  if (!source.bind(std::move(binding))) return;
  ++(d.queue ? d.queue->sources : d.exchange->sources)[&source];
  if (kept_on_disk(source, d)) definitions_changed();
}

void BrokerCore::unbind(Exchange& source, const Binding& binding) {
  if (!source.unbind(binding)) return;
  const Destination& d = binding.destination;
  forget_source(d.queue ? d.queue->sources : d.exchange->sources, &source);
  if (kept_on_disk(source, d)) definitions_changed();
  if (source.flags().auto_delete && source.bindings().empty()) delete_exchange(source);
}

template <class H>
void BrokerCore::route(Exchange& x, std::string_view routing_key, H& headers) {
  if (x.route_mark == route_epoch_) return;  // already here: a cycle or a second path
  x.route_mark = route_epoch_;
  x.match(routing_key, headers, [&](const Destination& d) {
    if (d.queue) {
      if (d.queue->route_mark != route_epoch_) {
        d.queue->route_mark = route_epoch_;
        targets_.push_back(d.queue);
      }
    } else {
      route(*d.exchange, routing_key, headers);
    }
  });
}

PublishOutcome BrokerCore::publish(Exchange* exchange, const std::string& routing_key, std::string_view properties,
                                  Content body, const PublishDetails& details) {
  published_.fetch_add(1, std::memory_order_relaxed);
  PublishOutcome outcome;
  targets_.clear();
  std::optional<Properties> decoded;  // decoded only when needed
  auto props = [&]() -> const Properties& {
    if (!decoded) decoded = protocol::decode_properties(properties);
    return *decoded;
  };
  // Replies to a waiting RPC caller pass even at the memory limit: they are
  // not queued, and refusing them would strand the caller.
  bool reply = !exchange && routing_key.starts_with(kReplyTo) && routing_key.size() > kReplyTo.size() &&
               routing_key[kReplyTo.size()] == '.';
  if (reply) {
    outcome.routed = deliver_reply(routing_key, properties, body);
    return outcome;
  }
  // Nor are dead-lettered copies refused: they replace a message that has
  // left its queue already, and refusing them would lose it.
  if (options_.memory_limit && !details.deaths) {
    if (!memory_blocked_ && message_bytes_ >= options_.memory_limit) raise_memory_alarm();
    if (memory_blocked_) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      ++refused_while_blocked_;
      outcome.refused = true;
      return outcome;
    }
  }
  if (!exchange) {  // the default exchange: the routing key names the queue
    auto it = queues_.find(routing_key);
    if (it != queues_.end()) targets_.push_back(it->second.get());
  } else {
    ++route_epoch_;
    auto headers = [&]() -> const FieldTable* { return props().headers ? &*props().headers : nullptr; };
    route(*exchange, routing_key, headers);
    // Unroutable: try the alternate exchange, and its alternate, until one
    // routes or the chain loops back.
    for (Exchange* x = exchange; targets_.empty();) {
      auto ae = x->alternate_exchange();
      x = ae.empty() ? nullptr : find_exchange(ae);
      if (!x || x->route_mark == route_epoch_) break;
      route(*x, routing_key, headers);
    }
  }
  if (targets_.empty()) return outcome;
  outcome.routed = true;
  if (details.deaths)
    std::erase_if(targets_, [&](Queue* q) { return is_dead_letter_cycle(*details.deaths, q->name()); });
  // x-overflow reject-publish: a full queue does not take it; the others do.
  std::erase_if(targets_, [&](Queue* q) {
    if (q->limits().overflow != Overflow::kRejectPublish || !q->over_limit(true, body.bytes.size())) return false;
    outcome.refused = true;
    return true;
  });
  if (targets_.empty()) return outcome;
  StoredMessage::Parts parts{exchange ? std::string_view(exchange->name()) : std::string_view(), routing_key,
                             properties, body};
  if (journal_) {
    // Persistent messages reaching durable queues go to the journal (to
    // those queues only); the confirm waits for this turn's commit.
    journal_queues_.clear();
    for (Queue* q : targets_)
      if (q->kept_on_disk()) journal_queues_.push_back(q->name());
    if (!journal_queues_.empty() && props().delivery_mode == 2) {
      parts.journal_id = journal_->publish(parts.exchange, routing_key, properties, body.bytes, journal_queues_);
      parts.pageable = journal_queues_.size() == targets_.size();
      journal_dirty_ = true;
      outcome.journaled = true;
    }
  }
  auto message = StoredMessage::make(parts);
  message->charge(&message_bytes_);
  if (message->pageable() && paging_) page_candidates_.push_back(message);
  for (Queue* q : targets_) {
    ++q->published;
    q->push(message, expiry_of(*q, details.message_ttl));
    if (!q->consumers().empty()) dispatch(*q);
    // After dispatch: a consumer that takes it at once leaves room, as in RabbitMQ.
    if (q->limits().overflow == Overflow::kDropHead && q->limits().has_length_limit()) drop_overflow(*q);
    schedule_expiry(*q);
  }
  return outcome;
}

void BrokerCore::confirm(Session& s, ChannelSession& ch, const PublishOutcome& outcome) {
  if (ch.confirms.empty()) confirm_channels_.emplace_back(&s, ch.number);
  bool wait_for_disk = outcome.journaled && !outcome.refused;
  ch.uncommitted += wait_for_disk;
  ch.confirms.push_back(
      PendingConfirm{ch.publish_seq, wait_for_disk ? PendingConfirm::kUncommitted : 0, outcome.refused});
}

void BrokerCore::flush_confirms() {
  if (journal_dirty_) {
    journal_dirty_ = false;
    std::uint64_t ticket = journal_->commit();
    for (auto [s, n] : confirm_channels_) {
      auto it = s->channels.find(n);
      if (it == s->channels.end()) continue;
      auto& ch = it->second;
      for (auto r = ch.confirms.rbegin(); ch.uncommitted > 0 && r != ch.confirms.rend(); ++r) {
        if (r->ticket != PendingConfirm::kUncommitted) continue;  // transient ones between
        r->ticket = ticket;
        --ch.uncommitted;
      }
    }
  }
  if (confirm_channels_.empty()) return;
  std::uint64_t durable = journal_ ? journal_->durable() : 0;
  bool failed = journal_ && journal_->failed();
  // nullopt: not settled yet; else true for nack.
  auto outcome = [&](const PendingConfirm& p) -> std::optional<bool> {
    if (p.ticket == 0) return p.nack;
    if (p.ticket != PendingConfirm::kUncommitted && p.ticket <= durable) return false;
    if (failed) return true;  // never on disk: the publisher must not count on it
    return std::nullopt;
  };
  std::size_t keep = 0;
  for (auto entry : confirm_channels_) {
    auto [s, n] = entry;
    auto it = s->channels.find(n);
    if (s->dead || s->closing || it == s->channels.end() || it->second.closing) continue;
    auto& pending = it->second.confirms;
    // Runs of equal outcomes go as one basic.ack / nack with multiple.
    while (!pending.empty()) {
      auto first = outcome(pending.front());
      if (!first) break;
      std::uint64_t last = pending.front().seq;
      std::size_t count = 0;
      while (!pending.empty() && outcome(pending.front()) == first) {
        last = pending.front().seq;
        pending.pop_front();
        ++count;
      }
      if (*first) send(*s, n, protocol::BasicNack{last, count > 1, false});
      else send(*s, n, protocol::BasicAck{last, count > 1});
    }
    if (!pending.empty()) confirm_channels_[keep++] = entry;
  }
  confirm_channels_.resize(keep);
}

std::string BrokerCore::memory_blocked_reason() const {
  return "memory limit reached: messages hold " + std::to_string(message_bytes_) + " bytes, limit " +
         std::to_string(options_.memory_limit);
}

void BrokerCore::raise_memory_alarm() {
  memory_blocked_ = true;
  blocked_stat_.store(true, std::memory_order_relaxed);
  refused_while_blocked_ = 0;
  auto reason = memory_blocked_reason();
  log_.write(LogLevel::kWarning, "publishers blocked", reason);
  for (auto& [id, s] : sessions_)
    if (s->opened && !s->closing && !s->dead) send(*s, 0, protocol::ConnectionBlocked{reason});
}

// Paging: once messages hold more than half the memory limit, paging is on
// until they hold 40 % or less. While on, persistent messages of durable
// queues are candidates (those already held when it starts, then each one
// published); once its journal record is written a candidate's body leaves
// memory, oldest first; take_ready() reads it back. A queue of candidates in
// journal order makes each step O(1).
void BrokerCore::page_out() {
  if (!journal_ || !options_.memory_limit) return;
  const std::uint64_t low = options_.memory_limit / 5 * 2;
  if (message_bytes_ <= low) {
    page_candidates_.clear();
    paging_ = false;
    return;
  }
  if (!paging_ && message_bytes_ > options_.memory_limit / 2) {
    paging_ = true;
    std::deque<std::weak_ptr<StoredMessage>> held;
    for (auto& [name, q] : queues_)
      if (q->kept_on_disk())
        for (const auto& e : q->ready())
          if (e.message->pageable() && !e.message->paged()) held.push_back(e.message);
    for (auto& c : page_candidates_) held.push_back(std::move(c));
    page_candidates_ = std::move(held);
  }
  while (!page_candidates_.empty() && message_bytes_ > low) {
    auto m = page_candidates_.front().lock();
    if (m && !m->paged()) {
      if (!journal_->readable(m->journal_id())) break;  // later ones are not written either
      m->page_out();
      ++paged_out_;
    }
    page_candidates_.pop_front();
  }
}

void BrokerCore::check_memory() {
  page_out();
  message_bytes_stat_.store(message_bytes_, std::memory_order_relaxed);
  if (!memory_blocked_ || message_bytes_ >= options_.memory_limit - options_.memory_limit / 10) return;
  memory_blocked_ = false;
  blocked_stat_.store(false, std::memory_order_relaxed);
  log_.write(LogLevel::kInfo, "publishers unblocked",
             "messages hold " + std::to_string(message_bytes_) + " bytes; " +
                 std::to_string(refused_while_blocked_) + " publishes refused meanwhile");
  for (auto& [id, s] : sessions_)
    if (s->opened && !s->closing && !s->dead) send(*s, 0, protocol::ConnectionUnblocked{});
}

void BrokerCore::delivered_from(Queue& q, const StoredMessage& m) {
  if (!m.journal_id() || !q.kept_on_disk()) return;
  journal_->delivered(m.journal_id(), q.name());
  journal_dirty_ = true;
}

void BrokerCore::settled_from(Queue& q, const StoredMessage& m) {
  if (!m.journal_id() || !q.kept_on_disk()) return;
  journal_->ack(m.journal_id(), q.name());
  journal_dirty_ = true;
}

std::size_t BrokerCore::purge_queue(Queue& q) {
  for (const auto& e : q.ready()) settled_from(q, *e.message);
  return q.purge();
}

void BrokerCore::dispatch(Queue& q) {
  if (stopping_) return;  // a message requeued by one closing connection must not go to the next
  drop_expired(q);
  while (!q.empty() && !q.consumers().empty()) {
    const auto& consumers = q.consumers();
    std::size_t n = consumers.size();
    std::size_t start = q.cursor() % n;
    Consumer* chosen = nullptr;
    for (std::size_t i = 0; i < n; ++i) {
      Consumer* c = consumers[(start + i) % n];
      if (c->active && !c->session->blocked() && !c->session->dead && !c->channel->closing &&
          c->channel->may_deliver(*c)) {
        chosen = c;
        q.cursor() = (start + i + 1) % n;
        break;
      }
    }
    if (!chosen) return;
    auto entry = take_ready(q);
    if (!entry) return;
    deliver(*chosen, std::move(*entry));
  }
}

std::optional<QueueEntry> BrokerCore::take_ready(Queue& q) {
  for (drop_expired(q); !q.empty(); drop_expired(q)) {
    QueueEntry e = q.pop();
    StoredMessage& m = *e.message;
    if (page_in(q, m)) {
      ++e.deliveries;
      schedule_expiry(q);  // a new head
      return e;
    }
    settled_from(q, m);
  }
  return std::nullopt;
}

bool BrokerCore::page_in(Queue& q, StoredMessage& m) {
  if (!m.paged()) return true;
  auto body = journal_ ? journal_->read_body(m.journal_id()) : std::nullopt;
  if (!body) {
    log_.write(LogLevel::kError, "message lost",
               "queue " + q.name() + ": the body of journal message " + std::to_string(m.journal_id()) +
                   " cannot be read back");
    return false;
  }
  m.page_in(*body);
  ++paged_in_;
  return true;
}

std::uint64_t BrokerCore::record_unacked(ChannelSession& ch, std::shared_ptr<Queue> q, QueueEntry entry,
                                         std::shared_ptr<Consumer> consumer) {
  std::uint64_t tag = ch.next_delivery_tag++;
  if (consumer) ++consumer->unacked;
  ch.unacked.push(tag, Unacked{std::move(q), std::move(entry), std::move(consumer)});
  return tag;
}

void BrokerCore::deliver(Consumer& c, QueueEntry entry) {
  ChannelSession& ch = *c.channel;
  StoredMessage& m = *entry.message;
  // Views, not copies, of the strings: `entry` (no_ack) or the unacked list
  // keeps the message alive while it is sent.
  protocol::BasicDeliverView d{c.tag, 0, entry.redelivered, m.exchange(), m.routing_key()};
  if (c.no_ack) {
    d.delivery_tag = ch.next_delivery_tag++;
    settled_from(*c.queue, m);
  } else {
    delivered_from(*c.queue, m);
    d.delivery_tag = record_unacked(ch, c.queue, std::move(entry), c.shared_from_this());
  }
  send_command(*c.session, ch.number, d, m.properties(), m.content());
  delivered_.fetch_add(1, std::memory_order_relaxed);
  ++c.queue->delivered;
}

void BrokerCore::cancel_consumer(Consumer& c) {
  c.active = false;
  auto q = c.queue;
  q->remove_consumer(&c);
  if (q->flags().auto_delete && q->abandoned() && !q->deleted()) delete_queue(q);
  if (q->consumers().empty() && !q->deleted()) {  // x-expires: idle from now
    queue_used(*q);
    schedule_idle(*q);
  }
}

void BrokerCore::requeue(std::vector<Unacked> items) {
  // Group per queue; each queue puts its messages back in original order.
  std::stable_sort(items.begin(), items.end(),
                   [](const Unacked& a, const Unacked& b) { return a.queue.get() < b.queue.get(); });
  for (std::size_t i = 0; i < items.size();) {
    auto q = items[i].queue;
    std::vector<QueueEntry> entries;
    for (; i < items.size() && items[i].queue == q; ++i) entries.push_back(std::move(items[i].entry));
    if (q->deleted()) continue;
    if (auto limit = q->limits().delivery_limit) {
      // Delivered more than the limit allows: dead-lettered, not put back.
      std::vector<QueueEntry> keep;
      for (auto& e : entries) {
        if (e.deliveries > *limit) discard(*q, std::move(e), DeathReason::kDeliveryLimit);
        else keep.push_back(std::move(e));
      }
      entries = std::move(keep);
    }
    q->requeue(std::move(entries));
    dispatch(*q);
  }
}

std::string BrokerCore::open_reply_route(Session& s, ChannelSession& ch, std::string tag) {
  ch.reply_consumer_tag = std::move(tag);
  ch.reply_token = generate_name("");
  reply_routes_[ch.reply_token] = ReplyRoute{&s, ch.number};
  return std::string(kReplyTo) + "." + ch.reply_token;
}

void BrokerCore::close_reply_route(ChannelSession& ch) {
  if (ch.reply_token.empty()) return;
  reply_routes_.erase(ch.reply_token);
  ch.reply_token.clear();
  ch.reply_consumer_tag.clear();
}

bool BrokerCore::deliver_reply(std::string_view routing_key, std::string_view properties, Content body) {
  auto it = reply_routes_.find(routing_key.substr(kReplyTo.size() + 1));
  if (it == reply_routes_.end()) return false;  // the caller has gone
  Session& s = *it->second.session;
  auto ch = s.channels.find(it->second.channel);
  if (ch == s.channels.end() || ch->second.closing) return false;
  protocol::BasicDeliverView d{ch->second.reply_consumer_tag, ch->second.next_delivery_tag++, false, "",
                               routing_key};
  send_command(s, ch->second.number, d, properties, body);
  delivered_.fetch_add(1, std::memory_order_relaxed);  // publish() counted the publish
  return true;
}

void BrokerCore::release_channel(Session&, ChannelSession& ch) {
  close_reply_route(ch);
  auto consumers = std::move(ch.consumers);
  ch.consumers.clear();
  for (auto& [tag, c] : consumers) cancel_consumer(*c);
  std::vector<Unacked> items;
  items.reserve(ch.unacked.size());
  ch.unacked.take(0, true, [&](Unacked&& u) {
    if (u.consumer) --u.consumer->unacked;
    items.push_back(std::move(u));
  });
  requeue(std::move(items));
}

void BrokerCore::close_connection(Session& s, ReplyCode code, const std::string& text) {
  log_.write(code == ReplyCode::kSuccess ? LogLevel::kInfo : LogLevel::kWarning, "connection error",
             "peer=" + s.peer() + " " + std::to_string(static_cast<int>(code)) + " " +
                 std::string(reply_code_name(code)) + " - " + text);
  send(s, 0, protocol::ConnectionClose{static_cast<std::uint16_t>(code), text});
  finish_session(s);
  s.closing = true;
  s.closing_since = Clock::now();
}

void BrokerCore::finish_session(Session& s) {
  for (auto& [n, ch] : s.channels) release_channel(s, ch);
  s.channels.clear();
  std::vector<std::shared_ptr<Queue>> owned;
  for (auto& [name, q] : queues_)
    if (q->owner() == &s) owned.push_back(q);
  for (auto& q : owned) delete_queue(q);
}

void BrokerCore::sweep_heartbeats(Clock::time_point now) {
  for (auto& [id, sp] : sessions_) {
    Session& s = *sp;
    if (s.dead) continue;
    if (s.closing && s.heartbeat.count() == 0 && now - s.closing_since > std::chrono::seconds(1)) {
      s.dead = true;
      continue;
    }
    if (s.heartbeat.count() == 0) continue;
    if (s.closing && now - s.closing_since > std::max<Clock::duration>(3 * s.heartbeat, std::chrono::seconds(1))) {
      s.dead = true;  // never answered our connection.close
      continue;
    }
    if (now - s.last_recv > 3 * s.heartbeat) {
      log_.write(LogLevel::kWarning, "connection dead",
                 "peer=" + s.peer() + " missed 3 heartbeats (" + std::to_string(s.heartbeat.count()) + " ms)");
      if (!s.closing) finish_session(s);
      s.closing = true;
      s.dead = true;
      continue;
    }
    if (now - s.last_send >= s.heartbeat && !s.blocked()) send(s, 0, protocol::Heartbeat{});
  }
}

void BrokerCore::reap() {
  flush_batches();  // a closing session's last words (close_ok) included
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Session& s = *it->second;
    if (!s.dead) {
      ++it;
      continue;
    }
    if (!s.closing) finish_session(s);
    blocked_.erase(&s);
    std::erase_if(confirm_channels_, [&](const auto& e) { return e.first == &s; });
    log_.write(LogLevel::kInfo, "connection closed", "peer=" + s.peer());
    connection_count_.fetch_sub(1, std::memory_order_relaxed);
    it = sessions_.erase(it);
  }
}

void BrokerCore::shutdown() {
  flush_dead_letters();
  if (journal_) {
    // Everything received is made durable and confirmed before clients are
    // told the broker is going.
    flush_confirms();
    journal_->quiesce();
    flush_confirms();
    flush_blocked();
  }
  stopping_ = true;
  for (auto& [id, s] : sessions_) {
    if (s->dead || s->closing) continue;
    send(*s, 0, protocol::ConnectionClose{320, "CONNECTION_FORCED - broker shutdown"});
    finish_session(*s);
  }
  // Messages past their delivery limit as their channels closed: the
  // journal (committed as it is destroyed) gets their dead-lettered copies.
  flush_dead_letters();
  flush_batches();
  flush_blocked();
  sessions_.clear();
  blocked_.clear();
  queues_.clear();
  exchanges_.clear();
  connection_count_.store(0);
  queue_count_.store(0);
}

std::string BrokerCore::generate_name(std::string_view prefix) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string name(prefix);
  for (int i = 0; i < 22; ++i) name.push_back(kAlphabet[rng_() % 64]);
  return name;
}

}  // namespace warren::detail

namespace warren {

Broker::Broker(BrokerOptions options) : core_(std::make_unique<detail::BrokerCore>(std::move(options))) {}
Broker::~Broker() = default;
const std::string& Broker::endpoint() const { return core_->endpoint(); }
void Broker::start() { core_->start(); }
void Broker::run() { core_->run(); }
void Broker::stop() noexcept { core_->stop(); }
void Broker::join() { core_->join(); }
BrokerStats Broker::stats() const { return core_->stats(); }

}  // namespace warren
