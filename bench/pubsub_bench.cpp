// pubsub-bench: one publisher -> forwarder -> one subscriber, through the
// warren API (Publisher -> warren::Forwarder -> Subscriber) and, in the same
// run, through a bare ZeroMQ XSUB/XPUB zmq::proxy with raw PUB/SUB sockets
// moving the same three frames (channel, 17-byte header, body).
//
// The publisher sends at full speed; every high-water mark is 2 x --count, so
// nothing should be lost; the report says how many were if some were.
// Throughput is what the subscriber received divided by the time from the
// first send to the last receive. Each scenario runs --runs times; the
// summary prints the median. The forwarders run on their own ZeroMQ context
// (their own I/O thread), as in a separate process.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

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
};

struct Result {
  std::uint64_t received = 0;
  double seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(received) / seconds : 0; }
};

// The shared shape of both scenarios: `warm` publishes one warm-up message,
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
Result drive(Run& run, const Options& o, Warm warm, Send send) {
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

Result run_warren(const Options& o, std::size_t size) {
  zmq::context_t forwarder_context(1);
  const int hwm = static_cast<int>(2 * o.count);  // room for every message, with slack
  warren::Forwarder forwarder(
      {.rcvhwm = hwm, .sndhwm = hwm, .context = &forwarder_context});
  forwarder.start();
  warren::Publisher publisher(forwarder.frontend_endpoint(), {.sndhwm = hwm});
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
  Result r;
  try {
    r = drive(run, o, [&] { publisher.publish(kChannel, "w"); },
              [&] { publisher.publish(kChannel, body); });
  } catch (...) {
    run.stop.store(true);
    receiver.join();
    throw;
  }
  receiver.join();
  return r;
}

// XSUB/XPUB zmq::proxy on its own thread and context; stopped through its
// control socket.
Result run_zmq_proxy(const Options& o, std::size_t size) {
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
  Result r;
  try {
    r = drive(run, o, [&] { send("w"); }, [&] { send(body); });
  } catch (...) {
    run.stop.store(true);
  }
  receiver.join();
  zmq::socket_t stopper(proxy_context, zmq::socket_type::pair);
  stopper.connect("inproc://pubsub-bench-control");
  stopper.send(zmq::str_buffer("TERMINATE"));
  proxy.join();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  Options o;
  std::string sizes = "100,1024";
  po::options_description desc("pubsub-bench: warren pub/sub beside a bare XSUB/XPUB proxy\n\nOptions");
  desc.add_options()
      ("help,h", "show this help and exit")
      ("count,C", po::value(&o.count)->default_value(o.count), "messages per run")
      ("sizes,s", po::value(&sizes)->default_value(sizes), "body sizes, comma-separated")
      ("runs,r", po::value(&o.runs)->default_value(o.runs), "runs per scenario (the median is reported)");
  po::variables_map vm;
  if (auto code = warren::perf::parse_command_line("pubsub-bench", argc, argv, desc, vm)) return *code;
  o.sizes.clear();
  for (std::size_t start = 0; start <= sizes.size();) {
    auto comma = sizes.find(',', start);
    if (comma == std::string::npos) comma = sizes.size();
    o.sizes.push_back(std::stoul(sizes.substr(start, comma - start)));
    start = comma + 1;
  }

  std::printf("%-10s %7s %4s %12s %10s %10s\n", "scenario", "size", "run", "msg/s", "MB/s", "lost");
  struct Row {
    std::string scenario;
    std::size_t size;
    double median;
  };
  std::vector<Row> rows;
  for (auto size : o.sizes) {
    for (const char* scenario : {"warren", "zmq-proxy"}) {
      std::vector<double> rates;
      for (int i = 0; i < o.runs; ++i) {
        Result r = std::string(scenario) == "warren" ? run_warren(o, size) : run_zmq_proxy(o, size);
        rates.push_back(r.rate());
        std::printf("%-10s %7zu %4d %12.0f %10.1f %10llu\n", scenario, size, i + 1, r.rate(),
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
  std::printf("%-10s %7s %12s %10s\n", "scenario", "size", "msg/s", "warren/zmq");
  for (std::size_t i = 0; i + 1 < rows.size(); i += 2)
    for (int k = 0; k < 2; ++k)
      std::printf("%-10s %7zu %12.0f %10s\n", rows[i + k].scenario.c_str(), rows[i + k].size,
                  rows[i + k].median,
                  k == 0 ? std::to_string(rows[i].median / rows[i + 1].median).substr(0, 4).c_str() : "");
  return 0;
}
