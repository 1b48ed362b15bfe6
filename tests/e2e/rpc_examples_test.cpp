// End to end: rpc_server and rpc_client as processes, including a server
// killed in the middle of a call.
#include <gtest/gtest.h>

#include "support/warrend.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

const std::string kServer = example("rpc", "rpc_server");
const std::string kClient = example("rpc", "rpc_client");

TEST(RpcExamples, FibonacciBothReplyModesAndBadInput) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  Process server({kServer, "--endpoint", broker.endpoint});
  ASSERT_TRUE(server.wait_for_line("Awaiting RPC requests"));
  for (std::string mode : {"", "--reply-queue"}) {
    std::vector<std::string> argv{kClient, "--endpoint", broker.endpoint, "--n", "93", "--count", "20",
                                  "--concurrency", "5"};
    if (!mode.empty()) argv.push_back(mode);
    Process client(argv);
    EXPECT_TRUE(client.wait_for_line("fib(93) = 12200160415121876738"));
    EXPECT_EQ(client.wait(), 0) << client.output();
  }
  for (std::string bad : {"abc", "-1", "94", ""}) {
    Process client({kClient, "--endpoint", broker.endpoint, "--n", bad});
    EXPECT_TRUE(client.wait_for_line("[!] 541")) << bad;
    EXPECT_EQ(client.wait(), 1);
  }
  Process after({kClient, "--endpoint", broker.endpoint, "--n", "10"});
  EXPECT_TRUE(after.wait_for_line("fib(10) = 55")) << "the server survived bad input";
}

TEST(RpcExamples, ServerKilledMidCallTheOtherAnswers) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  Process a({kServer, "--endpoint", broker.endpoint, "--name", "A", "--delay-ms", "60000"});
  ASSERT_TRUE(a.wait_for_line("Awaiting"));
  Process client({kClient, "--endpoint", broker.endpoint, "--n", "20", "--timeout", "10000"});
  ASSERT_TRUE(a.wait_for_line("[A] fib(20)"));  // A holds the request...
  Process b({kServer, "--endpoint", broker.endpoint, "--name", "B"});
  ASSERT_TRUE(b.wait_for_line("Awaiting"));
  a.stop(SIGKILL);  // ...and dies with it
  EXPECT_TRUE(b.wait_for_line("[B] fib(20)")) << "redelivered to B";
  EXPECT_TRUE(client.wait_for_line("fib(20) = 6765")) << client.output();
  EXPECT_EQ(client.wait(), 0);
}

TEST(RpcExamples, NoServerTimesOut) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  Process client({kClient, "--endpoint", broker.endpoint, "--n", "5", "--timeout", "300"});
  EXPECT_TRUE(client.wait_for_line("no reply within 300 ms")) << client.output();
  EXPECT_EQ(client.wait(), 1);
}

}  // namespace
}  // namespace warren::testing
