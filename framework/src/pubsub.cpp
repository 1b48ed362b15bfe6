// Publisher and Subscriber over ZeroMQ PUB/SUB, and the glob matcher that
// gives patterns Redis's meaning. The wire format is described in
// warren/pubsub.hpp and docs/pubsub.md.
#include "warren/pubsub.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <zmq.hpp>

#include "warren/context.hpp"
#include "warren/errors.hpp"
#include "warren/protocol.hpp"
#include "burst.hpp"
#include "pubsub_wire.hpp"

namespace warren {

// ---------------------------------------------------------------------------
// Glob matching (Redis's stringmatchlen, without its recursion).

namespace {

// Matches one non-'*' token of `p` at `pi` against `c`; sets `next` to the
// position after the token.
bool match_token(std::string_view p, std::size_t pi, char c, std::size_t& next) {
  const char t = p[pi];
  if (t == '?') {
    next = pi + 1;
    return true;
  }
  if (t == '\\' && pi + 1 < p.size()) {
    next = pi + 2;
    return p[pi + 1] == c;
  }
  if (t != '[') {
    next = pi + 1;
    return t == c;
  }
  // A class: '[abc]', '[a-z]', '[^a]' / '[!a]', '\' escapes; ']' closes it
  // wherever it stands, and an unclosed class runs to the end of the pattern.
  std::size_t i = pi + 1;
  bool negate = false;
  if (i < p.size() && (p[i] == '^' || p[i] == '!')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  while (i < p.size()) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      matched |= p[i + 1] == c;
      i += 2;
    } else if (p[i] == ']') {
      ++i;
      break;
    } else if (i + 2 < p.size() && p[i + 1] == '-') {
      auto lo = static_cast<unsigned char>(p[i]), hi = static_cast<unsigned char>(p[i + 2]);
      if (lo > hi) std::swap(lo, hi);
      auto uc = static_cast<unsigned char>(c);
      matched |= uc >= lo && uc <= hi;
      i += 3;
    } else {
      matched |= p[i] == c;
      ++i;
    }
  }
  next = i;
  return matched != negate;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  constexpr auto npos = std::string_view::npos;
  std::size_t pi = 0, si = 0, star = npos, star_si = 0;
  while (si < text.size()) {
    if (pi < pattern.size() && pattern[pi] == '*') {
      star = ++pi;  // remember where to resume, and let '*' take nothing first
      star_si = si;
      continue;
    }
    std::size_t next = 0;
    if (pi < pattern.size() && match_token(pattern, pi, text[si], next)) {
      pi = next;
      ++si;
      continue;
    }
    if (star == npos) return false;
    pi = star;  // let the last '*' take one more character
    si = ++star_si;
  }
  while (pi < pattern.size() && pattern[pi] == '*') ++pi;
  return pi == pattern.size();
}

std::string glob_literal_prefix(std::string_view pattern) {
  std::string prefix;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '*' || c == '?' || c == '[') break;
    if (c == '\\' && i + 1 < pattern.size()) ++i;
    prefix += pattern[i];
  }
  return prefix;
}

// ---------------------------------------------------------------------------
// Wire format.

namespace {

using Clock = std::chrono::steady_clock;
namespace wire = detail::pubsub_wire;

// A burst's batch is sent when it holds this many messages or bytes; bodies
// larger than kBatchMaxBody always travel alone.
constexpr std::uint32_t kBatchMessages = 256;
constexpr std::size_t kBatchBytes = 64 * 1024;
constexpr std::size_t kBatchMaxBody = 4 * 1024;
// The flusher sleeps again once no batch has begun for this long.
constexpr auto kFlusherIdle = std::chrono::milliseconds(20);

// The ZeroMQ subscription for an exact channel.
std::string exact_topic(std::string_view channel) {
  std::string out;
  wire::topic(out, channel);
  return out;
}

template <int N>
void put_le(std::string& out, std::uint64_t v) {
  for (int i = 0; i < N; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t random_id() {
  std::random_device device;
  std::uint64_t id = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  return id ^ static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

template <class F>
void on_socket(const std::string& what, const std::string& endpoint, F&& f) {
  try {
    f();
  } catch (const zmq::error_t& e) {
    throw Error(ReplyCode::kResourceError, "cannot " + what + " " + endpoint + ": " + e.what());
  }
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

namespace detail::pubsub_wire {

void topic(std::string& out, std::string_view channel) {
  out.assign(channel);
  out.push_back('\0');
}

void single_header(std::string& out, std::uint64_t publisher, std::uint64_t sequence, std::string_view properties) {
  out.assign(1, kSingle);
  put_le<8>(out, publisher);
  put_le<8>(out, sequence);
  out.append(properties);
}

void batch_header(std::string& out, std::uint64_t publisher, std::uint64_t first, std::uint32_t count) {
  out.assign(1, kBatch);
  put_le<8>(out, publisher);
  put_le<8>(out, first);
  put_le<4>(out, count);
}

void append_entry(std::string& payload, std::string_view properties, std::string_view body) {
  put_le<4>(payload, properties.size());
  payload.append(properties);
  put_le<4>(payload, body.size());
  payload.append(body);
}

std::optional<Frame> parse(std::string_view topic, std::string_view header, std::string_view payload) {
  if (topic.empty() || topic.back() != '\0' || header.size() < kHeaderSize) return std::nullopt;
  Frame f;
  f.channel = topic.substr(0, topic.size() - 1);
  f.publisher = header.substr(1, 8);
  f.first = read_le<8>(header.data() + 9);
  f.payload = payload;
  if (header[0] == kSingle) {
    f.properties = header.substr(kHeaderSize);
    return f;
  }
  if (header[0] != kBatch || header.size() != kBatchHeaderSize) return std::nullopt;
  f.batch = true;
  f.count = read_le<4>(header.data() + 17);
  if (f.count == 0 || f.last() < f.first) return std::nullopt;  // none, or numbers past 2^64
  // Exactly `count` entries of (u32 length, properties, u32 length, body).
  std::size_t pos = 0;
  for (std::uint64_t i = 0; i < f.count; ++i) {
    for (int part = 0; part < 2; ++part) {
      if (payload.size() - pos < 4) return std::nullopt;
      const std::uint64_t length = read_le<4>(payload.data() + pos);
      pos += 4;
      if (payload.size() - pos < length) return std::nullopt;
      pos += length;
    }
  }
  if (pos != payload.size()) return std::nullopt;
  return f;
}

}  // namespace detail::pubsub_wire

// ---------------------------------------------------------------------------
// Publisher.

struct Publisher::Impl {
  Impl(const std::string& endpoint, const PublisherOptions& options)
      : socket(options.context ? *options.context : default_context(), zmq::socket_type::pub),
        id(random_id()),
        linger(options.publish_linger),
        burst(options.publish_linger) {
    socket.set(zmq::sockopt::sndhwm, options.sndhwm);
    socket.set(zmq::sockopt::linger, static_cast<int>(options.linger.count()));
    if (options.bind && options.curve.enabled())
      throw Error(ReplyCode::kNotImplemented, "a binding Publisher cannot be a CURVE server; use a forwarder with CURVE");
    apply_curve_client(socket, options.curve);
    if (options.bind) {
      on_socket("bind", endpoint, [&] { socket.bind(endpoint); });
      this->endpoint = socket.get(zmq::sockopt::last_endpoint);
    } else {
      on_socket("connect to", endpoint, [&] { socket.connect(endpoint); });
      this->endpoint = endpoint;
    }
  }

  ~Impl() {
    if (flusher.joinable()) {
      flusher.request_stop();
      flusher.join();
    }
    send_batch_quietly();  // the tail of a burst, before the socket's linger starts
  }

  bool publish(std::string_view channel, std::string_view body, const Properties& properties) {
    std::lock_guard<std::mutex> guard(mu);
    auto it = sequences.find(channel);
    if (it == sequences.end()) it = sequences.emplace(std::string(channel), 0).first;
    const std::uint64_t sequence = ++it->second;
    std::string raw;
    if (!(properties == Properties{})) raw = protocol::encode_properties(properties);

    if (linger.count() > 0) {
      // A publish in a burst (burst.hpp) joins the batch (if small), which
      // goes when full, when the channel changes, or from the flusher thread
      // after publish_linger. A lone publish, or one of a steady stream,
      // goes at once (docs/pubsub.md, "Batches").
      const auto now = Clock::now();
      const bool in_burst = burst.publish(now);
      if ((in_burst || batch_count > 0) && body.size() <= kBatchMaxBody) {
        if (batch_count > 0 && batch_channel != channel) send_batch();
        if (batch_count == 0) begin_batch(channel, sequence, now);
        wire::append_entry(batch, raw, body);
        ++batch_count;
        ++published;
        if (batch_count == kBatchMessages || batch.size() >= kBatchBytes) send_batch();
        return true;
      }
    }
    send_batch();  // what came before goes first

    wire::single_header(header, id, sequence, raw);
    if (!send(channel, header, body)) return false;
    ++published;
    return true;
  }

  void begin_batch(std::string_view channel, std::uint64_t sequence, Clock::time_point now) {
    batch_channel.assign(channel);
    batch_first = sequence;
    batch_started = now;
    if (!flusher.joinable()) flusher = std::jthread([this](std::stop_token stop) { flush_loop(stop); });
    if (!flusher_awake) wake.notify_one();
  }

  // Sends the batch there is, if any (under mu). PUB never blocks: at the
  // high-water mark ZeroMQ drops the batch whole, which subscribers count.
  void send_batch() {
    if (batch_count == 0) return;
    wire::batch_header(header, id, batch_first, batch_count);
    auto reset = [&] {  // sent, or dropped when ZeroMQ throws (subscribers count the gap)
      batch_count = 0;
      batch.clear();
      if (batch.capacity() > 2 * kBatchBytes) batch.shrink_to_fit();
    };
    try {
      send(batch_channel, header, batch);
    } catch (...) {
      reset();
      throw;
    }
    reset();
  }

  // From the flusher thread and the destructor, where nobody could catch:
  // a ZeroMQ error (the context terminated under a live Publisher) drops it.
  void send_batch_quietly() noexcept {
    try {
      send_batch();
    } catch (const zmq::error_t&) {
    }
  }

  // Sends the three frames (under mu: `topic` is a member).
  bool send(std::string_view channel, std::string_view header, std::string_view payload) {
    wire::topic(topic, channel);
    if (!socket.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
    socket.send(zmq::buffer(header), zmq::send_flags::sndmore);
    socket.send(zmq::buffer(payload), zmq::send_flags::none);
    return true;
  }

  // The flusher: asleep until a batch begins, then every publish_linger it
  // sends a batch that has waited that long, until none began for
  // kFlusherIdle (so a steady stream of bursts pays no wake-up per batch).
  void flush_loop(std::stop_token stop) {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop.stop_requested()) {
      if (!flusher_awake) {
        wake.wait(lock, stop, [&] { return batch_count > 0; });
        flusher_awake = true;
        continue;
      }
      wake.wait_for(lock, stop, linger, [] { return false; });
      const auto now = Clock::now();
      if (batch_count > 0 && now - batch_started >= linger) send_batch_quietly();
      if (batch_count == 0 && now - batch_started > kFlusherIdle) flusher_awake = false;
    }
  }

  zmq::socket_t socket;
  std::string endpoint;
  std::uint64_t id;
  std::chrono::microseconds linger;
  std::uint64_t published = 0;
  // The next sequence number per channel; the subscriber counts gaps.
  std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> sequences;

  // Everything below, the socket and `sequences` are shared with the
  // flusher thread, under mu.
  std::mutex mu;
  std::string batch_channel;
  std::string batch;  // the batch frame: per message, properties and body, each after its u32 length
  std::string topic, header;  // frames being sent (buffers reused)
  std::uint32_t batch_count = 0;
  std::uint64_t batch_first = 0;  // the sequence number of its first message
  Clock::time_point batch_started{};
  detail::Burst burst;  // whether a publish is part of a burst (burst.hpp)
  bool flusher_awake = false;
  std::condition_variable_any wake;
  std::jthread flusher;  // started with the first batch
};

Publisher::Publisher(const std::string& endpoint, PublisherOptions options)
    : impl_(std::make_unique<Impl>(endpoint, options)) {}
Publisher::~Publisher() = default;
Publisher::Publisher(Publisher&&) noexcept = default;
Publisher& Publisher::operator=(Publisher&&) noexcept = default;

bool Publisher::publish(std::string_view channel, std::string_view body,
                        const Properties& properties) {
  return impl_->publish(channel, body, properties);
}

void Publisher::flush() {
  std::lock_guard<std::mutex> guard(impl_->mu);
  impl_->send_batch();
}

const std::string& Publisher::endpoint() const { return impl_->endpoint; }
std::uint64_t Publisher::published() const { return impl_->published; }

// ---------------------------------------------------------------------------
// Subscriber.

struct Subscriber::Impl {
  Impl(const std::string& endpoint, Handler h, const SubscriberOptions& options)
      : socket(options.context ? *options.context : default_context(), zmq::socket_type::sub),
        handler(std::move(h)) {
    socket.set(zmq::sockopt::rcvhwm, options.rcvhwm);
    socket.set(zmq::sockopt::linger, 0);
    apply_curve_client(socket, options.curve);
    wakeup_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeup_fd < 0) throw Error(ReplyCode::kInternalError, "eventfd failed");
    try {
      connect(endpoint);
    } catch (...) {
      ::close(wakeup_fd);
      throw;
    }
  }
  ~Impl() { ::close(wakeup_fd); }

  void connect(const std::string& endpoint) {
    on_socket("connect to", endpoint, [&] { socket.connect(endpoint); });
  }

  // Waits up to `timeout`, then dispatches what is ready. Sets `stopped`
  // when a stop request ended the wait or the batch (and clears it).
  std::size_t dispatch(std::chrono::milliseconds timeout, bool& stopped) {
    std::array<zmq::pollitem_t, 2> items{{{socket.handle(), 0, ZMQ_POLLIN, 0},
                                          {nullptr, wakeup_fd, ZMQ_POLLIN, 0}}};
    if (!stop_requested.load()) zmq::poll(items.data(), items.size(), timeout);
    if (items[1].revents & ZMQ_POLLIN) {
      std::uint64_t value;
      [[maybe_unused]] auto n = ::read(wakeup_fd, &value, sizeof value);
    }
    std::size_t calls = 0;
    for (int i = 0; i < 4096 && !stop_requested.load(std::memory_order_relaxed); ++i) {
      if (!receive_one(calls)) break;
    }
    stopped = stop_requested.exchange(false);
    return calls;
  }

  // Takes one ZeroMQ message off the socket, if there is one, and delivers
  // what it carries.
  bool receive_one(std::size_t& calls) {
    if (!socket.recv(frames[0], zmq::recv_flags::dontwait)) return false;
    std::size_t n = 1;
    bool more = frames[0].more();
    while (more) {
      zmq::message_t& into = n < frames.size() ? frames[n] : overflow;
      (void)socket.recv(into, zmq::recv_flags::none);
      more = into.more();
      ++n;
    }
    bump(wire_messages, 1);
    if (n != frames.size() || !deliver(calls)) {
      bump(received, 1);
      bump(malformed, 1);
    }
    return true;
  }

  // Delivers a message or a batch and counts it received; false (nothing
  // delivered or counted) when it is not a well-formed one. Properties that
  // do not decode count as malformed there and then; a batch's later
  // messages go with them.
  bool deliver(std::size_t& calls) {
    auto frame = wire::parse(frames[0].to_string_view(), frames[1].to_string_view(), frames[2].to_string_view());
    if (!frame) return false;
    bump(received, frame->count);
    count_gap(frame->publisher, frame->channel, frame->first, frame->last());

    // One channel for all of them: matched once.
    const bool exact = channels.find(frame->channel) != channels.end();
    matched.clear();
    for (const auto& p : patterns)
      if (glob_match(p, frame->channel)) matched.push_back(&p);
    if (!exact && matched.empty()) return true;  // a pattern's prefix, not the pattern

    message.channel.assign(frame->channel);
    wire::for_each(*frame, [&](std::string_view properties, std::string_view body) {
      return hand_over(properties, body, exact, calls);
    });
    return true;
  }

  // Hands one message to the handler, once per matching subscription;
  // false when its properties do not decode (counted malformed).
  bool hand_over(std::string_view raw_properties, std::string_view body, bool exact, std::size_t& calls) {
    if (!raw_properties.empty() || has_properties) {
      try {
        message.properties = protocol::decode_properties(raw_properties);
      } catch (const ProtocolError&) {
        bump(malformed, 1);
        return false;
      }
      has_properties = !raw_properties.empty();
    }
    message.body.assign(body);
    if (exact) {
      message.pattern.clear();
      handler(message);
      ++calls;
      bump(delivered, 1);
    }
    for (const auto* p : matched) {
      message.pattern = *p;
      handler(message);
      ++calls;
      bump(delivered, 1);
    }
    return true;
  }

  // Counts a gap before `first` in one publisher's numbering of one
  // channel, and remembers `last` (the same for a single message).
  void count_gap(std::string_view publisher, std::string_view channel, std::uint64_t first, std::uint64_t last) {
    key.assign(publisher);
    key.append(channel);
    auto it = last_sequence.find(key);
    if (it == last_sequence.end()) {
      last_sequence.emplace(key, last);
      return;
    }
    if (first > it->second + 1) bump(lost, first - it->second - 1);
    if (last > it->second) it->second = last;
  }

  // A subscription changed: a channel dropped and taken up again would look
  // like a gap, so sequence tracking starts afresh.
  void reset_sequences() { last_sequence.clear(); }

  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  zmq::socket_t socket;
  Handler handler;
  int wakeup_fd = -1;
  std::atomic<bool> stop_requested{false};
  std::unordered_set<std::string, StringHash, std::equal_to<>> channels;
  std::vector<std::string> patterns;  // in subscription order, as Redis delivers
  std::array<zmq::message_t, 3> frames;
  zmq::message_t overflow;
  PubSubMessage message;
  bool has_properties = false;  // message.properties holds a message's
  std::vector<const std::string*> matched;  // the patterns the current channel matches
  std::string key;
  std::unordered_map<std::string, std::uint64_t> last_sequence;
  std::atomic<std::uint64_t> received{0}, delivered{0}, lost{0}, malformed{0}, wire_messages{0};
};

Subscriber::Subscriber(const std::string& endpoint, Handler handler, SubscriberOptions options)
    : impl_(std::make_unique<Impl>(endpoint, std::move(handler), options)) {}
Subscriber::~Subscriber() = default;
Subscriber::Subscriber(Subscriber&&) noexcept = default;
Subscriber& Subscriber::operator=(Subscriber&&) noexcept = default;

void Subscriber::connect(const std::string& endpoint) { impl_->connect(endpoint); }

void Subscriber::subscribe(const std::string& channel) {
  if (!impl_->channels.insert(channel).second) return;
  impl_->socket.set(zmq::sockopt::subscribe, exact_topic(channel));
}

void Subscriber::psubscribe(const std::string& pattern) {
  auto& patterns = impl_->patterns;
  if (std::find(patterns.begin(), patterns.end(), pattern) != patterns.end()) return;
  patterns.push_back(pattern);
  // ZeroMQ filters by prefix (and counts repeated subscriptions), so two
  // patterns with one literal prefix each hold one reference to it.
  impl_->socket.set(zmq::sockopt::subscribe, glob_literal_prefix(pattern));
}

void Subscriber::unsubscribe(const std::string& channel) {
  auto it = impl_->channels.find(channel);
  if (it == impl_->channels.end()) return;
  impl_->channels.erase(it);
  impl_->socket.set(zmq::sockopt::unsubscribe, exact_topic(channel));
  impl_->reset_sequences();
}

void Subscriber::punsubscribe(const std::string& pattern) {
  auto& patterns = impl_->patterns;
  auto it = std::find(patterns.begin(), patterns.end(), pattern);
  if (it == patterns.end()) return;
  patterns.erase(it);
  impl_->socket.set(zmq::sockopt::unsubscribe, glob_literal_prefix(pattern));
  impl_->reset_sequences();
}

std::size_t Subscriber::process_events(std::chrono::milliseconds timeout) {
  bool stopped = false;
  return impl_->dispatch(timeout, stopped);
}

void Subscriber::run() {
  for (bool stopped = false; !stopped;) impl_->dispatch(std::chrono::milliseconds(-1), stopped);
}

void Subscriber::stop() noexcept {
  impl_->stop_requested.store(true);
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wakeup_fd, &one, sizeof one);
}

SubscriberStats Subscriber::stats() const {
  return {impl_->received.load(), impl_->delivered.load(), impl_->lost.load(),
          impl_->malformed.load(), impl_->wire_messages.load()};
}

}  // namespace warren
