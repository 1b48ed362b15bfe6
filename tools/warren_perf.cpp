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
// The scenario flags, the run's supervision and the report are shared with
// amqp-perf (bench/compare), which runs the same scenarios against RabbitMQ:
// see perf_scenario.hpp. --size takes one size or a range MIN-MAX.
//
// A run ends when every published message has been received (--count, or
// --time followed by a drain), when nothing moved for --stall-timeout
// seconds, on an error, or on a second Ctrl-C. The exit status is 1 when
// messages were lost or a worker failed, 2 on a usage error.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <deque>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "perf_report.hpp"
#include "perf_scenario.hpp"
#include "warren/broker.hpp"
#include "warren/warren.hpp"

using warren::perf::Clock;
using warren::perf::ReadyGuard;
using warren::perf::Run;
using PerfOptions = warren::perf::ScenarioOptions;
using warren::perf::queue_name;

namespace {

constexpr const char* kProgram = "warren-perf";

// Every connection of the run uses these (set once in main, before workers start).
warren::CurveClientOptions g_curve;
std::chrono::microseconds g_publish_linger{200};

warren::ConnectionOptions connection_options() { return {.curve = g_curve, .publish_linger = g_publish_linger}; }
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
  try {
    warren::Connection connection(run.endpoint, connection_options());
    auto channel = connection.channel();
    warren::perf::Bodies bodies(o, id);
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
      warren::perf::pace(o, start, n);
      if (o.confirm > 0) channel.wait_for_confirm_window(o.confirm);
      channel.basic_publish(o.exchange, o.routing_key, bodies.next(), properties);
      counter.store(++n, std::memory_order_relaxed);
    }
    // With confirms, sending is over when the broker has taken the last one.
    if (o.confirm > 0 && !channel.wait_for_confirms(std::chrono::seconds(60)))
      throw std::runtime_error("the broker nacked messages");
    run.record_last_send(Clock::now());
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
  std::uint64_t bytes = 0;
  try {
    warren::Connection connection(run.endpoint, connection_options());
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
      bytes += m.body.size();
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
    for (const auto& queue : warren::perf::queues_of(o, id))
      channel.basic_consume(queue, on_message, {.auto_ack = !o.manual_ack});
    ready.arrive();
    while (!run.finish.load()) connection.run_for(std::chrono::milliseconds(50));
    if (since_ack > 0) channel.basic_ack(last_tag, true);
  } catch (const std::exception& e) {
    run.fail("consumer " + std::to_string(id), e);
  }
  run.record_receives(latency, bytes, last_receive);
}

// An RPC server: echoes each request's body (and so its send timestamp).
void rpc_server(Run& run, int id) {
  const auto& o = run.options;
  ReadyGuard ready(run.ready);
  try {
    warren::Connection connection(run.endpoint, connection_options());
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
  std::uint64_t bytes = 0;
  try {
    warren::RpcClient client(run.endpoint, {.connection = connection_options(), .direct_reply_to = !o.reply_queue});
    const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(o.stall_timeout));
    warren::perf::Bodies bodies(o, id);
    // Not timed: the path is connected and a server consumes.
    client.call(o.queue, std::string(bodies.next()), timeout).get();
    ready.arrive();
    run.go.wait();
    std::deque<std::future<warren::Message>> in_flight;
    std::uint64_t n = 0;
    std::uint64_t replies = 0;
    std::int64_t last_send = 0;
    for (;;) {
      bool more = (o.count == 0 || n < o.count) && !run.stop_producing.load();
      if (more && in_flight.size() < o.concurrency) {
        auto body = bodies.next();
        last_send = warren::perf::read_stamp(body.data());
        in_flight.push_back(client.call(o.queue, std::string(body), timeout));
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
      bytes += reply.body.size();
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
// before any worker starts, so no message published by this run is dropped
// as unroutable and none of an earlier run is counted. A connection of its
// own, closed at once: an idle connection nobody pumps would not see the
// broker's heartbeats.
void prepare(const std::string& endpoint, const PerfOptions& o) {
  warren::Connection connection(endpoint, connection_options());
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
  warren::Connection connection(endpoint, {.connect_timeout = std::chrono::seconds(2), .curve = g_curve});
  auto channel = connection.channel();
  const auto start = Clock::now();
  for (int i = 0; i < o.queues; ++i) channel.queue_delete(queue_name(o, i));
  if (!o.exchange.empty()) channel.exchange_delete(o.exchange);
  if (o.bindings > 0)
    std::fprintf(stderr, "warren-perf: deleted the queue(s) and the exchange in %.2f s\n",
                 std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const warren::perf::ToolInfo tool{
      .program = kProgram,
      .title = "warren-perf: throughput and latency of a warren broker (after RabbitMQ's PerfTest)",
      .default_endpoint = "tcp://127.0.0.1:5673",
      .embedded_broker = true};
  auto parsed = warren::perf::parse_scenario(tool, argc, argv, exit_code);
  if (!parsed) return exit_code;
  const PerfOptions& o = *parsed;
  g_publish_linger = std::chrono::microseconds(o.publish_linger_us);

  // An embedded broker gets its own ZeroMQ context (and so its own I/O
  // thread), as it would have in its own process.
  std::unique_ptr<zmq::context_t> broker_context;
  std::unique_ptr<warren::Broker> broker;
  std::string endpoint = o.endpoint;
  std::string keys_dir;  // --embedded --curve: a scratch keys directory, removed at exit
  struct RemoveKeys {
    std::string& dir;
    ~RemoveKeys() {
      if (!dir.empty()) std::filesystem::remove_all(dir);
    }
  } remove_keys{keys_dir};
  try {
    if (!o.curve_key.empty()) g_curve = warren::CurveClientOptions::from_files(o.curve_server_key, o.curve_key);
    std::string server_secret;
    if (o.curve) {
      auto server = warren::generate_curve_key_pair();
      g_curve = {server.public_key, warren::generate_curve_key_pair()};
      server_secret = server.secret_key;
      char dir_template[] = "/tmp/warren-perf-keys-XXXXXX";
      if (!::mkdtemp(dir_template)) throw std::runtime_error("cannot create a keys directory in /tmp");
      keys_dir = dir_template;
      warren::KeysDirectory(keys_dir).add(g_curve.client.public_key, "perf");
    }
    if (o.embedded) {
      broker_context = std::make_unique<zmq::context_t>(1);
      broker = std::make_unique<warren::Broker>(
          warren::BrokerOptions{.endpoint = "tcp://127.0.0.1:*",
                                .data_dir = o.data_dir,
                                .curve_secret_key = server_secret,
                                .keys_dir = keys_dir,
                                .log_level = warren::LogLevel::kWarning,
                                .context = broker_context.get()});
      broker->start();
      endpoint = broker->endpoint();
    }
  } catch (const std::exception& e) {
    std::cerr << "warren-perf: cannot start the embedded broker (or load the CURVE keys): " << e.what() << "\n";
    return 1;
  }

  auto summary = warren::perf::describe(
      o, kProgram, std::string(o.embedded ? "warren-embedded" : "warren") + (g_curve.enabled() ? "-curve" : ""),
      endpoint);

  try {
    prepare(endpoint, o);
  } catch (const std::exception& e) {
    std::cerr << "warren-perf: cannot prepare queue '" << queue_name(o, 0) << "'"
              << (o.exchange.empty() ? "" : " or exchange '" + o.exchange + "'") << " on "
              << endpoint << ": " << e.what() << "\n";
    return 1;
  }

  std::signal(SIGINT, warren::perf::on_interrupt_signal);
  std::signal(SIGTERM, warren::perf::on_interrupt_signal);

  warren::perf::run_scenario(kProgram, o, endpoint, o.rpc ? rpc_server : consumer,
                             o.rpc ? rpc_client : producer, summary);

  try {
    if (!o.keep_queue) clean_up(endpoint, o);
  } catch (const std::exception& e) {
    summary.errors.push_back(std::string("deleting the queue(s): ") + e.what());
  }
  if (broker) {
    broker->stop();
    broker->join();
  }
  return warren::perf::report(kProgram, o, summary);
}
