// zmq-proxy-baseline: the bare-ZeroMQ ceiling for warren-perf.
//
// Moves the same messages as `warren-perf -x 1 -y 1` with none of warren's
// work (no codec, no queue, no acks), over tcp loopback, and prints the
// result in warren-perf's format, so bench/run.sh can put the two side by
// side:
//
//   proxy:  producer DEALER -> ROUTER [zmq::proxy] DEALER -> consumer DEALER
//           the proxy in its own thread with its own ZeroMQ context (its own
//           I/O thread), as warrend is a process of its own; the shape of a
//           broker that does nothing but forward.
//   direct: producer DEALER -> consumer ROUTER, no hop in between; for
//           reference, what one ZeroMQ pipe carries.
//   window: proxy's shape with a consumer that acks, the ceiling for
//           `warren-perf --manual-ack --prefetch W --ack-every N`: the proxy
//           thread forwards while fewer than --window messages are
//           unacknowledged and otherwise stops reading the producer (whom
//           ZeroMQ's high-water mark then holds back); the consumer sends
//           one ack message (a count) per --ack-every messages. No queue, no
//           codec: what the round trip of a credit window costs on its own.
//   reqrep: client REQ -> ROUTER [zmq::proxy] DEALER -> server REP, the
//           ceiling for `warren-perf --rpc`: the server echoes each request,
//           the client times the round trip. --concurrency K gives the client
//           K REQ sockets, each with one call outstanding, polled by one
//           thread.
//
// Each message is framed as warren frames it: the bytes of a real
// basic.publish header with the body inline after them, in one frame, when
// the body is at most protocol::kInlineBodyMax bytes, else a header frame and
// a body frame (--body-frame: always two frames, as warren did before
// 2026-12-02). The body's first 8 bytes carry the send timestamp. Producer
// and consumer copy each message into new zmq::message_t's, as warren's
// client does, and use the same high-water marks as warren (100000). A reply
// is built the same way.
#include <algorithm>
#include <atomic>
#include <climits>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "perf_report.hpp"
#include "warren/protocol.hpp"

namespace po = boost::program_options;
using warren::perf::Clock;

namespace {

constexpr int kHighWaterMark = 100000;  // as warren's client and broker sockets

struct BaselineOptions {
  std::string mode = "all";  // proxy, direct, all (proxy and direct), window or reqrep
  std::size_t size = 100;
  std::uint64_t count = 1000000;
  unsigned concurrency = 1;  // reqrep: REQ sockets, one call outstanding on each
  double rate = 0;           // msg/s; 0: as fast as possible
  double stall_timeout = 5;
  bool json = false;
  bool body_frame = false;  // the body always as a frame of its own
  std::uint64_t window = 100;  // window: unacked messages the proxy allows
  std::uint64_t ack_every = 50;  // window: messages per ack
};

void tune(zmq::socket_t& s) {
  s.set(zmq::sockopt::sndhwm, kHighWaterMark);
  s.set(zmq::sockopt::rcvhwm, kHighWaterMark);
  s.set(zmq::sockopt::linger, 0);
}

// A ROUTER/DEALER zmq::proxy on its own thread and context; stopped through
// its control socket.
class Proxy {
 public:
  // window 0: zmq::proxy; else the credit loop below.
  explicit Proxy(std::uint64_t window = 0)
      : frontend_(context_, zmq::socket_type::router),
        backend_(context_, zmq::socket_type::dealer) {
    tune(frontend_);
    tune(backend_);
    frontend_.bind("tcp://127.0.0.1:*");
    backend_.bind("tcp://127.0.0.1:*");
    frontend_endpoint_ = frontend_.get(zmq::sockopt::last_endpoint);
    backend_endpoint_ = backend_.get(zmq::sockopt::last_endpoint);
    zmq::socket_t control(context_, zmq::socket_type::pair);
    control.bind("inproc://proxy-control");
    thread_ = std::thread([this, window, c = std::move(control)]() mutable {
      if (window) forward_in_window(window, c);
      else zmq::proxy_steerable(frontend_, backend_, zmq::socket_ref(), c);
    });
  }
  ~Proxy() {
    zmq::socket_t control(context_, zmq::socket_type::pair);
    control.connect("inproc://proxy-control");
    control.send(zmq::str_buffer("TERMINATE"));
    thread_.join();
  }
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  const std::string& frontend() const { return frontend_endpoint_; }
  const std::string& backend() const { return backend_endpoint_; }

 private:
  // Forwards producer -> consumer while fewer than `window` messages are
  // unacknowledged; an ack from the consumer is an 8-byte count. Ends on any
  // message on `control`.
  void forward_in_window(std::uint64_t window, zmq::socket_t& control) {
    std::uint64_t unacked = 0;
    zmq::message_t part;
    for (;;) {
      zmq::pollitem_t items[] = {{control.handle(), 0, ZMQ_POLLIN, 0},
                                 {backend_.handle(), 0, ZMQ_POLLIN, 0},
                                 {frontend_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, unacked < window ? 3 : 2, std::chrono::milliseconds(-1));
      if (items[0].revents & ZMQ_POLLIN) return;
      while (backend_.recv(part, zmq::recv_flags::dontwait)) {
        std::uint64_t n = 0;
        if (part.size() == sizeof n) std::memcpy(&n, part.data(), sizeof n);
        unacked -= std::min(n, unacked);
        while (part.more()) (void)backend_.recv(part, zmq::recv_flags::none);
      }
      // The producer's routing id first, then the message's own frames.
      while (unacked < window && frontend_.recv(part, zmq::recv_flags::dontwait)) {
        while (part.more()) {
          (void)frontend_.recv(part, zmq::recv_flags::none);
          const bool more = part.more();
          backend_.send(part, more ? zmq::send_flags::sndmore : zmq::send_flags::none);
        }
        ++unacked;
      }
    }
  }

  zmq::context_t context_{1};
  zmq::socket_t frontend_;
  zmq::socket_t backend_;
  std::string frontend_endpoint_;
  std::string backend_endpoint_;
  std::thread thread_;
};

void wait_for(zmq::socket_t& socket, short events) {
  zmq::pollitem_t item{socket.handle(), 0, events, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(50));
}

struct Shared {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};  // producer and consumer have exchanged the warm-up message
  std::atomic<bool> go{false};
  Clock::time_point start;
  Clock::time_point last_send;
  Clock::time_point last_receive;
  warren::perf::LatencyHistogram latency;

  // Polls rather than blocks, so a run that never got going can be stopped.
  bool arrive_and_wait_for_go() {
    ready.fetch_add(1);
    while (!go.load()) {
      if (stop.load()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
};

// The header frame of every message: a real basic.publish header.
std::string make_header() {
  return warren::protocol::encode(1, warren::protocol::BasicPublish{"", "perf", false});
}

// A body of `size` bytes: room for the timestamp, then letters.
std::string make_body(std::size_t size) {
  std::string body(size, '\0');
  for (std::size_t i = warren::perf::kTimestampBytes; i < body.size(); ++i)
    body[i] = static_cast<char>('a' + i % 26);
  return body;
}

// The frames of one message (see the top of this file).
class Wire {
 public:
  Wire(std::size_t size, bool body_frame)
      : header_(make_header()),
        body_(make_body(size)),
        inline_(!body_frame && size <= warren::protocol::kInlineBodyMax) {}

  bool two_frames() const { return !inline_; }
  // Stamps the body with the time now and builds the message's frames, copied
  // from a reused buffer as warren's client copies its encoded header.
  void build(zmq::message_t& first, zmq::message_t& second, bool empty_body = false) {
    warren::perf::stamp(body_.data(), warren::perf::now_ns());
    std::string_view body = empty_body ? std::string_view() : std::string_view(body_);
    if (inline_) {
      buffer_.assign(header_);
      buffer_.append(body);
      first.rebuild(buffer_.data(), buffer_.size());
      return;
    }
    first.rebuild(header_.data(), header_.size());
    second.rebuild(body.data(), body.size());
  }
  // The send timestamp in the last frame of a message, or nullopt if short.
  std::optional<std::int64_t> stamp_of(const zmq::message_t& last) const {
    std::size_t at = inline_ ? header_.size() : 0;
    if (last.size() < at + warren::perf::kTimestampBytes) return std::nullopt;
    return warren::perf::read_stamp(static_cast<const char*>(last.data()) + at);
  }

 private:
  std::string header_;
  std::string body_;
  bool inline_;
  std::string buffer_;
};

// Sends one empty warm-up message (so the path is connected before the clock
// starts), then `count` timed messages.
void produce(zmq::socket_t& socket, const BaselineOptions& o, Shared& shared) {
  Wire wire(o.size, o.body_frame);
  const auto more = wire.two_frames() ? zmq::send_flags::sndmore : zmq::send_flags::none;
  // Non-blocking, so a stalled run can still stop the producer. Once the
  // first frame is queued the second one always is (ZeroMQ queues whole
  // messages).
  auto send = [&](zmq::message_t& h, zmq::message_t& b) {
    while (!socket.send(h, more | zmq::send_flags::dontwait)) {
      if (shared.stop.load()) return false;
      wait_for(socket, ZMQ_POLLOUT);
    }
    if (wire.two_frames()) socket.send(b, zmq::send_flags::none);
    return true;
  };
  zmq::message_t h, b;
  wire.build(h, b, true);
  if (!send(h, b)) return;
  if (!shared.arrive_and_wait_for_go()) return;
  const auto start = shared.start;
  for (std::uint64_t n = 0; n < o.count;) {
    if (o.rate > 0) {  // pace as warren-perf --rate does
      auto due = start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(static_cast<double>(n) / o.rate));
      if (Clock::now() < due) std::this_thread::sleep_until(due);
    }
    wire.build(h, b);
    if (!send(h, b)) break;
    shared.sent.store(++n, std::memory_order_relaxed);
  }
  shared.last_send = Clock::now();
}

// Receives until `count` timed messages arrived or `stop`. The body is the
// last frame of each message (a ROUTER or the proxy puts an identity first).
void consume(zmq::socket_t& socket, const BaselineOptions& o, Shared& shared) {
  const Wire wire(o.size, o.body_frame);
  const std::uint64_t ack_every = o.mode == "window" ? o.ack_every : 0;
  zmq::message_t part;
  auto receive_one = [&](zmq::recv_flags flags) {
    if (!socket.recv(part, flags)) return false;
    while (part.more()) (void)socket.recv(part, zmq::recv_flags::none);
    return true;
  };
  auto ack = [&](std::uint64_t n) {  // window mode: settles n messages
    zmq::message_t m(&n, sizeof n);
    socket.send(m, zmq::send_flags::none);
  };
  while (!receive_one(zmq::recv_flags::dontwait)) {  // the warm-up message
    if (shared.stop.load()) return;
    wait_for(socket, ZMQ_POLLIN);
  }
  if (ack_every) ack(1);
  if (!shared.arrive_and_wait_for_go()) return;
  warren::perf::LatencyHistogram latency;
  std::int64_t last = 0;
  std::uint64_t n = 0;
  while (n < o.count && !shared.stop.load(std::memory_order_relaxed)) {
    if (!receive_one(zmq::recv_flags::dontwait)) {
      wait_for(socket, ZMQ_POLLIN);
      continue;
    }
    last = warren::perf::now_ns();
    if (auto stamp = wire.stamp_of(part)) latency.record(last - *stamp);
    shared.received.store(++n, std::memory_order_relaxed);
    if (ack_every && n % ack_every == 0) ack(ack_every);
  }
  if (last) shared.last_receive = Clock::time_point{std::chrono::nanoseconds(last)};
  shared.latency = latency;
}

// The RPC server: a REP socket that echoes each request, copying its frames
// into new messages as warren's server builds a reply.
void serve(zmq::socket_t& socket, Shared& shared) {
  std::vector<zmq::message_t> request;
  while (!shared.stop.load(std::memory_order_relaxed)) {
    request.clear();
    if (!zmq::recv_multipart(socket, std::back_inserter(request), zmq::recv_flags::dontwait)) {
      wait_for(socket, ZMQ_POLLIN);
      continue;
    }
    for (std::size_t i = 0; i < request.size(); ++i) {
      zmq::message_t reply(request[i].data(), request[i].size());
      socket.send(reply, i + 1 < request.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
}

// The RPC client: one untimed warm-up call, then `count` calls with
// `concurrency` outstanding. A REQ socket allows one; for more, a DEALER
// sends the envelope a REQ would (an empty delimiter frame) and keeps them
// all on one connection, as warren's RpcClient does. The round trip runs
// from the request's send timestamp, which the server echoes, to its reply.
void call(zmq::socket_t& socket, const BaselineOptions& o, Shared& shared) {
  const bool dealer = o.concurrency > 1;
  Wire wire(o.size, o.body_frame);
  zmq::message_t h, b;
  auto send_call = [&] {
    wire.build(h, b);
    if (dealer) socket.send(zmq::message_t(), zmq::send_flags::sndmore);
    socket.send(h, wire.two_frames() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    if (wire.two_frames()) socket.send(b, zmq::send_flags::none);
  };
  zmq::message_t part;
  // Takes one reply if there is one; `part` is left holding its body.
  auto receive_reply = [&] {
    if (!socket.recv(part, zmq::recv_flags::dontwait)) return false;
    while (part.more()) (void)socket.recv(part, zmq::recv_flags::none);
    return true;
  };
  send_call();
  while (!receive_reply()) {
    if (shared.stop.load()) return;
    wait_for(socket, ZMQ_POLLIN);
  }
  if (!shared.arrive_and_wait_for_go()) return;
  warren::perf::LatencyHistogram latency;
  std::int64_t last = 0;
  std::uint64_t n = 0;
  std::uint64_t replies = 0;
  for (; n < o.count && n < o.concurrency; ++n) send_call();
  shared.sent.store(n, std::memory_order_relaxed);
  while (replies < n) {
    if (!receive_reply()) {
      if (shared.stop.load(std::memory_order_relaxed)) break;
      wait_for(socket, ZMQ_POLLIN);
      continue;
    }
    last = warren::perf::now_ns();
    if (auto stamp = wire.stamp_of(part)) latency.record(last - *stamp);
    shared.received.store(++replies, std::memory_order_relaxed);
    if (n < o.count) {
      send_call();
      shared.sent.store(++n, std::memory_order_relaxed);
      if (n == o.count) shared.last_send = Clock::now();
    }
  }
  if (last) shared.last_receive = Clock::time_point{std::chrono::nanoseconds(last)};
  shared.latency = latency;
}

// Starts the clock once both workers are ready, prints the live line, and
// waits until `count` messages arrived or nothing moved for --stall-timeout;
// then stops the workers (`join` waits for them) and fills in the figures.
template <class Join>
void supervise(Shared& shared, const BaselineOptions& o, warren::perf::Summary& summary,
               Join join) {
  auto setup_deadline = Clock::now() + std::chrono::duration<double>(o.stall_timeout);
  while (shared.ready.load() < 2) {
    if (Clock::now() >= setup_deadline) {
      shared.stop.store(true);
      join();
      throw std::runtime_error("the two sides did not connect in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  shared.start = Clock::now();
  shared.go.store(true);

  std::FILE* live = o.json ? stderr : stdout;
  warren::perf::RateMeter meter(shared.start);
  std::uint64_t last_total = 0;
  auto last_progress = shared.start;
  summary.end_reason = "complete";
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = Clock::now();
    auto sent = shared.sent.load();
    auto received = shared.received.load();
    warren::perf::Sample sample;
    if (meter.tick(now, sent, received, sample)) {
      summary.samples.push_back(sample);
      warren::perf::print_live(live, sample);
    }
    if (received >= o.count) break;
    if (sent + received != last_total) {
      last_total = sent + received;
      last_progress = now;
    } else if (now - last_progress >= std::chrono::duration<double>(o.stall_timeout)) {
      summary.end_reason = "stalled";
      break;
    }
  }
  shared.stop.store(true);
  join();

  auto seconds = [&](Clock::time_point t) {
    return t > shared.start ? std::chrono::duration<double>(t - shared.start).count() : 0.0;
  };
  summary.sent = shared.sent.load();
  summary.received = shared.received.load();
  summary.send_seconds = seconds(shared.last_send);
  summary.receive_seconds = seconds(shared.last_receive);
  summary.latency = shared.latency;
}

warren::perf::Summary new_summary(const std::string& mode, const BaselineOptions& o) {
  warren::perf::Summary summary;
  summary.tool = "zmq-proxy-baseline";
  summary.scenario = "zmq-" + mode;
  summary.size = o.size;
  if (mode == "window") {  // reported as warren-perf reports --manual-ack --prefetch
    summary.ack = "manual";
    summary.prefetch = static_cast<unsigned>(std::min<std::uint64_t>(o.window, UINT_MAX));
  }
  return summary;
}

// client REQ (or DEALER) -> ROUTER [proxy] DEALER -> server REP.
warren::perf::Summary run_reqrep(const BaselineOptions& o) {
  auto summary = new_summary("reqrep", o);
  summary.concurrency = o.concurrency;
  summary.reply = "req-rep";
  zmq::context_t context(1);  // the clients' context, as warren::default_context()
  Proxy proxy;
  zmq::socket_t server_socket(context, zmq::socket_type::rep);
  zmq::socket_t client_socket(context,
                              o.concurrency > 1 ? zmq::socket_type::dealer : zmq::socket_type::req);
  tune(server_socket);
  tune(client_socket);
  server_socket.connect(proxy.backend());
  client_socket.connect(proxy.frontend());
  summary.endpoint = proxy.frontend();

  Shared shared;
  shared.ready.store(1);  // the server needs no warm-up: the client's proves the path
  std::jthread server([&] { serve(server_socket, shared); });
  std::jthread client([&] { call(client_socket, o, shared); });
  supervise(shared, o, summary, [&] {
    client.join();
    server.join();
  });
  return summary;
}

warren::perf::Summary run_mode(const std::string& mode, const BaselineOptions& o) {
  if (mode == "reqrep") return run_reqrep(o);
  auto summary = new_summary(mode, o);

  zmq::context_t context(1);  // the clients' context, as warren::default_context()
  zmq::socket_t producer_socket(context, zmq::socket_type::dealer);
  std::optional<Proxy> proxy;
  std::optional<zmq::socket_t> consumer_socket;
  tune(producer_socket);
  if (mode == "proxy" || mode == "window") {
    proxy.emplace(mode == "window" ? o.window : 0);
    consumer_socket.emplace(context, zmq::socket_type::dealer);
    tune(*consumer_socket);
    consumer_socket->connect(proxy->backend());
    producer_socket.connect(proxy->frontend());
    summary.endpoint = proxy->frontend();
  } else {
    consumer_socket.emplace(context, zmq::socket_type::router);
    tune(*consumer_socket);
    consumer_socket->bind("tcp://127.0.0.1:*");
    summary.endpoint = consumer_socket->get(zmq::sockopt::last_endpoint);
    producer_socket.connect(summary.endpoint);
  }

  Shared shared;
  std::jthread consumer([&] { consume(*consumer_socket, o, shared); });
  std::jthread producer([&] { produce(producer_socket, o, shared); });
  supervise(shared, o, summary, [&] {
    producer.join();
    consumer.join();
  });
  return summary;
}

std::optional<BaselineOptions> parse(int argc, char** argv, int& exit_code) {
  BaselineOptions o;
  po::options_description desc(
      "zmq-proxy-baseline: the bare-ZeroMQ ceiling for warren-perf (1 producer, 1 consumer; or\n"
      "1 RPC client, 1 server)\n\n"
      "Options");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("mode,m", po::value(&o.mode)->default_value(o.mode),
       "proxy (DEALER->ROUTER/DEALER proxy->DEALER), direct (DEALER->ROUTER), all (proxy and "
       "direct), window (proxy with a credit window and acks, as --manual-ack --prefetch "
       "--ack-every) or reqrep (REQ->ROUTER/DEALER proxy->REP, echo)")
      ("window", po::value(&o.window)->default_value(o.window),
       "window: messages the proxy lets the consumer hold unacked (warren-perf's --prefetch)")
      ("ack-every", po::value(&o.ack_every)->default_value(o.ack_every),
       "window: the consumer acks once per this many messages (<= --window)")
      ("size,s", po::value(&o.size)->default_value(o.size), "message body size in bytes (>= 8)")
      ("count,C", po::value(&o.count)->default_value(o.count), "messages to move (reqrep: calls)")
      ("concurrency", po::value(&o.concurrency)->default_value(o.concurrency),
       "reqrep: calls outstanding (1: a REQ socket; more: a DEALER with REQ's envelope)")
      ("rate,r", po::value(&o.rate)->default_value(o.rate),
       "publish rate limit in msg/s (0: unlimited)")
      ("stall-timeout", po::value(&o.stall_timeout)->default_value(o.stall_timeout),
       "give up when no message moved for this many seconds")
      ("body-frame", po::bool_switch(&o.body_frame),
       "send every body as a frame of its own (warren inlines bodies up to 8 KiB in the header's frame)")
      ("json", po::bool_switch(&o.json),
       "print each summary as one JSON line (live lines to stderr)");
  // clang-format on
  po::variables_map vm;
  if (auto code = warren::perf::parse_command_line("zmq-proxy-baseline", argc, argv, desc, vm)) {
    exit_code = *code;
    return std::nullopt;
  }
  auto usage_error = [&](const std::string& text) {
    exit_code = warren::perf::usage_error("zmq-proxy-baseline", text, desc);
    return std::nullopt;
  };
  if (o.mode != "proxy" && o.mode != "direct" && o.mode != "all" && o.mode != "reqrep" && o.mode != "window")
    return usage_error("--mode is proxy, direct, all, window or reqrep");
  if (o.window < 1 || o.ack_every < 1 || o.ack_every > o.window)
    return usage_error("--window and --ack-every must be positive, --ack-every at most --window");
  if (o.size < warren::perf::kTimestampBytes) return usage_error("--size must be at least 8");
  if (o.count == 0) return usage_error("--count must be positive");
  if (o.stall_timeout <= 0) return usage_error("--stall-timeout must be positive");
  if (o.concurrency < 1) return usage_error("--concurrency must be positive");
  if (o.concurrency > 1 && o.mode != "reqrep")
    return usage_error("--concurrency needs --mode reqrep");
  if (o.mode == "reqrep" && o.rate > 0) return usage_error("--rate does not apply to reqrep");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto parsed = parse(argc, argv, exit_code);
  if (!parsed) return exit_code;
  const BaselineOptions& o = *parsed;
  std::vector<std::string> modes;
  if (o.mode == "all")
    modes = {"proxy", "direct"};
  else
    modes = {o.mode};
  int status = 0;
  for (const auto& mode : modes) {
    try {
      auto summary = run_mode(mode, o);
      if (o.json)
        warren::perf::print_json(stdout, summary);
      else
        warren::perf::print_text(stdout, summary);
      if (!summary.ok()) status = 1;
    } catch (const std::exception& e) {
      std::cerr << "zmq-proxy-baseline: " << mode << ": " << e.what() << "\n";
      status = 1;
    }
  }
  return status;
}
