// warrend as operators run it: a config file, flags that override it,
// --print-config, a log file that SIGHUP reopens, and the sample config.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

TEST(WarrendConfig, UsersSettingsAreShown) {
  TempDir dir;
  auto conf = dir.write("u.conf", "users-file = /etc/warren/users\nallow-remote-guest = true\n");
  auto s = print_config({"--config", conf});
  EXPECT_EQ(s["users-file"], "/etc/warren/users");
  EXPECT_EQ(s["allow-remote-guest"], "true");
  auto defaults = print_config({});
  EXPECT_EQ(defaults["users-file"], "");
  EXPECT_EQ(defaults["allow-remote-guest"], "false");
}

TEST(WarrendConfig, EveryDurabilityAndLimitSettingIsShown) {
  TempDir dir;
  auto conf = dir.write("d.conf", "data-dir = /srv/warren\nsync-interval = 10\nmemory-limit = 512M\n"
                                  "max-connections = 100\nmax-queues = 50\nlog-format = json\n");
  auto s = print_config({"--config", conf, "--memory-limit", "1G"});
  EXPECT_EQ(s["data-dir"], "/srv/warren");
  EXPECT_EQ(s["sync-interval"], "10");
  EXPECT_EQ(s["memory-limit"], "1G");
  EXPECT_EQ(s["max-connections"], "100");
  EXPECT_EQ(s["max-queues"], "50");
  EXPECT_EQ(s["log-format"], "json");
  Process bad_limit({kWarrendPath, "--memory-limit", "lots"});
  EXPECT_EQ(bad_limit.wait(), 2);
  Process bad_format({kWarrendPath, "--log-format", "xml"});
  EXPECT_EQ(bad_format.wait(), 2);
}

TEST(WarrendConfig, JsonLogLinesAreObjects) {
  TempDir dir;
  auto log = (dir.path / "warrend.log").string();
  Process warrend({kWarrendPath, "--endpoint", "tcp://127.0.0.1:*", "--no-pubsub", "--data-dir",
                   (dir.path / "data").string(), "--log-format", "json", "--log-file", log});
  auto line = warrend.wait_for_line("listening on");
  ASSERT_TRUE(line);
  {
    Connection conn(line->substr(line->find("tcp://")));
  }
  ASSERT_TRUE(wait_until([&] { return read_file(log).find("connection closed") != std::string::npos; }));
  EXPECT_EQ(warrend.stop(SIGTERM), 0);
  std::istringstream lines(read_file(log));
  int n = 0;
  for (std::string l; std::getline(lines, l); ++n) {
    EXPECT_TRUE(l.starts_with("{\"time\":\"") && l.ends_with("}")) << l;
    EXPECT_NE(l.find("\"level\":\""), std::string::npos) << l;
    EXPECT_NE(l.find("\"subject\":\""), std::string::npos) << l;
  }
  EXPECT_GE(n, 4);  // data directory, listening, opened, closed, stopped
  EXPECT_NE(read_file(log).find("\"subject\":\"connection opened\",\"details\":\"peer=127.0.0.1"),
            std::string::npos)
      << read_file(log);
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
