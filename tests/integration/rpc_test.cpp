// RPC: RpcServer and RpcClient over both reply modes; many concurrent calls,
// timeouts, error replies, late replies, and direct reply-to's rules.
#include <atomic>
#include <thread>

#include "support/broker_fixture.hpp"
#include "warren/rpc.hpp"

namespace warren::testing {
namespace {

// A server on its own connection and thread, answering "<body>!" after
// `delay`, or an error reply for a body of "fail".
class ServerThread {
 public:
  ServerThread(const std::string& endpoint, std::chrono::milliseconds delay = 0ms) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, endpoint, delay, &ready] {
      Connection conn(endpoint);
      auto ch = conn.channel();
      RpcServer server(ch, "rpc_queue", [delay](const Message& m) {
        if (m.body == "fail") throw std::runtime_error("asked to fail");
        std::this_thread::sleep_for(delay);  // the work being simulated
        return RpcReply{m.body + "!"};
      }, {.prefetch = 10});
      {
        std::lock_guard<std::mutex> lk(mu_);
        conn_ = &conn;
      }
      ready.set_value();
      conn.run();
      handled_ = server.handled();
      std::lock_guard<std::mutex> lk(mu_);
      conn_ = nullptr;
    });
    started.wait();
  }
  ~ServerThread() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (conn_) conn_->stop();
    }
    thread_.join();
  }
  std::uint64_t handled() const { return handled_; }

 private:
  std::thread thread_;
  std::mutex mu_;
  Connection* conn_ = nullptr;
  std::atomic<std::uint64_t> handled_{0};
};

class RpcTest : public BrokerTest, public ::testing::WithParamInterface<bool> {
 protected:
  RpcClientOptions client_options() { return {.direct_reply_to = GetParam()}; }
};

TEST_P(RpcTest, ThousandConcurrentCallsFromFourClientsToTwoServers) {
  ServerThread a(endpoint()), b(endpoint());
  std::vector<std::unique_ptr<RpcClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<RpcClient>(endpoint(), client_options()));
  std::vector<std::pair<std::string, std::future<Message>>> calls;
  for (int i = 0; i < 1000; ++i) {
    std::string body = "call-" + std::to_string(i);
    calls.emplace_back(body, clients[i % 4]->call("rpc_queue", body, 10s));
  }
  for (auto& [body, reply] : calls) EXPECT_EQ(reply.get().body, body + "!");
  for (auto& c : clients) EXPECT_EQ(c->dropped_replies(), 0u);
}

TEST_P(RpcTest, ErrorReplyCarriesTheServerTextAndTheServerStaysUp) {
  ServerThread server(endpoint());
  RpcClient client(endpoint(), client_options());
  auto bad = client.call("rpc_queue", "fail", 5s);
  try {
    bad.get();
    FAIL() << "expected RpcError";
  } catch (const RpcError& e) {
    EXPECT_EQ(e.text(), "asked to fail");
  }
  EXPECT_EQ(client.call("rpc_queue", "ok", 5s).get().body, "ok!");
}

TEST_P(RpcTest, NoServerTimesOutCleanly) {
  RpcClient client(endpoint(), client_options());
  {
    auto conn = connect();
    conn.channel().queue_declare("rpc_queue");  // a queue nobody serves
  }
  auto start = std::chrono::steady_clock::now();
  auto reply = client.call("rpc_queue", "anyone?", 200ms);
  EXPECT_THROW(reply.get(), TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_P(RpcTest, LateReplyIsDroppedAndCounted) {
  RpcClient client(endpoint(), client_options());
  ServerThread slow(endpoint(), 300ms);
  auto reply = client.call("rpc_queue", "slow", 50ms);
  EXPECT_THROW(reply.get(), TimeoutError);
  ASSERT_TRUE(wait_until([&] { return client.dropped_replies() == 1; }));
}

INSTANTIATE_TEST_SUITE_P(ReplyModes, RpcTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "DirectReplyTo" : "ReplyQueue"; });

class DirectReplyToTest : public BrokerTest {};

TEST_F(DirectReplyToTest, ReplyConsumerMustBeNoAck) {
  auto conn = connect();
  auto ch = conn.channel();
  expect_refused<ChannelError>([&] { ch.basic_consume(kDirectReplyTo, [](const Message&) {}); },
                               ReplyCode::kPreconditionFailed);
}

TEST_F(DirectReplyToTest, RequestWithoutAReplyConsumerIs406) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("rpc_queue");
  Properties p;
  p.reply_to = kDirectReplyTo;
  ch.basic_publish("", "rpc_queue", "x", p);
  expect_refused<ChannelError>([&] { ch.queue_declare("rpc_queue"); }, ReplyCode::kPreconditionFailed);
}

TEST_F(DirectReplyToTest, ReplyGoesStraightBackAndNoQueueIsDeclared) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("requests");
  std::optional<Message> reply;
  ch.basic_consume(kDirectReplyTo, [&](const Message& m) { reply = m; }, {.auto_ack = true});
  Properties p;
  p.reply_to = kDirectReplyTo;
  p.correlation_id = "c1";
  ch.basic_publish("", "requests", "question", p);
  auto request = ch.basic_get("requests", true);
  ASSERT_TRUE(request);
  ASSERT_TRUE(request->properties.reply_to);
  EXPECT_TRUE(request->properties.reply_to->starts_with(std::string(kDirectReplyTo) + "."));
  auto server = connect();
  Properties rp;
  rp.correlation_id = "c1";
  server.channel().basic_publish("", *request->properties.reply_to, "answer", rp);
  ASSERT_TRUE(pump_until(conn, [&] { return reply.has_value(); }));
  EXPECT_EQ(reply->body, "answer");
  EXPECT_EQ(reply->properties.correlation_id, "c1");
  EXPECT_EQ(broker_->stats().queues, 1u) << "only 'requests'";
  EXPECT_EQ(broker_->stats().published, 2u) << "the request and the reply, each once";
}

}  // namespace
}  // namespace warren::testing
