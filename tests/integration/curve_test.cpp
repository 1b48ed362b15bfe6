// CURVE on the broker and the forwarder: only accepted keys get in, as their
// user; everything else is refused quickly with 403, never a hang; unknown
// keys are recorded as pending and admitted once accepted, with no restart.
#include <atomic>
#include <chrono>

#include <zmq.hpp>

#include <gtest/gtest.h>

#include "support/broker_fixture.hpp"
#include "support/temp_dir.hpp"
#include "warren/forwarder.hpp"
#include "warren/pubsub.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

class CurveTest : public BrokerTest {
 protected:
  void SetUp() override {
    if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
    auto o = quiet_broker();
    o.curve_secret_key = server_.secret_key;
    o.keys_dir = keys_.path();
    start_broker(o);
  }
  CurveClientOptions client(const CurveKeyPair& keys) const { return {server_.public_key, keys}; }
  // Connects with `curve`; returns the error, or nullopt when it connected.
  std::optional<ConnectionError> refusal(const CurveClientOptions& curve, std::chrono::milliseconds* took = nullptr) {
    auto start = std::chrono::steady_clock::now();
    try {
      // A long timeout: a refusal must come from the handshake, not from it.
      Connection conn(endpoint(), {.connect_timeout = 20s, .curve = curve});
    } catch (const ConnectionError& e) {
      if (took) *took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      return e;
    }
    return std::nullopt;
  }
  std::string user_of_connections(Channel& ch) {
    std::string users;
    for (auto& row : ch.management_query("connections")) users += row.at("user").as<std::string>() + ";";
    return users;
  }

  TempDir dir_;
  KeysDirectory keys_{(dir_.path / "keys").string()};
  CurveKeyPair server_ = generate_curve_key_pair();
};

TEST_F(CurveTest, AcceptedKeyConnectsWorksAndActsAsItsUser) {
  auto alice = generate_curve_key_pair();
  keys_.add(alice.public_key, "alice");
  Connection conn = connect({.curve = client(alice)});
  auto ch = conn.channel();
  ch.queue_declare("secrets");
  ch.basic_publish("", "secrets", "encrypted on the wire");
  std::optional<Message> got;
  ASSERT_TRUE(pump_until(conn, [&] { return (got = ch.basic_get("secrets", true)).has_value(); }));
  EXPECT_EQ(got->body, "encrypted on the wire");
  EXPECT_EQ(user_of_connections(ch), "alice;");
}

TEST_F(CurveTest, UnknownKeyIsRefusedAtOnceAndRecordedPending) {
  auto stranger = generate_curve_key_pair();
  std::chrono::milliseconds took{};
  auto e = refusal(client(stranger), &took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ReplyCode::kAccessRefused);
  EXPECT_NE(std::string(e->what()).find("403 ACCESS_REFUSED"), std::string::npos) << e->what();
  EXPECT_NE(e->text().find("ZAP status 400"), std::string::npos) << e->text();
  EXPECT_LT(took, 10s);  // the handshake failure, not the 20 s connect timeout
  auto pending = keys_.list(KeyState::kPending);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].public_key, stranger.public_key);
  EXPECT_EQ(pending[0].name, curve_fingerprint(stranger.public_key));
  EXPECT_EQ(pending[0].fields["peer-address"], "127.0.0.1");
  EXPECT_EQ(broker_->stats().connections, 0u);
}

TEST_F(CurveTest, AcceptingAPendingKeyAdmitsItWithoutARestart) {
  auto bob = generate_curve_key_pair();
  ASSERT_TRUE(refusal(client(bob)));
  keys_.accept(curve_fingerprint(bob.public_key), "bob");
  Connection conn = connect({.curve = client(bob)});
  auto ch = conn.channel();
  EXPECT_EQ(user_of_connections(ch), "bob;");
  // Rejecting it refuses the next connection; the open one is not re-checked.
  keys_.reject("bob");
  auto e = refusal(client(bob));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ReplyCode::kAccessRefused);
  EXPECT_NO_THROW(ch.queue_declare("still-open"));
  EXPECT_TRUE(keys_.list(KeyState::kPending).empty());  // a rejected key is not pending again
}

// The whole chain: an accepted key's file name is the user permissions are
// checked against, and the user a message's user_id must name.
TEST_F(CurveTest, PermissionsApplyToTheUserTheKeyMapsTo) {
  auto admin = generate_curve_key_pair(), bob = generate_curve_key_pair();
  keys_.add(admin.public_key, "admin");
  keys_.add(bob.public_key, "bob");
  Connection root = connect({.curve = client(admin)});
  auto rc = root.channel();
  rc.management_command("add_user", {{"name", "admin"}, {"tags", FieldArray{"administrator"}}});
  rc.management_command("set_permissions", {{"user", "admin"}, {"configure", ".*"}, {"write", ".*"}, {"read", ".*"}});
  rc.management_command("add_user", {{"name", "bob"}});
  rc.management_command("set_permissions",
                        {{"user", "bob"}, {"configure", "^bob\\."}, {"write", "^(bob\\..*|amq\\.default)$"}, {"read", "^bob\\."}});
  rc.exchange_declare("admin.x", "fanout");

  Connection conn = connect({.curve = client(bob)});
  auto ch = conn.channel();
  ch.queue_declare("bob.q");  // his own: allowed
  Properties own;
  own.user_id = "bob";
  ch.basic_publish("", "bob.q", "mine", own);
  auto got = ch.basic_get("bob.q", true);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->properties.user_id, "bob");
  expect_refused<ChannelError>([&] { conn.channel().queue_declare("admin.q"); }, ReplyCode::kAccessRefused);
  expect_refused<ChannelError>(
      [&] {
        auto c = conn.channel();
        c.basic_publish("admin.x", "", "not his");
        c.queue_declare("bob.q", {.passive = true});  // the refusal arrives before this answer
      },
      ReplyCode::kAccessRefused);
  expect_refused<ChannelError>(
      [&] {
        auto c = conn.channel();
        Properties spoofed;
        spoofed.user_id = "admin";
        c.basic_publish("", "bob.q", "spoofed", spoofed);
        c.queue_declare("bob.q", {.passive = true});
      },
      ReplyCode::kPreconditionFailed);
}

TEST_F(CurveTest, WrongServerKeyIsRefused) {
  auto carol = generate_curve_key_pair();
  keys_.add(carol.public_key, "carol");
  CurveClientOptions wrong{generate_curve_key_pair().public_key, carol};
  std::chrono::milliseconds took{};
  auto e = refusal(wrong, &took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ReplyCode::kAccessRefused);
  EXPECT_NE(e->text().find("wrong server public key"), std::string::npos) << e->text();
  EXPECT_LT(took, 10s);
}

TEST_F(CurveTest, PlaintextClientIsRefused) {
  std::chrono::milliseconds took{};
  auto e = refusal({}, &took);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ReplyCode::kAccessRefused);
  EXPECT_NE(e->text().find("requires CURVE"), std::string::npos) << e->text();
  EXPECT_LT(took, 10s);
}

TEST_F(CurveTest, MalformedClientKeysAreRefusedBeforeConnecting) {
  CurveClientOptions bad{server_.public_key, {"short", "keys"}};
  auto e = refusal(bad);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ReplyCode::kPreconditionFailed);
}

TEST(CurveBroker, CurveClientToAPlaintextBrokerIsRefused) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  Broker broker(quiet_broker());
  broker.start();
  CurveClientOptions curve{generate_curve_key_pair().public_key, generate_curve_key_pair()};
  try {
    Connection conn(broker.endpoint(), {.connect_timeout = 20s, .curve = curve});
    FAIL() << "connected";
  } catch (const ConnectionError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kAccessRefused);
    EXPECT_NE(e.text().find("does not use CURVE"), std::string::npos) << e.text();
  }
}

TEST(CurveBroker, BadServerOptionsFailClearly) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  TempDir dir;
  auto o = quiet_broker();
  o.curve_secret_key = "not a key";
  o.keys_dir = dir.path.string();
  try {
    Broker b(o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("secret key"), std::string::npos) << e.what();
  }
  o.curve_secret_key = generate_curve_key_pair().secret_key;
  o.keys_dir.clear();
  try {
    Broker b(o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("keys directory"), std::string::npos) << e.what();
  }
}

// Two CURVE brokers and their clients on one ZeroMQ context share its one
// ZAP handler, yet each admits only the keys of its own directory.
TEST(CurveBroker, BrokersSharingAContextKeepTheirOwnKeys) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  zmq::context_t context;
  TempDir dir;
  KeysDirectory keys_a((dir.path / "a").string()), keys_b((dir.path / "b").string());
  auto server_a = generate_curve_key_pair(), server_b = generate_curve_key_pair();
  auto make = [&](const CurveKeyPair& server, const KeysDirectory& keys) {
    auto o = quiet_broker();
    o.curve_secret_key = server.secret_key;
    o.keys_dir = keys.path();
    o.context = &context;
    auto b = std::make_unique<Broker>(o);
    b->start();
    return b;
  };
  auto a = make(server_a, keys_a);
  auto b = make(server_b, keys_b);
  auto client = generate_curve_key_pair();
  keys_a.add(client.public_key, "only-a");
  auto options = [&](const CurveKeyPair& server) {
    return ConnectionOptions{.connect_timeout = 20s, .context = &context, .curve = {server.public_key, client}};
  };
  {
    Connection ok(a->endpoint(), options(server_a));
    EXPECT_TRUE(ok.is_open());
  }
  EXPECT_THROW(Connection(b->endpoint(), options(server_b)), ConnectionError);
  EXPECT_EQ(keys_b.list(KeyState::kPending).size(), 1u);
  EXPECT_TRUE(keys_a.list(KeyState::kPending).empty());
  // The handler outlives one broker and serves the other.
  a.reset();
  keys_b.accept(curve_fingerprint(client.public_key), "now-b");
  Connection ok_b(b->endpoint(), options(server_b));
  EXPECT_TRUE(ok_b.is_open());
}

TEST(CurveForwarder, OnlyAcceptedPublishersAndSubscribersGetThrough) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  TempDir dir;
  KeysDirectory keys((dir.path / "keys").string());
  auto server = generate_curve_key_pair();
  auto pub_keys = generate_curve_key_pair(), sub_keys = generate_curve_key_pair(),
       stranger = generate_curve_key_pair();
  keys.add(pub_keys.public_key, "publisher");
  keys.add(sub_keys.public_key, "subscriber");
  std::atomic<int> refusals{0};
  ForwarderOptions fo;
  fo.curve = {server.secret_key, keys.path(), [&](bool admitted, std::string_view) {
                if (!admitted) ++refusals;
              }};
  Forwarder forwarder(fo);
  forwarder.start();

  std::atomic<int> got{0}, stranger_got{0};
  Subscriber sub(forwarder.backend_endpoint(), [&](const PubSubMessage&) { ++got; },
                 {.curve = {server.public_key, sub_keys}});
  sub.subscribe("news");
  Subscriber spy(forwarder.backend_endpoint(), [&](const PubSubMessage&) { ++stranger_got; },
                 {.curve = {server.public_key, stranger}});
  spy.subscribe("news");
  Publisher pub(forwarder.frontend_endpoint(), {.curve = {server.public_key, pub_keys}});
  // Publish until the subscriber (a slow joiner) has some.
  auto until = std::chrono::steady_clock::now() + 10s;
  while (got.load() < 3 && std::chrono::steady_clock::now() < until) {
    pub.publish("news", "hello");
    sub.process_events(5ms);
    spy.process_events(0ms);
  }
  EXPECT_GE(got.load(), 3);
  EXPECT_TRUE(wait_until([&] { return keys.list(KeyState::kPending).size() == 1; }));
  EXPECT_EQ(keys.list(KeyState::kPending).at(0).public_key, stranger.public_key);
  EXPECT_GE(refusals.load(), 1);
  spy.process_events(50ms);
  EXPECT_EQ(stranger_got.load(), 0);
  // A binding publisher cannot be a CURVE client.
  EXPECT_THROW(Publisher("tcp://127.0.0.1:*", {.bind = true, .curve = {server.public_key, pub_keys}}), Error);
  forwarder.stop();
  forwarder.join();
}

}  // namespace
}  // namespace warren::testing
