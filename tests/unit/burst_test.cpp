// Burst (framework/src/burst.hpp): which publishes join a batch.
#include <gtest/gtest.h>

#include <chrono>

#include "burst.hpp"

namespace warren::detail {
namespace {

using namespace std::chrono_literals;
constexpr auto kLinger = 200us;

// Publishes `n` times, `gap` apart, from `t`; returns how many were in a burst.
int publish(Burst& b, Burst::Clock::time_point& t, int n, Burst::Clock::duration gap) {
  int in_burst = 0;
  for (int i = 0; i < n; ++i) {
    t += gap;
    in_burst += b.publish(t);
  }
  return in_burst;
}

TEST(Burst, AFloodBecomesABurstWithinAFewDozenPublishes) {
  Burst b(kLinger);
  auto t = Burst::Clock::now();
  EXPECT_FALSE(b.publish(t));  // the first publish ever
  int first = 0;
  for (int i = 1; i <= 100 && !first; ++i)
    if (b.publish(t += 1us)) first = i;
  EXPECT_GT(first, 5);
  EXPECT_LE(first, 30);
  EXPECT_EQ(publish(b, t, 1000, 1us), 1000);
}

TEST(Burst, AStreamSlowerThanEightPerLingerNeverIs) {
  Burst b(kLinger);
  auto t = Burst::Clock::now();
  EXPECT_EQ(publish(b, t, 10000, kLinger / 4), 0);   // 20 000/s at the default
  EXPECT_EQ(publish(b, t, 10000, kLinger), 0);       // 5 000/s
}

TEST(Burst, APacedSenderCatchingUpIsNotABurst) {
  // 5 000/s from a sender whose sleeps overshoot: a late publish, then one
  // at once to catch up. The pair must not start a batch that then waits.
  Burst b(kLinger);
  auto t = Burst::Clock::now();
  int in_burst = 0;
  for (int i = 0; i < 5000; ++i) {
    in_burst += b.publish(t += 390us);
    in_burst += b.publish(t += 10us);
  }
  EXPECT_EQ(in_burst, 0);
}

TEST(Burst, APauseEndsIt) {
  Burst b(kLinger);
  auto t = Burst::Clock::now();
  publish(b, t, 100, 1us);
  EXPECT_TRUE(b.publish(t += 1us));
  EXPECT_EQ(publish(b, t, 1, 10ms), 0);  // one long gap is enough
  EXPECT_FALSE(b.publish(t += 1us));
}

TEST(Burst, ALongLingerCountsGapsByItsOwnScale) {
  Burst b(std::chrono::hours(1));
  auto t = Burst::Clock::now();
  EXPECT_GT(publish(b, t, 100, 5ms), 50);  // 5 ms apart is a burst for an hour's linger
}

}  // namespace
}  // namespace warren::detail
