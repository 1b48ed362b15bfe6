// End to end: warren-perf's message size ranges and their report.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "support/process.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

const std::string kWarrenPerf = std::string(TOOLS_DIR) + "/warren-perf";

// The number stored under "key" in a JSON line, if any.
std::optional<double> number_at(const std::string& line, const std::string& key) {
  auto at = line.find("\"" + key + "\":");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(line.substr(at + key.size() + 3));
}

// Runs a tool to its end; returns its exit status.
int exit_status(std::vector<std::string> argv) {
  Process p(std::move(argv));
  auto status = p.wait(30s);
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

}  // namespace
}  // namespace warren::testing
