// Shared by warren-perf (tools/) and zmq-proxy-baseline (bench/): a latency
// histogram and the report printers, so both tools print their live lines and
// summaries in exactly the same format and bench/run.sh can compare them.
//
// Units: rates in messages per second; MB/s counts payload bytes only, with
// 1 MB = 10^6 bytes; latencies are measured in nanoseconds and printed in
// microseconds.
//
// Thread rules: a LatencyHistogram belongs to one thread; merge() histograms
// after their threads have finished.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warren::perf {

// Prints `text` and the usage to stderr; returns the exit status for usage errors.
inline int usage_error(const char* program, const std::string& text,
                       const boost::program_options::options_description& desc) {
  std::cerr << program << ": " << text << "\n" << desc << "\n";
  return 2;
}

// Parses the command line into `vm`. Returns nullopt when the program should
// go on, or the exit status to leave with: 0 after --help, 2 after an error.
inline std::optional<int> parse_command_line(
    const char* program, int argc, char** argv,
    const boost::program_options::options_description& desc,
    boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(program, e.what(), desc);
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  return std::nullopt;
}

using Clock = std::chrono::steady_clock;

// The send timestamp a producer writes into the first 8 bytes of each body:
// steady_clock nanoseconds, comparable between threads and processes of one
// machine (CLOCK_MONOTONIC).
inline constexpr std::size_t kTimestampBytes = sizeof(std::int64_t);

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// REQUIRES: body holds at least kTimestampBytes bytes.
inline void stamp(char* body, std::int64_t ns) { std::memcpy(body, &ns, sizeof ns); }
inline std::int64_t read_stamp(const void* body) {
  std::int64_t ns;
  std::memcpy(&ns, body, sizeof ns);
  return ns;
}

// A log-linear histogram of non-negative values (HdrHistogram's layout with
// 32 sub-buckets per power of two): constant memory, O(1) record, and any
// percentile within about 3 % of the exact value.
class LatencyHistogram {
 public:
  void record(std::int64_t value) {
    auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(value, 0));
    ++counts_[index_of(v)];
    ++count_;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }

  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }

  // The value at quantile q in [0, 1]; 0 when nothing was recorded.
  std::uint64_t percentile(double q) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(value_of(i), min_, max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 5;
  static constexpr std::uint64_t kSub = 1u << kSubBits;  // 32
  static constexpr std::uint64_t kLinear = 2 * kSub;     // values below are exact
  static constexpr std::size_t kBuckets = kLinear + (64 - (kSubBits + 1)) * kSub;

  static std::size_t index_of(std::uint64_t v) {
    if (v < kLinear) return v;
    int exponent = std::bit_width(v) - 1;  // >= kSubBits + 1
    int shift = exponent - kSubBits;
    auto mantissa = (v >> shift) - kSub;  // 0 .. kSub-1
    return kLinear + static_cast<std::size_t>(exponent - (kSubBits + 1)) * kSub + mantissa;
  }
  // The midpoint of bucket i.
  static std::uint64_t value_of(std::size_t i) {
    if (i < kLinear) return i;
    std::size_t j = i - kLinear;
    int shift = static_cast<int>(j / kSub) + 1;
    std::uint64_t mantissa = j % kSub + kSub;
    return (mantissa << shift) + ((std::uint64_t{1} << shift) >> 1);
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

// One second of a run, for the live line and the JSON time series.
struct Sample {
  double time_s = 0;
  double sent_rate = 0;
  double received_rate = 0;
};

// Everything a run reports.
struct Summary {
  std::string tool;      // "warren-perf", "zmq-proxy-baseline"
  std::string scenario;  // "warren", "warren-rpc", "zmq-proxy", "zmq-direct", "zmq-reqrep"
  std::string endpoint;
  int producers = 1;
  int consumers = 1;
  std::size_t size = 0;
  std::size_t size_max = 0;  // above size: each body's size was drawn from [size, size_max]
  std::string ack = "auto";  // "auto" or "manual"
  unsigned prefetch = 0;
  // Routing (warren-perf --exchange): every message sent reaches `routes`
  // queues, so a complete run receives sent x routes deliveries.
  std::string exchange;       // empty: the default exchange
  std::string exchange_type;  // "direct", "fanout", "topic"
  int queues = 1;
  std::uint64_t bindings = 0;  // extra bindings that match nothing (--bindings)
  std::uint64_t routes = 1;
  // RPC (warren-perf --rpc, zmq-proxy-baseline --mode reqrep): producers are
  // the clients, consumers the servers, sent counts calls and received
  // replies, latency is the round trip.
  unsigned concurrency = 0;  // outstanding calls per client; 0: not an RPC run
  std::string reply;         // how replies travel: "direct-reply-to", "reply-queue", "req-rep"
  // Durability (warren-perf --persistent / --confirm): persistent messages to
  // durable queues; publisher confirms with at most `confirm` in flight (0:
  // off), and then send_seconds runs to the last confirm.
  bool persistent = false;
  unsigned confirm = 0;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t received_bytes = 0;  // body bytes received; 0: not counted (size x received)
  double send_seconds = 0;     // start to the last publish
  double receive_seconds = 0;  // start to the last delivery
  LatencyHistogram latency;    // publish-to-deliver (an RPC run: the round trip), ns
  std::vector<Sample> samples;
  std::vector<std::string> errors;
  std::string end_reason;  // "complete", "stalled", "interrupted", "error", "time"

  bool is_rpc() const { return concurrency > 0; }
  bool checks_loss() const { return producers > 0 && consumers > 0; }
  std::uint64_t expected() const { return sent * routes; }
  std::uint64_t lost() const {
    return checks_loss() && expected() > received ? expected() - received : 0;
  }
  double send_rate() const {
    return send_seconds > 0 ? static_cast<double>(sent) / send_seconds : 0;
  }
  double receive_rate() const {
    return receive_seconds > 0 ? static_cast<double>(received) / receive_seconds : 0;
  }
  // The throughput of the run: what consumers got, or what producers sent
  // when there are no consumers.
  double rate() const { return consumers > 0 ? receive_rate() : send_rate(); }
  bool size_range() const { return size_max > size; }
  // Bytes per message: the mean of what was received, else of the range.
  double mean_size() const {
    if (received > 0 && received_bytes > 0)
      return static_cast<double>(received_bytes) / static_cast<double>(received);
    return size_range() ? (static_cast<double>(size) + static_cast<double>(size_max)) / 2
                        : static_cast<double>(size);
  }
  double megabytes_per_second() const { return rate() * mean_size() / 1e6; }
  bool ok() const { return errors.empty() && lost() == 0; }
};

inline std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

inline double to_us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

// "time 3.0 s | sent 301234 msg/s | received 300012 msg/s"
inline void print_live(std::FILE* out, const Sample& s) {
  std::fprintf(out, "time %5.1f s | sent %9.0f msg/s | received %9.0f msg/s\n", s.time_s,
               s.sent_rate, s.received_rate);
  std::fflush(out);
}

// "100 B", or "16-65536 B" for a range of sizes.
inline std::string size_text(const Summary& s) {
  return (s.size_range() ? std::to_string(s.size) + "-" + std::to_string(s.size_max)
                         : std::to_string(s.size)) +
         " B";
}

// "summary: warren, 1p/1c, 100 B, auto-ack, tcp://127.0.0.1:5673, end: complete", or for an
// RPC run "summary: warren-rpc, 1 client(s) x 50 call(s) / 1 server(s) (prefetch 100), ...",
// and a line on the routing when there is an exchange.
inline void print_heading(std::FILE* out, const Summary& s) {
  std::fprintf(out, "summary: %s, ", s.scenario.c_str());
  if (s.is_rpc()) {
    std::fprintf(out, "%d client(s) x %u call(s) / %d server(s)", s.producers, s.concurrency,
                 s.consumers);
    if (s.prefetch > 0) std::fprintf(out, " (prefetch %u)", s.prefetch);
    std::fprintf(out, ", %s, %s", size_text(s).c_str(), s.reply.c_str());
  } else {
    std::fprintf(out, "%dp/%dc, %s, %s-ack", s.producers, s.consumers, size_text(s).c_str(),
                 s.ack.c_str());
    if (s.ack == "manual") std::fprintf(out, " (prefetch %u)", s.prefetch);
  }
  if (s.persistent) std::fprintf(out, ", persistent");
  if (s.confirm > 0) std::fprintf(out, ", confirm window %u", s.confirm);
  std::fprintf(out, ", %s, end: %s\n", s.endpoint.c_str(), s.end_reason.c_str());
  if (!s.exchange.empty()) {
    std::fprintf(out, "  routing   %s exchange '%s' -> %d queue(s)", s.exchange_type.c_str(),
                 s.exchange.c_str(), s.queues);
    if (s.bindings > 0)
      std::fprintf(out, " + %llu non-matching binding(s)",
                   static_cast<unsigned long long>(s.bindings));
    std::fprintf(out, ", %llu deliveries per message\n", static_cast<unsigned long long>(s.routes));
  }
}

inline void print_text(std::FILE* out, const Summary& s) {
  print_heading(out, s);
  // An RPC run sends requests and receives replies, one message each.
  std::fprintf(out, "  sent      %10llu msg in %7.3f s = %10.0f msg/s%s\n",
               static_cast<unsigned long long>(s.sent), s.send_seconds, s.send_rate(),
               s.is_rpc() ? " (requests)" : "");
  std::fprintf(out, "  received  %10llu msg in %7.3f s = %10.0f msg/s%s\n",
               static_cast<unsigned long long>(s.received), s.receive_seconds, s.receive_rate(),
               s.is_rpc()     ? " (replies)"
               : s.routes > 1 ? " (deliveries, all queues)"
                              : "");
  std::fprintf(out, "  throughput %.0f %s/s, %.2f MB/s\n", s.rate(), s.is_rpc() ? "calls" : "msg",
               s.megabytes_per_second());
  const auto& h = s.latency;
  if (h.count() > 0)
    std::fprintf(out,
                 "  latency   min %.1f us, p50 %.1f us, p95 %.1f us, p99 %.1f us, p99.9 %.1f us,"
                 " max %.1f us (%s)\n",
                 to_us(h.min()), to_us(h.percentile(0.50)), to_us(h.percentile(0.95)),
                 to_us(h.percentile(0.99)), to_us(h.percentile(0.999)), to_us(h.max()),
                 s.is_rpc() ? "round trip" : "publish to deliver");
  if (s.checks_loss())
    std::fprintf(out, "  lost      %llu%s\n", static_cast<unsigned long long>(s.lost()),
                 s.is_rpc() ? " (calls without a reply)" : "");
  for (const auto& e : s.errors) std::fprintf(out, "  error     %s\n", e.c_str());
  std::fflush(out);
}

// One line of JSON (JSON Lines), stable keys: bench/run.sh reads them. Keys
// are added at the end of an object, never renamed.
inline void print_json(std::FILE* out, const Summary& s) {
  const auto& h = s.latency;
  std::fprintf(
      out,
      "{\"tool\":\"%s\",\"scenario\":\"%s\",\"endpoint\":\"%s\",\"producers\":%d,"
      "\"consumers\":%d,\"size\":%zu,\"ack\":\"%s\",\"prefetch\":%u,\"sent\":%llu,"
      "\"received\":%llu,\"lost\":%llu,\"send_seconds\":%.6f,\"receive_seconds\":%.6f,"
      "\"send_rate\":%.1f,\"receive_rate\":%.1f,\"rate\":%.1f,\"mb_per_s\":%.3f,"
      "\"latency_us\":{\"count\":%llu,\"min\":%.1f,\"p50\":%.1f,\"p95\":%.1f,"
      "\"p99\":%.1f,\"max\":%.1f,\"p999\":%.1f},\"exchange\":\"%s\",\"type\":\"%s\","
      "\"queues\":%d,\"bindings\":%llu,\"routes\":%llu,\"concurrency\":%u,"
      "\"reply\":\"%s\",\"end\":\"%s\",\"samples\":[",
      json_escape(s.tool).c_str(), json_escape(s.scenario).c_str(), json_escape(s.endpoint).c_str(),
      s.producers, s.consumers, s.size, json_escape(s.ack).c_str(), s.prefetch,
      static_cast<unsigned long long>(s.sent), static_cast<unsigned long long>(s.received),
      static_cast<unsigned long long>(s.lost()), s.send_seconds, s.receive_seconds, s.send_rate(),
      s.receive_rate(), s.rate(), s.megabytes_per_second(),
      static_cast<unsigned long long>(h.count()), to_us(h.min()), to_us(h.percentile(0.50)),
      to_us(h.percentile(0.95)), to_us(h.percentile(0.99)), to_us(h.max()),
      to_us(h.percentile(0.999)), json_escape(s.exchange).c_str(),
      json_escape(s.exchange_type).c_str(), s.queues, static_cast<unsigned long long>(s.bindings),
      static_cast<unsigned long long>(s.routes), s.concurrency, json_escape(s.reply).c_str(),
      json_escape(s.end_reason).c_str());
  for (std::size_t i = 0; i < s.samples.size(); ++i)
    std::fprintf(out, "%s[%.1f,%.0f,%.0f]", i ? "," : "", s.samples[i].time_s,
                 s.samples[i].sent_rate, s.samples[i].received_rate);
  std::fprintf(out, "],\"errors\":[");
  for (std::size_t i = 0; i < s.errors.size(); ++i)
    std::fprintf(out, "%s\"%s\"", i ? "," : "", json_escape(s.errors[i]).c_str());
  std::fprintf(out, "],\"persistent\":%s,\"confirm\":%u,\"size_max\":%zu,\"mean_size\":%.1f}\n",
               s.persistent ? "true" : "false", s.confirm, std::max(s.size, s.size_max),
               s.mean_size());
  std::fflush(out);
}

// Feeds the once-a-second live line from running totals.
class RateMeter {
 public:
  explicit RateMeter(Clock::time_point start) : start_(start), last_time_(start) {}

  // Call often; returns true (and fills `sample`) when a second has passed.
  bool tick(Clock::time_point now, std::uint64_t sent, std::uint64_t received, Sample& sample) {
    if (now - last_time_ < std::chrono::seconds(1)) return false;
    double dt = std::chrono::duration<double>(now - last_time_).count();
    sample.time_s = std::chrono::duration<double>(now - start_).count();
    sample.sent_rate = static_cast<double>(sent - last_sent_) / dt;
    sample.received_rate = static_cast<double>(received - last_received_) / dt;
    last_time_ = now;
    last_sent_ = sent;
    last_received_ = received;
    return true;
  }

 private:
  Clock::time_point start_;
  Clock::time_point last_time_;
  std::uint64_t last_sent_ = 0;
  std::uint64_t last_received_ = 0;
};

}  // namespace warren::perf
