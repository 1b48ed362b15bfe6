// warren-perf: a load generator modelled on RabbitMQ's PerfTest.
//
// N producers and M consumers, each with its own warren::Connection on its own
// thread (a Connection belongs to one thread), share one queue. Producers
// publish to the default exchange with routing key = queue and write a send
// timestamp (steady_clock ns) into the first 8 bytes of every body; consumers
// read it back to measure publish-to-deliver latency. A live line is printed
// every second, a summary at the end (text, or one JSON line with --json).
//
// A run ends when every published message has been received (--count, or
// --time followed by a drain), when nothing moved for --stall-timeout
// seconds, on an error, or on a second Ctrl-C. The exit status is 1 when
// messages were lost or a worker failed, 2 on a usage error.
#include <atomic>
#include <boost/program_options.hpp>
#include <csignal>
#include <cstdio>
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
  bool json = false;
};

std::atomic<int> g_interrupts{0};
extern "C" void on_signal(int) { g_interrupts.fetch_add(1); }

// A counter written by one worker and read by the main thread, on its own
// cache line so workers do not slow each other down.
struct alignas(64) Counter {
  std::atomic<std::uint64_t> value{0};
};

// What the workers share with the main thread.
struct Run {
  explicit Run(const PerfOptions& o, std::string ep)
      : options(o),
        endpoint(std::move(ep)),
        sent(std::make_unique<Counter[]>(static_cast<std::size_t>(o.producers))),
        received(std::make_unique<Counter[]>(static_cast<std::size_t>(o.consumers))),
        ready(o.producers + o.consumers) {}

  const PerfOptions& options;
  const std::string endpoint;
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
  std::uint64_t total_received() const { return sum(received.get(), options.consumers); }
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

void producer(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  auto& counter = run.sent[static_cast<std::size_t>(id)].value;
  Clock::time_point last = Clock::now();
  try {
    warren::Connection connection(run.endpoint);
    auto channel = connection.channel();
    std::string body(o.size, '\0');
    for (std::size_t i = warren::perf::kTimestampBytes; i < body.size(); ++i)
      body[i] = static_cast<char>('a' + i % 26);
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
      warren::perf::stamp(body.data(), warren::perf::now_ns());
      channel.basic_publish("", o.queue, body);
      counter.store(++n, std::memory_order_relaxed);
    }
    last = Clock::now();
    {
      std::lock_guard lk(run.mu);
      run.last_send = std::max(run.last_send, last);
    }
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
    channel.basic_consume(o.queue,
                          [&](const warren::Message& m) {
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
                          },
                          {.auto_ack = !o.manual_ack});
    ready.arrive();
    while (!run.finish.load()) connection.run_for(std::chrono::milliseconds(50));
    if (since_ack > 0) channel.basic_ack(last_tag, true);
  } catch (const std::exception& e) {
    run.fail("consumer " + std::to_string(id), e);
  }
  std::lock_guard lk(run.mu);
  run.latency.merge(latency);
  if (last_receive != 0) {
    Clock::time_point t{std::chrono::nanoseconds(last_receive)};
    run.last_receive = std::max(run.last_receive, t);
  }
}

// Declares (and purges) the queue before any worker starts, so no message
// published by this run is dropped as unroutable and none of an earlier run
// is counted. A connection of its own, closed at once: an idle connection
// nobody pumps would not see the broker's heartbeats.
void prepare_queue(const std::string& endpoint, const PerfOptions& o) {
  warren::Connection connection(endpoint);
  auto channel = connection.channel();
  channel.queue_declare(o.queue);
  if (o.purge) channel.queue_purge(o.queue);
}

void delete_queue(const std::string& endpoint, const PerfOptions& o) {
  // Short: at this point a broker that does not answer is gone.
  warren::Connection connection(endpoint, {.connect_timeout = std::chrono::seconds(2)});
  connection.channel().queue_delete(o.queue);
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
    if (o.producers > 0 && run.producers_done.load() == o.producers) {
      if (o.consumers == 0 || received >= sent) return interrupts ? "interrupted" : "complete";
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
      ("count,C", po::value(&o.count), "messages per producer; the run ends when all are received")
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
      ("keep-queue", po::bool_switch(&o.keep_queue), "do not delete the queue at the end")
      ("json", po::bool_switch(&o.json),
       "print the summary as one JSON line (live lines to stderr)");
  // clang-format on
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
  summary.ack = o.manual_ack ? "manual" : "auto";
  summary.prefetch = o.manual_ack ? o.prefetch : 0;

  try {
    prepare_queue(endpoint, o);
  } catch (const std::exception& e) {
    std::cerr << "warren-perf: cannot prepare queue '" << o.queue << "' on " << endpoint << ": "
              << e.what() << "\n";
    return 1;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  Run run(o, endpoint);
  std::vector<std::jthread> workers;
  for (int i = 0; i < o.consumers; ++i) workers.emplace_back(consumer, std::ref(run), i);
  for (int i = 0; i < o.producers; ++i) workers.emplace_back(producer, std::ref(run), i);
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
    if (!o.keep_queue) delete_queue(endpoint, o);
  } catch (const std::exception& e) {
    summary.errors.push_back(std::string("deleting the queue: ") + e.what());
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
