// Pub/sub: Redis-style PUBLISH / SUBSCRIBE / PSUBSCRIBE over ZeroMQ PUB/SUB,
// the brokerless fast path beside the broker's exchanges. See docs/pubsub.md.
//
// A Publisher connects to a forwarder's frontend (warrend's built-in one, or
// warren-forwarder) or binds for brokerless use; a Subscriber connects to the
// forwarder's backend or straight to binding publishers.
//
// Semantics (Redis's): a subscription to a channel name receives exactly that
// channel ('news' never receives 'newsletter'); a pattern is a glob ('*',
// '?', '[abc]', '[a-z]', '[^a]' or '[!a]', '\' escapes). A message that
// matches an exact subscription and patterns is delivered once per matching
// subscription.
//
// Delivery is at-most-once: nothing is queued for a subscriber that is not
// connected, and a subscriber that falls behind by more than its high-water
// mark loses messages rather than slowing the publisher. Each publisher
// numbers its messages per channel, so a subscriber counts what it lost
// (Subscriber::stats().lost). For reliable, queued, acknowledged fan-out use
// a fanout exchange on the broker instead.
//
// Wire format (three frames): channel name + '\0' (so ZeroMQ's prefix filter
// matches exactly); a header (version 1, 8-byte publisher id, 8-byte
// per-channel sequence number, little-endian, then the properties as
// protocol::encode_properties writes them, or nothing); the body. A burst of
// small messages on one channel travels as a batch: header version 2 (id,
// the first message's sequence number, a 4-byte count), and one frame with
// each message's properties and body, each after its 4-byte length. See
// docs/pubsub.md, "Wire format" and "Batches".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "warren/curve.hpp"
#include "warren/properties.hpp"

namespace zmq {
class context_t;
}

namespace warren {

// True when `text` matches the glob `pattern` (Redis's stringmatch rules).
bool glob_match(std::string_view pattern, std::string_view text);
// The literal text a match must start with: the pattern up to its first
// wildcard, with escapes removed ("news.\*.[ab]*" -> "news.*.").
std::string glob_literal_prefix(std::string_view pattern);

struct PublisherOptions {
  // false: connect to a forwarder's frontend; true: bind (brokerless).
  bool bind = false;
  // Messages queued per subscriber (or per forwarder) before ZeroMQ drops.
  int sndhwm = 1000;
  // How long the destructor lets queued messages leave.
  std::chrono::milliseconds linger{1000};
  // Publishes coming faster than 8 per this time (an average over the last
  // few) are a burst: a burst's messages (bodies up to 4 KiB) on one channel
  // travel as batches of up to 256 messages or 64 KiB, each sent when full,
  // when the channel changes, on flush(), or publish_linger after it began
  // (from a thread the Publisher starts for that). A publish after a pause,
  // or in a slower stream, goes at once. 0: every message is its own ZeroMQ
  // message.
  std::chrono::microseconds publish_linger{200};
  zmq::context_t* context = nullptr;  // nullptr: warren::default_context()
  // CURVE to a forwarder with CURVE (docs/security.md); connect mode only (a
  // binding Publisher with it is refused, 540). A key the forwarder does not
  // accept is recorded as pending there, and nothing published arrives.
  CurveClientOptions curve{};
};

// Publisher: a PUB socket. Thread rules: one thread at a time (its own
// flusher thread only sends what publish() batched). publish() never blocks:
// with no subscriber (or none connected yet: a new connection takes a few
// milliseconds, ZeroMQ's "slow joiner") the message is dropped.
class Publisher {
 public:
  // Connects to, or with options.bind binds, `endpoint`. Throws warren::Error
  // (506 RESOURCE_ERROR) when the bind or connect fails.
  explicit Publisher(const std::string& endpoint, PublisherOptions options = {});
  ~Publisher();
  Publisher(Publisher&&) noexcept;
  Publisher& operator=(Publisher&&) noexcept;

  // Publishes `body` on `channel`. Returns false only when ZeroMQ refused
  // the message (it never blocks).
  bool publish(std::string_view channel, std::string_view body, const Properties& properties = {});
  // Sends the batch being gathered now (the destructor does too). A ZeroMQ
  // error (zmq::error_t, e.g. ETERM after the context was shut down) drops
  // the batch and is thrown, as from publish(); the destructor and the
  // flusher thread drop it silently.
  void flush();

  // The bound endpoint with the real port (bind mode), or the endpoint given.
  const std::string& endpoint() const;
  std::uint64_t published() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct PubSubMessage {
  std::string channel;
  std::string pattern;  // the matching pattern; empty for an exact subscription
  Properties properties;
  std::string body;
};

struct SubscriberStats {
  std::uint64_t received = 0;   // messages taken off the socket (each of a batch counts)
  std::uint64_t delivered = 0;  // callback invocations (one per matching subscription)
  std::uint64_t lost = 0;       // gaps in publishers' per-channel sequence numbers
  std::uint64_t malformed = 0;  // messages that were not warren pub/sub messages
  std::uint64_t wire_messages = 0;  // ZeroMQ messages taken off the socket (a batch is one)
};

struct SubscriberOptions {
  // Messages queued for this subscriber before ZeroMQ drops (per connection).
  int rcvhwm = 1000;
  zmq::context_t* context = nullptr;  // nullptr: warren::default_context()
  // CURVE to a forwarder with CURVE (docs/security.md), for every endpoint
  // this Subscriber connects to. A refused key receives nothing.
  CurveClientOptions curve{};
};

// Subscriber: a SUB socket and the subscriptions on it.
//
// Thread rules: a Subscriber belongs to one thread, which drives the handler
// with run() or process_events(). stop() is safe from any thread and from a
// signal handler. stats() is safe from any thread.
//
// Subscribing takes effect once ZeroMQ has sent the subscription to the
// publisher or forwarder (a few milliseconds); messages published before
// then are not received. After a forwarder restart ZeroMQ reconnects and
// sends the subscriptions again by itself.
class Subscriber {
 public:
  using Handler = std::function<void(const PubSubMessage&)>;

  // Connects to `endpoint` (a forwarder backend or a binding publisher).
  // Throws warren::Error (506 RESOURCE_ERROR) when the connect fails.
  Subscriber(const std::string& endpoint, Handler handler, SubscriberOptions options = {});
  ~Subscriber();
  Subscriber(Subscriber&&) noexcept;
  Subscriber& operator=(Subscriber&&) noexcept;

  // Adds another publisher or forwarder to receive from.
  void connect(const std::string& endpoint);

  // Each is idempotent, as in Redis: subscribing twice delivers once.
  void subscribe(const std::string& channel);
  void psubscribe(const std::string& pattern);
  void unsubscribe(const std::string& channel);
  void punsubscribe(const std::string& pattern);

  // Waits up to `timeout` for messages and hands every one that is ready to
  // the handler. Returns the number of handler calls.
  std::size_t process_events(std::chrono::milliseconds timeout);
  // Dispatches until stop() is called; then returns (and clears the request).
  void run();
  // Makes run()/process_events() return soon. Async-signal-safe.
  void stop() noexcept;

  SubscriberStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace warren
