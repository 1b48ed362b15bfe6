// warren-load: a soak load for a running broker, to show that its memory is
// bounded under many connections, many queues and many messages in flight.
//
// Connections are spread over --threads threads (a Connection belongs to one
// thread). Queue i ("<prefix>-i", transient) is declared and consumed, with
// manual acks and a prefetch, by connection i % connections. The run is a
// closed loop: --in-flight messages are published up front, to queues picked
// at random, and every time a consumer acks a message it publishes a new one
// to a random queue, so the number of messages in the broker (ready plus
// unacked) stays at --in-flight while publish, deliver and ack run as fast as
// the broker allows. Around that, the mixed traffic a real broker sees:
//   * 1 delivery in --nack-every is nacked with requeue (redelivery path);
//   * 1 delivery in --get-every makes its consumer also basic.get a random
//     queue, acking what it gets and publishing a replacement;
//   * --churn connections a second are closed (their unacked messages go back
//     to their queues) and opened again with their consumers.
//
// Every --sample seconds a line shows the broker's resident memory (the
// overview's memory_bytes: /proc/self/statm of the broker), messages ready
// and unacked, connections, and the publish/ack rates. The summary compares
// the broker's RSS over the steady state (after --warmup seconds): its
// minimum, maximum and the least-squares slope in MB per minute, which is
// close to 0 when nothing leaks. --csv writes the samples for plotting.
//
// Exit status: 0 when the run finished and every message is accounted for
// (the broker holds exactly what the loop keeps in flight), 1 on an error or
// a lost message, 2 on a usage error.
#include <sys/resource.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "perf_report.hpp"
#include "warren/warren.hpp"

namespace po = boost::program_options;
using warren::perf::Clock;

namespace {

struct LoadOptions {
  std::string endpoint = "tcp://127.0.0.1:5673";
  int connections = 1000;
  int queues = 10000;
  std::uint64_t in_flight = 100000;
  std::size_t size = 100;
  int threads = 4;
  unsigned prefetch = 20;
  double duration_s = 300;
  double warmup_s = 30;
  double sample_s = 5;
  double churn = 1;  // connections closed and reopened per second, in all
  unsigned nack_every = 100;
  unsigned get_every = 50;
  std::string prefix = "load";
  std::string csv;
};

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

struct Counters {
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> nacked{0};
  std::atomic<std::uint64_t> got{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> errors{0};
};

std::string queue_name(const LoadOptions& o, int i) { return o.prefix + "-" + std::to_string(i); }

// One connection of a worker thread, with the queues it consumes.
struct Client {
  int index = 0;
  std::unique_ptr<warren::Connection> conn;
  std::optional<warren::Channel> ch;
  std::uint64_t deliveries = 0;
};

class Worker {
 public:
  Worker(const LoadOptions& o, Counters& counters, zmq::context_t& ctx, int id, std::uint64_t preload)
      : o_(o), counters_(counters), ctx_(ctx), id_(id), preload_(preload), rng_(0x5eed + id),
        body_(o.size, 'x') {}

  // Opens this worker's connections, declares and consumes their queues.
  void open() {
    for (int c = id_; c < o_.connections; c += o_.threads) {
      clients_.push_back(std::make_unique<Client>());
      clients_.back()->index = c;
      connect(*clients_.back(), true);
    }
  }

  void run(const std::atomic<bool>& go) {
    while (!go.load() && !g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const double churn_per_thread = o_.churn / o_.threads;
    auto next_churn = Clock::now();
    std::size_t next_client = 0;
    while (!g_stop.load()) {
      // Preload a slice of this worker's share of the in-flight messages
      // per pass, so deliveries start flowing while the rest goes out.
      for (int i = 0; i < 256 && preload_ > 0; ++i, --preload_) publish_random(*clients_[next_client++ % clients_.size()]);
      std::size_t events = 0;
      for (auto& client : clients_) {
        try {
          events += client->conn->process_events(std::chrono::milliseconds(0));
        } catch (const std::exception& e) {
          fail(e);
          return;
        }
      }
      if (churn_per_thread > 0 && Clock::now() >= next_churn) {
        next_churn = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(1.0 / churn_per_thread));
        Client& victim = *clients_[std::uniform_int_distribution<std::size_t>(0, clients_.size() - 1)(rng_)];
        try {
          victim.ch.reset();
          victim.conn->close();
          connect(victim, false);
          counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
        } catch (const std::exception& e) {
          fail(e);
          return;
        }
      }
      if (events == 0 && preload_ == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  void close() {
    for (auto& client : clients_) {
      try {
        client->ch.reset();
        client->conn->close();
      } catch (const std::exception&) {
      }
    }
  }

 private:
  void connect(Client& client, bool declare) {
    warren::ConnectionOptions options;
    options.context = &ctx_;
    client.conn = std::make_unique<warren::Connection>(o_.endpoint, options);
    client.ch.emplace(client.conn->channel());
    client.ch->basic_qos(static_cast<std::uint16_t>(o_.prefetch));
    for (int q = client.index; q < o_.queues; q += o_.connections) {
      const std::string name = queue_name(o_, q);
      if (declare) client.ch->queue_declare(name);
      client.ch->basic_consume(name, [this, &client](const warren::Message& m) { on_delivery(client, m); });
    }
  }

  void on_delivery(Client& client, const warren::Message& m) {
    ++client.deliveries;
    if (o_.nack_every && client.deliveries % o_.nack_every == 0) {
      client.ch->basic_nack(m.delivery_tag, false, true);
      counters_.nacked.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    client.ch->basic_ack(m.delivery_tag);
    counters_.acked.fetch_add(1, std::memory_order_relaxed);
    publish_random(client);
    if (o_.get_every && client.deliveries % o_.get_every == 0) {
      const int q = std::uniform_int_distribution<int>(0, o_.queues - 1)(rng_);
      if (auto got = client.ch->basic_get(queue_name(o_, q))) {
        client.ch->basic_ack(got->delivery_tag);
        counters_.got.fetch_add(1, std::memory_order_relaxed);
        counters_.acked.fetch_add(1, std::memory_order_relaxed);
        publish_random(client);
      }
    }
  }

  void publish_random(Client& client) {
    const int q = std::uniform_int_distribution<int>(0, o_.queues - 1)(rng_);
    client.ch->basic_publish("", queue_name(o_, q), body_);
    counters_.published.fetch_add(1, std::memory_order_relaxed);
  }

  void fail(const std::exception& e) {
    std::fprintf(stderr, "warren-load: worker %d: %s\n", id_, e.what());
    counters_.errors.fetch_add(1);
    g_stop.store(true);
  }

  const LoadOptions& o_;
  Counters& counters_;
  zmq::context_t& ctx_;
  int id_;
  std::uint64_t preload_;
  std::mt19937_64 rng_;
  std::string body_;
  std::vector<std::unique_ptr<Client>> clients_;
};

std::int64_t number(const warren::FieldTable& row, const char* key) {
  auto it = row.find(key);
  return it != row.end() && it->second.is<std::int64_t>() ? it->second.as<std::int64_t>() : 0;
}

struct Sample {
  double t = 0;
  double rss_mb = 0;
  std::int64_t ready = 0, unacked = 0, connections = 0, queues = 0;
  double publish_rate = 0, ack_rate = 0;
};

// Least-squares slope of rss_mb against t, in MB per minute.
double slope_mb_per_min(const std::vector<Sample>& s) {
  if (s.size() < 2) return 0;
  double mt = 0, mr = 0;
  for (const auto& x : s) mt += x.t, mr += x.rss_mb;
  mt /= static_cast<double>(s.size());
  mr /= static_cast<double>(s.size());
  double num = 0, den = 0;
  for (const auto& x : s) num += (x.t - mt) * (x.rss_mb - mr), den += (x.t - mt) * (x.t - mt);
  return den > 0 ? num / den * 60 : 0;
}

void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  LoadOptions o;
  po::options_description desc("warren-load: soak a running broker and watch its memory\nOptions");
  desc.add_options()("help,h", "show this help")
      ("endpoint,e", po::value(&o.endpoint)->default_value(o.endpoint), "the broker")
      ("connections,c", po::value(&o.connections)->default_value(o.connections), "connections")
      ("queues,q", po::value(&o.queues)->default_value(o.queues), "queues (transient), consumed round robin by the connections")
      ("in-flight,n", po::value(&o.in_flight)->default_value(o.in_flight), "messages kept in the broker (ready + unacked)")
      ("size,s", po::value(&o.size)->default_value(o.size), "body bytes")
      ("threads,t", po::value(&o.threads)->default_value(o.threads), "client threads")
      ("prefetch", po::value(&o.prefetch)->default_value(o.prefetch), "prefetch per consumer")
      ("duration,d", po::value(&o.duration_s)->default_value(o.duration_s), "seconds to run after setup")
      ("warmup", po::value(&o.warmup_s)->default_value(o.warmup_s), "seconds before the steady state counts")
      ("sample", po::value(&o.sample_s)->default_value(o.sample_s), "seconds between samples")
      ("churn", po::value(&o.churn)->default_value(o.churn), "connections closed and reopened per second")
      ("nack-every", po::value(&o.nack_every)->default_value(o.nack_every), "nack (requeue) 1 delivery in N; 0: never")
      ("get-every", po::value(&o.get_every)->default_value(o.get_every), "also basic.get after 1 delivery in N; 0: never")
      ("prefix", po::value(&o.prefix)->default_value(o.prefix), "queue name prefix")
      ("csv", po::value(&o.csv), "write the samples to this CSV file");
  po::variables_map vm;
  if (auto status = warren::perf::parse_command_line("warren-load", argc, argv, desc, vm)) return *status;
  if (o.connections < 1 || o.queues < o.connections || o.threads < 1 || o.threads > o.connections ||
      o.prefetch < 1 || o.prefetch > 65535 || o.sample_s <= 0 || o.duration_s <= 0 || o.churn < 0)
    return warren::perf::usage_error(
        "warren-load", "need connections >= 1, queues >= connections, 1 <= threads <= connections, "
                       "1 <= prefetch <= 65535, sample > 0, duration > 0, churn >= 0", desc);

  raise_fd_limit();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  zmq::context_t ctx;
  ctx.set(zmq::ctxopt::max_sockets, 2 * o.connections + 64);
  ctx.set(zmq::ctxopt::io_threads, 2);

  Counters counters;
  std::vector<std::unique_ptr<Worker>> workers;
  const auto setup_start = Clock::now();
  for (int t = 0; t < o.threads; ++t)
    workers.push_back(std::make_unique<Worker>(o, counters, ctx, t,
                                               o.in_flight / o.threads + (t == 0 ? o.in_flight % o.threads : 0)));
  // Open connections in parallel, one thread per worker (each Connection
  // then stays on its worker's thread).
  std::atomic<bool> go{false};
  std::atomic<int> opened{0};
  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&, wp = w.get()] {
      try {
        wp->open();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "warren-load: setup: %s\n", e.what());
        counters.errors.fetch_add(1);
        g_stop.store(true);
      }
      opened.fetch_add(1);
      wp->run(go);
    });
  while (opened.load() < o.threads) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::printf("setup: %d connections, %d queues in %.1f s; %llu messages in flight, %zu B each\n",
              o.connections, o.queues, std::chrono::duration<double>(Clock::now() - setup_start).count(),
              static_cast<unsigned long long>(o.in_flight), o.size);
  std::fflush(stdout);
  go.store(true);

  // The observer: its own connection, asking the broker for its overview.
  std::vector<Sample> samples;
  int status = 0;
  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    csv << "t_s,rss_mb,ready,unacked,connections,queues,publish_per_s,ack_per_s\n";
  }
  try {
    warren::Connection observer(o.endpoint, warren::ConnectionOptions{.context = &ctx});
    warren::Channel ch = observer.channel();
    const auto start = Clock::now();
    const auto sample_every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.sample_s));
    auto next = start + sample_every;
    std::uint64_t last_pub = 0, last_ack = 0;
    auto last_t = start;
    std::printf("%8s %9s %9s %9s %6s %7s %11s %11s\n", "t(s)", "rss(MB)", "ready", "unacked", "conns", "queues",
                "publish/s", "ack/s");
    while (!g_stop.load() && Clock::now() - start < std::chrono::duration<double>(o.duration_s)) {
      observer.run_for(std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max(Clock::duration::zero(), std::min<Clock::duration>(next - Clock::now(), std::chrono::milliseconds(100)))));
      if (Clock::now() < next) continue;
      next += sample_every;
      const auto rows = ch.management_query("overview");
      if (rows.empty()) throw std::runtime_error("empty overview");
      const auto now = Clock::now();
      const double dt = std::chrono::duration<double>(now - last_t).count();
      const std::uint64_t pub = counters.published.load(), ack = counters.acked.load();
      Sample s;
      s.t = std::chrono::duration<double>(now - start).count();
      s.rss_mb = static_cast<double>(number(rows[0], "memory_bytes")) / 1e6;
      s.ready = number(rows[0], "messages_ready");
      s.unacked = number(rows[0], "messages_unacked");
      s.connections = number(rows[0], "connections");
      s.queues = number(rows[0], "queues");
      s.publish_rate = static_cast<double>(pub - last_pub) / dt;
      s.ack_rate = static_cast<double>(ack - last_ack) / dt;
      last_pub = pub, last_ack = ack, last_t = now;
      samples.push_back(s);
      std::printf("%8.0f %9.1f %9lld %9lld %6lld %7lld %11.0f %11.0f\n", s.t, s.rss_mb,
                  static_cast<long long>(s.ready), static_cast<long long>(s.unacked),
                  static_cast<long long>(s.connections), static_cast<long long>(s.queues), s.publish_rate,
                  s.ack_rate);
      std::fflush(stdout);
      if (csv.is_open())
        csv << s.t << ',' << s.rss_mb << ',' << s.ready << ',' << s.unacked << ',' << s.connections << ','
            << s.queues << ',' << s.publish_rate << ',' << s.ack_rate << '\n';
    }
    g_stop.store(true);
    for (auto& t : threads) t.join();
    threads.clear();
    // Every message the loop published and did not ack is still in the
    // broker: ready, or unacked until the closes below requeue it.
    const std::uint64_t expected = counters.published.load() - counters.acked.load();
    for (auto& w : workers) w->close();
    std::uint64_t held = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      const auto rows = ch.management_query("overview");
      held = static_cast<std::uint64_t>(number(rows[0], "messages_ready") + number(rows[0], "messages_unacked"));
      if (held == expected && number(rows[0], "messages_unacked") == 0) break;
      observer.run_for(std::chrono::milliseconds(100));
    }
    std::vector<Sample> steady;
    for (const auto& s : samples)
      if (s.t >= o.warmup_s) steady.push_back(s);
    double lo = 0, hi = 0;
    for (std::size_t i = 0; i < steady.size(); ++i) {
      lo = i ? std::min(lo, steady[i].rss_mb) : steady[i].rss_mb;
      hi = i ? std::max(hi, steady[i].rss_mb) : steady[i].rss_mb;
    }
    std::printf(
        "summary: %llu published, %llu acked (%llu by basic.get), %llu nacked+requeued, %llu reconnects, %llu errors\n"
        "         broker RSS over the steady state (%zu samples after %.0f s): min %.1f MB, max %.1f MB, "
        "slope %+.2f MB/min\n"
        "         messages held at the end: %llu, expected %llu (%s)\n",
        static_cast<unsigned long long>(counters.published.load()),
        static_cast<unsigned long long>(counters.acked.load()), static_cast<unsigned long long>(counters.got.load()),
        static_cast<unsigned long long>(counters.nacked.load()),
        static_cast<unsigned long long>(counters.reconnects.load()),
        static_cast<unsigned long long>(counters.errors.load()), steady.size(), o.warmup_s, lo, hi,
        slope_mb_per_min(steady), static_cast<unsigned long long>(held), static_cast<unsigned long long>(expected),
        held == expected ? "none lost" : "MISMATCH");
    if (held != expected || counters.errors.load() > 0) status = 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warren-load: %s\n", e.what());
    g_stop.store(true);
    status = 1;
  }
  for (auto& t : threads) t.join();
  return status;
}
