// The pure parts of queue limits: parsing x- arguments and the expiration
// property (queue_limits.hpp), and the dead-letter history (dead_letter.hpp).
#include <gtest/gtest.h>

#include "dead_letter.hpp"
#include "queue_limits.hpp"
#include "warren/protocol.hpp"

namespace warren::detail {
namespace {

using namespace std::chrono_literals;

TEST(QueueLimits, NoArgumentsNoLimits) {
  QueueLimits l;
  EXPECT_EQ(parse_queue_limits({}, "q", l), std::nullopt);
  EXPECT_FALSE(l.message_ttl || l.expires || l.has_length_limit() || l.dead_letter_exchange ||
               l.delivery_limit);
  EXPECT_EQ(l.overflow, Overflow::kDropHead);
}

TEST(QueueLimits, ReadsEveryArgument) {
  QueueLimits l;
  FieldTable args{{"x-message-ttl", 0},
                  {"x-expires", 1},
                  {"x-max-length", 3},
                  {"x-max-length-bytes", 4},
                  {"x-overflow", "reject-publish"},
                  {"x-dead-letter-exchange", "dlx"},
                  {"x-dead-letter-routing-key", "k"},
                  {"x-delivery-limit", 5},
                  {"x-unknown", "ignored"}};
  EXPECT_EQ(parse_queue_limits(args, "q", l), std::nullopt);
  EXPECT_EQ(l.message_ttl, 0ms);
  EXPECT_EQ(l.expires, 1ms);
  EXPECT_EQ(l.max_length, 3u);
  EXPECT_EQ(l.max_length_bytes, 4u);
  EXPECT_EQ(l.overflow, Overflow::kRejectPublish);
  EXPECT_EQ(l.dead_letter_exchange, "dlx");
  EXPECT_EQ(l.dead_letter_routing_key, "k");
  EXPECT_EQ(l.delivery_limit, 5u);
}

TEST(QueueLimits, FirstInvalidArgumentIsReportedAndSkipped) {
  QueueLimits l;
  auto error =
      parse_queue_limits({{"x-message-ttl", -1}, {"x-max-length", 2}, {"x-expires", 0}}, "work", l);
  EXPECT_EQ(error,
            "invalid arg 'x-message-ttl' for queue 'work' in vhost '/': value -1 is negative");
  EXPECT_FALSE(l.message_ttl);
  EXPECT_FALSE(l.expires);
  EXPECT_EQ(l.max_length, 2u);  // the valid ones still count (a restored queue keeps them)
}

TEST(QueueLimits, ErrorTexts) {
  auto error = [](FieldTable args) {
    QueueLimits l;
    return parse_queue_limits(args, "q", l).value_or("");
  };
  const std::string prefix = "for queue 'q' in vhost '/': ";
  EXPECT_EQ(error({{"x-expires", 0}}),
            "invalid arg 'x-expires' " + prefix + "value 0 is not positive");
  EXPECT_EQ(error({{"x-message-ttl", 4294967296LL}}),
            "invalid arg 'x-message-ttl' " + prefix + "value 4294967296 is larger than 4294967295");
  EXPECT_EQ(error({{"x-max-length", "5"}}),
            "invalid arg 'x-max-length' " + prefix + "expected an integer, got a string");
  EXPECT_EQ(error({{"x-overflow", "drop-tail"}}),
            "invalid arg 'x-overflow' " + prefix +
                "expected 'drop-head' or 'reject-publish', got 'drop-tail'");
  EXPECT_EQ(error({{"x-dead-letter-exchange", Bytes{"dlx"}}}),
            "invalid arg 'x-dead-letter-exchange' " + prefix + "expected a string, got bytes");
  EXPECT_EQ(
      error({{"x-dead-letter-routing-key", "k"}}),
      "invalid arg 'x-dead-letter-routing-key' " + prefix + "given without x-dead-letter-exchange");
}

TEST(Expiration, DigitsOnlyWithinTheLimit) {
  EXPECT_EQ(parse_expiration("0"), 0ms);
  EXPECT_EQ(parse_expiration("1500"), 1500ms);
  EXPECT_EQ(parse_expiration("4294967295"), 4294967295ms);
  for (auto bad :
       {"", "-1", "+1", " 1", "1 ", "1.0", "1e3", "abc", "4294967296", "99999999999999999999999"})
    EXPECT_EQ(parse_expiration(bad), std::nullopt) << bad;
}

TEST(Expiration, OfRawProperties) {
  EXPECT_FALSE(expiration_of("").text);
  Properties p;
  p.content_type = "text/plain";
  EXPECT_FALSE(expiration_of(protocol::encode_properties(p)).text);
  p.expiration = "25";
  auto e = expiration_of(protocol::encode_properties(p));
  EXPECT_EQ(e.ttl, 25ms);
  EXPECT_TRUE(e.valid());
  p.expiration = "soon";
  e = expiration_of(protocol::encode_properties(p));
  EXPECT_EQ(e.text, "soon");
  EXPECT_FALSE(e.valid());
}

// ---- dead letters ----

FieldTable entry(std::string queue, std::string reason, std::int64_t count = 1) {
  return FieldTable{
      {"queue", std::move(queue)}, {"reason", std::move(reason)}, {"count", FieldValue(count)}};
}

Properties with_deaths(FieldArray deaths) {
  Properties p;
  p.headers = FieldTable{{"x-death", std::move(deaths)}, {"x-first-death-queue", "first"}};
  return p;
}

TEST(DeadLetter, FirstDeath) {
  Properties p;
  p.expiration = "100";
  p.headers = FieldTable{{"app", 1}};
  auto copy = dead_letter_copy(protocol::encode_properties(p),
                               Death{"q", DeathReason::kExpired, "x", "rk", 1234});
  auto out = protocol::decode_properties(copy.properties);
  EXPECT_FALSE(out.expiration);
  FieldTable expected{{"queue", "q"},
                      {"reason", "expired"},
                      {"count", FieldValue(std::int64_t{1})},
                      {"time", 1234},
                      {"exchange", "x"},
                      {"routing-keys", FieldArray{"rk"}},
                      {"original-expiration", "100"}};
  ASSERT_EQ(copy.deaths.size(), 1u);
  EXPECT_EQ(copy.deaths[0], FieldValue(expected));
  const auto& h = *out.headers;
  EXPECT_EQ(h.at("x-death"), FieldValue(copy.deaths));
  EXPECT_EQ(h.at("app"), FieldValue(1));
  EXPECT_EQ(h.at("x-first-death-queue"), FieldValue("q"));
  EXPECT_EQ(h.at("x-first-death-reason"), FieldValue("expired"));
  EXPECT_EQ(h.at("x-first-death-exchange"), FieldValue("x"));
}

TEST(DeadLetter, SameQueueAndReasonCountsUpAndMovesToTheFront) {
  auto raw =
      protocol::encode_properties(with_deaths({entry("a", "expired"), entry("b", "rejected", 2)}));
  auto copy = dead_letter_copy(raw, Death{"b", DeathReason::kRejected, "x", "rk", 99});
  ASSERT_EQ(copy.deaths.size(), 2u);
  EXPECT_EQ(copy.deaths[0],
            FieldValue(entry("b", "rejected", 3)));  // its other fields as they were
  EXPECT_EQ(copy.deaths[1], FieldValue(entry("a", "expired")));
  EXPECT_EQ(protocol::decode_properties(copy.properties).headers->at("x-first-death-queue"),
            FieldValue("first"));
}

TEST(DeadLetter, OtherReasonIsANewEntryInFront) {
  auto raw = protocol::encode_properties(with_deaths({entry("b", "rejected")}));
  auto copy = dead_letter_copy(raw, Death{"b", DeathReason::kMaxLen, "", "b", 1});
  ASSERT_EQ(copy.deaths.size(), 2u);
  EXPECT_EQ(copy.deaths[0].as<FieldTable>().at("reason"), FieldValue("maxlen"));
  EXPECT_EQ(copy.deaths[1], FieldValue(entry("b", "rejected")));
}

TEST(DeadLetter, MalformedHistoryIsToleratedNotTrusted) {
  Properties p;
  p.headers = FieldTable{{"x-death", "not an array"}};
  auto copy = dead_letter_copy(protocol::encode_properties(p),
                               Death{"q", DeathReason::kDeliveryLimit, "", "q", 1});
  ASSERT_EQ(copy.deaths.size(), 1u);
  EXPECT_EQ(copy.deaths[0].as<FieldTable>().at("reason"), FieldValue("delivery_limit"));
  auto odd = protocol::encode_properties(with_deaths({FieldValue(7), entry("q", "expired")}));
  copy = dead_letter_copy(odd, Death{"q", DeathReason::kExpired, "", "q", 1});
  ASSERT_EQ(copy.deaths.size(), 2u);
  EXPECT_EQ(copy.deaths[0], FieldValue(entry("q", "expired", 2)));
  EXPECT_EQ(copy.deaths[1], FieldValue(7));
}

TEST(DeadLetter, CycleRule) {
  FieldArray automatic{entry("b", "expired"), entry("a", "maxlen")};
  EXPECT_TRUE(is_dead_letter_cycle(automatic, "a"));
  EXPECT_TRUE(is_dead_letter_cycle(automatic, "b"));
  EXPECT_FALSE(is_dead_letter_cycle(automatic, "c"));
  FieldArray rejected_between{entry("b", "expired"), entry("c", "rejected"), entry("a", "expired")};
  EXPECT_TRUE(is_dead_letter_cycle(rejected_between, "b"));
  EXPECT_FALSE(is_dead_letter_cycle(rejected_between, "c"));  // a client decided
  EXPECT_FALSE(is_dead_letter_cycle(rejected_between, "a"));
  EXPECT_FALSE(is_dead_letter_cycle({}, "a"));
}

}  // namespace
}  // namespace warren::detail
