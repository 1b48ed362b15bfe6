// End to end: warren-perf's message size ranges and their report, the usage
// and connection errors of amqp-perf (bench/compare), which shares
// warren-perf's flags, and zmq-proxy-baseline's credit window. amqp-perf is
// built only when librabbitmq is installed, the bench/ tools only with
// WARREN_BUILD_BENCH; their tests skip otherwise. They need no RabbitMQ.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "support/process.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

const std::string kWarrenPerf = std::string(TOOLS_DIR) + "/warren-perf";
const std::string kAmqpPerf = std::string(BENCH_DIR) + "/amqp-perf";
const std::string kBaseline = std::string(BENCH_DIR) + "/zmq-proxy-baseline";
const std::string kPubSubBench = std::string(BENCH_DIR) + "/pubsub-bench";

// The number stored under "key" in a JSON line, if any.
std::optional<double> number_at(const std::string& line, const std::string& key) {
  auto at = line.find("\"" + key + "\":");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(line.substr(at + key.size() + 3));
}

// Runs a tool to its end; returns its exit status.
int exit_status(std::vector<std::string> argv) {
  Process p(std::move(argv));
  auto status = p.finish(30s);
  EXPECT_TRUE(status) << "did not exit: " << p.output();
  return status.value_or(-1);
}

TEST(WarrenPerf, FixedSizeReportsThatSize) {
  Process perf({kWarrenPerf, "--embedded", "-s", "100", "-C", "2000", "--json"});
  auto line = perf.wait_for_line("\"tool\"", 60s);
  ASSERT_TRUE(line) << perf.output();
  EXPECT_NE(line->find("\"sent\":2000,\"received\":2000,\"lost\":0"), std::string::npos) << *line;
  EXPECT_EQ(number_at(*line, "size"), 100);
  EXPECT_EQ(number_at(*line, "size_max"), 100);
  EXPECT_EQ(number_at(*line, "mean_size"), 100);
  EXPECT_EQ(perf.wait(30s), 0);
}

// Sizes drawn uniformly from 16..4096: every message arrives, and the
// bytes received average near the middle of the range (2056; the mean of
// 4000 draws is within about 20 of it), not at either end.
TEST(WarrenPerf, SizeRangeDrawsSizesFromTheRange) {
  Process perf({kWarrenPerf, "--embedded", "-s", "16-4096", "-x", "2", "-C", "2000", "--json"});
  auto line = perf.wait_for_line("\"tool\"", 60s);
  ASSERT_TRUE(line) << perf.output();
  EXPECT_NE(line->find("\"sent\":4000,\"received\":4000,\"lost\":0"), std::string::npos) << *line;
  EXPECT_EQ(number_at(*line, "size"), 16);
  EXPECT_EQ(number_at(*line, "size_max"), 4096);
  auto mean = number_at(*line, "mean_size");
  ASSERT_TRUE(mean) << *line;
  EXPECT_GT(*mean, 1900) << *line;
  EXPECT_LT(*mean, 2200) << *line;
  // MB/s counts the bytes received, not the smallest size.
  auto rate = number_at(*line, "rate");
  auto mbs = number_at(*line, "mb_per_s");
  ASSERT_TRUE(rate && mbs) << *line;
  EXPECT_NEAR(*mbs, *rate * *mean / 1e6, *mbs * 0.01 + 0.002) << *line;
  EXPECT_EQ(perf.wait(30s), 0);
}

TEST(WarrenPerf, SizeRangeInTheTextSummary) {
  Process perf({kWarrenPerf, "--embedded", "-s", "8-64", "-C", "500"});
  auto line = perf.wait_for_line("summary:", 60s);
  ASSERT_TRUE(line) << perf.output();
  EXPECT_NE(line->find("1p/1c, 8-64 B, auto-ack"), std::string::npos) << *line;
  EXPECT_EQ(perf.wait(30s), 0);
}

TEST(WarrenPerf, BadSizesAreUsageErrors) {
  for (const char* size : {"7", "100-50", "abc", "10-", "-10", "1-2-3", "99999999999999"})
    EXPECT_EQ(exit_status({kWarrenPerf, "--embedded", "-s", size, "-C", "10"}), 2) << size;
}

bool amqp_perf_built() { return std::filesystem::exists(kAmqpPerf); }

TEST(AmqpPerf, UsageErrorsExitWithTwo) {
  if (!amqp_perf_built()) GTEST_SKIP() << "amqp-perf not built (librabbitmq-dev missing)";
  EXPECT_EQ(exit_status({kAmqpPerf, "--endpoint", "tcp://127.0.0.1:5672", "-C", "10"}), 2);
  EXPECT_EQ(exit_status({kAmqpPerf, "-s", "4", "-C", "10"}), 2);
  EXPECT_EQ(exit_status({kAmqpPerf, "--embedded", "-C", "10"}), 2);  // warren-perf only
  EXPECT_EQ(exit_status({kAmqpPerf, "--rpc", "--persistent", "-C", "10"}), 2);
  EXPECT_EQ(exit_status({kAmqpPerf, "--help"}), 0);
}

// A port on 127.0.0.1 where nothing listens: bound, never listened on.
class UnusedPort {
 public:
  UnusedPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot bind a port");
    port_ = ntohs(a.sin_port);
  }
  ~UnusedPort() { ::close(fd_); }
  UnusedPort(const UnusedPort&) = delete;
  UnusedPort& operator=(const UnusedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST(AmqpPerf, NoBrokerIsAnErrorNotAHang) {
  if (!amqp_perf_built()) GTEST_SKIP() << "amqp-perf not built (librabbitmq-dev missing)";
  UnusedPort port;
  auto endpoint = "amqp://guest:guest@127.0.0.1:" + std::to_string(port.port());
  EXPECT_EQ(exit_status({kAmqpPerf, "--endpoint", endpoint, "-C", "10"}), 1);
  EXPECT_EQ(exit_status({kAmqpPerf, "--endpoint", endpoint, "--rpc", "-C", "10"}), 1);
}

bool baseline_built() { return std::filesystem::exists(kBaseline); }

// The window mode forwards while fewer than --window messages are unacked:
// every message arrives only if the consumer's acks reopen the window (a
// lost ack would stall the run, which then reports lost messages), also
// when the count is not a multiple of --ack-every.
TEST(ZmqProxyBaseline, WindowModeMovesEveryMessage) {
  if (!baseline_built()) GTEST_SKIP() << "bench/ not built";
  Process p({kBaseline, "--mode", "window", "--window", "10", "--ack-every", "5", "-C", "2003", "--json"});
  auto line = p.wait_for_line("\"tool\"", 60s);
  ASSERT_TRUE(line) << p.output();
  EXPECT_NE(line->find("\"scenario\":\"zmq-window\""), std::string::npos) << *line;
  EXPECT_NE(line->find("\"sent\":2003,\"received\":2003,\"lost\":0"), std::string::npos) << *line;
  EXPECT_EQ(p.finish(30s), 0);
}

TEST(ZmqProxyBaseline, BadWindowsAreUsageErrors) {
  if (!baseline_built()) GTEST_SKIP() << "bench/ not built";
  EXPECT_EQ(exit_status({kBaseline, "--mode", "window", "--window", "10", "--ack-every", "11", "-C", "10"}), 2);
  EXPECT_EQ(exit_status({kBaseline, "--mode", "window", "--window", "0", "--ack-every", "1", "-C", "10"}), 2);
  EXPECT_EQ(exit_status({kBaseline, "--mode", "credit", "-C", "10"}), 2);
}

// The start of a run's row in pubsub-bench's table, as it prints it.
std::string bench_row(const char* scenario, int size, int run) {
  char row[64];
  std::snprintf(row, sizeof row, "\n%-10s %7d %4d ", scenario, size, run);
  return row;
}

// --scenarios runs only the ones named (here warren alone: no proxy row),
// and the summary still has the figure.
TEST(PubSubBench, ScenariosRunsOnlyThoseNamed) {
  if (!std::filesystem::exists(kPubSubBench)) GTEST_SKIP() << "bench/ not built";
  Process p({kPubSubBench, "--scenarios", "warren", "--count", "2000", "--runs", "1", "--sizes", "100"});
  ASSERT_EQ(p.finish(60s), 0) << p.output();
  EXPECT_NE(p.output().find(bench_row("warren", 100, 1)), std::string::npos) << p.output();
  EXPECT_EQ(p.output().find("zmq-proxy"), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("median of 1 runs"), std::string::npos) << p.output();
}

// zmq-batch packs 256 messages of 100 B (64 of 1 KiB) per frame; the last
// frame of a count that is not a multiple carries the rest, and every
// message is counted at the subscriber (lost 0).
TEST(PubSubBench, BatchedProxyDeliversEveryMessage) {
  if (!std::filesystem::exists(kPubSubBench)) GTEST_SKIP() << "bench/ not built";
  Process p({kPubSubBench, "--scenarios", "zmq-batch", "--count", "1000", "--runs", "1", "--sizes", "100,1024"});
  ASSERT_EQ(p.finish(60s), 0) << p.output();
  for (int size : {100, 1024}) {
    auto at = p.output().find(bench_row("zmq-batch", size, 1));
    ASSERT_NE(at, std::string::npos) << p.output();
    auto line = p.output().substr(at + 1, p.output().find('\n', at + 1) - at - 1);
    EXPECT_EQ(line.substr(line.find_last_of(' ') + 1), "0") << line;  // lost
  }
}

TEST(PubSubBench, UnknownScenariosAreUsageErrors) {
  if (!std::filesystem::exists(kPubSubBench)) GTEST_SKIP() << "bench/ not built";
  EXPECT_EQ(exit_status({kPubSubBench, "--scenarios", "warren,kafka", "--count", "10"}), 2);
  EXPECT_EQ(exit_status({kPubSubBench, "--scenarios", "redis", "--count", "10"}), 2);  // no --redis-port
}

}  // namespace
}  // namespace warren::testing
