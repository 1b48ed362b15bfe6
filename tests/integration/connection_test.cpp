// Connection lifecycle: handshake, heartbeats both ways, slow handlers,
// stop() from other threads, broker shutdown, inproc embedding.
#include <atomic>
#include <thread>

#include "support/broker_fixture.hpp"
#include <zmq_addon.hpp>

#include "warren/context.hpp"
#include "warren/protocol.hpp"

namespace warren::testing {
namespace {

class ConnectionTest : public BrokerTest {};

// A hand-driven client: sends exactly what the test says, nothing more.
class RawClient {
 public:
  explicit RawClient(const std::string& endpoint) : socket_(default_context(), zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 5000);
    socket_.connect(endpoint);
  }
  void send(std::uint16_t channel, const protocol::Method& m, std::optional<std::string> body = std::nullopt) {
    auto header = protocol::encode(channel, m);
    socket_.send(zmq::buffer(header), body ? zmq::send_flags::sndmore : zmq::send_flags::none);
    if (body) socket_.send(zmq::buffer(*body), zmq::send_flags::none);
  }
  // Next command that is not a heartbeat; nullopt on timeout.
  std::optional<protocol::Command> receive() {
    for (;;) {
      zmq::message_t header;
      if (!socket_.recv(header)) return std::nullopt;
      while (header.more()) {
        zmq::message_t part;
        (void)socket_.recv(part);
        if (!part.more()) break;
      }
      last_ = header.to_string();
      auto cmd = protocol::decode(last_);
      if (!std::holds_alternative<protocol::Heartbeat>(cmd.method)) return cmd;
    }
  }

 private:
  zmq::socket_t socket_;
  std::string last_;
};

TEST_F(ConnectionTest, HandshakeNegotiatesHeartbeatAndLimits) {
  BrokerOptions o = quiet_broker();
  o.heartbeat = 2000ms;
  o.max_channels = 16;
  start_broker(o);
  auto a = connect({.heartbeat = 500ms});
  EXPECT_EQ(a.heartbeat(), 500ms) << "the smaller proposal wins";
  EXPECT_EQ(a.max_channels(), 16u);
  auto b = connect({.heartbeat = 0ms});
  EXPECT_EQ(b.heartbeat(), 2000ms) << "0 from one side takes the other's";
  EXPECT_EQ(a.server_properties().at("product"), FieldValue("warren"));
  std::vector<Channel> channels;
  for (int i = 0; i < 16; ++i) channels.push_back(a.channel());
  expect_refused<ConnectionError>([&] { a.channel(); }, ReplyCode::kResourceError);
}

TEST_F(ConnectionTest, WrongProtocolVersionIsRefusedWith540) {
  zmq::socket_t raw(default_context(), zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::rcvtimeo, 5000);
  raw.connect(endpoint());
  // version 2, opcode connection.open, channel 0, fields [0, 0, 0, {}]
  const unsigned char frame[] = {0x02, 0x10, 0x00, 0x94, 0x00, 0x00, 0x00, 0x80};
  raw.send(zmq::buffer(frame, sizeof frame));
  zmq::message_t reply;
  ASSERT_TRUE(raw.recv(reply));
  auto cmd = protocol::decode(reply.to_string_view());
  auto* close = std::get_if<protocol::ConnectionClose>(&cmd.method);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->reply_code, 540);
  EXPECT_NE(close->reply_text.find("version 2"), std::string::npos) << close->reply_text;
}

TEST_F(ConnectionTest, NoBrokerMeansAClearErrorNotAHang) {
  expect_refused<ConnectionError>(
      [] { Connection c("tcp://127.0.0.1:1", {.connect_timeout = 200ms}); }, ReplyCode::kConnectionForced);
}

TEST_F(ConnectionTest, BrokerDeclaresASilentClientDeadAndRequeuesItsMessages) {
  auto observer = connect();
  auto och = observer.channel();
  och.queue_declare("tasks");
  och.basic_publish("", "tasks", "job");
  ASSERT_EQ(och.queue_declare("tasks").message_count, 1u);  // a round trip: the publish is in

  RawClient silent(endpoint());
  silent.send(0, protocol::ConnectionOpen{100, 0, 0, {}});
  auto ok = silent.receive();
  ASSERT_TRUE(ok && std::holds_alternative<protocol::ConnectionOpenOk>(ok->method));
  silent.send(1, protocol::ChannelOpen{});
  ASSERT_TRUE(silent.receive());
  silent.send(1, protocol::QueueDeclare{"", false, false, true, false, {}});
  auto declared = silent.receive();
  ASSERT_TRUE(declared);
  auto exclusive = std::get<protocol::QueueDeclareOk>(declared->method).queue;
  silent.send(1, protocol::BasicGet{"tasks", false});
  auto got = silent.receive();
  ASSERT_TRUE(got);
  ASSERT_TRUE(std::holds_alternative<protocol::BasicGetOk>(got->method)) << protocol::name_of(protocol::opcode_of(got->method));
  // Now it says nothing more: after 3 x 100 ms the broker gives up on it.
  ASSERT_TRUE(wait_until([&] {
    auto ch = observer.channel();
    auto m = ch.basic_get("tasks", true);
    return m && m->body == "job" && m->redelivered;
  }));
  auto ch = observer.channel();
  expect_refused<ChannelError>([&] { ch.queue_declare(exclusive, {.passive = true}); }, ReplyCode::kNotFound);
}

TEST_F(ConnectionTest, SlowHandlerDoesNotGetTheConnectionDeclaredDead) {
  BrokerOptions o = quiet_broker();
  o.heartbeat = 100ms;
  start_broker(o);
  auto conn = connect({.heartbeat = 100ms});
  auto ch = conn.channel();
  ch.queue_declare("slow");
  ch.basic_qos(1);
  int handled = 0;
  ch.basic_consume("slow", [&](const Message& m) {
    // The handler itself is the behaviour under test: ten heartbeat
    // intervals of work, during which only the heartbeat thread can speak.
    std::this_thread::sleep_for(1000ms);
    ch.basic_ack(m.delivery_tag);
    ++handled;
  });
  auto producer = connect();
  auto pch = producer.channel();
  pch.basic_publish("", "slow", "long job");
  ASSERT_TRUE(pump_until(conn, [&] { return handled == 1; }));
  EXPECT_TRUE(conn.is_open());
  // Not requeued behind our back: the ack was accepted and the queue is empty.
  EXPECT_EQ(pch.queue_declare("slow").message_count, 0u);
  EXPECT_EQ(ch.queue_declare("slow").consumer_count, 1u);
}

TEST_F(ConnectionTest, ClientDetectsASilentBroker) {
  // A fake broker: answers connection.open, then never speaks again.
  zmq::socket_t fake(default_context(), zmq::socket_type::router);
  fake.set(zmq::sockopt::linger, 0);
  fake.bind("tcp://127.0.0.1:*");
  std::string where = fake.get(zmq::sockopt::last_endpoint);
  std::thread server([&] {
    std::vector<zmq::message_t> frames;
    (void)zmq::recv_multipart(fake, std::back_inserter(frames));
    auto reply = protocol::encode(0, protocol::ConnectionOpenOk{100, 1 << 20, 8, {}});
    fake.send(frames[0], zmq::send_flags::sndmore);
    fake.send(zmq::buffer(reply));
  });
  Connection conn(where, {.heartbeat = 100ms});
  server.join();
  auto start = std::chrono::steady_clock::now();
  expect_refused<ConnectionError>([&] { conn.run_for(5000ms); }, ReplyCode::kConnectionForced);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4000ms);
  EXPECT_FALSE(conn.is_open());
}

TEST_F(ConnectionTest, StopFromAnotherThreadEndsRun) {
  auto conn = connect();
  std::atomic<bool> returned{false};
  std::thread stopper([&] {
    // Keep asking until run() has returned; stop() is safe at any moment.
    while (!returned) {
      conn.stop();
      std::this_thread::sleep_for(1ms);
    }
  });
  conn.run();
  returned = true;
  stopper.join();
  EXPECT_TRUE(conn.is_open());
}

TEST_F(ConnectionTest, StopFromACallbackEndsRun) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("stopper");
  ch.basic_publish("", "stopper", "x");
  int got = 0;
  ch.basic_consume("stopper", [&](const Message&) { ++got; conn.stop(); }, {.auto_ack = true});
  conn.run();
  EXPECT_EQ(got, 1);
}

TEST_F(ConnectionTest, BrokerShutdownClosesClientsWith320) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("q");
  broker_->stop();
  broker_->join();
  expect_refused<ConnectionError>([&] { conn.run_for(5000ms); }, ReplyCode::kConnectionForced);
  expect_refused<ConnectionError>([&] { ch.queue_declare("q"); }, ReplyCode::kConnectionForced);
}

TEST_F(ConnectionTest, ClosedConnectionRefusesFurtherUse) {
  auto conn = connect();
  auto ch = conn.channel();
  conn.close();
  conn.close();  // idempotent
  EXPECT_FALSE(conn.is_open());
  EXPECT_FALSE(ch.is_open());
  EXPECT_THROW(ch.queue_declare("x"), ConnectionError);
  EXPECT_THROW(conn.channel(), ConnectionError);
}

TEST(EmbeddedBroker, InprocBrokerInTheSameProcess) {
  Broker broker(quiet_broker("inproc://embedded-test"));
  broker.start();
  Connection conn(broker.endpoint());
  auto ch = conn.channel();
  ch.queue_declare("in");
  ch.basic_publish("", "in", "proc");
  auto m = ch.basic_get("in", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "proc");
  EXPECT_EQ(broker.stats().connections, 1u);
  EXPECT_EQ(broker.stats().published, 1u);
}

TEST(EmbeddedBroker, IpcEndpoint) {
  std::string path = "ipc:///tmp/warren-test-" + std::to_string(::getpid()) + ".sock";
  Broker broker(quiet_broker(path));
  broker.start();
  Connection conn(broker.endpoint());
  auto ch = conn.channel();
  EXPECT_EQ(ch.queue_declare("ipc").queue, "ipc");
}

TEST(EmbeddedBroker, BindingATakenEndpointThrows) {
  Broker first(quiet_broker());
  EXPECT_THROW(Broker second(quiet_broker(first.endpoint())), std::runtime_error);
}

TEST(EmbeddedBroker, StopsCleanlyWhetherRunningOrNot) {
  { Broker never_started(quiet_broker()); }
  Broker broker(quiet_broker());
  broker.start();
  broker.stop();
  broker.join();
}

}  // namespace
}  // namespace warren::testing
