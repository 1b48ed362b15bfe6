// warren-perf: a load generator modelled on RabbitMQ's PerfTest.
//
// N producers and M consumers, each with its own warren::Connection on its own
// thread (a Connection belongs to one thread), share one queue. Producers
// publish to the default exchange with routing key = queue and write a send
// timestamp (steady_clock ns) into the first 8 bytes of every body; consumers
// read it back to measure publish-to-deliver latency. A live line is printed
// every second, a summary at the end (text, or one JSON line with --json).
//
// With --exchange, producers publish to a direct, fanout or topic exchange
// bound to --queues queues, each consumer consumes one queue or a share of
// them, and every message counts once per queue it reaches: a fanout to 10
// queues delivers 10 messages per publish. --bindings adds topic bindings that
// match nothing, to make the routing table large.
//
// With --rpc, producers are warren::RpcClients keeping --concurrency calls
// outstanding each, consumers are warren::RpcServers on the queue that echo
// the body, and the latency is the round trip of a call.
//
// A run ends when every published message has been received (--count, or
// --time followed by a drain), when nothing moved for --stall-timeout
// seconds, on an error, or on a second Ctrl-C. The exit status is 1 when
// messages were lost or a worker failed, 2 on a usage error.
#include <atomic>
#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
#include <deque>
#include <future>
#include <iostream>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "perf_report.hpp"
#include "warren/broker.hpp"
#include "warren/warren.hpp"

namespace po = boost::program_options;
using warren::perf::Clock;

namespace {

struct PerfOptions {
  std::string endpoint = "tcp://127.0.0.1:5673";
  bool embedded = false;
  int producers = 1;
  int consumers = 1;
  std::size_t size = 100;
  std::uint64_t count = 0;  // per producer; 0: no limit
  double time_s = 0;        // seconds to publish for; 0: no limit
  std::string queue = "perf";
  bool manual_ack = false;
  unsigned prefetch = 100;
  unsigned ack_every = 1;  // manual ack: one basic.ack(multiple) per N deliveries
  double rate = 0;         // per producer, msg/s; 0: as fast as possible
  double stall_timeout = 5;
  bool purge = true;
  bool keep_queue = false;
  bool predeclared = false;  // the queues, exchange and bindings exist: declare nothing
  bool json = false;
  // Routing: publish to an exchange bound to `queues` queues.
  std::string exchange;  // empty: the default exchange and one queue
  std::string exchange_type = "direct";
  int queues = 1;
  std::string routing_key;     // empty: the queue name
  std::string binding_key;     // empty: the routing key (direct), "#" (topic)
  std::uint64_t bindings = 0;  // topic: extra bindings to queue 0 that match nothing
  std::uint64_t routes = 1;    // derived: deliveries per message published
  // RPC: producers are RpcClients, consumers RpcServers.
  bool rpc = false;
  bool reply_queue = false;  // an exclusive reply queue instead of direct reply-to
  unsigned concurrency = 1;  // outstanding calls per client
  // Durability: persistent messages (delivery_mode 2) to durable queues;
  // publisher confirms with at most `confirm` unconfirmed (0: off).
  bool persistent = false;
  unsigned confirm = 0;
  std::string data_dir;  // the embedded broker's (--embedded only)
};

// The i-th queue: the --queue name itself when there is one queue, else
// name-0, name-1, ...
std::string queue_name(const PerfOptions& o, int i) {
  return o.queues == 1 ? o.queue : o.queue + "-" + std::to_string(i);
}

// The queues consumer `id` consumes: one each while there are at least as
// many consumers as queues, else a round-robin share of them.
std::vector<std::string> queues_of(const PerfOptions& o, int id) {
  std::vector<std::string> names;
  if (o.consumers >= o.queues) names.push_back(queue_name(o, id % o.queues));
  for (int i = id; o.consumers < o.queues && i < o.queues; i += o.consumers)
    names.push_back(queue_name(o, i));
  return names;
}

std::vector<std::string_view> topic_words(std::string_view key) {
  std::vector<std::string_view> words;
  if (key.empty()) return words;  // the empty key has no words
  for (std::size_t dot; (dot = key.find('.')) != std::string_view::npos;) {
    words.push_back(key.substr(0, dot));
    key.remove_prefix(dot + 1);
  }
  words.push_back(key);
  return words;
}

// Whether a topic binding key matches a routing key, as the broker's trie
// decides ("*" one word, "#" zero or more): the run must know how many queues
// each message reaches. Only for the keys of one command line, so plain
// dynamic programming: at[j] says the binding words so far can end at key word j.
bool topic_matches(std::string_view binding_key, std::string_view routing_key) {
  const auto pattern = topic_words(binding_key);
  const auto words = topic_words(routing_key);
  std::vector<char> at(words.size() + 1, 0);
  at[0] = 1;
  for (auto p : pattern) {
    std::vector<char> next(at.size(), 0);
    for (std::size_t j = 0; j < at.size(); ++j) {
      if (!at[j]) continue;
      if (p == "#") {
        for (std::size_t k = j; k < at.size(); ++k) next[k] = 1;
      } else if (j < words.size() && (p == "*" || p == words[j])) {
        next[j + 1] = 1;
      }
    }
    at = std::move(next);
  }
  return at.back() != 0;
}

// Deliveries per message published: every queue, or none when the binding
// key cannot match the routing key.
std::uint64_t routes_per_message(const PerfOptions& o) {
  auto queues = static_cast<std::uint64_t>(o.queues);
  if (o.exchange.empty() || o.exchange_type == "fanout") return queues;
  if (o.exchange_type == "direct") return o.binding_key == o.routing_key ? queues : 0;
  return topic_matches(o.binding_key, o.routing_key) ? queues : 0;
}

std::atomic<int> g_interrupts{0};
extern "C" void on_signal(int) { g_interrupts.fetch_add(1); }

// A counter written by one worker and read by the main thread, on its own
// cache line so workers do not slow each other down.
struct alignas(64) Counter {
  std::atomic<std::uint64_t> value{0};
};

// What the workers share with the main thread. Producers count what they
// sent; consumers what they received, or in an RPC run the clients count
// the replies they collected.
struct Run {
  explicit Run(const PerfOptions& o, std::string ep)
      : options(o),
        endpoint(std::move(ep)),
        receivers(o.rpc ? o.producers : o.consumers),
        sent(std::make_unique<Counter[]>(static_cast<std::size_t>(o.producers))),
        received(std::make_unique<Counter[]>(static_cast<std::size_t>(receivers))),
        ready(o.producers + o.consumers) {}

  const PerfOptions& options;
  const std::string endpoint;
  const int receivers;
  std::unique_ptr<Counter[]> sent;
  std::unique_ptr<Counter[]> received;
  std::latch ready;  // every worker connected (or failed)
  std::latch go{1};  // opened by main once all are ready
  std::atomic<bool> stop_producing{false};
  std::atomic<bool> finish{false};  // workers close their connections and leave
  std::atomic<int> producers_done{0};
  Clock::time_point start;  // written before `go` opens

  std::mutex mu;  // guards what follows
  std::vector<std::string> errors;
  warren::perf::LatencyHistogram latency;
  Clock::time_point last_send{};
  Clock::time_point last_receive{};

  std::uint64_t total_sent() const { return sum(sent.get(), options.producers); }
  std::uint64_t total_received() const { return sum(received.get(), receivers); }
  bool failed() {
    std::lock_guard lk(mu);
    return !errors.empty();
  }
  void fail(const std::string& who, const std::exception& e) {
    std::lock_guard lk(mu);
    errors.push_back(who + ": " + e.what());
  }

 private:
  static std::uint64_t sum(const Counter* c, int n) {
    std::uint64_t total = 0;
    for (int i = 0; i < n; ++i) total += c[i].value.load(std::memory_order_relaxed);
    return total;
  }
};

// Counts down the `ready` latch exactly once, also when the worker fails
// before it got there, so main never waits for a dead worker.
class ReadyGuard {
 public:
  explicit ReadyGuard(std::latch& latch) : latch_(latch) {}
  ~ReadyGuard() { arrive(); }
  void arrive() {
    if (!arrived_) latch_.count_down();
    arrived_ = true;
  }

 private:
  std::latch& latch_;
  bool arrived_ = false;
};

constexpr auto kPumpInterval = std::chrono::milliseconds(500);

// Keeps a finished worker's connection open (and heartbeating) until main
// says finish: closing a DEALER early could drop publishes still in its pipe.
void idle_until_finish(Run& run, warren::Connection& connection) {
  while (!run.finish.load()) connection.run_for(std::chrono::milliseconds(50));
}

// A body of `size` bytes: room for the timestamp, then letters.
std::string make_body(std::size_t size) {
  std::string body(size, '\0');
  for (std::size_t i = warren::perf::kTimestampBytes; i < body.size(); ++i)
    body[i] = static_cast<char>('a' + i % 26);
  return body;
}

void record_last_send(Run& run, Clock::time_point last) {
  std::lock_guard lk(run.mu);
  run.last_send = std::max(run.last_send, last);
}

void record_receives(Run& run, const warren::perf::LatencyHistogram& latency,
                     std::int64_t last_receive_ns) {
  std::lock_guard lk(run.mu);
  run.latency.merge(latency);
  if (last_receive_ns != 0) {
    Clock::time_point t{std::chrono::nanoseconds(last_receive_ns)};
    run.last_receive = std::max(run.last_receive, t);
  }
}

void producer(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  auto& counter = run.sent[static_cast<std::size_t>(id)].value;
  try {
    warren::Connection connection(run.endpoint);
    auto channel = connection.channel();
    std::string body = make_body(o.size);
    warren::Properties properties;
    if (o.persistent) properties.delivery_mode = warren::kPersistent;
    if (o.confirm > 0) channel.confirm_select();
    ready.arrive();
    run.go.wait();
    const auto start = run.start;
    auto next_pump = start + kPumpInterval;
    std::uint64_t n = 0;
    while ((o.count == 0 || n < o.count) && !run.stop_producing.load(std::memory_order_relaxed)) {
      if ((n & 1023) == 0 && Clock::now() >= next_pump) {
        // A publisher never reads; let the connection see the broker's
        // heartbeats (and a channel error) now and then.
        connection.process_events(std::chrono::milliseconds(1));
        next_pump = Clock::now() + kPumpInterval;
      }
      if (o.rate > 0) {  // pace: message n is due at start + n / rate
        auto due = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(static_cast<double>(n) / o.rate));
        if (Clock::now() < due) std::this_thread::sleep_until(due);
      }
      if (o.confirm > 0) channel.wait_for_confirm_window(o.confirm);
      warren::perf::stamp(body.data(), warren::perf::now_ns());
      channel.basic_publish(o.exchange, o.routing_key, body, properties);
      counter.store(++n, std::memory_order_relaxed);
    }
    // With confirms, sending is over when the broker has taken the last one.
    if (o.confirm > 0 && !channel.wait_for_confirms(std::chrono::seconds(60)))
      throw std::runtime_error("the broker nacked messages");
    record_last_send(run, Clock::now());
    run.producers_done.fetch_add(1);
    idle_until_finish(run, connection);
  } catch (const std::exception& e) {
    run.fail("producer " + std::to_string(id), e);
    run.producers_done.fetch_add(1);
  }
}

void consumer(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  auto& counter = run.received[static_cast<std::size_t>(id)].value;
  warren::perf::LatencyHistogram latency;
  std::int64_t last_receive = 0;
  try {
    warren::Connection connection(run.endpoint);
    auto channel = connection.channel();
    if (o.manual_ack) channel.basic_qos(static_cast<std::uint16_t>(o.prefetch));
    std::uint64_t n = 0;
    unsigned since_ack = 0;
    std::uint64_t last_tag = 0;
    auto on_message = [&](const warren::Message& m) {
      std::int64_t now = warren::perf::now_ns();
      if (m.body.size() >= warren::perf::kTimestampBytes)
        latency.record(now - warren::perf::read_stamp(m.body.data()));
      last_receive = now;
      counter.store(++n, std::memory_order_relaxed);
      if (o.manual_ack) {
        last_tag = m.delivery_tag;
        if (++since_ack >= o.ack_every) {
          channel.basic_ack(m.delivery_tag, o.ack_every > 1);
          since_ack = 0;
        }
      }
    };
    // One channel for all of this consumer's queues: a multiple ack covers
    // every delivery on it.
    for (const auto& queue : queues_of(o, id))
      channel.basic_consume(queue, on_message, {.auto_ack = !o.manual_ack});
    ready.arrive();
    while (!run.finish.load()) connection.run_for(std::chrono::milliseconds(50));
    if (since_ack > 0) channel.basic_ack(last_tag, true);
  } catch (const std::exception& e) {
    run.fail("consumer " + std::to_string(id), e);
  }
  record_receives(run, latency, last_receive);
}

// An RPC server: echoes each request's body (and so its send timestamp).
void rpc_server(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  try {
    warren::Connection connection(run.endpoint);
    auto channel = connection.channel();
    warren::RpcServer server(
        channel, o.queue,
        [](const warren::Message& request) { return warren::RpcReply{request.body}; },
        {.prefetch = static_cast<std::uint16_t>(o.prefetch)});
    ready.arrive();
    while (!run.finish.load()) connection.run_for(std::chrono::milliseconds(50));
  } catch (const std::exception& e) {
    run.fail("server " + std::to_string(id), e);
  }
}

// An RPC client: keeps --concurrency calls outstanding and collects their
// replies oldest first; the latency of a call runs from its send timestamp
// to the moment its reply is collected. A call that fails or times out
// (after --stall-timeout) fails the run.
void rpc_client(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  auto& sent = run.sent[static_cast<std::size_t>(id)].value;
  auto& received = run.received[static_cast<std::size_t>(id)].value;
  warren::perf::LatencyHistogram latency;
  std::int64_t last_receive = 0;
  try {
    warren::RpcClient client(run.endpoint, {.direct_reply_to = !o.reply_queue});
    const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(o.stall_timeout));
    std::string body = make_body(o.size);
    // Not timed: the path is connected and a server consumes.
    client.call(o.queue, body, timeout).get();
    ready.arrive();
    run.go.wait();
    std::deque<std::future<warren::Message>> in_flight;
    std::uint64_t n = 0;
    std::uint64_t replies = 0;
    std::int64_t last_send = 0;
    for (;;) {
      bool more = (o.count == 0 || n < o.count) && !run.stop_producing.load();
      if (more && in_flight.size() < o.concurrency) {
        last_send = warren::perf::now_ns();
        warren::perf::stamp(body.data(), last_send);
        in_flight.push_back(client.call(o.queue, body, timeout));
        sent.store(++n, std::memory_order_relaxed);
        continue;
      }
      if (in_flight.empty()) break;
      warren::Message reply = in_flight.front().get();
      in_flight.pop_front();
      std::int64_t now = warren::perf::now_ns();
      if (reply.body.size() >= warren::perf::kTimestampBytes)
        latency.record(now - warren::perf::read_stamp(reply.body.data()));
      last_receive = now;
      received.store(++replies, std::memory_order_relaxed);
    }
    record_last_send(run, Clock::time_point{std::chrono::nanoseconds(last_send)});
    run.producers_done.fetch_add(1);
  } catch (const std::exception& e) {
    run.fail("client " + std::to_string(id), e);
    run.producers_done.fetch_add(1);
  }
  record_receives(run, latency, last_receive);
}

// Declares (and purges) the queues, and the exchange with its bindings,
// before any worker starts, so no message published by this run is dropped
// as unroutable and none of an earlier run is counted. A connection of its
// own, closed at once: an idle connection nobody pumps would not see the
// broker's heartbeats.
void prepare(const std::string& endpoint, const PerfOptions& o) {
  warren::Connection connection(endpoint);
  auto channel = connection.channel();
  if (o.predeclared) {  // check that they exist (404 if not), and purge
    if (!o.exchange.empty())
      channel.exchange_declare(o.exchange, o.exchange_type, {.passive = true});
    for (int i = 0; i < o.queues; ++i) {
      channel.queue_declare(queue_name(o, i), {.passive = true});
      if (o.purge) channel.queue_purge(queue_name(o, i));
    }
    return;
  }
  const auto start = Clock::now();
  if (!o.exchange.empty()) channel.exchange_declare(o.exchange, o.exchange_type, {.durable = o.persistent});
  for (int i = 0; i < o.queues; ++i) {
    const auto queue = queue_name(o, i);
    channel.queue_declare(queue, {.durable = o.persistent});
    if (o.purge) channel.queue_purge(queue);
    if (!o.exchange.empty()) channel.queue_bind(queue, o.exchange, o.binding_key);
  }
  for (std::uint64_t i = 0; i < o.bindings; ++i)
    channel.queue_bind(queue_name(o, 0), o.exchange, "noise." + std::to_string(i) + ".*");
  if (o.bindings > 0)
    std::fprintf(stderr, "warren-perf: declared %d queue(s) and %llu binding(s) in %.2f s\n",
                 o.queues, static_cast<unsigned long long>(o.bindings) + o.queues,
                 std::chrono::duration<double>(Clock::now() - start).count());
}

// Deletes what prepare() declared; deleting a queue deletes its bindings.
void clean_up(const std::string& endpoint, const PerfOptions& o) {
  // Short: at this point a broker that does not answer is gone.
  warren::Connection connection(endpoint, {.connect_timeout = std::chrono::seconds(2)});
  auto channel = connection.channel();
  const auto start = Clock::now();
  for (int i = 0; i < o.queues; ++i) channel.queue_delete(queue_name(o, i));
  if (!o.exchange.empty()) channel.exchange_delete(o.exchange);
  if (o.bindings > 0)
    std::fprintf(stderr, "warren-perf: deleted the queue(s) and the exchange in %.2f s\n",
                 std::chrono::duration<double>(Clock::now() - start).count());
}

// Watches the workers, prints the live line, decides when the run is over.
// Returns the reason.
std::string supervise(Run& run, std::vector<warren::perf::Sample>& samples) {
  const auto& o = run.options;
  std::FILE* live = o.json ? stderr : stdout;
  warren::perf::RateMeter meter(run.start);
  std::uint64_t last_progress_total = 0;
  auto last_progress = run.start;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = Clock::now();
    auto sent = run.total_sent();
    auto received = run.total_received();
    warren::perf::Sample sample;
    if (meter.tick(now, sent, received, sample)) {
      samples.push_back(sample);
      warren::perf::print_live(live, sample);
    }
    if (run.failed()) return "error";
    int interrupts = g_interrupts.load();
    if (interrupts >= 2) return "interrupted";
    if (interrupts == 1 && !run.stop_producing.exchange(true))
      std::fprintf(stderr, "warren-perf: interrupted, draining (Ctrl-C again to stop now)\n");
    bool time_up = o.time_s > 0 && now - run.start >= std::chrono::duration<double>(o.time_s);
    if (time_up) run.stop_producing.store(true);
    if (o.producers == 0 && time_up) return "time";  // consumers only: the clock decides
    if (o.producers == 0 && o.count > 0 && received >= o.count) return "complete";  // a drained backlog
    if (o.producers > 0 && run.producers_done.load() == o.producers) {
      if (o.consumers == 0 || received >= sent * o.routes)
        return interrupts ? "interrupted" : "complete";
    }
    if (sent + received != last_progress_total) {
      last_progress_total = sent + received;
      last_progress = now;
    } else if (now - last_progress >= std::chrono::duration<double>(o.stall_timeout)) {
      return "stalled";
    }
  }
}

std::optional<PerfOptions> parse(int argc, char** argv, int& exit_code) {
  PerfOptions o;
  po::options_description desc(
      "warren-perf: throughput and latency of a warren broker (after RabbitMQ's PerfTest)\n\n"
      "Options");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("endpoint,e", po::value(&o.endpoint)->default_value(o.endpoint), "broker to connect to")
      ("embedded", po::bool_switch(&o.embedded),
       "start an in-process broker on tcp://127.0.0.1:* and use it")
      ("producers,x", po::value(&o.producers)->default_value(o.producers), "producer connections")
      ("consumers,y", po::value(&o.consumers)->default_value(o.consumers), "consumer connections")
      ("size,s", po::value(&o.size)->default_value(o.size),
       "message body size in bytes (>= 8: the first 8 carry the send timestamp)")
      ("count,C", po::value(&o.count), "messages per producer; the run ends when all are received (-x 0: messages to receive in all)")
      ("time,z", po::value(&o.time_s), "seconds to publish for (default 10 unless --count)")
      ("queue,u", po::value(&o.queue)->default_value(o.queue), "queue name (default exchange)")
      ("auto-ack", "consumers use auto-ack (no_ack); the default")
      ("manual-ack", po::bool_switch(&o.manual_ack), "consumers ack every delivery (basic.ack)")
      ("prefetch,q", po::value(&o.prefetch)->default_value(o.prefetch),
       "with --manual-ack: basic.qos prefetch per consumer (0: unlimited)")
      ("ack-every", po::value(&o.ack_every)->default_value(o.ack_every),
       "with --manual-ack: one basic.ack(multiple) per N deliveries")
      ("rate,r", po::value(&o.rate)->default_value(o.rate),
       "per-producer publish rate limit in msg/s (0: unlimited)")
      ("stall-timeout", po::value(&o.stall_timeout)->default_value(o.stall_timeout),
       "end the run when no message moved for this many seconds")
      ("no-purge", "keep messages already in the queue (they are counted as received)")
      ("keep-queue", po::bool_switch(&o.keep_queue),
       "do not delete the queue(s) and the exchange at the end")
      ("predeclared", po::bool_switch(&o.predeclared),
       "the queue(s), exchange and bindings exist (say, from a run with --keep-queue and the "
       "same routing options): only check and purge them")
      ("persistent", po::bool_switch(&o.persistent),
       "persistent messages (delivery_mode 2) to durable queues and exchange")
      ("confirm,c", po::value(&o.confirm)->default_value(o.confirm),
       "publisher confirms, at most N unconfirmed per producer (0: off); the send rate then "
       "counts to the last confirm")
      ("data-dir", po::value(&o.data_dir),
       "--embedded: the broker's data directory (default: none, so nothing reaches a disk)")
      ("json", po::bool_switch(&o.json),
       "print the summary as one JSON line (live lines to stderr)");
  po::options_description routing("Exchange routing");
  routing.add_options()
      ("exchange", po::value(&o.exchange),
       "publish to this exchange (declared) instead of the default exchange")
      ("type", po::value(&o.exchange_type)->default_value(o.exchange_type),
       "with --exchange: direct, fanout or topic")
      ("queues", po::value(&o.queues)->default_value(o.queues),
       "with --exchange: queues bound to it, named <queue>-0, <queue>-1, ... when more than "
       "one; --consumers defaults to one per queue, fewer share the queues out")
      ("routing-key", po::value(&o.routing_key),
       "with --exchange: the producers' routing key (default: the queue name)")
      ("binding-key", po::value(&o.binding_key),
       "with --exchange: each queue's binding key (default: the routing key for direct, # for "
       "topic; fanout ignores it)")
      ("bindings", po::value(&o.bindings)->default_value(o.bindings),
       "with --type topic: add this many bindings that match nothing (noise.<i>.*) to the "
       "first queue, for a large routing table");
  po::options_description rpc("RPC round trips");
  rpc.add_options()
      ("rpc", po::bool_switch(&o.rpc),
       "producers are RpcClients calling the queue, consumers RpcServers that echo the body; "
       "--prefetch is the servers', --count the calls per client")
      ("reply-queue", po::bool_switch(&o.reply_queue),
       "with --rpc: replies through an exclusive reply queue instead of direct reply-to")
      ("concurrency", po::value(&o.concurrency)->default_value(o.concurrency),
       "with --rpc: outstanding calls per client");
  // clang-format on
  desc.add(routing).add(rpc);
  po::variables_map vm;
  if (auto code = warren::perf::parse_command_line("warren-perf", argc, argv, desc, vm)) {
    exit_code = *code;
    return std::nullopt;
  }
  auto usage_error = [&](const std::string& text) {
    exit_code = warren::perf::usage_error("warren-perf", text, desc);
    return std::nullopt;
  };
  if (vm.count("auto-ack") && o.manual_ack)
    return usage_error("--auto-ack and --manual-ack conflict");
  o.purge = vm.count("no-purge") == 0;
  if (o.producers < 0 || o.consumers < 0 || o.producers + o.consumers == 0)
    return usage_error("need at least one producer or consumer");
  if (o.size < warren::perf::kTimestampBytes) return usage_error("--size must be at least 8");
  if (vm.count("count") && o.count == 0) return usage_error("--count must be positive");
  if (!vm.count("count") && !vm.count("time")) o.time_s = 10;
  if (vm.count("time") && o.time_s <= 0) return usage_error("--time must be positive");
  if (o.prefetch > 65535) return usage_error("--prefetch is at most 65535");
  if (o.ack_every == 0) return usage_error("--ack-every must be positive");
  if (o.manual_ack && o.prefetch > 0 && o.ack_every > o.prefetch)
    return usage_error("--ack-every above --prefetch would stall the consumers");
  if (o.stall_timeout <= 0) return usage_error("--stall-timeout must be positive");
  auto given = [&](const char* name) { return vm.count(name) && !vm[name].defaulted(); };
  const bool routed = !o.exchange.empty();
  for (const char* name : {"type", "queues", "routing-key", "binding-key", "bindings"})
    if (!routed && given(name)) return usage_error(std::string("--") + name + " needs --exchange");
  if (o.exchange_type != "direct" && o.exchange_type != "fanout" && o.exchange_type != "topic")
    return usage_error("--type is direct, fanout or topic");
  if (o.queues < 1) return usage_error("--queues must be positive");
  if (o.bindings > 0 && o.exchange_type != "topic")
    return usage_error("--bindings needs --type topic");
  if (!given("routing-key")) o.routing_key = o.queue;
  if (!given("binding-key"))
    o.binding_key = o.exchange_type == "topic"    ? "#"
                    : o.exchange_type == "direct" ? o.routing_key
                                                  : "";
  if (o.bindings > 0 && topic_matches("noise.*.*", o.routing_key))
    return usage_error("the routing key must not match the extra bindings (noise.<i>.*)");
  o.routes = routes_per_message(o);
  if (o.routes == 0)
    return usage_error("binding key '" + o.binding_key + "' does not match routing key '" +
                       o.routing_key + "': no queue would receive a message");
  if (routed && !given("consumers")) o.consumers = o.queues;
  if (!o.data_dir.empty() && !o.embedded) return usage_error("--data-dir needs --embedded");
  if (o.rpc && (o.persistent || o.confirm > 0)) return usage_error("--persistent and --confirm do not apply to --rpc");
  if (!o.rpc && (given("concurrency") || o.reply_queue))
    return usage_error("--concurrency and --reply-queue need --rpc");
  if (o.rpc) {
    if (routed) return usage_error("--rpc calls through the default exchange: no --exchange");
    if (o.manual_ack) return usage_error("--rpc: the servers ack, the clients do not consume");
    if (o.rate > 0) return usage_error("--rate does not apply to --rpc");
    if (o.producers < 1 || o.consumers < 1)
      return usage_error("--rpc needs at least one client (-x) and one server (-y)");
    if (o.concurrency < 1) return usage_error("--concurrency must be positive");
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto parsed = parse(argc, argv, exit_code);
  if (!parsed) return exit_code;
  const PerfOptions& o = *parsed;

  // An embedded broker gets its own ZeroMQ context (and so its own I/O
  // thread), as it would have in its own process.
  std::unique_ptr<zmq::context_t> broker_context;
  std::unique_ptr<warren::Broker> broker;
  std::string endpoint = o.endpoint;
  try {
    if (o.embedded) {
      broker_context = std::make_unique<zmq::context_t>(1);
      broker = std::make_unique<warren::Broker>(
          warren::BrokerOptions{.endpoint = "tcp://127.0.0.1:*",
                                .data_dir = o.data_dir,
                                .log_level = warren::LogLevel::kWarning,
                                .context = broker_context.get()});
      broker->start();
      endpoint = broker->endpoint();
    }
  } catch (const std::exception& e) {
    std::cerr << "warren-perf: cannot start the embedded broker: " << e.what() << "\n";
    return 1;
  }

  warren::perf::Summary summary;
  summary.tool = "warren-perf";
  summary.scenario = o.embedded ? "warren-embedded" : "warren";
  summary.endpoint = endpoint;
  summary.producers = o.producers;
  summary.consumers = o.consumers;
  summary.size = o.size;
  summary.ack = o.manual_ack || o.rpc ? "manual" : "auto";  // RpcServer acks each request
  summary.prefetch = o.manual_ack || o.rpc ? o.prefetch : 0;
  summary.exchange = o.exchange;
  summary.exchange_type = o.exchange.empty() ? "" : o.exchange_type;
  summary.queues = o.queues;
  summary.bindings = o.bindings;
  summary.routes = o.routes;
  summary.persistent = o.persistent;
  summary.confirm = o.confirm;
  if (o.rpc) {
    summary.scenario += "-rpc";
    summary.concurrency = o.concurrency;
    summary.reply = o.reply_queue ? "reply-queue" : "direct-reply-to";
  }

  try {
    prepare(endpoint, o);
  } catch (const std::exception& e) {
    std::cerr << "warren-perf: cannot prepare queue '" << queue_name(o, 0) << "'"
              << (o.exchange.empty() ? "" : " or exchange '" + o.exchange + "'") << " on "
              << endpoint << ": " << e.what() << "\n";
    return 1;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  Run run(o, endpoint);
  std::vector<std::jthread> workers;
  for (int i = 0; i < o.consumers; ++i)
    workers.emplace_back(o.rpc ? rpc_server : consumer, std::ref(run), i);
  for (int i = 0; i < o.producers; ++i)
    workers.emplace_back(o.rpc ? rpc_client : producer, std::ref(run), i);
  run.ready.wait();
  run.start = Clock::now();
  run.go.count_down();

  summary.end_reason = supervise(run, summary.samples);
  run.stop_producing.store(true);
  // Let the producers record their last send before the workers leave.
  while (run.producers_done.load() < o.producers)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  run.finish.store(true);
  workers.clear();  // joins

  summary.sent = run.total_sent();
  summary.received = run.total_received();
  auto seconds = [&](Clock::time_point t) {
    return t > run.start ? std::chrono::duration<double>(t - run.start).count() : 0.0;
  };
  summary.send_seconds = seconds(run.last_send);
  summary.receive_seconds = seconds(run.last_receive);
  summary.latency = run.latency;
  summary.errors = run.errors;

  try {
    if (!o.keep_queue) clean_up(endpoint, o);
  } catch (const std::exception& e) {
    summary.errors.push_back(std::string("deleting the queue(s): ") + e.what());
  }
  if (broker) {
    broker->stop();
    broker->join();
  }

  if (o.json)
    warren::perf::print_json(stdout, summary);
  else
    warren::perf::print_text(stdout, summary);
  if (!summary.ok()) {
    if (summary.lost() > 0)
      std::fprintf(stderr, "warren-perf: %llu message(s) lost\n",
                   static_cast<unsigned long long>(summary.lost()));
    return 1;
  }
  return 0;
}
