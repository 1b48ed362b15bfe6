// End to end: the real warrend and the hello_world programs as processes.
#include <gtest/gtest.h>

#include "support/warrend.hpp"

namespace warren::testing {
namespace {

const std::string& kWarrend = kWarrendPath;
const std::string kSend = example("hello_world", "send");
const std::string kReceive = example("hello_world", "receive");

TEST(HelloWorld, SendThenReceiveThroughWarrend) {
  Warrend broker;
  auto& warrend = broker.process;
  auto endpoint = broker.endpoint;
  ASSERT_FALSE(endpoint.empty()) << "warrend did not start";

  Process send({kSend, endpoint});
  ASSERT_TRUE(send.wait_for_line(" [x] Sent 'Hello World!'"));
  EXPECT_EQ(send.wait(), 0);

  Process receive({kReceive, endpoint, "1"});
  auto got = receive.wait_for_line("Received");
  ASSERT_TRUE(got) << receive.output();
  EXPECT_NE(got->find("'Hello World!'"), std::string::npos) << *got;
  EXPECT_EQ(receive.wait(), 0);

  EXPECT_EQ(warrend.stop(SIGTERM), 0) << "warrend exits 0 on SIGTERM";
}

TEST(HelloWorld, ReceiverWaitingBeforeTheSender) {
  Warrend broker;
  auto& warrend = broker.process;
  auto endpoint = broker.endpoint;
  ASSERT_FALSE(endpoint.empty());
  Process receive({kReceive, endpoint, "2"});
  ASSERT_TRUE(receive.wait_for_line("Waiting for messages"));
  Process one({kSend, endpoint, "first"});
  EXPECT_EQ(one.wait(), 0);
  Process two({kSend, endpoint, "second"});
  EXPECT_EQ(two.wait(), 0);
  auto a = receive.wait_for_line("Received");
  auto b = receive.wait_for_line("Received");
  ASSERT_TRUE(a && b) << receive.output();
  EXPECT_NE(a->find("'first'"), std::string::npos);
  EXPECT_NE(b->find("'second'"), std::string::npos);
  EXPECT_EQ(receive.wait(), 0);
  // SIGINT, like Ctrl-C, also stops warrend cleanly.
  EXPECT_EQ(warrend.stop(SIGINT), 0);
}

TEST(HelloWorld, ReceiverStopsOnSigint) {
  Warrend broker;
  auto endpoint = broker.endpoint;
  ASSERT_FALSE(endpoint.empty());
  Process receive({kReceive, endpoint});
  ASSERT_TRUE(receive.wait_for_line("Waiting for messages"));
  EXPECT_EQ(receive.stop(SIGINT), 0);
}

TEST(HelloWorld, SendFailsClearlyWithoutABroker) {
  // A port nobody listens on: bind one, learn it, let warrend go.
  std::string endpoint;
  {
    Warrend broker;
    endpoint = broker.endpoint;
    ASSERT_EQ(broker.process.stop(), 0);
  }
  Process send({kSend, endpoint});
  EXPECT_EQ(send.wait(std::chrono::seconds(30)), 1);
}

TEST(Warrend, HelpVersionAndBadFlags) {
  Process help({kWarrend, "--help"});
  EXPECT_TRUE(help.wait_for_line("--endpoint"));
  EXPECT_EQ(help.wait(), 0);
  Process version({kWarrend, "--version"});
  EXPECT_TRUE(version.wait_for_line("warrend 0."));
  EXPECT_EQ(version.wait(), 0);
  Process bad({kWarrend, "--no-such-flag"});
  EXPECT_EQ(bad.wait(), 2);
  Process level({kWarrend, "--log-level", "loud"});
  EXPECT_EQ(level.wait(), 2);
  Process unbindable({kWarrend, "--endpoint", "tcp://256.1.1.1:1"});
  EXPECT_EQ(unbindable.wait(), 1);
}

}  // namespace
}  // namespace warren::testing
