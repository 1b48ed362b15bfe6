// Burst: tells a burst of publishes from a steady stream, for the client's
// and the pub/sub Publisher's batches (docs/client.md, "Publishing in
// batches"; docs/pubsub.md, "Batches").
//
// A message that starts a batch waits up to `linger` for others to fill it.
// That pays only when others come: a stream of 5 000 msg/s batched on the
// gap since the previous publish alone waited ~90 us more at the median
// (a paced sender that falls behind publishes two at once, and the second
// then waited for a third that came 200 us later). So a publish is part of
// a burst only while the recent gaps between publishes average under
// linger / 8: a batch then gathers about 8 or more before its linger ends.
// The average is over about the last 8 gaps, each counted as at most
// 2 x linger, so a burst is recognised within a few dozen publishes of
// starting and a pause of a few lingers ends it.
#pragma once

#include <algorithm>
#include <chrono>

namespace warren::detail {

class Burst {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Burst(Clock::duration linger) : linger_(linger), mean_gap_(2 * linger) {}

  // Records a publish at `now`; true when it belongs to a burst.
  bool publish(Clock::time_point now) {
    const auto gap = std::min<Clock::duration>(now - last_, 2 * linger_);
    last_ = now;
    mean_gap_ += (gap - mean_gap_) / 8;
    return mean_gap_ < linger_ / 8;
  }

 private:
  Clock::duration linger_;
  Clock::duration mean_gap_;
  Clock::time_point last_{};
};

}  // namespace warren::detail
