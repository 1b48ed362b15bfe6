// Remote execution end to end: a real warrend, three warren-minion processes
// with different ids and grains, and warren-master runs. Each target type
// must reach exactly the right minions (checked on both sides: the master's
// returns and each minion's own log of the job), a stopped minion is named
// as not returned, cmd.run is refused unless enabled and allowlisted, a bad
// function gives an error return and the minion stays up.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "support/warrend.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Ids = std::set<std::string>;

const std::string kMinion = std::string(REMOTE_DIR) + "/warren-minion";
const std::string kMaster = std::string(REMOTE_DIR) + "/warren-master";

// The value of "key":"..." in a JSON line (no escapes in what we look for).
std::string json_field(const std::string& line, const std::string& key) {
  auto at = line.find("\"" + key + "\":\"");
  if (at == std::string::npos) return {};
  at += key.size() + 4;
  return line.substr(at, line.find('"', at) - at);
}

struct MasterRun {
  int status = -1;
  std::vector<std::string> lines;
  std::string output;
  Ids returned;     // minions that returned success
  Ids failed;       // minions that returned failure
  Ids missing;      // named as "did not return"
  std::string jid;
  std::string line_of(const std::string& id) const {
    for (const auto& l : lines)
      if (json_field(l, "id") == id) return l;
    return {};
  }
};

class RemoteExecutionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(broker_.endpoint.empty());
    start_minion("web1", {"-g", "role=web", "-g", "env=prod", "--cmd-enabled", "--cmd-allow", "echo"});
    start_minion("web2", {"-g", "role=web", "-g", "env=dev"});
    start_minion("db1", {"-g", "role=db", "-g", "env=prod"});
    for (auto& [id, p] : minions_) ASSERT_TRUE(p->wait_for_line("minion " + id + " ready")) << id;
  }

  void start_minion(const std::string& id, std::vector<std::string> extra) {
    std::vector<std::string> args{kMinion, "--endpoint", broker_.endpoint, "--id", id, "--announce-interval", "500"};
    args.insert(args.end(), extra.begin(), extra.end());
    minions_[id] = std::make_unique<Process>(args);
  }

  MasterRun master(std::vector<std::string> args) {
    args.insert(args.begin(), {kMaster, "--endpoint", broker_.endpoint, "--state-dir", state_.path.string(), "--out", "json"});
    Process p(args);
    MasterRun run;
    while (auto line = p.wait_for_line("", 30s)) {
      run.lines.push_back(*line);
      auto id = json_field(*line, "id");
      if (run.jid.empty()) run.jid = json_field(*line, "jid");
      if (line->find("Minion did not return") != std::string::npos) run.missing.insert(id);
      else if (line->find("\"success\":true") != std::string::npos) run.returned.insert(id);
      else if (!id.empty()) run.failed.insert(id);
    }
    run.output = p.output();
    auto status = p.wait(10s);
    run.status = status ? *status : -1;
    return run;
  }

  // Each minion's log line for `jid`: "returned ..." or "not targeted".
  Ids minions_that_ran(const std::string& jid) {
    Ids ran;
    for (auto& [id, p] : minions_) {
      if (p->wait(0ms)) continue;  // stopped
      auto line = p->wait_for_line(jid, 10s);
      EXPECT_TRUE(line) << id << " never logged job " << jid;
      if (line && line->find(": returned") != std::string::npos) ran.insert(id);
    }
    return ran;
  }

  Warrend broker_{{"--no-pubsub"}};
  TempDir state_;
  std::map<std::string, std::unique_ptr<Process>> minions_;
};

TEST_F(RemoteExecutionTest, EachTargetTypeReachesExactlyTheRightMinions) {
  struct Case {
    std::vector<std::string> target;
    Ids expected;
  };
  const Case cases[] = {
      {{"*"}, {"web1", "web2", "db1"}},
      {{"web*"}, {"web1", "web2"}},
      {{"--tgt-type", "list", "web1,db1"}, {"web1", "db1"}},
      {{"-L", "web2"}, {"web2"}},
      {{"-G", "env:prod"}, {"web1", "db1"}},
      {{"--tgt-type", "grain", "role:w*"}, {"web1", "web2"}},
      {{"-C", "G@role:web and not L@web1"}, {"web2"}},
      {{"-C", "db* or G@env:dev and web*"}, {"db1", "web2"}},
      {{"-C", "( db* or G@env:dev ) and G@role:web"}, {"web2"}},
  };
  for (const auto& c : cases) {
    auto args = c.target;
    args.insert(args.end(), {"test.ping"});
    auto run = master(args);
    SCOPED_TRACE(run.output);
    EXPECT_EQ(run.status, 0);
    EXPECT_EQ(run.returned, c.expected);
    EXPECT_TRUE(run.failed.empty());
    EXPECT_TRUE(run.missing.empty());
    ASSERT_FALSE(run.jid.empty());
    EXPECT_EQ(minions_that_ran(run.jid), c.expected);  // the others saw the job and declined it
  }
  // A target that names nobody sends nothing.
  auto none = master({"nobody*", "test.ping"});
  EXPECT_EQ(none.status, 2);
  EXPECT_TRUE(none.lines.empty());
  // A malformed target is refused before anything is sent.
  EXPECT_EQ(master({"-C", "web* and", "test.ping"}).status, 2);
}

TEST_F(RemoteExecutionTest, ReturnsCarryEveryField) {
  auto run = master({"web1", "test.echo", "hello"});
  ASSERT_EQ(run.status, 0) << run.output;
  auto line = run.line_of("web1");
  for (auto field : {"\"id\":\"web1\"", "\"fun\":\"test.echo\"", "\"args\":[\"hello\"]", "\"return\":\"hello\"",
                     "\"retcode\":0", "\"success\":true", "\"duration\":"})
    EXPECT_NE(line.find(field), std::string::npos) << field << " in " << line;
  EXPECT_EQ(json_field(line, "jid").size(), 20u);
  auto grains = master({"db1", "grains.items"});
  EXPECT_NE(grains.line_of("db1").find("\"role\":\"db\""), std::string::npos) << grains.output;
  EXPECT_NE(grains.line_of("db1").find("\"num_cpus\":"), std::string::npos) << grains.output;
}

TEST_F(RemoteExecutionTest, StoppedMinionsAreReportedAsNotReturned) {
  ASSERT_EQ(minions_["web2"]->stop(SIGKILL), -SIGKILL);  // gone without a word
  ASSERT_EQ(minions_["db1"]->stop(SIGTERM), 0);          // says it stops
  auto started = Clock::now();
  auto run = master({"*", "test.ping", "-t", "1.5"});
  auto took = Clock::now() - started;
  SCOPED_TRACE(run.output);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.returned, Ids{"web1"});
  EXPECT_EQ(run.missing, (Ids{"web2", "db1"}));
  EXPECT_LT(took, 10s);  // the timeout and a start-up, generously
  // --list: db1 is down at once, web2 once it missed 3 announcements.
  std::string listing;
  auto deadline = Clock::now() + 10s;
  do {  // poll, gently, until the deadline
    if (!listing.empty()) std::this_thread::sleep_for(50ms);
    listing = master({"--list"}).output;
  } while (listing.find("\"down\":[\"db1\",\"web2\"]") == std::string::npos && Clock::now() < deadline);
  EXPECT_EQ(listing, "{\"down\":[\"db1\",\"web2\"],\"up\":[\"web1\"]}\n");
  // --forget: db1 is no longer expected.
  EXPECT_EQ(master({"--forget", "db1"}).status, 0);
  EXPECT_EQ(master({"*", "test.ping", "-t", "1"}).missing, Ids{"web2"});
}

TEST_F(RemoteExecutionTest, CmdRunIsRefusedUnlessEnabledAndAllowed) {
  auto run = master({"*", "cmd.run", "echo hi there"});
  SCOPED_TRACE(run.output);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.returned, Ids{"web1"});
  EXPECT_NE(run.line_of("web1").find("\"stdout\":\"hi there\\n\""), std::string::npos);
  EXPECT_EQ(run.failed, (Ids{"web2", "db1"}));
  EXPECT_NE(run.line_of("web2").find("cmd.run is disabled"), std::string::npos);
  auto denied = master({"web1", "cmd.run", "ls /"});
  EXPECT_EQ(denied.status, 1);
  EXPECT_EQ(denied.failed, Ids{"web1"});
  EXPECT_NE(denied.line_of("web1").find("not allowed"), std::string::npos) << denied.output;
  // No shell: the operators are words handed to echo, nothing else runs.
  auto words = master({"web1", "cmd.run", "echo a; ls /"});
  EXPECT_NE(words.line_of("web1").find("\"stdout\":\"a; ls /\\n\""), std::string::npos) << words.output;
}

TEST_F(RemoteExecutionTest, BadFunctionsAndArgumentsGiveErrorsAndTheMinionStaysUp) {
  auto bad = master({"web1", "no.such"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.line_of("web1").find("'no.such' is not available."), std::string::npos) << bad.output;
  auto args = master({"web1", "test.sleep", "soon"});
  EXPECT_EQ(args.failed, Ids{"web1"});
  EXPECT_NE(args.line_of("web1").find("Passed invalid arguments"), std::string::npos) << args.output;
  auto slow = master({"web1", "test.sleep", "30", "-t", "1"});
  EXPECT_EQ(slow.failed, Ids{"web1"});  // the minion's own timeout error, within the master's wait
  EXPECT_NE(slow.line_of("web1").find("Timed out"), std::string::npos) << slow.output;
  EXPECT_FALSE(minions_["web1"]->wait(0ms));  // still running
  EXPECT_EQ(master({"web1", "test.ping"}).returned, Ids{"web1"});
}

TEST_F(RemoteExecutionTest, LookupShowsTheReturnsOfARecentJob) {
  minions_["db1"]->stop(SIGKILL);
  auto run = master({"*", "test.echo", "kept", "-t", "1"});
  ASSERT_FALSE(run.jid.empty());
  auto lookup = master({"--lookup", run.jid});
  EXPECT_EQ(lookup.status, 1);  // db1 did not return then
  EXPECT_EQ(lookup.returned, (Ids{"web1", "web2"}));
  EXPECT_EQ(lookup.missing, Ids{"db1"});
  EXPECT_EQ(master({"--lookup", "20000101000000000000"}).status, 2);
  EXPECT_EQ(master({"--lookup", "../../etc/passwd"}).status, 2);
}

}  // namespace
}  // namespace warren::testing
