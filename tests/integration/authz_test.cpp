// Users and permissions (docs/security.md): the configure / write / read
// matrix, user_id validation, management tags, bad input, persistence and
// the users file. Connections get their user from a test ZAP handler.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "support/broker_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/zap_handler.hpp"

namespace warren::testing {
namespace {

class AuthzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    start(options());
    // The first user is defined while the broker is still open to everyone.
    auto admin = connect_as("admin");
    auto ch = admin.channel();
    ch.management_command("add_user", {{"name", "admin"}, {"tags", FieldArray{"administrator"}}});
    ch.management_command("set_permissions", {{"user", "admin"}, {"configure", ".*"}, {"write", ".*"}, {"read", ".*"}});
  }
  void TearDown() override { broker_.reset(); }

  BrokerOptions options() {
    auto o = quiet_broker();
    o.context = &ctx_;
    o.zap_domain = "warren";
    return o;
  }
  void start(BrokerOptions o) {
    broker_ = std::make_unique<Broker>(std::move(o));
    broker_->start();
  }
  Connection connect_as(const std::string& user) {
    zap_.set_user(user);
    return Connection(broker_->endpoint());
  }
  // As admin: defines `user` with `tags` and, unless all are null, permissions.
  void define(const std::string& user, const char* configure, const char* write, const char* read,
              FieldArray tags = {}) {
    auto conn = connect_as("admin");
    auto ch = conn.channel();
    auto existing = ch.management_query("users");
    bool known = std::any_of(existing.begin(), existing.end(),
                             [&](const FieldTable& r) { return r.at("name").as<std::string>() == user; });
    ch.management_command(known ? "set_user_tags" : "add_user", {{"name", user}, {"tags", std::move(tags)}});
    if (configure)
      ch.management_command("set_permissions",
                            {{"user", user}, {"configure", configure}, {"write", write}, {"read", read}});
  }
  // As admin: declares what the tests work on.
  void setup_resources() {
    auto conn = connect_as("admin");
    auto ch = conn.channel();
    ch.exchange_declare("x", "direct");
    ch.exchange_declare("x2", "fanout");
    ch.queue_declare("q");
    ch.queue_bind("q", "x", "k");
  }

  zmq::context_t ctx_;
  ZapHandler zap_{ctx_};
  std::unique_ptr<Broker> broker_;
};

// Runs `fn` on a fresh channel of `conn` and expects 403 with `text` in it.
template <class F>
void expect_403(Connection& conn, F&& fn, const std::string& text) {
  auto ch = conn.channel();
  try {
    fn(ch);
    ADD_FAILURE() << "expected 403: " << text;
  } catch (const ChannelError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kAccessRefused) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST_F(AuthzTest, ConfigureGuardsDeclareAndDeleteOfQueuesAndExchanges) {
  setup_resources();
  define("bob", "^bob\\.", "", "");
  auto bob = connect_as("bob");
  expect_403(bob, [](Channel& ch) { ch.queue_declare("q2"); },
             "configure access to queue 'q2' in vhost '/' refused for user 'bob'");
  expect_403(bob, [](Channel& ch) { ch.queue_delete("q"); }, "configure access to queue 'q'");
  expect_403(bob, [](Channel& ch) { ch.exchange_declare("y", "topic"); },
             "configure access to exchange 'y' in vhost '/' refused for user 'bob'");
  expect_403(bob, [](Channel& ch) { ch.exchange_delete("x"); }, "configure access to exchange 'x'");
  // Server-named queues are checked under their generated name, as RabbitMQ.
  expect_403(bob, [](Channel& ch) { ch.queue_declare("", {.exclusive = true}); }, "queue 'amq.gen-");

  auto ch = bob.channel();
  EXPECT_EQ(ch.queue_declare("bob.q", {.exclusive = true}).queue, "bob.q");
  ch.exchange_declare("bob.x", "topic");
  ch.exchange_delete("bob.x");
  EXPECT_EQ(ch.queue_delete("bob.q"), 0u);
  // Passive declares need no permission (RabbitMQ).
  EXPECT_EQ(ch.queue_declare("q", {.passive = true}).queue, "q");
  ch.exchange_declare("x", "direct", {.passive = true});

  define("bob", "^amq\\.gen-", "", "");
  EXPECT_EQ(bob.channel().queue_declare("", {.exclusive = true}).queue.rfind("amq.gen-", 0), 0u);
}

TEST_F(AuthzTest, BindNeedsWriteOnTheDestinationAndReadOnTheSource) {
  setup_resources();
  define("bob", "", "^q$", "");
  auto bob = connect_as("bob");
  expect_403(bob, [](Channel& ch) { ch.queue_bind("q", "x", "b"); }, "read access to exchange 'x'");
  define("bob", "", "", "^x$");
  expect_403(bob, [](Channel& ch) { ch.queue_bind("q", "x", "b"); }, "write access to queue 'q'");
  expect_403(bob, [](Channel& ch) { ch.queue_unbind("q", "x", "k"); }, "write access to queue 'q'");
  expect_403(bob, [](Channel& ch) { ch.exchange_bind("x2", "x", "b"); }, "write access to exchange 'x2'");
  define("bob", "", "^(q|x2)$", "^x$");
  auto ch = bob.channel();
  ch.queue_bind("q", "x", "b");
  ch.queue_unbind("q", "x", "b");
  ch.exchange_bind("x2", "x", "b");
  ch.exchange_unbind("x2", "x", "b");
}

TEST_F(AuthzTest, PublishNeedsWriteOnTheExchangeAndTheDefaultIsAmqDefault) {
  setup_resources();
  define("bob", "", "^x$", "");
  auto bob = connect_as("bob");
  expect_403(bob, [](Channel& ch) {
    ch.basic_publish("", "q", "m");
    ch.queue_declare("q", {.passive = true});  // the refusal arrives here
  }, "write access to exchange 'amq.default' in vhost '/' refused for user 'bob'");
  expect_403(bob, [](Channel& ch) {
    ch.basic_publish("amq.direct", "q", "m");
    ch.queue_declare("q", {.passive = true});
  }, "write access to exchange 'amq.direct'");
  auto ch = bob.channel();
  ch.confirm_select();
  ch.basic_publish("x", "k", "allowed");
  EXPECT_TRUE(ch.wait_for_confirms());

  define("bob", "", "^amq\\.default$", "");
  auto ch2 = bob.channel();
  ch2.confirm_select();
  ch2.basic_publish("", "q", "via default");
  EXPECT_TRUE(ch2.wait_for_confirms());

  auto admin = connect_as("admin");
  EXPECT_EQ(admin.channel().queue_declare("q", {.passive = true}).message_count, 2u);
}

TEST_F(AuthzTest, ConsumeGetAndPurgeNeedRead) {
  setup_resources();
  define("bob", "", "", "");
  auto bob = connect_as("bob");
  expect_403(bob, [](Channel& ch) { ch.basic_consume("q", [](const Message&) {}); },
             "read access to queue 'q' in vhost '/' refused for user 'bob'");
  expect_403(bob, [](Channel& ch) { ch.basic_get("q"); }, "read access to queue 'q'");
  expect_403(bob, [](Channel& ch) { ch.queue_purge("q"); }, "read access to queue 'q'");
  {
    auto admin = connect_as("admin");
    admin.channel().basic_publish("", "q", "hello");
  }
  define("bob", "", "", "^q$");
  auto ch = bob.channel();
  auto m = ch.basic_get("q", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "hello");
  EXPECT_EQ(ch.queue_purge("q"), 0u);
  ch.basic_consume("q", [](const Message&) {});
}

TEST_F(AuthzTest, DeadLetterAndAlternateExchangesNeedWriteThereAndReadHere) {
  define("bob", "^(dq|ax)$", "", "^(dq|ax)$");
  auto bob = connect_as("bob");
  expect_403(bob, [](Channel& ch) { ch.queue_declare("dq", {.arguments = {{"x-dead-letter-exchange", "dlx"}}}); },
             "write access to exchange 'dlx'");
  expect_403(bob, [](Channel& ch) { ch.exchange_declare("ax", "fanout", {.arguments = {{"alternate-exchange", "ae"}}}); },
             "write access to exchange 'ae'");
  define("bob", "^(dq|ax)$", "^(dlx|ae)$", "^(dq|ax)$");
  auto ch = bob.channel();
  ch.queue_declare("dq", {.arguments = {{"x-dead-letter-exchange", "dlx"}}});
  ch.exchange_declare("ax", "fanout", {.arguments = {{"alternate-exchange", "ae"}}});
}

TEST_F(AuthzTest, ARevokedPermissionTakesEffectOnTheNextPublish) {
  setup_resources();
  define("bob", "", "^x$", "");
  auto bob = connect_as("bob");
  auto ch = bob.channel();
  ch.confirm_select();
  ch.basic_publish("x", "k", "1");
  ASSERT_TRUE(ch.wait_for_confirms());  // the decision is cached on the channel now
  {
    auto admin = connect_as("admin");
    admin.channel().management_command("clear_permissions", {{"user", "bob"}});
  }
  ch.basic_publish("x", "k", "2");
  expect_refused<ChannelError>([&] { ch.wait_for_confirms(); }, ReplyCode::kAccessRefused);
  auto admin = connect_as("admin");
  EXPECT_EQ(admin.channel().queue_declare("q", {.passive = true}).message_count, 1u);
}

TEST_F(AuthzTest, ARefusalClosesOnlyThatChannel) {
  setup_resources();
  define("bob", "", "^x$", "^q$");
  auto bob = connect_as("bob");
  auto other = bob.channel();
  auto refused = bob.channel();
  other.basic_qos(1);
  refused.basic_publish("amq.fanout", "", "no");
  expect_refused<ChannelError>([&] { refused.basic_get("q"); }, ReplyCode::kAccessRefused);
  EXPECT_FALSE(refused.is_open());
  // The same connection's other channel and another connection carry on.
  other.basic_publish("x", "k", "yes");
  auto alice_conn = connect_as("admin");
  ASSERT_TRUE(wait_until([&] { return alice_conn.channel().queue_declare("q", {.passive = true}).message_count == 1; }));
  auto m = other.basic_get("q", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "yes");
}

TEST_F(AuthzTest, UserIdMustBeTheConnectionsUser) {
  setup_resources();
  define("bob", "", ".*", ".*");
  auto bob = connect_as("bob");
  auto ch = bob.channel();
  Properties spoofed;
  spoofed.user_id = "admin";
  ch.basic_publish("", "q", "spoofed", spoofed);
  try {
    ch.basic_get("q");
    ADD_FAILURE() << "expected 406";
  } catch (const ChannelError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kPreconditionFailed);
    EXPECT_NE(std::string(e.what()).find("user_id property set to 'admin' but authenticated user was 'bob'"),
              std::string::npos)
        << e.what();
  }
  auto ch2 = bob.channel();
  Properties own;
  own.user_id = "bob";
  ch2.basic_publish("", "q", "honest", own);
  auto m = ch2.basic_get("q", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "honest");
  EXPECT_EQ(m->properties.user_id, "bob");
}

TEST_F(AuthzTest, ManagementNeedsMonitoringToReadAndAdministratorToChange) {
  define("nobody", ".*", ".*", ".*");
  define("watcher", nullptr, nullptr, nullptr, {"monitoring"});
  auto nobody = connect_as("nobody");
  auto watcher = connect_as("watcher");
  expect_403(nobody, [](Channel& ch) { ch.management_query("queues"); },
             "management.query 'queues' refused for user 'nobody': it needs the tag monitoring or administrator");
  auto ch = watcher.channel();
  EXPECT_EQ(ch.management_query("overview").size(), 1u);
  ch.management_query("connections");
  expect_403(watcher, [](Channel& c) { c.management_query("users"); }, "needs the tag administrator");
  expect_403(watcher, [](Channel& c) { c.management_query("permissions"); }, "needs the tag administrator");
  expect_403(watcher, [](Channel& c) { c.management_command("add_user", {{"name", "eve"}}); },
             "management.command 'add_user' refused for user 'watcher': it needs the tag administrator");

  auto admin = connect_as("admin");
  auto users = admin.channel().management_query("users");
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[2].at("name").as<std::string>(), "watcher");
  EXPECT_EQ(users[2].at("tags"), FieldValue(FieldArray{"monitoring"}));
  auto permissions = admin.channel().management_query("permissions");
  ASSERT_EQ(permissions.size(), 2u);  // watcher has none
  EXPECT_EQ(permissions[1].at("user").as<std::string>(), "nobody");
  EXPECT_EQ(permissions[1].at("write").as<std::string>(), ".*");
}

TEST_F(AuthzTest, UnknownUsersCannotConnect) {
  try {
    connect_as("mallory");
    ADD_FAILURE() << "connected";
  } catch (const ConnectionError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kAccessRefused);
    EXPECT_NE(std::string(e.what()).find("access refused for user 'mallory': no such user"), std::string::npos)
        << e.what();
  }
  // Deleting a user refuses everything its open connections do next.
  define("bob", ".*", ".*", ".*");
  auto bob = connect_as("bob");
  connect_as("admin").channel().management_command("delete_user", {{"name", "bob"}});
  expect_403(bob, [](Channel& ch) { ch.queue_declare("anything"); }, "for user 'bob'");
}

TEST_F(AuthzTest, BadManagementCommandsGetReplyCodes) {
  auto admin = connect_as("admin");
  auto expect = [&](const char* verb, FieldTable args, ReplyCode code, const std::string& text) {
    auto ch = admin.channel();
    try {
      ch.management_command(verb, std::move(args));
      ADD_FAILURE() << verb << ": expected " << static_cast<int>(code);
    } catch (const ChannelError& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  expect("set_permissions", {{"user", "admin"}, {"configure", "("}, {"write", ".*"}, {"read", ".*"}},
         ReplyCode::kPreconditionFailed, "configure permission: invalid regular expression '('");
  expect("set_permissions", {{"user", "admin"}, {"configure", ".*"}, {"write", "[a-"}, {"read", ".*"}},
         ReplyCode::kPreconditionFailed, "write permission: invalid regular expression");
  expect("set_permissions", {{"user", "nobody"}, {"configure", ""}, {"write", ""}, {"read", ""}},
         ReplyCode::kNotFound, "no user 'nobody'");
  expect("set_permissions", {{"user", "admin"}, {"configure", ".*"}}, ReplyCode::kPreconditionFailed,
         "argument 'write' (a string) is missing");
  expect("add_user", {{"name", "admin"}}, ReplyCode::kPreconditionFailed, "user 'admin' already exists");
  expect("add_user", {{"name", ""}}, ReplyCode::kPreconditionFailed, "a user name cannot be empty");
  expect("add_user", {{"name", "eve"}, {"tags", FieldArray{"root"}}}, ReplyCode::kPreconditionFailed,
         "unknown tag 'root' (known: administrator, monitoring)");
  expect("add_user", {{"name", "eve"}, {"tags", "administrator"}}, ReplyCode::kPreconditionFailed,
         "argument 'tags' must be an array of strings");
  expect("delete_user", {{"name", "eve"}}, ReplyCode::kNotFound, "no user 'eve'");
  expect("delete_user", {{"name", "admin"}}, ReplyCode::kPreconditionFailed, "the last user");
  expect("make_coffee", {}, ReplyCode::kNotFound, "no management command 'make_coffee'");
  // A failed change changed nothing: admin still has its permissions.
  auto ch = admin.channel();
  ch.queue_declare("still-allowed");
  auto rows = ch.management_query("permissions");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("configure").as<std::string>(), ".*");
}

TEST_F(AuthzTest, UsersAndPermissionsSurviveARestart) {
  TempDir dir;
  broker_.reset();
  auto o = options();
  o.data_dir = dir.path.string();
  start(o);
  {
    auto admin = connect_as("admin");  // a new broker: open again, and empty
    auto ch = admin.channel();
    ch.management_command("add_user", {{"name", "admin"}, {"tags", FieldArray{"administrator"}}});
    ch.management_command("set_permissions", {{"user", "admin"}, {"configure", ".*"}, {"write", ".*"}, {"read", ".*"}});
  }
  define("bob", "^bob", "^bob", "^bob", {"monitoring"});
  broker_.reset();
  start(o);
  auto bob = connect_as("bob");
  expect_403(bob, [](Channel& ch) { ch.queue_declare("alice"); }, "configure access to queue 'alice'");
  bob.channel().queue_declare("bob.q");
  EXPECT_FALSE(bob.channel().management_query("overview").empty());
  expect_403(bob, [](Channel& ch) { ch.management_query("users"); }, "needs the tag administrator");
  auto admin = connect_as("admin");
  auto users = admin.channel().management_query("users");
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[1].at("tags"), FieldValue(FieldArray{"monitoring"}));
  try {
    connect_as("guest");
    ADD_FAILURE() << "guest connected";
  } catch (const ConnectionError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kAccessRefused);
  }
}

TEST_F(AuthzTest, AUsersFileSeedsTheBroker) {
  TempDir dir;
  auto file = dir.path / "users";
  std::ofstream(file) << "# who may do what\n"
                         "user ops administrator monitoring\n"
                         "permissions ops .* .* .*\n"
                         "\n"
                         "user app\n"
                         "permissions app \"\" \"^(app\\.in|amq\\.default)$\" \"^app\\.\"   # no configure\n";
  broker_.reset();
  auto o = options();
  o.users_file = file.string();
  start(o);
  auto ops = connect_as("ops");
  auto rows = ops.channel().management_query("permissions");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("user").as<std::string>(), "app");
  EXPECT_EQ(rows[0].at("configure").as<std::string>(), "");
  EXPECT_EQ(rows[0].at("write").as<std::string>(), "^(app\\.in|amq\\.default)$");
  ops.channel().queue_declare("app.in");
  auto app = connect_as("app");
  expect_403(app, [](Channel& ch) { ch.queue_declare("app.mine"); }, "configure access to queue 'app.mine'");
  auto ch = app.channel();
  ch.basic_publish("", "app.in", "m");
  auto m = ch.basic_get("app.in", true);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "m");
}

TEST_F(AuthzTest, ABadUsersFileStopsTheBrokerWithTheLine) {
  TempDir dir;
  auto file = dir.path / "users";
  std::ofstream(file) << "user ops administrator\npermissions ops .* \"(\" .*\n";
  broker_.reset();
  auto o = options();
  o.users_file = file.string();
  try {
    Broker b(o);
    ADD_FAILURE() << "started";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2: write permission: invalid regular expression '('"), std::string::npos)
        << e.what();
  }
  o.users_file = (dir.path / "missing").string();
  EXPECT_THROW(Broker{o}, std::runtime_error);
}

// Without users nothing changes: anyone may do anything, user_id is still
// validated against the connection's user.
class OpenBrokerTest : public BrokerTest {};

TEST_F(OpenBrokerTest, WithNoUsersEveryoneMayDoEverything) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.exchange_declare("e", "fanout");
  ch.queue_declare("q");
  ch.queue_bind("q", "e");
  ch.basic_publish("e", "", "m");
  EXPECT_TRUE(ch.basic_get("q", true));
  EXPECT_TRUE(ch.management_query("users").empty());
  Properties p;
  p.user_id = "guest";
  ch.basic_publish("", "q", "m", p);
  EXPECT_TRUE(ch.basic_get("q", true));
  p.user_id = "root";
  ch.basic_publish("", "q", "m", p);
  expect_refused<ChannelError>([&] { ch.basic_get("q", true); }, ReplyCode::kPreconditionFailed);
}

}  // namespace
}  // namespace warren::testing
