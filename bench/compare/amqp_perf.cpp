// amqp-perf: warren-perf's scenarios against an AMQP 0-9-1 broker (RabbitMQ),
// with the C client rabbitmq-c (librabbitmq), for bench/compare.
//
// It takes warren-perf's flags (perf_scenario.hpp parses them for both) and
// prints the same live lines, summary and --json line, so the two tools run
// identical scenarios and their figures compare line by line. The endpoint
// is an AMQP URL: amqp://user:password@host:port/vhost.
//
// Each producer and consumer has its own connection (channel 1) on its own
// thread, like warren-perf's. What the AMQP side does for each flag:
//   publish          basic.publish on the default exchange, or --exchange;
//                    transient messages carry no properties, --persistent
//                    sets delivery_mode 2 (and declares durable queues)
//   --confirm N      confirm.select; at most N publishes wait for their
//                    basic.ack (a nack fails the run)
//   consume          basic.consume with no_ack, or --manual-ack with
//                    basic.qos(prefetch) and basic.ack(multiple) every N
//   --rpc            clients publish requests with reply_to and
//                    correlation_id and consume the replies from
//                    amq.rabbitmq.reply-to (direct reply-to), or from an
//                    exclusive server-named queue with --reply-queue;
//                    servers consume the queue (prefetch, manual ack),
//                    publish the body back to reply_to, then ack
// Heartbeats are off (a publisher that never reads would miss them), as in
// a benchmark run with rabbitmq-c's defaults.
//
// Exit status: 0; 1 when messages were lost or a worker or the broker
// failed; 2 on a usage error.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "perf_report.hpp"
#include "perf_scenario.hpp"

namespace {

using warren::perf::Clock;
using warren::perf::queue_name;
using warren::perf::ReadyGuard;
using warren::perf::Run;
using warren::perf::ScenarioOptions;

constexpr const char* kProgram = "amqp-perf";
constexpr amqp_channel_t kChannel = 1;
constexpr const char* kDirectReplyTo = "amq.rabbitmq.reply-to";

amqp_bytes_t bytes_of(std::string_view s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}
std::string_view view_of(amqp_bytes_t b) {
  return {static_cast<const char*>(b.bytes), b.len};
}

struct timeval timeval_of(std::chrono::microseconds d) {
  struct timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(d.count() % 1000000);
  return tv;
}

// The text of a closing method: "404 NOT_FOUND - no queue 'q' in vhost '/'".
std::string close_text(const amqp_method_t& method) {
  if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_channel_close_t*>(method.decoded);
    return "channel closed: " + std::string(view_of(m->reply_text));
  }
  if (method.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* m = static_cast<const amqp_connection_close_t*>(method.decoded);
    return "connection closed: " + std::string(view_of(m->reply_text));
  }
  return "unexpected method " + std::to_string(method.id);
}

// Throws with the library's or the broker's words unless `reply` is normal.
void check(const amqp_rpc_reply_t& reply, const std::string& what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return;
    case AMQP_RESPONSE_NONE:
      throw std::runtime_error(what + ": missing reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      throw std::runtime_error(what + ": " + amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      throw std::runtime_error(what + ": " + close_text(reply.reply));
  }
  throw std::runtime_error(what + ": unknown reply type");
}

void check_status(int status, const std::string& what) {
  if (status != AMQP_STATUS_OK) throw std::runtime_error(what + ": " + amqp_error_string2(status));
}

// One AMQP connection with channel 1 open. Move-less RAII: closes the
// channel and the connection (politely when they are still open) and frees
// the state.
class AmqpConnection {
 public:
  explicit AmqpConnection(const std::string& url) : state_(amqp_new_connection()) {
    if (state_ == nullptr) throw std::runtime_error("amqp_new_connection failed");
    std::string buffer = url;  // amqp_parse_url writes into it
    amqp_connection_info info;
    amqp_default_connection_info(&info);
    if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK)
      throw_and_free("bad AMQP URL '" + url + "' (amqp://user:password@host:port/vhost)");
    amqp_socket_t* socket = amqp_tcp_socket_new(state_);
    if (socket == nullptr) throw_and_free("cannot create a TCP socket");
    struct timeval connect_timeout = timeval_of(std::chrono::seconds(10));
    int status = amqp_socket_open_noblock(socket, info.host, info.port, &connect_timeout);
    if (status != AMQP_STATUS_OK)
      throw_and_free("cannot connect to " + std::string(info.host) + ":" + std::to_string(info.port) +
                     ": " + amqp_error_string2(status));
    auto login = amqp_login(state_, info.vhost, 0, 131072, /*heartbeat=*/0, AMQP_SASL_METHOD_PLAIN,
                            info.user, info.password);
    if (login.reply_type != AMQP_RESPONSE_NORMAL) {
      try {
        check(login, "login");
      } catch (const std::exception& e) {
        throw_and_free(e.what());
      }
    }
    open_ = true;
    amqp_channel_open(state_, kChannel);
    auto opened = amqp_get_rpc_reply(state_);
    if (opened.reply_type != AMQP_RESPONSE_NORMAL) {
      try {
        check(opened, "channel.open");
      } catch (const std::exception& e) {
        throw_and_free(e.what());
      }
    }
    channel_open_ = true;
  }
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;
  ~AmqpConnection() { close(); }

  amqp_connection_state_t get() const { return state_; }

  // Throws unless the last synchronous method succeeded; a channel or
  // connection error leaves nothing to close politely.
  void check_rpc(const std::string& what) {
    auto reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
      channel_open_ = false;
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) open_ = false;
    } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      channel_open_ = open_ = false;
    }
    check(reply, what);
  }

  // A frame that is not a delivery arrived (or is about to): reads it, and
  // throws if it closes the channel or the connection. Returns it otherwise.
  amqp_frame_t read_other_frame() {
    amqp_frame_t frame;
    struct timeval tv = timeval_of(std::chrono::seconds(10));
    check_frame(amqp_simple_wait_frame_noblock(state_, &frame, &tv), frame);
    return frame;
  }

  // Waits up to `timeout` for a frame; returns false on timeout. Throws on
  // a closing method or a library error.
  bool wait_frame(amqp_frame_t& frame, std::chrono::microseconds timeout) {
    struct timeval tv = timeval_of(timeout);
    int status = amqp_simple_wait_frame_noblock(state_, &frame, &tv);
    if (status == AMQP_STATUS_TIMEOUT) return false;
    check_frame(status, frame);
    return true;
  }

 private:
  [[noreturn]] void throw_and_free(const std::string& text) {
    close();
    throw std::runtime_error(text);
  }

  void check_frame(int status, const amqp_frame_t& frame) {
    if (status != AMQP_STATUS_OK) {
      channel_open_ = open_ = false;
      check_status(status, "reading a frame");
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) return;
    if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
      amqp_channel_close_ok_t ok{};
      amqp_send_method(state_, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      channel_open_ = false;
      throw std::runtime_error(close_text(frame.payload.method));
    }
    if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      amqp_connection_close_ok_t ok{};
      amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
      channel_open_ = open_ = false;
      throw std::runtime_error(close_text(frame.payload.method));
    }
  }

  void close() {
    if (state_ == nullptr) return;
    if (channel_open_) amqp_channel_close(state_, kChannel, AMQP_REPLY_SUCCESS);
    if (open_) amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
    state_ = nullptr;
  }

  amqp_connection_state_t state_;
  bool open_ = false;
  bool channel_open_ = false;
};

// Publisher confirms: which of the tags published so far the broker has
// confirmed (basic.ack, single or multiple). A nack throws.
class ConfirmTracker {
 public:
  void published() {
    pending_.push_back(0);
    ++unconfirmed_;
  }
  std::uint64_t unconfirmed() const { return unconfirmed_; }

  // Handles a frame; returns whether it was a confirm.
  bool on_frame(const amqp_frame_t& frame) {
    if (frame.frame_type != AMQP_FRAME_METHOD) return false;
    if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD)
      throw std::runtime_error("the broker nacked a message");
    if (frame.payload.method.id != AMQP_BASIC_ACK_METHOD) return false;
    const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
    if (ack->delivery_tag < first_tag_) return true;
    std::uint64_t last = ack->delivery_tag - first_tag_;
    std::uint64_t from = ack->multiple ? 0 : last;
    for (std::uint64_t i = from; i <= last && i < pending_.size(); ++i) {
      if (!pending_[i]) --unconfirmed_;
      pending_[i] = 1;
    }
    while (!pending_.empty() && pending_.front()) {
      pending_.pop_front();
      ++first_tag_;
    }
    return true;
  }

 private:
  std::deque<char> pending_;  // tags first_tag_, first_tag_ + 1, ...: confirmed?
  std::uint64_t first_tag_ = 1;
  std::uint64_t unconfirmed_ = 0;
};

// Reads confirms until at most `limit` are outstanding; throws after
// `timeout` without one.
void wait_for_confirms(AmqpConnection& c, ConfirmTracker& confirms, std::uint64_t limit,
                       std::chrono::seconds timeout) {
  while (confirms.unconfirmed() > limit) {
    amqp_frame_t frame;
    if (!c.wait_frame(frame, timeout))
      throw std::runtime_error("no publisher confirm within " + std::to_string(timeout.count()) + " s");
    confirms.on_frame(frame);
  }
}

// Reads what the broker sent without waiting: confirms, or a channel error
// (a publisher that never reads would not notice one).
void poll_frames(AmqpConnection& c, ConfirmTracker& confirms) {
  amqp_frame_t frame;
  while (c.wait_frame(frame, std::chrono::microseconds(0))) confirms.on_frame(frame);
}

// Keeps a finished worker's connection open until main says finish, like
// warren-perf's producers.
void idle_until_finish(Run& run) {
  while (!run.finish.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void producer(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  auto& counter = run.sent[static_cast<std::size_t>(id)].value;
  try {
    AmqpConnection c(run.endpoint);
    warren::perf::Bodies bodies(o, id);
    amqp_basic_properties_t properties{};
    if (o.persistent) {
      properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
      properties.delivery_mode = 2;
    }
    ConfirmTracker confirms;
    if (o.confirm > 0) {
      amqp_confirm_select(c.get(), kChannel);
      c.check_rpc("confirm.select");
    }
    ready.arrive();
    run.go.wait();
    const auto start = run.start;
    auto next_poll = start + std::chrono::milliseconds(500);
    std::uint64_t n = 0;
    while ((o.count == 0 || n < o.count) && !run.stop_producing.load(std::memory_order_relaxed)) {
      if ((n & 1023) == 0 && Clock::now() >= next_poll) {
        poll_frames(c, confirms);
        next_poll = Clock::now() + std::chrono::milliseconds(500);
      }
      warren::perf::pace(o, start, n);
      if (o.confirm > 0) wait_for_confirms(c, confirms, o.confirm - 1, std::chrono::seconds(60));
      check_status(amqp_basic_publish(c.get(), kChannel, bytes_of(o.exchange), bytes_of(o.routing_key),
                                      0, 0, o.persistent ? &properties : nullptr, bytes_of(bodies.next())),
                   "basic.publish");
      if (o.confirm > 0) confirms.published();
      counter.store(++n, std::memory_order_relaxed);
    }
    // With confirms, sending is over when the broker has taken the last one.
    if (o.confirm > 0) wait_for_confirms(c, confirms, 0, std::chrono::seconds(60));
    run.record_last_send(Clock::now());
    run.producers_done.fetch_add(1);
    idle_until_finish(run);
  } catch (const std::exception& e) {
    run.fail("producer " + std::to_string(id), e);
    run.producers_done.fetch_add(1);
  }
}

// basic.consume on channel 1; the broker's consumer tag is not needed.
void consume(AmqpConnection& c, const std::string& queue, bool no_ack) {
  amqp_basic_consume(c.get(), kChannel, bytes_of(queue), amqp_empty_bytes, 0, no_ack ? 1 : 0, 0,
                     amqp_empty_table);
  c.check_rpc("basic.consume " + queue);
}

// Waits up to `timeout` for a delivery into `envelope`: true when there is
// one (the caller destroys it), false on timeout or when another frame was
// handled instead. Throws on a channel or connection error.
bool next_delivery(AmqpConnection& c, amqp_envelope_t& envelope, std::chrono::microseconds timeout) {
  amqp_maybe_release_buffers(c.get());
  struct timeval tv = timeval_of(timeout);
  auto reply = amqp_consume_message(c.get(), &envelope, &tv, 0);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return true;
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
    if (reply.library_error == AMQP_STATUS_TIMEOUT) return false;
    if (reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      c.read_other_frame();  // throws if it closes the channel
      return false;
    }
  }
  check(reply, "consuming");
  return false;
}

void consumer(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  auto& counter = run.received[static_cast<std::size_t>(id)].value;
  warren::perf::LatencyHistogram latency;
  std::int64_t last_receive = 0;
  std::uint64_t bytes = 0;
  try {
    AmqpConnection c(run.endpoint);
    if (o.manual_ack) {
      amqp_basic_qos(c.get(), kChannel, 0, static_cast<std::uint16_t>(o.prefetch), 0);
      c.check_rpc("basic.qos");
    }
    for (const auto& queue : warren::perf::queues_of(o, id)) consume(c, queue, !o.manual_ack);
    ready.arrive();
    std::uint64_t n = 0;
    unsigned since_ack = 0;
    std::uint64_t last_tag = 0;
    while (!run.finish.load(std::memory_order_relaxed)) {
      amqp_envelope_t envelope;
      if (!next_delivery(c, envelope, std::chrono::milliseconds(50))) continue;
      std::int64_t now = warren::perf::now_ns();
      const auto& body = envelope.message.body;
      if (body.len >= warren::perf::kTimestampBytes)
        latency.record(now - warren::perf::read_stamp(body.bytes));
      last_receive = now;
      bytes += body.len;
      counter.store(++n, std::memory_order_relaxed);
      if (o.manual_ack) {
        last_tag = envelope.delivery_tag;
        if (++since_ack >= o.ack_every) {
          check_status(amqp_basic_ack(c.get(), kChannel, envelope.delivery_tag, o.ack_every > 1),
                       "basic.ack");
          since_ack = 0;
        }
      }
      amqp_destroy_envelope(&envelope);
    }
    if (since_ack > 0) amqp_basic_ack(c.get(), kChannel, last_tag, 1);
  } catch (const std::exception& e) {
    run.fail("consumer " + std::to_string(id), e);
  }
  run.record_receives(latency, bytes, last_receive);
}

// An RPC server: consumes the queue with --prefetch and manual acks, and
// publishes each request's body back to its reply_to with its
// correlation_id, then acks the request.
void rpc_server(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  try {
    AmqpConnection c(run.endpoint);
    amqp_basic_qos(c.get(), kChannel, 0, static_cast<std::uint16_t>(o.prefetch), 0);
    c.check_rpc("basic.qos");
    consume(c, o.queue, false);
    ready.arrive();
    while (!run.finish.load(std::memory_order_relaxed)) {
      amqp_envelope_t envelope;
      if (!next_delivery(c, envelope, std::chrono::milliseconds(50))) continue;
      const auto& request = envelope.message.properties;
      if (request._flags & AMQP_BASIC_REPLY_TO_FLAG) {
        amqp_basic_properties_t reply{};
        if (request._flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
          reply._flags = AMQP_BASIC_CORRELATION_ID_FLAG;
          reply.correlation_id = request.correlation_id;
        }
        check_status(amqp_basic_publish(c.get(), kChannel, amqp_empty_bytes, request.reply_to, 0, 0,
                                        &reply, envelope.message.body),
                     "publishing a reply");
      }
      check_status(amqp_basic_ack(c.get(), kChannel, envelope.delivery_tag, 0), "basic.ack");
      amqp_destroy_envelope(&envelope);
    }
  } catch (const std::exception& e) {
    run.fail("server " + std::to_string(id), e);
  }
}

// An RPC client: keeps --concurrency calls outstanding; the latency of a
// call runs from its send timestamp (echoed in the reply's body) to the
// moment its reply is read. No reply within --stall-timeout fails the run.
void rpc_client(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  auto& sent = run.sent[static_cast<std::size_t>(id)].value;
  auto& received = run.received[static_cast<std::size_t>(id)].value;
  warren::perf::LatencyHistogram latency;
  std::int64_t last_receive = 0;
  std::uint64_t bytes = 0;
  try {
    AmqpConnection c(run.endpoint);
    std::string reply_to = kDirectReplyTo;
    if (o.reply_queue) {
      auto* ok = amqp_queue_declare(c.get(), kChannel, amqp_empty_bytes, 0, 0, /*exclusive=*/1,
                                    /*auto_delete=*/1, amqp_empty_table);
      c.check_rpc("declaring the reply queue");
      reply_to = std::string(view_of(ok->queue));
    }
    consume(c, reply_to, /*no_ack=*/true);
    const auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::duration<double>(o.stall_timeout));
    warren::perf::Bodies bodies(o, id);
    std::uint64_t n = 0;
    std::string correlation_id;
    auto call = [&](std::string_view body) {
      correlation_id = std::to_string(id) + "." + std::to_string(n);
      amqp_basic_properties_t properties{};
      properties._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG;
      properties.reply_to = bytes_of(reply_to);
      properties.correlation_id = bytes_of(correlation_id);
      check_status(amqp_basic_publish(c.get(), kChannel, amqp_empty_bytes, bytes_of(o.queue), 0, 0,
                                      &properties, bytes_of(body)),
                   "publishing a request");
    };
    // Waits for one reply; returns its body size and records its latency.
    auto reply = [&]() {
      const auto deadline = Clock::now() + timeout;
      for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
        if (left.count() <= 0)
          throw std::runtime_error("no reply within " + std::to_string(o.stall_timeout) + " s");
        amqp_envelope_t envelope;
        if (!next_delivery(c, envelope, left)) continue;
        std::int64_t now = warren::perf::now_ns();
        const auto& body = envelope.message.body;
        if (body.len >= warren::perf::kTimestampBytes)
          latency.record(now - warren::perf::read_stamp(body.bytes));
        last_receive = now;
        bytes += body.len;
        amqp_destroy_envelope(&envelope);
        return;
      }
    };
    // Not timed: the path works and a server consumes.
    call(bodies.next());
    reply();
    latency = {};
    bytes = 0;
    ready.arrive();
    run.go.wait();
    std::uint64_t in_flight = 0;
    std::uint64_t replies = 0;
    std::int64_t last_send = 0;
    for (;;) {
      bool more = (o.count == 0 || n < o.count) && !run.stop_producing.load();
      if (more && in_flight < o.concurrency) {
        auto body = bodies.next();
        last_send = warren::perf::read_stamp(body.data());
        call(body);
        ++in_flight;
        sent.store(++n, std::memory_order_relaxed);
        continue;
      }
      if (in_flight == 0) break;
      reply();
      --in_flight;
      received.store(++replies, std::memory_order_relaxed);
    }
    run.record_last_send(Clock::time_point{std::chrono::nanoseconds(last_send)});
    run.producers_done.fetch_add(1);
  } catch (const std::exception& e) {
    run.fail("client " + std::to_string(id), e);
    run.producers_done.fetch_add(1);
  }
  run.record_receives(latency, bytes, last_receive);
}

// Declares (and purges) the queues, and the exchange with its bindings,
// before any worker starts, as warren-perf does; with --predeclared only
// checks (passively declares) and purges them.
void prepare(const std::string& endpoint, const ScenarioOptions& o) {
  AmqpConnection c(endpoint);
  const amqp_boolean_t passive = o.predeclared ? 1 : 0;
  const amqp_boolean_t durable = o.persistent ? 1 : 0;
  if (!o.exchange.empty()) {
    amqp_exchange_declare(c.get(), kChannel, bytes_of(o.exchange), bytes_of(o.exchange_type), passive,
                          durable, 0, 0, amqp_empty_table);
    c.check_rpc("exchange.declare " + o.exchange);
  }
  const auto start = Clock::now();
  for (int i = 0; i < o.queues; ++i) {
    const auto queue = queue_name(o, i);
    amqp_queue_declare(c.get(), kChannel, bytes_of(queue), passive, durable, 0, 0, amqp_empty_table);
    c.check_rpc("queue.declare " + queue);
    if (o.purge) {
      amqp_queue_purge(c.get(), kChannel, bytes_of(queue));
      c.check_rpc("queue.purge " + queue);
    }
    if (!o.exchange.empty() && !o.predeclared) {
      amqp_queue_bind(c.get(), kChannel, bytes_of(queue), bytes_of(o.exchange), bytes_of(o.binding_key),
                      amqp_empty_table);
      c.check_rpc("queue.bind " + queue);
    }
  }
  if (o.predeclared) return;
  for (std::uint64_t i = 0; i < o.bindings; ++i) {
    const auto key = "noise." + std::to_string(i) + ".*";
    amqp_queue_bind(c.get(), kChannel, bytes_of(queue_name(o, 0)), bytes_of(o.exchange), bytes_of(key),
                    amqp_empty_table);
    c.check_rpc("queue.bind " + key);
  }
  if (o.bindings > 0)
    std::fprintf(stderr, "%s: declared %d queue(s) and %llu binding(s) in %.2f s\n", kProgram, o.queues,
                 static_cast<unsigned long long>(o.bindings) + static_cast<unsigned>(o.queues),
                 std::chrono::duration<double>(Clock::now() - start).count());
}

// Deletes what prepare() declared; deleting a queue deletes its bindings.
void clean_up(const std::string& endpoint, const ScenarioOptions& o) {
  AmqpConnection c(endpoint);
  for (int i = 0; i < o.queues; ++i) {
    amqp_queue_delete(c.get(), kChannel, bytes_of(queue_name(o, i)), 0, 0);
    c.check_rpc("queue.delete " + queue_name(o, i));
  }
  if (!o.exchange.empty()) {
    amqp_exchange_delete(c.get(), kChannel, bytes_of(o.exchange), 0);
    c.check_rpc("exchange.delete " + o.exchange);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const warren::perf::ToolInfo tool{
      .program = kProgram,
      .title = "amqp-perf: warren-perf's scenarios against an AMQP 0-9-1 broker such as RabbitMQ "
               "(endpoint: amqp://user:password@host:port[/vhost], no vhost: /)",
      .default_endpoint = "amqp://guest:guest@127.0.0.1:5672",
      .embedded_broker = false};
  auto parsed = warren::perf::parse_scenario(tool, argc, argv, exit_code);
  if (!parsed) return exit_code;
  const ScenarioOptions& o = *parsed;
  if (o.endpoint.rfind("amqp://", 0) != 0) {
    std::cerr << kProgram << ": --endpoint is an AMQP URL (amqp://user:password@host:port/vhost), got '"
              << o.endpoint << "'\n";
    return 2;
  }

  auto summary = warren::perf::describe(o, kProgram, "amqp", o.endpoint);
  try {
    prepare(o.endpoint, o);
  } catch (const std::exception& e) {
    std::cerr << kProgram << ": cannot prepare queue '" << queue_name(o, 0) << "'"
              << (o.exchange.empty() ? "" : " or exchange '" + o.exchange + "'") << " on " << o.endpoint
              << ": " << e.what() << "\n";
    return 1;
  }

  std::signal(SIGINT, warren::perf::on_interrupt_signal);
  std::signal(SIGTERM, warren::perf::on_interrupt_signal);
  // A broker that closes the socket must not kill the process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  warren::perf::run_scenario(kProgram, o, o.endpoint, o.rpc ? rpc_server : consumer,
                             o.rpc ? rpc_client : producer, summary);

  try {
    if (!o.keep_queue) clean_up(o.endpoint, o);
  } catch (const std::exception& e) {
    summary.errors.push_back(std::string("deleting the queue(s): ") + e.what());
  }
  return warren::perf::report(kProgram, o, summary);
}
