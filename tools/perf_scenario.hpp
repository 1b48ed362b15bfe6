// The scenario part of warren-perf, shared with amqp-perf (bench/compare),
// so that both tools take the same flags, run a scenario the same way and
// report it alike: warren and RabbitMQ run identical scenarios.
//
// A scenario: N producers and M consumers, each with its own connection on
// its own thread. Producers publish to the default exchange (routing key =
// the queue), or to a direct, fanout or topic exchange bound to `queues`
// queues; they write a send timestamp (steady_clock ns) into the first 8
// bytes of every body, from which consumers measure publish-to-deliver
// latency. A Run is what the workers share with the main thread, which
// supervise()s it: a live line every second, and the decision when the run
// is over. The tools supply the workers (their clients differ) and print
// the Summary (perf_report.hpp).
//
// Thread rules: a worker writes only its own Counter and merges its latency
// histogram into the Run under its mutex when it leaves.
#pragma once

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "perf_report.hpp"

namespace warren::perf {

struct ScenarioOptions {
  std::string endpoint;
  bool embedded = false;  // warren-perf only
  long publish_linger_us = 200;  // warren-perf only
  int producers = 1;
  int consumers = 1;
  std::size_t size = 100;      // body bytes; with size_max > size, the smallest
  std::size_t size_max = 100;  // a range: each body's size is uniform in [size, size_max]
  std::uint64_t count = 0;     // per producer; 0: no limit
  double time_s = 0;           // seconds to publish for; 0: no limit
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
  // RPC: producers are RPC clients, consumers RPC servers.
  bool rpc = false;
  bool reply_queue = false;  // an exclusive reply queue instead of direct reply-to
  unsigned concurrency = 1;  // outstanding calls per client
  // Durability: persistent messages (delivery_mode 2) to durable queues;
  // publisher confirms with at most `confirm` unconfirmed (0: off).
  bool persistent = false;
  unsigned confirm = 0;
  std::string data_dir;  // the embedded broker's (--embedded only)
  // CURVE (warren-perf only): the broker's NAME.pub and this client's
  // NAME.key; with --embedded, --curve makes the embedded broker a CURVE
  // server with keys made for the run.
  std::string curve_server_key, curve_key;
  bool curve = false;
};

// What differs between the tools that share the scenario flags.
struct ToolInfo {
  const char* program;           // "warren-perf"
  const char* title;             // the first line of --help
  const char* default_endpoint;  // "tcp://127.0.0.1:5673"
  bool embedded_broker;          // offers --embedded, --data-dir and the CURVE flags
};

// The i-th queue: the --queue name itself when there is one queue, else
// name-0, name-1, ...
inline std::string queue_name(const ScenarioOptions& o, int i) {
  return o.queues == 1 ? o.queue : o.queue + "-" + std::to_string(i);
}

// The queues consumer `id` consumes: one each while there are at least as
// many consumers as queues, else a round-robin share of them.
inline std::vector<std::string> queues_of(const ScenarioOptions& o, int id) {
  std::vector<std::string> names;
  if (o.consumers >= o.queues) names.push_back(queue_name(o, id % o.queues));
  for (int i = id; o.consumers < o.queues && i < o.queues; i += o.consumers)
    names.push_back(queue_name(o, i));
  return names;
}

inline std::vector<std::string_view> topic_words(std::string_view key) {
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
inline bool topic_matches(std::string_view binding_key, std::string_view routing_key) {
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
inline std::uint64_t routes_per_message(const ScenarioOptions& o) {
  auto queues = static_cast<std::uint64_t>(o.queues);
  if (o.exchange.empty() || o.exchange_type == "fanout") return queues;
  if (o.exchange_type == "direct") return o.binding_key == o.routing_key ? queues : 0;
  return topic_matches(o.binding_key, o.routing_key) ? queues : 0;
}

// Ctrl-C: the first drains, the second stops at once.
inline std::atomic<int> g_interrupts{0};
extern "C" inline void on_interrupt_signal(int) { g_interrupts.fetch_add(1); }

// A counter written by one worker and read by the main thread, on its own
// cache line so workers do not slow each other down.
struct alignas(64) Counter {
  std::atomic<std::uint64_t> value{0};
};

// What the workers share with the main thread. Producers count what they
// sent; consumers what they received, or in an RPC run the clients count
// the replies they collected.
struct Run {
  explicit Run(const ScenarioOptions& o, std::string ep)
      : options(o),
        endpoint(std::move(ep)),
        receivers(o.rpc ? o.producers : o.consumers),
        sent(std::make_unique<Counter[]>(static_cast<std::size_t>(o.producers))),
        received(std::make_unique<Counter[]>(static_cast<std::size_t>(receivers))),
        ready(o.producers + o.consumers) {}

  const ScenarioOptions& options;
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
  LatencyHistogram latency;
  std::uint64_t received_bytes = 0;
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
  void record_last_send(Clock::time_point last) {
    std::lock_guard lk(mu);
    last_send = std::max(last_send, last);
  }
  // A receiver's totals, once, when it leaves.
  void record_receives(const LatencyHistogram& h, std::uint64_t bytes, std::int64_t last_receive_ns) {
    std::lock_guard lk(mu);
    latency.merge(h);
    received_bytes += bytes;
    if (last_receive_ns != 0) {
      Clock::time_point t{std::chrono::nanoseconds(last_receive_ns)};
      last_receive = std::max(last_receive, t);
    }
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
  ReadyGuard(const ReadyGuard&) = delete;
  ReadyGuard& operator=(const ReadyGuard&) = delete;
  void arrive() {
    if (!arrived_) latch_.count_down();
    arrived_ = true;
  }

 private:
  std::latch& latch_;
  bool arrived_ = false;
};

// The bodies one producer sends: a buffer of the largest size (room for the
// timestamp, then letters), and each message's size, fixed or drawn
// uniformly from [size, size_max] by a generator seeded with the producer's
// id, so that a run is repeatable.
class Bodies {
 public:
  Bodies(const ScenarioOptions& o, int id)
      : buffer_(o.size_max, '\0'), sizes_(o.size, o.size_max), random_(static_cast<unsigned>(id) + 1) {
    for (std::size_t i = kTimestampBytes; i < buffer_.size(); ++i)
      buffer_[i] = static_cast<char>('a' + i % 26);
  }
  // The next body, stamped with the time now; valid until the next call.
  std::string_view next() {
    std::size_t n = sizes_.a() == sizes_.b() ? sizes_.a() : sizes_(random_);
    stamp(buffer_.data(), now_ns());
    return std::string_view(buffer_).substr(0, n);
  }

 private:
  std::string buffer_;
  std::uniform_int_distribution<std::size_t> sizes_;
  std::minstd_rand random_;
};

// Paces a producer at `rate` msg/s (0: no limit): message n is due at
// start + n / rate.
inline void pace(const ScenarioOptions& o, Clock::time_point start, std::uint64_t n) {
  if (o.rate <= 0) return;
  auto due = start + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(static_cast<double>(n) / o.rate));
  if (Clock::now() < due) std::this_thread::sleep_until(due);
}

// Watches the workers, prints the live line, decides when the run is over.
// Returns the reason.
inline std::string supervise(const char* program, Run& run, std::vector<Sample>& samples) {
  const auto& o = run.options;
  std::FILE* live = o.json ? stderr : stdout;
  RateMeter meter(run.start);
  std::uint64_t last_progress_total = 0;
  auto last_progress = run.start;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = Clock::now();
    auto sent = run.total_sent();
    auto received = run.total_received();
    Sample sample;
    if (meter.tick(now, sent, received, sample)) {
      samples.push_back(sample);
      print_live(live, sample);
    }
    if (run.failed()) return "error";
    int interrupts = g_interrupts.load();
    if (interrupts >= 2) return "interrupted";
    if (interrupts == 1 && !run.stop_producing.exchange(true))
      std::fprintf(stderr, "%s: interrupted, draining (Ctrl-C again to stop now)\n", program);
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

// "--size 100" or "--size 16-65536": one size, or a range.
inline bool parse_size(const std::string& text, std::size_t& low, std::size_t& high) {
  auto number = [](std::string_view s, std::size_t& out) {
    if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string_view::npos)
      return false;
    out = std::stoull(std::string(s));
    return true;
  };
  auto dash = text.find('-');
  if (dash == std::string::npos) return number(text, low) && number(text, high);
  return number(std::string_view(text).substr(0, dash), low) &&
         number(std::string_view(text).substr(dash + 1), high) && low <= high;
}

// Parses and checks the scenario flags. Returns nullopt with the exit status
// in `exit_code` when the program should leave (0 after --help, 2 after a
// usage error, which it has printed).
inline std::optional<ScenarioOptions> parse_scenario(const ToolInfo& tool, int argc, char** argv,
                                                     int& exit_code) {
  namespace po = boost::program_options;
  ScenarioOptions o;
  o.endpoint = tool.default_endpoint;
  std::string size_text = "100";
  po::options_description desc(std::string(tool.title) + "\n\nOptions");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("endpoint,e", po::value(&o.endpoint)->default_value(o.endpoint), "broker to connect to");
  if (tool.embedded_broker)
    desc.add_options()
      ("embedded", po::bool_switch(&o.embedded),
       "start an in-process broker on tcp://127.0.0.1:* and use it")
      ("data-dir", po::value(&o.data_dir),
       "--embedded: the broker's data directory (default: none, so nothing reaches a disk)")
      ("curve-server-key", po::value(&o.curve_server_key), "CURVE: the broker's public key file (NAME.pub)")
      ("curve-key", po::value(&o.curve_key), "CURVE: this client's key pair file (NAME.key from warren-keygen)")
      ("curve", po::bool_switch(&o.curve), "--embedded: the broker uses CURVE, with keys made for the run")
      ("publish-linger", po::value(&o.publish_linger_us)->default_value(o.publish_linger_us),
       "microseconds: publishes closer together than this are sent in batches (ConnectionOptions::publish_linger); 0: one by one");
  desc.add_options()
      ("producers,x", po::value(&o.producers)->default_value(o.producers), "producer connections")
      ("consumers,y", po::value(&o.consumers)->default_value(o.consumers), "consumer connections")
      ("size,s", po::value(&size_text)->default_value(size_text),
       "message body size in bytes, or a range MIN-MAX (each body's size uniform in it); at "
       "least 8: the first 8 carry the send timestamp")
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
       "producers are RPC clients calling the queue, consumers RPC servers that echo the body; "
       "--prefetch is the servers', --count the calls per client")
      ("reply-queue", po::bool_switch(&o.reply_queue),
       "with --rpc: replies through an exclusive reply queue instead of direct reply-to")
      ("concurrency", po::value(&o.concurrency)->default_value(o.concurrency),
       "with --rpc: outstanding calls per client");
  // clang-format on
  desc.add(routing).add(rpc);
  po::variables_map vm;
  if (auto code = parse_command_line(tool.program, argc, argv, desc, vm)) {
    exit_code = *code;
    return std::nullopt;
  }
  auto usage_error = [&](const std::string& text) {
    exit_code = perf::usage_error(tool.program, text, desc);
    return std::nullopt;
  };
  if (vm.count("auto-ack") && o.manual_ack)
    return usage_error("--auto-ack and --manual-ack conflict");
  o.purge = vm.count("no-purge") == 0;
  if (o.producers < 0 || o.consumers < 0 || o.producers + o.consumers == 0)
    return usage_error("need at least one producer or consumer");
  if (!parse_size(size_text, o.size, o.size_max))
    return usage_error("--size is a number of bytes or a range MIN-MAX, got '" + size_text + "'");
  if (o.size < kTimestampBytes) return usage_error("--size must be at least 8");
  if (o.size_max > (std::size_t{64} << 20)) return usage_error("--size is at most 64 MiB");
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
  if (o.publish_linger_us < 0) return usage_error("--publish-linger must not be negative");
  if (o.curve_server_key.empty() != o.curve_key.empty())
    return usage_error("--curve-server-key and --curve-key go together");
  if (o.curve && !o.embedded) return usage_error("--curve needs --embedded (else use --curve-server-key, --curve-key)");
  if (o.curve && !o.curve_key.empty()) return usage_error("--curve makes its own keys: no --curve-key");
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

// The Summary of a scenario before it runs: what was asked.
inline Summary describe(const ScenarioOptions& o, std::string tool, std::string scenario,
                        std::string endpoint) {
  Summary s;
  s.tool = std::move(tool);
  s.scenario = std::move(scenario);
  s.endpoint = std::move(endpoint);
  s.producers = o.producers;
  s.consumers = o.consumers;
  s.size = o.size;
  s.size_max = o.size_max;
  s.ack = o.manual_ack || o.rpc ? "manual" : "auto";  // an RPC server acks each request
  s.prefetch = o.manual_ack || o.rpc ? o.prefetch : 0;
  s.exchange = o.exchange;
  s.exchange_type = o.exchange.empty() ? "" : o.exchange_type;
  s.queues = o.queues;
  s.bindings = o.bindings;
  s.routes = o.routes;
  s.persistent = o.persistent;
  s.confirm = o.confirm;
  if (o.rpc) {
    s.scenario += "-rpc";
    s.concurrency = o.concurrency;
    s.reply = o.reply_queue ? "reply-queue" : "direct-reply-to";
  }
  return s;
}

// Runs the workers, supervises the run until it is over, joins them and
// fills in what they measured. `consumer` and `producer` are called as
// f(run, id) on their own threads.
template <typename Consumer, typename Producer>
void run_scenario(const char* program, const ScenarioOptions& o, const std::string& endpoint,
                  Consumer consumer, Producer producer, Summary& summary) {
  Run run(o, endpoint);
  {
    std::vector<std::jthread> workers;
    for (int i = 0; i < o.consumers; ++i) workers.emplace_back(consumer, std::ref(run), i);
    for (int i = 0; i < o.producers; ++i) workers.emplace_back(producer, std::ref(run), i);
    run.ready.wait();
    run.start = Clock::now();
    run.go.count_down();

    summary.end_reason = supervise(program, run, summary.samples);
    run.stop_producing.store(true);
    // Let the producers record their last send before the workers leave.
    while (run.producers_done.load() < o.producers)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    run.finish.store(true);
  }  // joins
  summary.sent = run.total_sent();
  summary.received = run.total_received();
  auto seconds = [&](Clock::time_point t) {
    return t > run.start ? std::chrono::duration<double>(t - run.start).count() : 0.0;
  };
  summary.send_seconds = seconds(run.last_send);
  summary.receive_seconds = seconds(run.last_receive);
  summary.latency = run.latency;
  summary.received_bytes = run.received_bytes;
  summary.errors = run.errors;
}

// Prints the summary (text, or JSON with --json) and returns the exit
// status: 0, or 1 when messages were lost or a worker failed.
inline int report(const char* program, const ScenarioOptions& o, const Summary& summary) {
  if (o.json)
    print_json(stdout, summary);
  else
    print_text(stdout, summary);
  if (summary.ok()) return 0;
  if (summary.lost() > 0)
    std::fprintf(stderr, "%s: %llu message(s) lost\n", program,
                 static_cast<unsigned long long>(summary.lost()));
  return 1;
}

}  // namespace warren::perf
