// End to end: warrend's built-in pub/sub forwarder with the tutorial's
// RedisHelper pair (pubsub_publish / pubsub_subscribe) and pubsub_psubscribe,
// each a real process; and warrend's --no-pubsub and SIGTERM handling.
#include <gtest/gtest.h>

#include <csignal>

#include "support/warrend.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

// The endpoint after `label` on warrend's start-up line "pubsub <label> E (...)".
std::string endpoint_after(Process& p, const std::string& label) {
  auto line = p.wait_for_line("pubsub " + label + " ");
  if (!line) return {};
  auto start = line->find("tcp://");
  return line->substr(start, line->find(' ', start) - start);
}

TEST(PubSubExamples, TutorialPairThroughWarrendsForwarder) {
  Warrend broker({"--heartbeat", "100", "--pubsub-frontend", "tcp://127.0.0.1:*",
                  "--pubsub-backend", "tcp://127.0.0.1:*"});
  ASSERT_FALSE(broker.endpoint.empty());
  const auto frontend = endpoint_after(broker.process, "frontend");
  const auto backend = endpoint_after(broker.process, "backend");
  ASSERT_FALSE(frontend.empty());
  ASSERT_FALSE(backend.empty());

  Process exact({example("pubsub", "pubsub_subscribe"), "--endpoint", backend, "--count", "1"});
  Process pattern({example("pubsub", "pubsub_psubscribe"), "--endpoint", backend, "--count", "1",
                   "fm111.*"});
  ASSERT_TRUE(exact.wait_for_line("Subscribed to fm111.7"));
  ASSERT_TRUE(pattern.wait_for_line("Subscribed to fm111.*"));

  // A subscription takes a moment to reach the forwarder: publish until
  // both subscribers have their message (each prints it and exits).
  auto until = std::chrono::steady_clock::now() + 20s;
  while (!(exact.wait(5ms) && pattern.wait(5ms)) && std::chrono::steady_clock::now() < until) {
    Process publish({example("pubsub", "pubsub_publish"), "--endpoint", frontend});
    ASSERT_EQ(publish.wait(), 0);
  }
  ASSERT_EQ(exact.wait(1s), 0);
  ASSERT_EQ(pattern.wait(1s), 0);
  exact.read_available();
  pattern.read_available();
  EXPECT_NE(exact.output().find(" [x] fm111.7: alex db\n"), std::string::npos) << exact.output();
  EXPECT_NE(pattern.output().find(" [x] fm111.7: alex db (pattern fm111.*)\n"), std::string::npos)
      << pattern.output();
  EXPECT_EQ(broker.process.stop(SIGTERM), 0);  // stops the forwarder with the broker
}

TEST(PubSubExamples, NoPubsubRunsTheBrokerAlone) {
  Warrend broker({"--no-pubsub"});
  ASSERT_FALSE(broker.endpoint.empty());
  EXPECT_FALSE(broker.process.wait_for_line("pubsub ", 300ms));
  EXPECT_EQ(broker.process.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace warren::testing
