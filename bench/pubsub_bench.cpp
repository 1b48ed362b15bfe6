// pubsub-bench: one publisher -> forwarder -> one subscriber, through the
// warren API (Publisher -> warren::Forwarder -> Subscriber) and, in the same
// run, through a bare ZeroMQ XSUB/XPUB zmq::proxy with raw PUB/SUB sockets
// moving the same three frames (channel, 17-byte header, body), and through
// the same proxy with the bodies packed as warren batches them (zmq-batch:
// 256 messages or 64 KiB per frame, no per-message work), the transport's
// ceiling for batched pub/sub.
//
// warren's Publisher sends bursts as batches (docs/pubsub.md, "Batches");
// --publish-linger 0 measures it one message per ZeroMQ message.
//
// The publisher sends at full speed; every high-water mark is 2 x --count, so
// nothing should be lost; the report says how many were if some were.
// Throughput is what the subscriber received divided by the time from the
// first send to the last receive. Each scenario runs --runs times; the
// summary prints the median. The forwarders run on their own ZeroMQ context
// (their own I/O thread), as in a separate process.
//
// With --redis-port P it also runs the same traffic through a Redis server
// already listening on 127.0.0.1:P: PUBLISH pipelined 16 at a time (as
// `redis-benchmark -P 16`) on one connection, SUBSCRIBE on another, read by
// a thread that parses the pushes itself. Start Redis with its pub/sub
// output-buffer limit off (--client-output-buffer-limit 'pubsub 0 0 0') so
// that, like the high-water marks here, it holds every message rather than
// dropping a subscriber that falls behind.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <zmq.hpp>

#include "perf_report.hpp"
#include "warren/forwarder.hpp"
#include "warren/pubsub.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kChannel = "bench";

struct Options {
  std::uint64_t count = 1'000'000;
  std::vector<std::size_t> sizes{100, 1024};
  int runs = 3;
  int redis_port = 0;  // 0: no Redis scenario
  long publish_linger_us = 200;  // PublisherOptions::publish_linger; 0: no batches
};

struct Result {
  std::uint64_t received = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(received) / seconds : 0; }
};

// The shared shape of every scenario: `warm` publishes one warm-up message,
// `send` one timed message; the subscriber thread runs `receive`, which calls
// `on_message(body_size)` for each arrival until `stop`.
struct Run {
  std::atomic<bool> warmed{false}, stop{false};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::int64_t> last_ns{0};
  void on_message(std::size_t size, std::size_t expected) {
    if (size != expected) {
      warmed.store(true);
      return;
    }
    received.store(received.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    last_ns.store(warren::perf::now_ns(), std::memory_order_relaxed);
  }
};

template <class Warm, class Send>
Result drive_timed(Run& run, const Options& o, Warm warm, Send send) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!run.warmed.load()) {
    if (Clock::now() > deadline) throw std::runtime_error("subscriber never received a warm-up");
    warm();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let warm-ups drain
  const auto start_ns = warren::perf::now_ns();
  for (std::uint64_t i = 0; i < o.count; ++i) send();
  // Wait until everything arrived or nothing has for a second.
  std::uint64_t seen = 0;
  auto last_progress = Clock::now();
  while (run.received.load() < o.count && Clock::now() - last_progress < std::chrono::seconds(1)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (run.received.load() != seen) {
      seen = run.received.load();
      last_progress = Clock::now();
    }
  }
  run.stop.store(true);
  Result r;
  r.received = run.received.load();
  r.seconds = static_cast<double>(run.last_ns.load() - start_ns) / 1e9;
  return r;
}

// Runs drive_timed, then stops and joins the subscriber thread `receiver`,
// also when drive_timed throws.
template <class Warm, class Send>
Result drive(Run& run, const Options& o, std::thread& receiver, Warm warm, Send send) {
  Result r;
  try {
    r = drive_timed(run, o, warm, send);
  } catch (...) {
    run.stop.store(true);
    receiver.join();
    throw;
  }
  receiver.join();
  return r;
}

Result run_warren(const Options& o, std::size_t size) {
  zmq::context_t forwarder_context(1);
  const int hwm = static_cast<int>(2 * o.count);  // room for every message, with slack
  warren::Forwarder forwarder(
      {.rcvhwm = hwm, .sndhwm = hwm, .context = &forwarder_context});
  forwarder.start();
  warren::Publisher publisher(forwarder.frontend_endpoint(),
                              {.sndhwm = hwm, .publish_linger = std::chrono::microseconds(o.publish_linger_us)});
  Run run;
  warren::Subscriber subscriber(
      forwarder.backend_endpoint(),
      [&](const warren::PubSubMessage& m) { run.on_message(m.body.size(), size); },
      {.rcvhwm = hwm});
  subscriber.subscribe(kChannel);
  std::thread receiver([&] {
    while (!run.stop.load(std::memory_order_relaxed))
      subscriber.process_events(std::chrono::milliseconds(10));
  });
  const std::string body(size, 'x');
  return drive(run, o, receiver, [&] { publisher.publish(kChannel, "w"); },
               [&] { publisher.publish(kChannel, body); });
}

// XSUB/XPUB zmq::proxy on its own thread and context; stopped through its
// control socket. `per_frame` messages travel in each body frame: 1 is
// zmq-proxy (one ZeroMQ message per message); more is zmq-batch, the
// bodies packed back to back with no per-message work at either end, which
// is the transport's ceiling for batched pub/sub at that size.
Result run_zmq_proxy(const Options& o, std::size_t size, std::size_t per_frame = 1) {
  const int hwm = static_cast<int>(2 * o.count);  // room for every message, with slack
  zmq::context_t proxy_context(1);
  zmq::socket_t xsub(proxy_context, zmq::socket_type::xsub), xpub(proxy_context, zmq::socket_type::xpub);
  for (auto* s : {&xsub, &xpub}) {
    s->set(zmq::sockopt::sndhwm, hwm);
    s->set(zmq::sockopt::rcvhwm, hwm);
    s->set(zmq::sockopt::linger, 0);
    s->bind("tcp://127.0.0.1:*");
  }
  zmq::socket_t control(proxy_context, zmq::socket_type::pair);
  control.bind("inproc://pubsub-bench-control");
  std::thread proxy([&] { zmq::proxy_steerable(xsub, xpub, zmq::socket_ref(), control); });

  zmq::context_t context(1);
  zmq::socket_t pub(context, zmq::socket_type::pub), sub(context, zmq::socket_type::sub);
  pub.set(zmq::sockopt::sndhwm, hwm);
  pub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvhwm, hwm);
  sub.set(zmq::sockopt::linger, 0);
  pub.connect(xsub.get(zmq::sockopt::last_endpoint));
  sub.connect(xpub.get(zmq::sockopt::last_endpoint));
  sub.set(zmq::sockopt::subscribe, std::string(kChannel) + '\0');

  Run run;
  std::thread receiver([&] {
    zmq::message_t part;
    while (!run.stop.load(std::memory_order_relaxed)) {
      if (!sub.recv(part, zmq::recv_flags::dontwait)) {
        zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(10));
        continue;
      }
      while (part.more()) (void)sub.recv(part, zmq::recv_flags::none);
      if (per_frame > 1 && part.size() >= size && part.size() % size == 0)
        for (std::size_t i = 0; i < part.size() / size; ++i) run.on_message(size, size);
      else
        run.on_message(part.size(), size);
    }
  });
  const std::string topic = std::string(kChannel) + '\0';
  const std::string header(17, 'h');
  const std::string body(size, 'x');
  auto send = [&](const std::string& b) {
    zmq::message_t t(topic.data(), topic.size()), h(header.data(), header.size()),
        m(b.data(), b.size());
    pub.send(t, zmq::send_flags::sndmore);
    pub.send(h, zmq::send_flags::sndmore);
    pub.send(m, zmq::send_flags::none);
  };
  std::string batch;
  std::size_t batched = 0;
  std::uint64_t sent = 0;
  auto send_one = [&] {
    if (per_frame == 1) return send(body);
    batch.append(body);
    ++sent;
    if (++batched == per_frame || sent == o.count) {
      send(batch);
      batch.clear();
      batched = 0;
    }
  };
  Result r;
  try {
    r = drive(run, o, receiver, [&] { send("w"); }, send_one);
  } catch (...) {
  }
  zmq::socket_t stopper(proxy_context, zmq::socket_type::pair);
  stopper.connect("inproc://pubsub-bench-control");
  stopper.send(zmq::str_buffer("TERMINATE"));
  proxy.join();
  return r;
}

// ---- Redis ------------------------------------------------------------------

// A blocking TCP connection to a Redis server on loopback.
class RedisConnection {
 public:
  explicit RedisConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      throw std::runtime_error("no Redis on 127.0.0.1:" + std::to_string(port));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RedisConnection() { ::close(fd_); }
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  void write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) throw std::runtime_error("Redis connection: send failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Appends what arrives within `timeout_ms` to `into`; false once Redis
  // has closed the connection.
  bool read_some(std::string& into, int timeout_ms) {
    pollfd item{fd_, POLLIN, 0};
    if (::poll(&item, 1, timeout_ms) <= 0) return true;
    char chunk[65536];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    into.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  // Reads and drops whatever has arrived (the publisher's replies).
  void discard_available() {
    char chunk[65536];
    while (::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
    }
  }

 private:
  int fd_;
};

// A RESP command: an array of bulk strings.
void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  out += '*' + std::to_string(args.size()) + "\r\n";
  for (auto a : args) {
    out += '$' + std::to_string(a.size()) + "\r\n";
    out.append(a);
    out += "\r\n";
  }
}

// Parses one RESP array of bulk strings (a pub/sub push) at `pos`. Returns
// false, leaving `pos`, when the bytes are not all there yet.
bool parse_push(std::string_view in, std::size_t& pos, std::vector<std::string_view>& parts) {
  auto line = [&](std::size_t& at, char type, long long& value) {
    if (at >= in.size()) return false;
    if (in[at] != type) throw std::runtime_error(std::string("Redis: unexpected reply type ") + in[at]);
    auto end = in.find("\r\n", at);
    if (end == std::string_view::npos) return false;
    value = std::stoll(std::string(in.substr(at + 1, end - at - 1)));
    at = end + 2;
    return true;
  };
  std::size_t at = pos;
  long long count = 0;
  if (!line(at, '*', count)) return false;
  parts.clear();
  for (long long i = 0; i < count; ++i) {
    if (at < in.size() && in[at] == ':') {  // the subscription count of a subscribe reply
      long long ignored = 0;
      if (!line(at, ':', ignored)) return false;
      parts.emplace_back();
      continue;
    }
    long long size = 0;
    if (!line(at, '$', size)) return false;
    if (in.size() < at + static_cast<std::size_t>(size) + 2) return false;
    parts.push_back(in.substr(at, static_cast<std::size_t>(size)));
    at += static_cast<std::size_t>(size) + 2;
  }
  pos = at;
  return true;
}

Result run_redis(const Options& o, std::size_t size) {
  constexpr int kPipeline = 16;
  RedisConnection publisher(o.redis_port);
  RedisConnection subscriber(o.redis_port);
  std::string subscribe;
  append_command(subscribe, {"SUBSCRIBE", kChannel});
  subscriber.write_all(subscribe);

  Run run;
  std::thread receiver([&] {
    std::string in;
    std::size_t pos = 0;
    std::vector<std::string_view> parts;
    while (!run.stop.load(std::memory_order_relaxed)) {
      if (!subscriber.read_some(in, 10)) break;
      while (parse_push(in, pos, parts))
        if (parts.size() == 3 && parts[0] == "message") run.on_message(parts[2].size(), size);
      in.erase(0, pos);
      pos = 0;
    }
  });
  const std::string body(size, 'x');
  std::string batch;
  int batched = 0;
  std::uint64_t sent = 0;
  auto flush = [&] {
    publisher.write_all(batch);
    batch.clear();
    batched = 0;
    publisher.discard_available();
  };
  return drive(
      run, o, receiver,
      [&] {
        append_command(batch, {"PUBLISH", kChannel, "w"});
        flush();
      },
      [&] {
        append_command(batch, {"PUBLISH", kChannel, body});
        ++sent;
        if (++batched == kPipeline || sent == o.count) flush();
      });
}

// Messages per frame in zmq-batch: as many as a warren Publisher's batch
// holds (docs/pubsub.md, "Batches": 256 messages or 64 KiB).
std::size_t batch_messages(std::size_t size) {
  return std::clamp<std::size_t>(64 * 1024 / std::max<std::size_t>(size, 1), 1, 256);
}

// "a,b,c" -> {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  for (std::size_t start = 0; start <= list.size();) {
    auto comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    items.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  Options o;
  std::string sizes = "100,1024";
  std::string only;
  po::options_description desc("pubsub-bench: warren pub/sub beside a bare XSUB/XPUB proxy\n\nOptions");
  desc.add_options()
      ("help,h", "show this help and exit")
      ("count,C", po::value(&o.count)->default_value(o.count), "messages per run")
      ("sizes,s", po::value(&sizes)->default_value(sizes), "body sizes, comma-separated")
      ("runs,r", po::value(&o.runs)->default_value(o.runs), "runs per scenario (the median is reported)")
      ("redis-port", po::value(&o.redis_port)->default_value(o.redis_port),
       "also run through the Redis server on 127.0.0.1:PORT (0: do not)")
      ("scenarios", po::value(&only),
       "only these scenarios, comma-separated: warren, zmq-proxy, zmq-batch, redis (default: all; redis needs "
       "--redis-port)")
      ("publish-linger", po::value(&o.publish_linger_us)->default_value(o.publish_linger_us),
       "warren's Publisher batches bursts within US microseconds (0: one ZeroMQ message per message)");
  po::variables_map vm;
  if (auto code = warren::perf::parse_command_line("pubsub-bench", argc, argv, desc, vm)) return *code;
  o.sizes.clear();
  for (const auto& size : split_list(sizes)) o.sizes.push_back(std::stoul(size));

  struct Row {
    std::string scenario;
    std::size_t size;
    double median;
  };
  const std::vector<std::string> known{"warren", "zmq-proxy", "zmq-batch", "redis"};
  std::vector<std::string> scenarios(known.begin(), known.end() - (o.redis_port ? 0 : 1));
  if (!only.empty()) {
    std::vector<std::string> chosen;
    for (const auto& name : split_list(only)) {
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::fprintf(stderr, "pubsub-bench: unknown scenario '%s' (warren, zmq-proxy, zmq-batch, redis)\n",
                     name.c_str());
        return 2;
      }
      if (name == "redis" && !o.redis_port) {
        std::fprintf(stderr, "pubsub-bench: the redis scenario needs --redis-port\n");
        return 2;
      }
      chosen.push_back(name);
    }
    scenarios = chosen;
  }
  std::printf("%-10s %7s %4s %12s %10s %10s\n", "scenario", "size", "run", "msg/s", "MB/s", "lost");
  std::vector<Row> rows;
  for (auto size : o.sizes) {
    for (const auto& scenario : scenarios) {
      std::vector<double> rates;
      for (int i = 0; i < o.runs; ++i) {
        Result r = scenario == "warren"      ? run_warren(o, size)
                   : scenario == "zmq-proxy" ? run_zmq_proxy(o, size)
                   : scenario == "zmq-batch" ? run_zmq_proxy(o, size, batch_messages(size))
                                             : run_redis(o, size);
        rates.push_back(r.rate());
        std::printf("%-10s %7zu %4d %12.0f %10.1f %10llu\n", scenario.c_str(), size, i + 1, r.rate(),
                    r.rate() * static_cast<double>(size) / 1e6,
                    static_cast<unsigned long long>(o.count - r.received));
        std::fflush(stdout);
      }
      std::sort(rates.begin(), rates.end());
      rows.push_back({scenario, size, rates[rates.size() / 2]});
    }
  }
  std::printf("\nmedian of %d runs, %llu messages each\n", o.runs,
              static_cast<unsigned long long>(o.count));
  std::printf("%-10s %7s %12s %12s\n", "scenario", "size", "msg/s", "warren/this");
  // Rows come in groups of one per scenario, warren first (when it ran), for each size.
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& first = rows[i - i % scenarios.size()];
    std::string ratio = first.scenario != "warren" || rows[i].scenario == "warren" || rows[i].median <= 0
                            ? ""
                            : std::to_string(first.median / rows[i].median).substr(0, 4);
    std::printf("%-10s %7zu %12.0f %12s\n", rows[i].scenario.c_str(), rows[i].size, rows[i].median,
                ratio.c_str());
  }
  return 0;
}
