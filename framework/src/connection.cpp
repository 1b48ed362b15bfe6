#include "warren/connection.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

#include "connection_core.hpp"
#include "warren/context.hpp"
#include "warren/version.hpp"

namespace warren {
namespace detail {

namespace {

// Commands read per read_available_locked (see there).
constexpr std::size_t kReadBatch = 256;

template <class T>
const T* as(const protocol::Method& m) { return std::get_if<T>(&m); }

}  // namespace

ConnectionCore::ConnectionCore(const std::string& endpoint, ConnectionOptions options)
    : endpoint_(endpoint), options_(std::move(options)), burst_(options_.publish_linger) {
  wakeup_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeup_fd_ < 0) throw ConnectionError(ReplyCode::kInternalError, "eventfd failed");
  try {
    Lock lk(mu_);
    connect_socket();
    handshake_locked(Clock::now() + options_.connect_timeout);
  } catch (...) {
    ::close(wakeup_fd_);
    throw;
  }
  backoff_ = options_.recovery_interval;
  if (heartbeat_.count() > 0 || (broker_batches_ && options_.publish_linger.count() > 0))
    heartbeat_thread_ = std::jthread([this](std::stop_token st) { heartbeat_loop(st); });
}

ConnectionCore::~ConnectionCore() {
  close();
  ::close(wakeup_fd_);
}

void ConnectionCore::connect_socket() {
  // A fresh socket each time: the broker knows a connection by the routing id
  // ZeroMQ gives the socket, so a reconnect must not reuse the old one.
  socket_ = zmq::socket_t(options_.context ? *options_.context : default_context(), zmq::socket_type::dealer);
  batch_.reset();  // publishes the old connection did not send are lost with it
  batch_pending_.store(false);
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::sndhwm, 100000);
  socket_.set(zmq::sockopt::rcvhwm, 100000);
  try {
    apply_curve_client(socket_, options_.curve);
  } catch (const Error& e) {
    throw ConnectionError(e.code(), e.text());
  }
  start_handshake_monitor();
  try {
    socket_.connect(endpoint_);
  } catch (const zmq::error_t& e) {
    throw ConnectionError(ReplyCode::kConnectionForced, "cannot connect to " + endpoint_ + ": " + e.what());
  }
  closed_.reset();
  blocked_.reset();  // a new connection starts unblocked; the broker says if not
  lost_ = false;
  close_ok_received_ = false;
}

void ConnectionCore::start_handshake_monitor() {
  static std::atomic<std::uint64_t> counter{0};
  std::string address = "inproc://warren-handshake-" + std::to_string(++counter);
  stop_handshake_monitor();
  if (zmq_socket_monitor(socket_.handle(), address.c_str(),
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
    throw ConnectionError(ReplyCode::kInternalError, std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
  monitor_ = zmq::socket_t(options_.context ? *options_.context : default_context(), zmq::socket_type::pair);
  monitor_.set(zmq::sockopt::linger, 0);
  monitor_.connect(address);
}

void ConnectionCore::stop_handshake_monitor() noexcept {
  if (!monitor_.handle()) return;
  if (socket_.handle()) zmq_socket_monitor(socket_.handle(), nullptr, 0);
  monitor_.close();
}

void ConnectionCore::read_handshake_events_locked() {
  while (monitor_.handle() && !closed_) {
    zmq::message_t event, address;
    if (!monitor_.recv(event, zmq::recv_flags::dontwait)) return;
    if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::none);
    if (event.size() < 6) continue;
    std::uint16_t id;
    std::uint32_t value;
    std::memcpy(&id, event.data(), 2);
    std::memcpy(&value, static_cast<const char*>(event.data()) + 2, 4);
    const bool curve = options_.curve.enabled();
    std::string at = " (broker " + endpoint_ + ")";
    switch (id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: stop_handshake_monitor(); return;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        fail_locked(ReplyCode::kAccessRefused,
                    "CURVE authentication refused" + at + ", ZAP status " + std::to_string(value) +
                        ": the broker does not accept this client's public key (an unknown key is recorded as "
                        "pending until an operator accepts it with warren-keys)",
                    false);
        return;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        fail_locked(ReplyCode::kAccessRefused,
                    value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                        ? std::string(curve ? "the broker does not use CURVE but this client does"
                                            : "the broker requires CURVE (set ConnectionOptions::curve)") + at
                        : "handshake failed" + at + ": ZMTP protocol error " + std::to_string(value),
                    false);
        return;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        // Without CURVE this is a broker going away mid-handshake: the
        // connect timeout and recovery handle that.
        if (curve)
          fail_locked(ReplyCode::kAccessRefused,
                      "the broker closed the connection during the CURVE handshake" + at +
                          ": wrong server public key?",
                      false);
        return;
      default: break;
    }
  }
}

void ConnectionCore::handshake_locked(Clock::time_point deadline) {
  struct StopMonitor {
    ConnectionCore* core;
    ~StopMonitor() { core->stop_handshake_monitor(); }
  } stop_monitor{this};
  protocol::ConnectionOpen open;
  open.heartbeat_ms = static_cast<std::uint32_t>(options_.heartbeat.count());
  open.max_message_size = options_.max_message_size;
  open.max_channels = options_.max_channels;
  open.client_properties = options_.client_properties;
  open.client_properties.emplace("product", "warren");
  open.client_properties.emplace("version", kVersionString);
  // This client reads batches (docs/protocol.md, "Batches").
  auto& capabilities = open.client_properties["capabilities"];
  if (!capabilities.is<FieldTable>()) capabilities = FieldTable{};
  std::get<FieldTable>(capabilities.value)["batch"] = true;
  last_recv_ = Clock::now();
  heartbeat_ = std::chrono::milliseconds(0);  // none until negotiated
  send_locked(0, open);
  std::optional<protocol::ConnectionOpenOk> ok;
  auto& slot = channels_[0];
  wait_locked(deadline, [&] { return slot.reply.has_value() || closed_.has_value(); });
  if (slot.reply) {
    if (auto* m = as<protocol::ConnectionOpenOk>(slot.reply->method)) ok = *m;
  }
  channels_.erase(0);
  throw_if_closed_locked();
  if (!ok) {
    fail_locked(ReplyCode::kConnectionForced,
                "no answer to connection.open from " + endpoint_ + " within " +
                    std::to_string(options_.connect_timeout.count()) + " ms",
                false, true);
    throw_closed_locked();
  }
  heartbeat_ = std::chrono::milliseconds(ok->heartbeat_ms);
  max_message_size_ = ok->max_message_size;
  max_channels_ = ok->max_channels;
  server_properties_ = ok->server_properties;
  broker_batches_ = protocol::has_capability(server_properties_, "batch");
}

void ConnectionCore::send_locked(std::uint16_t ch, const protocol::Method& method,
                                 std::string_view properties, const std::string_view* body) {
  flush_publishes_locked(true);  // what was published before goes first
  encode_buffer_.clear();
  if (protocol::encode_to_send(encode_buffer_, ch, method, properties, body ? *body : std::string_view()))
    body = nullptr;  // inline: one frame
  zmq::message_t header(encode_buffer_.data(), encode_buffer_.size());
  zmq::message_t content;
  if (body) content.rebuild(body->data(), body->size());
  transmit_locked(header, body ? &content : nullptr);
}

bool ConnectionCore::flush_publishes_locked(bool wait) {
  if (batch_.count() == 0) return true;
  auto frame = batch_.finish();
  zmq::message_t header(frame.data(), frame.size());
  if (wait) {
    batch_.reset();  // whatever happens next, these are sent or lost with the connection
    transmit_locked(header, nullptr);
  } else {
    try {
      if (!socket_.send(header, zmq::send_flags::dontwait)) return false;  // the pipe is full: later
    } catch (const zmq::error_t&) {
      return false;  // the owner's next send finds out
    }
    batch_.reset();
    last_send_ = coarse_now();
  }
  batch_pending_.store(false);
  return true;
}

void ConnectionCore::transmit_locked(zmq::message_t& header, zmq::message_t* content) {
  auto more = content ? zmq::send_flags::sndmore : zmq::send_flags::none;
  try {
    // Non-blocking first; when the pipe to the broker is full, keep reading
    // (the broker never blocks on us, but its heartbeats must be seen).
    while (!socket_.send(header, more | zmq::send_flags::dontwait)) {
      zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN | ZMQ_POLLOUT, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(100));
      if (items[0].revents & ZMQ_POLLIN) read_available_locked();
      if (heartbeat_.count() > 0 && Clock::now() - last_recv_ > 3 * heartbeat_)
        fail_locked(ReplyCode::kConnectionForced, "broker missed 3 heartbeats", false, true);
      throw_if_closed_locked();
    }
    if (content) socket_.send(*content, zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    fail_locked(ReplyCode::kConnectionForced, std::string("socket error: ") + e.what(), false, true);
    throw_closed_locked();
  }
  last_send_ = coarse_now();
}

void ConnectionCore::wait_locked(Clock::time_point deadline, const std::function<bool()>& done) {
  if (!closed_) flush_publishes_locked(true);  // nothing waits in the batch while we wait
  while (!done()) {
    auto now = Clock::now();
    bool beating = heartbeat_.count() > 0 && !closed_;
    if (beating) {
      // Read what arrived while the owner was away before judging the broker.
      if (now - last_recv_ > 3 * heartbeat_) read_available_locked();
      if (closed_ || done()) return;
      if (now - last_recv_ > 3 * heartbeat_) {
        fail_locked(ReplyCode::kConnectionForced,
                    "broker missed 3 heartbeats (" + std::to_string(heartbeat_.count()) + " ms)", false, true);
        return;
      }
      if (now - last_send_ >= heartbeat_) send_locked(0, protocol::Heartbeat{});
    }
    if (now >= deadline) return;
    auto until = deadline;
    if (beating) until = std::min({until, last_send_ + heartbeat_, last_recv_ + 3 * heartbeat_});
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(std::max(until - now, Clock::duration::zero()));
    zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, wakeup_fd_, ZMQ_POLLIN, 0},
                               {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, monitor_.handle() ? 3 : 2, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      fail_locked(ReplyCode::kConnectionForced, std::string("poll failed: ") + e.what(), false, true);
      return;
    }
    if (items[1].revents & ZMQ_POLLIN) drain_wakeup();
    if (items[0].revents & ZMQ_POLLIN) read_available_locked();
    if (monitor_.handle() && (items[2].revents & ZMQ_POLLIN)) read_handshake_events_locked();
  }
}

void ConnectionCore::read_available_locked() {
  for (std::size_t n = 0; n < kReadBatch && !close_ok_received_; ++n) {
    zmq::message_t header;
    if (!socket_.recv(header, zmq::recv_flags::dontwait)) return;
    last_recv_ = coarse_now();
    zmq::message_t body;
    std::size_t frames = 1;
    for (bool more = header.more(); more; ++frames) {
      zmq::message_t part;
      (void)socket_.recv(part, zmq::recv_flags::none);
      more = part.more();
      if (frames == 1) body = std::move(part);
    }
    try {
      if (frames == 1 && protocol::split_batch(header.to_string_view(), batch_commands_)) {
        // Each command as if it had come alone, in a frame that shares the
        // batch's buffer (an inline body is kept without a copy).
        auto commands = std::move(batch_commands_);
        for (auto command : commands) {
          if (close_ok_received_) break;
          zmq::message_t part;
          part.copy(header);
          auto offset = static_cast<std::size_t>(command.data() - static_cast<const char*>(header.data()));
          handle_locked(part, std::string_view(static_cast<const char*>(part.data()) + offset, command.size()), nullptr, 1);
        }
        n += commands.size() - 1;
        batch_commands_ = std::move(commands);
        continue;
      }
    } catch (const ProtocolError& e) {
      fail_locked(e.code(), std::string("from broker: ") + e.text(), true);
      return;
    }
    handle_locked(header, header.to_string_view(), frames == 2 ? &body : nullptr, frames);
  }
}

void ConnectionCore::handle_locked(zmq::message_t& holder, std::string_view frame, zmq::message_t* body,
                                   std::size_t frames) {
  protocol::Command cmd;
  try {
    cmd = protocol::decode(frame);
    protocol::check_frames(cmd, frames);
  } catch (const ProtocolError& e) {
    fail_locked(e.code(), std::string("from broker: ") + e.text(), true);
    return;
  }
  auto op = protocol::opcode_of(cmd.method);
  if (closed_) {  // closing: only close_ok matters
    if (op == protocol::Opcode::kConnectionCloseOk || op == protocol::Opcode::kConnectionClose)
      close_ok_received_ = true;
    return;
  }
  auto incoming = [&] {
    if (body) return Incoming{cmd.channel, std::move(cmd.method), std::string(cmd.properties), std::move(*body)};
    // The body inline: keep the header frame, which holds it.
    auto offset = static_cast<std::size_t>(cmd.inline_body.data() - static_cast<const char*>(holder.data()));
    return Incoming{cmd.channel, std::move(cmd.method), std::string(cmd.properties), std::move(holder), offset,
                    cmd.inline_body.size()};
  };
  auto user_tag = [&](ChannelState& st, std::uint64_t& tag) {
    tag += st.tag_offset;
    st.max_tag = std::max(st.max_tag, tag);
  };
  switch (op) {
    case protocol::Opcode::kHeartbeat: return;
    case protocol::Opcode::kConnectionBlocked:
      blocked_ = std::get<protocol::ConnectionBlocked>(cmd.method).reason;
      return;
    case protocol::Opcode::kConnectionUnblocked:
      blocked_.reset();
      return;
    case protocol::Opcode::kConnectionClose: {
      auto& m = std::get<protocol::ConnectionClose>(cmd.method);
      try { send_locked(0, protocol::ConnectionCloseOk{}); } catch (const Error&) {}
      close_ok_received_ = true;
      auto code = static_cast<ReplyCode>(m.reply_code);
      // 320: the broker is shutting down; 505 on an open connection: a
      // restarted broker that does not know us. Both are worth recovering.
      bool lost = code == ReplyCode::kConnectionForced || code == ReplyCode::kUnexpectedFrame;
      fail_locked(code, m.reply_text, false, lost);
      return;
    }
    case protocol::Opcode::kChannelClose: {
      auto& m = std::get<protocol::ChannelClose>(cmd.method);
      try {
        send_locked(cmd.channel, protocol::ChannelCloseOk{});
      } catch (const Error&) {
        return;  // the connection failed while answering
      }
      auto it = channels_.find(cmd.channel);
      if (it == channels_.end()) return;
      it->second.closed = CloseReason{static_cast<ReplyCode>(m.reply_code), m.reply_text};
      it->second.consumers.clear();
      erase_topology_if([&](const Recorded& r) { return r.channel == cmd.channel; });
      return;
    }
    case protocol::Opcode::kBasicDeliver: {
      auto it = channels_.find(cmd.channel);
      if (it == channels_.end()) return;
      user_tag(it->second, std::get<protocol::BasicDeliver>(cmd.method).delivery_tag);
      pending_.push_back(incoming());
      return;
    }
    case protocol::Opcode::kBasicCancel:
    case protocol::Opcode::kBasicReturn:
      pending_.push_back(incoming());
      return;
    case protocol::Opcode::kBasicAck:
    case protocol::Opcode::kBasicNack: {  // publisher confirms
      auto it = channels_.find(cmd.channel);
      if (it == channels_.end() || !it->second.confirm) return;
      auto* ack = as<protocol::BasicAck>(cmd.method);
      auto tag = ack ? ack->delivery_tag : std::get<protocol::BasicNack>(cmd.method).delivery_tag;
      confirmed_locked(cmd.channel, it->second, tag + it->second.seq_offset, ack == nullptr);
      return;
    }
    default: {
      auto it = channels_.find(cmd.channel);
      if (it == channels_.end()) return;  // a reply for a channel we gave up on
      if (auto* ok = std::get_if<protocol::BasicGetOk>(&cmd.method)) user_tag(it->second, ok->delivery_tag);
      it->second.reply = incoming();
    }
  }
}

void ConnectionCore::fail_locked(ReplyCode code, std::string text, bool tell_broker, bool lost) {
  if (closed_) return;
  if (tell_broker) {
    try {
      send_locked(0, protocol::ConnectionClose{static_cast<std::uint16_t>(code), text});
    } catch (const Error&) {
    }
  }
  closed_ = CloseReason{code, std::move(text)};
  lost_ = lost;
  if (recoverable_locked()) return;  // channels, consumers and pending deliveries carry over
  for (auto& [n, st] : channels_) {
    if (!st.closed) st.closed = closed_;
    st.consumers.clear();
  }
  pending_.clear();
}

bool ConnectionCore::recoverable_locked() const {
  return closed_ && lost_ && !closed_by_app_ && options_.automatic_recovery;
}

void ConnectionCore::throw_closed_locked() {
  if (lost_) throw ConnectionLost(closed_->code, closed_->text);
  throw ConnectionError(closed_->code, closed_->text);
}

void ConnectionCore::throw_if_closed_locked() {
  if (closed_) throw_closed_locked();
}

void ConnectionCore::ensure_open_locked() {
  if (!closed_) return;
  if (recoverable_locked() && Clock::now() >= next_recovery_ &&
      recover_once_locked(Clock::now() + options_.connect_timeout))
    return;
  throw_closed_locked();
}

bool ConnectionCore::recover_once_locked(Clock::time_point deadline) {
  try {
    connect_socket();
    handshake_locked(deadline);
    for (auto& [n, st] : channels_) {
      if (st.closed) continue;
      call_locked(n, protocol::ChannelOpen{}, protocol::Opcode::kChannelOpenOk);
      if (st.qos) call_locked(n, *st.qos, protocol::Opcode::kBasicQosOk);
      if (st.global_qos) call_locked(n, *st.global_qos, protocol::Opcode::kBasicQosOk);
      if (st.confirm) {
        // What was in flight may or may not have reached the old broker
        // connection: the publisher must treat it as refused.
        call_locked(n, protocol::ConfirmSelect{}, protocol::Opcode::kConfirmSelectOk);
        confirmed_locked(n, st, st.published, true);
        st.seq_offset = st.published;
      }
    }
    for (auto& r : topology_) {
      auto op = protocol::opcode_of(r.method);
      // A request's reply has the next opcode (docs/protocol.md).
      call_locked(r.channel, r.method, static_cast<protocol::Opcode>(static_cast<std::uint8_t>(op) + 1));
    }
    for (auto& [n, st] : channels_) {
      if (st.closed) continue;
      for (auto& [tag, c] : st.consumers) call_locked(n, c.spec, protocol::Opcode::kBasicConsumeOk);
      st.tag_offset = st.max_tag;
    }
  } catch (const Error&) {
    // Not back yet (or refused, e.g. our old exclusive queue still locked):
    // close this attempt and try again after the backoff.
    if (!closed_) fail_locked(ReplyCode::kConnectionForced, "recovery attempt failed", true, true);
    lost_ = true;
    next_recovery_ = Clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, options_.max_recovery_interval);
    return false;
  }
  backoff_ = options_.recovery_interval;
  ++recoveries_;
  return true;
}

void ConnectionCore::recover_until_locked(Clock::time_point deadline) {
  while (closed_ && !stop_requested_.load() && !has_posted_.load()) {
    auto now = Clock::now();
    if (now >= deadline) return;
    if (now >= next_recovery_) {
      if (recover_once_locked(std::min(deadline, now + options_.connect_timeout))) return;
      continue;
    }
    auto until = std::min(deadline, next_recovery_);
    zmq::pollitem_t items[] = {{nullptr, wakeup_fd_, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 1, std::chrono::ceil<std::chrono::milliseconds>(until - now));
    } catch (const zmq::error_t&) {
    }
    if (items[0].revents & ZMQ_POLLIN) drain_wakeup();
  }
}

void ConnectionCore::confirmed_locked(std::uint16_t ch, ChannelState& st, std::uint64_t seq, bool nack) {
  // The broker confirms in order (docs/protocol.md): everything up to `seq`
  // not settled before is settled now.
  seq = std::min(seq, st.published);
  if (seq <= st.confirmed) return;
  if (nack) st.nacked += seq - st.confirmed;
  if (st.on_confirm) {
    Incoming in{ch, nack ? protocol::Method(protocol::BasicNack{seq, true, false}) : protocol::BasicAck{seq, true}, {}, {}};
    in.first_seq = st.confirmed + 1;
    pending_.push_back(std::move(in));
  }
  st.confirmed = seq;
}

void ConnectionCore::confirm_select(std::uint16_t ch) {
  Lock lk(mu_);
  if (usable_channel_locked(ch).confirm) return;
  call_locked(ch, protocol::ConfirmSelect{}, protocol::Opcode::kConfirmSelectOk);
  auto& st = channels_.at(ch);
  st.confirm = true;
  st.seq_offset = st.published;
}

std::uint64_t ConnectionCore::publish(std::uint16_t ch, const protocol::BasicPublish& method,
                                      std::string_view properties, std::string_view body) {
  Lock lk(mu_);
  usable_channel_locked(ch);
  // A publisher that never waits for anything would never read: look at
  // what the broker sent now and then, so a connection.blocked is seen.
  if ((++publishes_ & 255) == 0) read_available_locked();
  if (blocked_) {
    // Like a RabbitMQ client whose socket the broker stopped reading: wait.
    wait_locked(Clock::now() + options_.rpc_timeout, [&] { return !blocked_ || closed_; });
    if (blocked_ && !closed_)
      throw TimeoutError("basic_publish: the broker has blocked publishers for " +
                         std::to_string(options_.rpc_timeout.count()) + " ms (" + *blocked_ + ")");
  }
  auto& st = usable_channel_locked(ch);
  if (max_message_size_ && body.size() > max_message_size_)
    throw ChannelError(ReplyCode::kPreconditionFailed,
                       "message size " + std::to_string(body.size()) + " is larger than max size " +
                           std::to_string(max_message_size_));
  if (broker_batches_ && options_.publish_linger.count() > 0 && body.size() <= kPublishBatchMaxBody) {
    // A publish in a burst (burst.hpp) joins the batch, which goes out when
    // full, before any other command or wait, or from the heartbeat thread
    // after publish_linger. A lone publish, or one of a steady stream, goes
    // out at once (docs/client.md, "Publishing in batches").
    auto now = Clock::now();
    const bool in_burst = burst_.publish(now);
    if (in_burst || batch_.count() > 0) {
      batch_.add(ch, method, properties, body);  // small: always inline
      if (batch_.count() == kPublishBatchCommands || batch_.bytes() >= kPublishBatchBytes) {
        flush_publishes_locked(true);
      } else if (batch_.count() == 1) {
        batch_pending_.store(true);
        last_batch_ = now;
        // Wake the heartbeat thread only if it is not already watching
        // batches (it watches for a while after the last one): a publisher
        // that sends one reply per request pays no wake-up per message.
        if (!flusher_awake_.load()) {
          { std::lock_guard<std::mutex> g(heartbeat_mu_); }  // it is waiting, or sees the flag first
          heartbeat_cv_.notify_one();
        }
      }
      return st.confirm ? ++st.published : 0;
    }
  }
  send_locked(ch, method, properties, &body);
  return st.confirm ? ++st.published : 0;
}

bool ConnectionCore::wait_for_confirms(std::uint16_t ch, std::size_t below, Clock::time_point deadline) {
  Lock lk(mu_);
  if (!usable_channel_locked(ch).confirm)
    throw std::logic_error("wait_for_confirms: the channel is not in confirm mode (call confirm_select first)");
  for (;;) {
    auto& st = usable_channel_locked(ch);  // recovers a lost connection (in-flight messages count as nacked)
    if (st.published - st.confirmed < below) {
      if (below > 1) return true;
      bool all_acked = st.nacked == 0;
      st.nacked = 0;
      return all_acked;
    }
    if (Clock::now() >= deadline)
      throw TimeoutError("wait_for_confirms: " + std::to_string(st.published - st.confirmed) +
                         " messages still unconfirmed");
    wait_locked(deadline, [&] {
      auto it = channels_.find(ch);
      return closed_ || it == channels_.end() || it->second.closed || it->second.published - it->second.confirmed < below;
    });
    if (closed_ && recoverable_locked()) recover_until_locked(deadline);
  }
}

std::uint64_t ConnectionCore::unconfirmed(std::uint16_t ch) {
  Lock lk(mu_);
  auto it = channels_.find(ch);
  return it == channels_.end() ? 0 : it->second.published - it->second.confirmed;
}

void ConnectionCore::set_confirm_callback(std::uint16_t ch, ConfirmCallback callback) {
  Lock lk(mu_);
  auto it = channels_.find(ch);
  if (it != channels_.end()) it->second.on_confirm = std::make_shared<ConfirmCallback>(std::move(callback));
}

ChannelState& ConnectionCore::usable_channel_locked(std::uint16_t ch) {
  ensure_open_locked();
  auto it = channels_.find(ch);
  if (it == channels_.end()) throw ChannelError(ReplyCode::kChannelError, "channel is closed");
  if (it->second.closed) throw ChannelError(it->second.closed->code, it->second.closed->text);
  return it->second;
}

Incoming ConnectionCore::call(std::uint16_t ch, const protocol::Method& request, protocol::Opcode expected,
                              std::optional<protocol::Opcode> alternative) {
  Lock lk(mu_);
  usable_channel_locked(ch);
  return call_locked(ch, request, expected, alternative);
}

Incoming ConnectionCore::call_locked(std::uint16_t ch, const protocol::Method& request, protocol::Opcode expected,
                                     std::optional<protocol::Opcode> alternative) {
  auto& st = channels_.at(ch);
  st.reply.reset();
  send_locked(ch, request);
  wait_locked(Clock::now() + options_.rpc_timeout,
              [&] { return st.reply.has_value() || st.closed.has_value() || closed_.has_value(); });
  if (st.reply) {
    Incoming reply = std::move(*st.reply);
    st.reply.reset();
    auto op = protocol::opcode_of(reply.method);
    if (op == expected || (alternative && op == *alternative)) return reply;
    fail_locked(ReplyCode::kUnexpectedFrame,
                "expected " + std::string(protocol::name_of(expected)) + ", broker sent " +
                    std::string(protocol::name_of(op)),
                true);
  }
  throw_if_closed_locked();
  if (st.closed) throw ChannelError(st.closed->code, st.closed->text);
  throw TimeoutError(std::string(protocol::name_of(protocol::opcode_of(request))) + ": no reply within " +
                     std::to_string(options_.rpc_timeout.count()) + " ms");
}

void ConnectionCore::settle(std::uint16_t ch, protocol::Method method) {
  Lock lk(mu_);
  auto& st = usable_channel_locked(ch);
  bool stale = false;
  std::visit(
      [&](auto& m) {
        if constexpr (requires { m.delivery_tag; }) {
          // Tags from before a recovery name messages the broker has requeued.
          if (m.delivery_tag != 0 && m.delivery_tag <= st.tag_offset) stale = true;
          else if (m.delivery_tag != 0) m.delivery_tag -= st.tag_offset;
        }
      },
      method);
  if (!stale) send_locked(ch, method);
}

std::uint16_t ConnectionCore::open_channel() {
  Lock lk(mu_);
  ensure_open_locked();
  std::uint16_t limit = max_channels_ ? max_channels_ : 65535;
  std::uint16_t number = 0;
  for (std::uint32_t n = 1; n <= limit; ++n) {
    if (!channels_.contains(static_cast<std::uint16_t>(n))) {
      number = static_cast<std::uint16_t>(n);
      break;
    }
  }
  if (number == 0)
    throw ConnectionError(ReplyCode::kResourceError, "all " + std::to_string(limit) + " channels in use");
  channels_[number];
  try {
    call_locked(number, protocol::ChannelOpen{}, protocol::Opcode::kChannelOpenOk);
  } catch (...) {
    channels_.erase(number);
    throw;
  }
  return number;
}

void ConnectionCore::close_channel(std::uint16_t ch) {
  Lock lk(mu_);
  auto it = channels_.find(ch);
  if (it == channels_.end() || it->second.closed) return;
  erase_topology_if([&](const Recorded& r) { return r.channel == ch; });
  if (!closed_) {
    try {
      call_locked(ch, protocol::ChannelClose{200, "Normal shutdown"}, protocol::Opcode::kChannelCloseOk);
    } catch (const ChannelError&) {
      // the broker closed it first; closed either way
    }
  }
  it = channels_.find(ch);
  if (it != channels_.end()) {
    if (!it->second.closed) it->second.closed = CloseReason{ReplyCode::kChannelError, "channel closed by the application"};
    it->second.consumers.clear();
  }
}

void ConnectionCore::release_channel(std::uint16_t ch) noexcept {
  try {
    close_channel(ch);
  } catch (...) {
  }
  Lock lk(mu_);
  channels_.erase(ch);
}

bool ConnectionCore::channel_open(std::uint16_t ch) {
  Lock lk(mu_);
  auto it = channels_.find(ch);
  return !closed_ && it != channels_.end() && !it->second.closed;
}

void ConnectionCore::add_consumer(std::uint16_t ch, protocol::BasicConsume spec, ConsumerCallback callback,
                                  CancelCallback on_cancel) {
  Lock lk(mu_);
  auto it = channels_.find(ch);
  if (it == channels_.end()) return;
  auto tag = spec.consumer_tag;
  it->second.consumers[tag] = ConsumerEntry{std::make_shared<ConsumerCallback>(std::move(callback)),
                                            on_cancel ? std::make_shared<CancelCallback>(std::move(on_cancel)) : nullptr,
                                            std::move(spec)};
}

void ConnectionCore::remove_consumer(std::uint16_t ch, std::string_view tag) {
  Lock lk(mu_);
  auto it = channels_.find(ch);
  if (it == channels_.end()) return;
  auto c = it->second.consumers.find(tag);
  if (c != it->second.consumers.end()) it->second.consumers.erase(c);
}

template <class Pred>
void ConnectionCore::erase_topology_if(Pred pred) {
  for (auto it = topology_.begin(); it != topology_.end();) {
    if (!pred(*it)) {
      ++it;
      continue;
    }
    topology_index_.erase(protocol::encode(0, it->method));
    it = topology_.erase(it);
  }
}

void ConnectionCore::record(std::uint16_t ch, protocol::Method declaration_or_binding) {
  Lock lk(mu_);
  auto key = protocol::encode(0, declaration_or_binding);
  if (auto it = topology_index_.find(key); it != topology_index_.end()) topology_.erase(it->second);
  topology_.push_back(Recorded{ch, std::move(declaration_or_binding)});
  topology_index_[std::move(key)] = std::prev(topology_.end());
}

void ConnectionCore::forget(const protocol::Method& binding) {
  Lock lk(mu_);
  auto it = topology_index_.find(protocol::encode(0, binding));
  if (it == topology_index_.end()) return;
  topology_.erase(it->second);
  topology_index_.erase(it);
}

void ConnectionCore::forget_queue(std::string_view name) {
  Lock lk(mu_);
  erase_topology_if([&](const Recorded& r) {
    if (auto* q = std::get_if<protocol::QueueDeclare>(&r.method)) return q->queue == name;
    if (auto* b = std::get_if<protocol::QueueBind>(&r.method)) return b->queue == name;
    return false;
  });
}

void ConnectionCore::forget_exchange(std::string_view name) {
  Lock lk(mu_);
  erase_topology_if([&](const Recorded& r) {
    if (auto* x = std::get_if<protocol::ExchangeDeclare>(&r.method)) return x->exchange == name;
    if (auto* b = std::get_if<protocol::QueueBind>(&r.method)) return b->exchange == name;
    if (auto* b = std::get_if<protocol::ExchangeBind>(&r.method)) return b->source == name || b->destination == name;
    return false;
  });
}

void ConnectionCore::set_return_callback(std::uint16_t ch, ReturnCallback callback) {
  Lock lk(mu_);
  auto it = channels_.find(ch);
  if (it != channels_.end()) it->second.on_return = std::make_shared<ReturnCallback>(std::move(callback));
}

void ConnectionCore::record_qos(std::uint16_t ch, const protocol::BasicQos& qos) {
  Lock lk(mu_);
  auto it = channels_.find(ch);
  if (it == channels_.end()) return;
  (qos.global ? it->second.global_qos : it->second.qos) = qos;
}

std::size_t ConnectionCore::dispatch_pending() {
  std::size_t n = 0;
  // One Message for the whole batch: its strings keep their capacity from
  // one delivery to the next (callbacks see it as const).
  Message msg;
  for (;;) {
    Incoming in;
    std::shared_ptr<ConsumerCallback> callback;
    std::shared_ptr<CancelCallback> on_cancel;
    std::shared_ptr<ReturnCallback> on_return;
    std::shared_ptr<ConfirmCallback> on_confirm;
    {
      Lock lk(mu_);
      if (pending_.empty()) return n;
      in = std::move(pending_.front());
      pending_.pop_front();
      auto ch = channels_.find(in.channel);
      if (ch == channels_.end() || ch->second.closed) continue;
      if (as<protocol::BasicAck>(in.method) || as<protocol::BasicNack>(in.method)) {
        on_confirm = ch->second.on_confirm;
        if (!on_confirm) continue;
      } else if (as<protocol::BasicReturn>(in.method)) {
        on_return = ch->second.on_return;
        if (!on_return) continue;  // no callback: dropped, as pika does
      } else if (auto* cancel = as<protocol::BasicCancel>(in.method)) {
        auto c = ch->second.consumers.find(cancel->consumer_tag);
        if (c == ch->second.consumers.end()) continue;
        on_cancel = c->second.on_cancel;
        ch->second.consumers.erase(c);
        if (!on_cancel) continue;
      } else {
        auto& d = std::get<protocol::BasicDeliver>(in.method);
        auto c = ch->second.consumers.find(d.consumer_tag);
        if (c == ch->second.consumers.end()) continue;
        callback = c->second.callback;
      }
    }
    ++n;
    if (on_confirm) {
      auto* ack = as<protocol::BasicAck>(in.method);
      auto last = ack ? ack->delivery_tag : std::get<protocol::BasicNack>(in.method).delivery_tag;
      for (auto seq = in.first_seq; seq <= last; ++seq) (*on_confirm)(seq, ack != nullptr);
      continue;
    }
    if (on_return) {
      auto& r = std::get<protocol::BasicReturn>(in.method);
      ReturnedMessage returned{static_cast<ReplyCode>(r.reply_code), std::move(r.reply_text), std::move(r.exchange),
                               std::move(r.routing_key), protocol::decode_properties(in.properties),
                               std::string(in.body_view())};
      (*on_return)(returned);
      continue;
    }
    if (on_cancel) {
      (*on_cancel)(std::get<protocol::BasicCancel>(in.method).consumer_tag);
      continue;
    }
    auto& d = std::get<protocol::BasicDeliver>(in.method);
    msg.exchange.assign(d.exchange);
    msg.routing_key.assign(d.routing_key);
    msg.properties = protocol::decode_properties(in.properties);
    msg.body.assign(in.body_view());
    msg.delivery_tag = d.delivery_tag;
    msg.redelivered = d.redelivered;
    msg.consumer_tag.assign(d.consumer_tag);
    (*callback)(msg);
  }
}

void ConnectionCore::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lk(posted_mu_);
    posted_.push_back(std::move(task));
    has_posted_.store(true);
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wakeup_fd_, &one, sizeof one);
}

std::size_t ConnectionCore::run_posted() {
  if (!has_posted_.load()) return 0;
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lk(posted_mu_);
    tasks.swap(posted_);
    has_posted_.store(false);
  }
  for (auto& task : tasks) task();
  return tasks.size();
}

bool ConnectionCore::pump_events(Clock::time_point deadline, bool once, std::size_t* dispatched) {
  std::size_t total = 0;
  bool looked = false;  // read the socket at least once, even with no time to wait
  for (;;) {
    total += run_posted();
    total += dispatch_pending();
    if (stop_requested_.exchange(false)) {
      if (dispatched) *dispatched = total;
      return true;
    }
    if (once && total > 0) break;
    if (Clock::now() >= deadline) {
      if (looked) break;
      // A deadline already past (process_events(0ms), a poll from the
      // application's own loop) still takes what has arrived.
      looked = true;
      Lock lk(mu_);
      if (!closed_) {
        flush_publishes_locked(true);  // as wait_locked would
        read_available_locked();
      }
      continue;
    }
    looked = true;
    Lock lk(mu_);
    if (closed_) {
      if (!recoverable_locked()) throw_closed_locked();
      recover_until_locked(deadline);
      continue;
    }
    wait_locked(deadline, [&] {
      return !pending_.empty() || stop_requested_.load() || has_posted_.load() || closed_.has_value();
    });
    if (closed_ && !recoverable_locked()) throw_closed_locked();
  }
  if (dispatched) *dispatched = total;
  return false;
}

void ConnectionCore::request_stop() noexcept {
  stop_requested_.store(true);
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wakeup_fd_, &one, sizeof one);
}

void ConnectionCore::drain_wakeup() noexcept {
  std::uint64_t value;
  [[maybe_unused]] auto r = ::read(wakeup_fd_, &value, sizeof value);
}

void ConnectionCore::close() noexcept {
  {
    Lock lk(mu_);
    closed_by_app_ = true;
    if (!closed_) {
      try {
        send_locked(0, protocol::ConnectionClose{200, "Normal shutdown"});
        closed_ = CloseReason{ReplyCode::kSuccess, "connection closed by the application"};
        wait_locked(Clock::now() + options_.close_timeout, [&] { return close_ok_received_; });
      } catch (...) {
      }
      if (!closed_) closed_ = CloseReason{ReplyCode::kSuccess, "connection closed by the application"};
    }
    for (auto& [n, st] : channels_) {
      if (!st.closed) st.closed = closed_;
      st.consumers.clear();
    }
    pending_.clear();
  }
  if (heartbeat_thread_.joinable()) {
    heartbeat_thread_.request_stop();
    heartbeat_cv_.notify_all();
    heartbeat_thread_.join();
  }
}

std::uint64_t ConnectionCore::recovery_count() {
  Lock lk(mu_);
  return recoveries_;
}

std::optional<std::string> ConnectionCore::blocked() {
  Lock lk(mu_);
  return blocked_;
}

bool ConnectionCore::is_open() {
  Lock lk(mu_);
  return !closed_;
}

void ConnectionCore::heartbeat_loop(std::stop_token stop) {
  std::unique_lock<std::mutex> wait_lock(heartbeat_mu_);
  while (!stop.stop_requested()) {
    if (flusher_awake_.load()) {
      // Watching batches: every publish_linger, send the one there is (a
      // burst has had that long to fill it).
      heartbeat_cv_.wait_for(wait_lock, stop, options_.publish_linger, [] { return false; });
    } else {
      auto period = heartbeat_.count() > 0 ? Clock::duration(heartbeat_ / 4) : Clock::duration(std::chrono::hours(1));
      heartbeat_cv_.wait_for(wait_lock, stop, period, [&] { return batch_pending_.load(); });
      if (batch_pending_.load()) {
        flusher_awake_.store(true);
        continue;  // first a linger
      }
    }
    if (stop.stop_requested()) return;
    Lock lk(mu_, std::try_to_lock);
    if (!lk.owns_lock()) continue;  // the owner is in the library: it flushes and heartbeats
    if (closed_) {
      batch_pending_.store(false);
      flusher_awake_.store(false);
      continue;
    }
    flush_publishes_locked(false);  // a full pipe: tried again after the next linger
    // Back to sleep when no batch began for a while (under mu_, so a
    // publish sees either this thread awake or asleep, never in between).
    if (flusher_awake_.load() && batch_.count() == 0 && Clock::now() - last_batch_ > kFlusherIdle)
      flusher_awake_.store(false);
    if (heartbeat_.count() == 0 || Clock::now() - last_send_ < heartbeat_) continue;
    try {
      zmq::message_t header(protocol::encode(0, protocol::Heartbeat{}));
      if (socket_.send(header, zmq::send_flags::dontwait)) last_send_ = Clock::now();
    } catch (const zmq::error_t&) {
    }
  }
}

}  // namespace detail

// ---- Connection -------------------------------------------------------------

Connection::Connection(const std::string& endpoint, ConnectionOptions options)
    : core_(std::make_shared<detail::ConnectionCore>(endpoint, std::move(options))) {}

Connection::~Connection() {
  if (core_) core_->close();
}

Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (core_) core_->close();
    core_ = std::move(other.core_);
  }
  return *this;
}

Channel Connection::channel() { return Channel(core_, core_->open_channel()); }

std::size_t Connection::process_events(std::chrono::milliseconds timeout) {
  std::size_t n = 0;
  core_->pump_events(detail::Clock::now() + timeout, true, &n);
  return n;
}

void Connection::run() {
  while (!core_->pump_events(detail::Clock::now() + std::chrono::hours(1), false, nullptr)) {
  }
}

void Connection::run_for(std::chrono::milliseconds duration) {
  core_->pump_events(detail::Clock::now() + duration, false, nullptr);
}

void Connection::stop() noexcept { core_->request_stop(); }
void Connection::post(std::function<void()> task) { core_->post(std::move(task)); }
void Connection::close() { core_->close(); }
bool Connection::is_open() const { return core_->is_open(); }
std::uint64_t Connection::recovery_count() const { return core_->recovery_count(); }
std::optional<std::string> Connection::blocked() const { return core_->blocked(); }
std::chrono::milliseconds Connection::heartbeat() const { return core_->heartbeat(); }
std::uint64_t Connection::max_message_size() const { return core_->max_message_size(); }
std::uint16_t Connection::max_channels() const { return core_->max_channels(); }
const FieldTable& Connection::server_properties() const { return core_->server_properties(); }

}  // namespace warren
