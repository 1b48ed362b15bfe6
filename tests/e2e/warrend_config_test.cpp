// warrend as operators run it: a config file, flags that override it,
// --print-config, a log file that SIGHUP reopens, and the sample config.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/broker_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/warrend.hpp"
#include "warren/warren.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::map<std::string, std::string> print_config(std::vector<std::string> args) {
  args.insert(args.begin(), kWarrendPath);
  args.push_back("--print-config");
  Process p(args);
  std::map<std::string, std::string> settings;
  while (auto line = p.wait_for_line(" = ", 5s)) {
    auto eq = line->find(" = ");
    settings[line->substr(0, eq)] = line->substr(eq + 3);
  }
  EXPECT_EQ(p.wait(), 0);
  return settings;
}

TEST(WarrendConfig, FileSetsAndFlagsOverride) {
  TempDir dir;
  auto conf = dir.write("w.conf", "endpoint = tcp://127.0.0.1:5999\nheartbeat = 500\nlog-level = debug\n"
                                  "no-pubsub = true\n");
  auto from_file = print_config({"--config", conf});
  EXPECT_EQ(from_file["endpoint"], "tcp://127.0.0.1:5999");
  EXPECT_EQ(from_file["heartbeat"], "500");
  EXPECT_EQ(from_file["log-level"], "debug");
  EXPECT_EQ(from_file["no-pubsub"], "true");
  EXPECT_EQ(from_file["max-channels"], "2047") << "defaults fill what the file leaves out";
  auto overridden = print_config({"--config", conf, "--heartbeat", "700", "--endpoint", "tcp://127.0.0.1:6000"});
  EXPECT_EQ(overridden["heartbeat"], "700");
  EXPECT_EQ(overridden["endpoint"], "tcp://127.0.0.1:6000");
  EXPECT_EQ(overridden["log-level"], "debug");
}

TEST(WarrendConfig, BadConfigIsAClearUsageError) {
  TempDir dir;
  Process missing({kWarrendPath, "--config", (dir.path / "absent.conf").string()});
  EXPECT_EQ(missing.wait(), 2);
  Process unknown({kWarrendPath, "--config", dir.write("bad.conf", "no-such-setting = 1\n")});
  EXPECT_EQ(unknown.wait(), 2);
  Process bad_value({kWarrendPath, "--config", dir.write("bad2.conf", "heartbeat = soon\n")});
  EXPECT_EQ(bad_value.wait(), 2);
}

TEST(WarrendConfig, SampleConfigIsValid) {
  auto settings = print_config({"--config", std::string(SOURCE_DIR) + "/packaging/warrend.conf"});
  EXPECT_EQ(settings["endpoint"], "tcp://127.0.0.1:5673");
}

TEST(WarrendConfig, ConfigFileRunsTheBrokerAndSighupReopensTheLog) {
  TempDir dir;
  auto log = (dir.path / "warrend.log").string();
  auto conf = dir.write("w.conf", "endpoint = tcp://127.0.0.1:*\nno-pubsub = true\nlog-file = " + log +
                                      "\ndata-dir = " + (dir.path / "data").string() + "\n");
  Process warrend({kWarrendPath, "--config", conf});
  auto line = warrend.wait_for_line("listening on");
  ASSERT_TRUE(line);
  std::string endpoint = line->substr(line->find("tcp://"));
  {
    Connection conn(endpoint);
    conn.channel().queue_declare("logged");
  }
  ASSERT_TRUE(wait_until([&] { return read_file(log).find("connection closed") != std::string::npos; }));
  // logrotate's move-then-HUP: the old file keeps what it had, a new one starts.
  fs::rename(log, log + ".1");
  ::kill(warrend.pid(), SIGHUP);
  {
    Connection conn(endpoint);  // an event to log after the HUP
  }
  ASSERT_TRUE(wait_until([&] { return read_file(log).find("connection opened") != std::string::npos; }));
  EXPECT_NE(read_file(log + ".1").find("connection opened"), std::string::npos);
  EXPECT_EQ(warrend.stop(SIGTERM), 0);
  EXPECT_NE(read_file(log).find("broker stopped"), std::string::npos);
}

}  // namespace
}  // namespace warren::testing
