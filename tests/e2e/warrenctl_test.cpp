// warrenctl against a real warrend: a scripted sequence whose lists must
// show the broker's real state, and errors with reply codes and exit codes.
#include <gtest/gtest.h>

#include "support/broker_fixture.hpp"
#include "support/warrend.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

const std::string kWarrenctl = std::string(TOOLS_DIR) + "/warrenctl";

struct Result {
  int status;
  std::string out;
};

class WarrenctlTest : public ::testing::Test {
 protected:
  Result ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {kWarrenctl, "--endpoint", broker_.endpoint});
    Process p(args);
    auto status = p.finish();
    return {status ? *status : -1, p.output()};
  }
  Warrend broker_{{"--no-pubsub"}};
};

TEST_F(WarrenctlTest, ScriptedSequenceShowsTheRealState) {
  ASSERT_FALSE(broker_.endpoint.empty());
  EXPECT_EQ(ctl({"declare_queue", "orders", "--durable"}).status, 0);
  EXPECT_EQ(ctl({"declare_exchange", "events", "topic"}).status, 0);
  EXPECT_EQ(ctl({"bind", "events", "orders", "order.*"}).status, 0);
  EXPECT_EQ(ctl({"publish", "events", "order.created", "first", "--content-type", "text/plain"}).status, 0);
  EXPECT_EQ(ctl({"publish", "", "orders", "second"}).status, 0);

  auto queues = ctl({"list_queues", "name", "messages_ready", "durable"});
  EXPECT_EQ(queues.status, 0);
  EXPECT_EQ(queues.out, "name\tmessages_ready\tdurable\norders\t2\ttrue\n");
  auto exchanges = ctl({"list_exchanges", "name", "type"});
  EXPECT_NE(exchanges.out.find("events\ttopic\n"), std::string::npos) << exchanges.out;
  EXPECT_NE(exchanges.out.find("amq.direct\tdirect\n"), std::string::npos);
  auto bindings = ctl({"list_bindings", "source", "destination", "routing_key"});
  EXPECT_NE(bindings.out.find("events\torders\torder.*\n"), std::string::npos) << bindings.out;

  // A consumer elsewhere shows up in list_consumers and list_connections.
  Connection conn(broker_.endpoint);
  auto ch = conn.channel();
  ch.basic_qos(5);
  ch.basic_consume("orders", [](const Message&) {}, {.consumer_tag = "watcher"});
  auto consumers = ctl({"list_consumers", "queue", "consumer_tag", "prefetch", "ack_mode"});
  EXPECT_NE(consumers.out.find("orders\twatcher\t5\tmanual\n"), std::string::npos) << consumers.out;
  auto connections = ctl({"list_connections", "--json"});
  EXPECT_NE(connections.out.find("\"peer\":\"127.0.0.1\""), std::string::npos) << connections.out;
  ch.basic_cancel("watcher");
  ch.close();  // its two unacked messages go back

  auto got = ctl({"get", "orders", "--json", "--count", "1"});
  EXPECT_NE(got.out.find("\"body\":\"first\""), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("\"content_type\":\"text/plain\""), std::string::npos);
  EXPECT_EQ(ctl({"purge_queue", "orders"}).out, "1 messages purged\n");
  auto status = ctl({"status"});
  EXPECT_NE(status.out.find("queues: 1\n"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("published: 2\n"), std::string::npos) << status.out;
  for (auto field : {"memory_bytes: ", "publish_rate: ", "deliver_rate: ", "uptime_ms: "})
    EXPECT_NE(status.out.find(field), std::string::npos) << field;
  EXPECT_EQ(ctl({"delete_queue", "orders"}).status, 0);
  EXPECT_EQ(ctl({"list_queues", "name"}).out, "name\n");
}

TEST_F(WarrenctlTest, GetRequeueAndConsumeWaitForMessages) {
  ASSERT_FALSE(broker_.endpoint.empty());
  EXPECT_EQ(ctl({"declare_queue", "jobs"}).status, 0);
  for (auto body : {"a", "b", "c"}) EXPECT_EQ(ctl({"publish", "", "jobs", body, "--persistent"}).status, 0);
  // --requeue puts them all back together: three different messages, not "a" three times.
  EXPECT_EQ(ctl({"get", "jobs", "--count", "3", "--requeue"}).out, "a\nb\nc\n");
  auto json = ctl({"get", "jobs", "--json", "--requeue"});
  EXPECT_NE(json.out.find("\"delivery_mode\":2"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"redelivered\":true"), std::string::npos) << json.out;
  // consume takes what is there and then waits for the rest.
  Process consume({kWarrenctl, "--endpoint", broker_.endpoint, "consume", "jobs", "--count", "4", "--timeout", "20"});
  ASSERT_TRUE(consume.wait_for_line("c"));
  EXPECT_EQ(ctl({"publish", "", "jobs", "d"}).status, 0);
  ASSERT_TRUE(consume.wait_for_line("d"));
  EXPECT_EQ(consume.wait(), 0);
  EXPECT_EQ(ctl({"get", "jobs"}).out, "");  // all four acked
  // Too few within the timeout: exit 4 with what it got.
  auto short_of = ctl({"consume", "jobs", "--count", "1", "--timeout", "0.2"});
  EXPECT_EQ(short_of.status, 4);
}

TEST_F(WarrenctlTest, ErrorsCarryReplyCodesAndExitCodes) {
  ASSERT_FALSE(broker_.endpoint.empty());
  auto missing = ctl({"get", "nope"});
  EXPECT_EQ(missing.status, 4);
  auto unrouted = ctl({"publish", "amq.direct", "nowhere", "x"});
  EXPECT_EQ(unrouted.status, 4) << "312 NO_ROUTE";
  EXPECT_EQ(ctl({"declare_exchange", "amq.mine", "direct"}).status, 4);
  EXPECT_EQ(ctl({"list_nothing"}).status, 2);
  EXPECT_EQ(ctl({}).status, 2);
  EXPECT_EQ(ctl({"declare_queue"}).status, 2);
  Process unreachable({kWarrenctl, "--endpoint", "tcp://127.0.0.1:1", "status"});
  EXPECT_EQ(unreachable.wait(15s), 3);
}

// The user verbs end to end. warrend has no ZAP handler here, so warrenctl
// acts as guest: it defines guest as the administrator first.
TEST_F(WarrenctlTest, UserVerbsChangeWhoMayDoWhat) {
  ASSERT_FALSE(broker_.endpoint.empty());
  EXPECT_EQ(ctl({"list_users"}).out, "name\ttags\n");  // no users: open to everyone
  EXPECT_EQ(ctl({"add_user", "guest", "--tags", "administrator"}).status, 0);
  // guest now exists without permissions: only its tag lets it manage.
  EXPECT_EQ(ctl({"declare_queue", "orders"}).status, 4);
  EXPECT_EQ(ctl({"set_permissions", "guest", ".*", ".*", ".*"}).status, 0);
  EXPECT_EQ(ctl({"declare_queue", "orders"}).status, 0);
  EXPECT_EQ(ctl({"add_user", "bob"}).status, 0);
  EXPECT_EQ(ctl({"set_permissions", "bob", "^bob\\.", "", "^orders$"}).status, 0);
  EXPECT_EQ(ctl({"set_user_tags", "bob", "monitoring"}).status, 0);
  EXPECT_EQ(ctl({"list_users"}).out, "name\ttags\nbob\t[\"monitoring\"]\nguest\t[\"administrator\"]\n");
  EXPECT_EQ(ctl({"list_permissions"}).out,
            "user\tconfigure\twrite\tread\nbob\t^bob\\.\t\t^orders$\nguest\t.*\t.*\t.*\n");
  auto json = ctl({"list_permissions", "--json", "user", "read"});
  EXPECT_EQ(json.out, "[{\"read\":\"^orders$\",\"user\":\"bob\"},{\"read\":\".*\",\"user\":\"guest\"}]\n");

  // Refusals: exit 4 with the broker's reply code and text on stderr.
  Process bad({"/bin/sh", "-c",
               kWarrenctl + " --endpoint " + broker_.endpoint + " set_permissions bob '(' .* .* 2>&1"});
  EXPECT_TRUE(bad.wait_for_line("406"));
  EXPECT_NE(bad.output().find("configure permission: invalid regular expression '('"), std::string::npos)
      << bad.output();
  EXPECT_EQ(bad.wait(), 4);
  EXPECT_EQ(ctl({"add_user", "bob"}).status, 4);           // 406: exists
  EXPECT_EQ(ctl({"add_user", "eve", "--tags", "root"}).status, 4);  // 406: unknown tag
  EXPECT_EQ(ctl({"delete_user", "eve"}).status, 4);        // 404
  EXPECT_EQ(ctl({"set_permissions", "bob", ".*"}).status, 2);  // usage

  EXPECT_EQ(ctl({"clear_permissions", "bob"}).status, 0);
  EXPECT_EQ(ctl({"list_permissions", "user"}).out, "user\nguest\n");
  EXPECT_EQ(ctl({"delete_user", "bob"}).status, 0);
  EXPECT_EQ(ctl({"list_users", "name"}).out, "name\nguest\n");
  EXPECT_EQ(ctl({"delete_user", "guest"}).status, 4);  // the last user stays
  // Without its tag guest may use its permissions but not manage.
  EXPECT_EQ(ctl({"set_user_tags", "guest"}).status, 0);
  EXPECT_EQ(ctl({"list_queues"}).status, 4);
  EXPECT_EQ(ctl({"publish", "", "orders", "still allowed"}).status, 0);
}

// --users-file seeds a broker; users then persist in its data directory.
TEST(WarrendUsersFileTest, SeedsUsersThatSurviveARestart) {
  TempDir dir;
  auto users = dir.write("users", "user guest monitoring\npermissions guest \"\" \"\" \"\"\n");
  TempDir data;
  auto ctl = [](const std::string& endpoint, std::vector<std::string> args) {
    args.insert(args.begin(), {kWarrenctl, "--endpoint", endpoint});
    Process p(args);
    auto status = p.finish();
    return Result{status ? *status : -1, p.output()};
  };
  {
    Warrend broker({"--no-pubsub", "--users-file", users, "--data-dir", data.path.string()});
    ASSERT_FALSE(broker.endpoint.empty());
    EXPECT_EQ(ctl(broker.endpoint, {"list_queues", "name"}).status, 0);  // monitoring may list
    EXPECT_EQ(ctl(broker.endpoint, {"declare_queue", "q"}).status, 4);  // no configure
    EXPECT_EQ(ctl(broker.endpoint, {"list_users"}).status, 4);          // not administrator
  }
  Warrend again({"--no-pubsub", "--data-dir", data.path.string()});  // no file now
  ASSERT_FALSE(again.endpoint.empty());
  EXPECT_EQ(ctl(again.endpoint, {"list_queues", "name"}).status, 0);
  EXPECT_EQ(ctl(again.endpoint, {"declare_queue", "q"}).status, 4);

  auto broken = dir.write("broken", "user guest\npermissions guest .* .*\n");
  Process p({kWarrendPath, "--endpoint", "tcp://127.0.0.1:*", "--no-pubsub", "--data-dir",
             (data.path / "other").string(), "--users-file", broken});
  EXPECT_EQ(p.wait(10s), 1);
}

}  // namespace
}  // namespace warren::testing
