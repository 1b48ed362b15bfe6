// Remote execution with permissions on: the users file of
// docs/remote-execution.md ("Permissions"), a minion and a master each with
// their own user. The master runs a job; the minion's user cannot publish one.
#include <gtest/gtest.h>

#include <thread>

#include "master.hpp"
#include "minion.hpp"
#include "support/broker_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/zap_handler.hpp"

namespace warren::testing {
namespace {

// The lines docs/remote-execution.md gives, for a master and the minion web1.
constexpr const char* kUsersFile = R"(
user master monitoring
permissions master "^warren\.remote\.(jobs|presence\..*)$" "^warren\.remote\.jobs$" "^warren\.remote\.presence\..*$"
user minion-web1
permissions minion-web1 "^(amq\.gen-.*|warren\.remote\.jobs|warren\.remote\.presence\.web1)$" "^(amq\.gen-.*|amq\.default|warren\.remote\.presence\.web1)$" "^(amq\.gen-.*|warren\.remote\.jobs|warren\.remote\.presence\.web1)$"
)";

TEST(RemotePermissionsTest, OnlyTheMastersUserPublishesJobs) {
  TempDir dir;
  zmq::context_t ctx;
  ZapHandler zap(ctx);
  auto o = quiet_broker();
  o.context = &ctx;
  o.zap_domain = "warren";
  o.users_file = dir.write("users", kUsersFile);
  Broker broker(o);
  broker.start();

  zap.set_user("minion-web1");
  remote::MinionOptions mo;
  mo.endpoint = broker.endpoint();
  mo.id = "web1";
  mo.grains = FieldTable{{"id", "web1"}};
  mo.workers = 1;
  mo.announce_interval = std::chrono::milliseconds(60000);
  remote::Minion minion(std::move(mo));
  std::thread runner([&] {
    try {
      minion.run();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "minion stopped: " << e.what();
    }
  });
  struct Stop {
    remote::Minion& m;
    std::thread& t;
    ~Stop() {
      m.stop();
      t.join();
    }
  } stop{minion, runner};
  ASSERT_TRUE(wait_until([&] { return minion.ready(); }, 10s));

  // The master, as its own user, sees the minion and runs a job on it.
  zap.set_user("master");
  Connection master(broker.endpoint());
  auto ch = master.channel();
  auto roster = remote::read_roster(ch);
  ASSERT_EQ(roster.size(), 1u);
  auto job = remote::make_job("*", remote::TargetType::kGlob, "test.ping", {}, 10s);
  auto outcome = remote::run_job(master, ch, job, remote::expected_minions(roster, job), 10s);
  ASSERT_EQ(outcome.returns.size(), 1u);
  EXPECT_TRUE(outcome.returns[0].success);
  EXPECT_TRUE(wait_until([&] { return minion.jobs_run() == 1; }));

  // A connection as the minion's user cannot publish a job.
  zap.set_user("minion-web1");
  Connection rogue(broker.endpoint());
  auto rch = rogue.channel();
  auto fake = remote::make_job("*", remote::TargetType::kGlob, "test.ping", {}, 10s);
  rch.basic_publish(remote::kJobsExchange, "", remote::encode_job(fake));
  try {
    rch.queue_declare("warren.remote.presence.web1", {.passive = true});
    ADD_FAILURE() << "the job was accepted";
  } catch (const ChannelError& e) {
    EXPECT_EQ(e.code(), ReplyCode::kAccessRefused);
    EXPECT_NE(std::string(e.what()).find(
                  "write access to exchange 'warren.remote.jobs' in vhost '/' refused for user 'minion-web1'"),
              std::string::npos)
        << e.what();
  }
  // Nor touch another minion's presence queue (configure is its own only).
  expect_refused<ChannelError>([&] { rogue.channel().queue_delete("warren.remote.presence.db1"); },
                               ReplyCode::kAccessRefused);
  // The master's user cannot read a minion's job queue nor publish returns
  // by the default exchange (it has no write on amq.default).
  expect_refused<ChannelError>(
      [&] {
        auto c = master.channel();
        c.basic_publish("", "warren.remote.presence.web1", "fake");
        c.queue_declare("warren.remote.presence.web1", {.passive = true});
      },
      ReplyCode::kAccessRefused);
  // The fake job ran nowhere; the master still runs real ones.
  auto again = remote::run_job(master, ch, remote::make_job("web1", remote::TargetType::kGlob, "test.ping", {}, 10s),
                               {"web1"}, 10s);
  EXPECT_EQ(again.returns.size(), 1u);
  EXPECT_TRUE(wait_until([&] { return minion.jobs_run() == 2; }));
  EXPECT_EQ(minion.jobs_run(), 2u);
}

}  // namespace
}  // namespace warren::testing
