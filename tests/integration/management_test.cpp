// management.query details not covered by warrenctl's end-to-end test.
#include <gtest/gtest.h>

#include "support/broker_fixture.hpp"

namespace warren::testing {
namespace {

class ManagementTest : public BrokerTest {};

// The queues row of `name`.
FieldTable queue_row(Channel& ch, const std::string& name) {
  for (auto& row : ch.management_query("queues"))
    if (row.at("name").as<std::string>() == name) return row;
  ADD_FAILURE() << "no queue " << name;
  return {};
}

TEST_F(ManagementTest, QueuesReportTheirOwnPublishAndDeliverRates) {
  auto conn = connect();
  auto ch = conn.channel();
  ch.queue_declare("busy");
  ch.queue_declare("idle");
  auto admin = conn.channel();
  std::uint64_t got = 0;
  ch.basic_consume("busy", [&](const Message&) { ++got; }, {.auto_ack = true});
  // Traffic until a sample (about once a second) has seen it.
  double publish_rate = 0, deliver_rate = 0;
  ASSERT_TRUE(pump_until(conn, [&] {
    for (int i = 0; i < 100; ++i) ch.basic_publish("", "busy", "m");
    auto row = queue_row(admin, "busy");
    publish_rate = row.at("publish_rate").as<double>();
    deliver_rate = row.at("deliver_rate").as<double>();
    return publish_rate > 0 && deliver_rate > 0;
  }, 10s));
  auto idle = queue_row(admin, "idle");
  EXPECT_EQ(idle.at("publish_rate").as<double>(), 0.0);
  EXPECT_EQ(idle.at("deliver_rate").as<double>(), 0.0);
}

}  // namespace
}  // namespace warren::testing
