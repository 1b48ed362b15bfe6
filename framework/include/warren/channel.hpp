// Channel: a lightweight session multiplexed on a Connection. Methods are
// named after the AMQP methods, as pika names them.
//
// A channel error from the broker (404, 405, 406, ...) closes the channel:
// the method that caused it, or the next call after an asynchronous one
// (basic_publish), throws ChannelError with the broker's code and text. The
// connection and its other channels keep working.
//
// RAII: destroying an open Channel closes it (channel.close); the broker
// requeues its unacknowledged messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "warren/errors.hpp"
#include "warren/field_value.hpp"
#include "warren/message.hpp"
#include "warren/properties.hpp"

namespace warren {

namespace detail {
class ConnectionCore;
}

struct QueueDeclareOptions {
  bool passive = false;      // only check that the queue exists (404 if not)
  bool durable = false;      // survives a broker restart
  bool exclusive = false;    // private to this connection, deleted with it
  bool auto_delete = false;  // deleted when its last consumer goes
  FieldTable arguments{};
};

struct QueueDeclareResult {
  std::string queue;  // the name, server-generated (amq.gen-...) if none given
  std::uint32_t message_count = 0;
  std::uint32_t consumer_count = 0;
};

struct QueueDeleteOptions {
  bool if_unused = false;  // refuse (406) if the queue has consumers
  bool if_empty = false;   // refuse (406) if the queue has messages
};

struct ExchangeDeclareOptions {
  bool passive = false;      // only check that the exchange exists (404 if not)
  bool durable = false;
  bool auto_delete = false;  // deleted when its last binding goes
  bool internal = false;     // only other exchanges may publish to it
  FieldTable arguments{};    // e.g. {"alternate-exchange", "unrouted"}
};

struct ExchangeDeleteOptions {
  bool if_unused = false;  // refuse (406) if the exchange has bindings
};

// A mandatory message that reached no queue, given back by the broker.
struct ReturnedMessage {
  ReplyCode reply_code = ReplyCode::kNoRoute;
  std::string reply_text;
  std::string exchange;
  std::string routing_key;
  Properties properties;
  std::string body;
};
using ReturnCallback = std::function<void(const ReturnedMessage&)>;

struct PublishOptions {
  bool mandatory = false;
};

struct ConsumeOptions {
  bool auto_ack = false;     // AMQP no_ack: messages count as acked when sent
  bool exclusive = false;    // refuse other consumers on the queue
  std::string consumer_tag{};  // empty: the broker generates amq.ctag-...
  FieldTable arguments{};
  // Called (on the connection's thread) when the broker cancels the consumer,
  // e.g. because its queue was deleted.
  std::function<void(const std::string& consumer_tag)> on_cancel{};
};

using ConsumerCallback = std::function<void(const Message&)>;
// Publisher confirms: called once per published message, in order, with its
// sequence number and whether the broker took it (ack) or refused it (nack).
using ConfirmCallback = std::function<void(std::uint64_t sequence, bool acked)>;
using CancelCallback = std::function<void(const std::string& consumer_tag)>;

class Channel {
 public:
  Channel(Channel&&) noexcept;
  Channel& operator=(Channel&&) noexcept;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel();

  std::uint16_t number() const { return number_; }
  bool is_open() const;

  QueueDeclareResult queue_declare(std::string_view queue = "", const QueueDeclareOptions& options = {});
  // Returns the number of messages deleted with the queue.
  std::uint32_t queue_delete(std::string_view queue, const QueueDeleteOptions& options = {});
  // Returns the number of messages purged.
  std::uint32_t queue_purge(std::string_view queue);

  // type: "direct", "fanout", "topic" or "headers".
  void exchange_declare(std::string_view exchange, std::string_view type = "direct",
                        const ExchangeDeclareOptions& options = {});
  void exchange_delete(std::string_view exchange, const ExchangeDeleteOptions& options = {});
  void queue_bind(std::string_view queue, std::string_view exchange, std::string_view routing_key = "",
                  const FieldTable& arguments = {});
  void queue_unbind(std::string_view queue, std::string_view exchange, std::string_view routing_key = "",
                    const FieldTable& arguments = {});
  // Exchange-to-exchange: messages routed by `source` reach `destination`.
  void exchange_bind(std::string_view destination, std::string_view source, std::string_view routing_key = "",
                     const FieldTable& arguments = {});
  void exchange_unbind(std::string_view destination, std::string_view source,
                       std::string_view routing_key = "", const FieldTable& arguments = {});

  // Pipelined: no round trip. A refusal arrives as a channel error that the
  // next call on this channel throws. With mandatory, a message that reaches
  // no queue comes back to the on_return callback. Returns the message's
  // sequence number in confirm mode (1, 2, ...), 0 otherwise.
  std::uint64_t basic_publish(std::string_view exchange, std::string_view routing_key, std::string_view body,
                              const Properties& properties = {}, const PublishOptions& options = {});

  // Publisher confirms (RabbitMQ's confirm.select). From now on the broker
  // acks every message published on this channel once it has taken
  // responsibility for it: a persistent message to a durable queue once it is
  // on disk (docs/protocol.md says exactly when). Idempotent.
  void confirm_select();
  // Waits until every message published so far is confirmed. Returns false
  // if any was nacked since the last call (they must be published again),
  // true if all were acked. Throws TimeoutError after `timeout`, ChannelError
  // or ConnectionError if the channel or connection closes first (messages
  // not confirmed by then may or may not have been taken). Messages that
  // were in flight when the connection was lost and recovered count as nacked.
  bool wait_for_confirms(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits until fewer than `window` messages await confirmation: a
  // publisher calls it before each publish to keep a bounded window in
  // flight. Same errors as wait_for_confirms; nacks are left for it to report.
  void wait_for_confirm_window(std::size_t window, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Messages published and not yet confirmed.
  std::uint64_t unconfirmed() const;
  // Called on the connection's thread (during run() / process_events()) for
  // each confirm, in sequence order.
  void on_confirm(ConfirmCallback callback);

  // Starts a consumer; `callback` runs on the connection's thread during
  // run()/process_events(). Returns the consumer tag.
  std::string basic_consume(std::string_view queue, ConsumerCallback callback,
                            const ConsumeOptions& options = {});
  void basic_cancel(std::string_view consumer_tag);
  // Receives mandatory messages that were not routed (pika's add_on_return_callback).
  void on_return(ReturnCallback callback);

  // Returns the next message, or nullopt when the queue is empty.
  std::optional<Message> basic_get(std::string_view queue, bool auto_ack = false);

  // At most `prefetch_count` unacknowledged messages per consumer (global:
  // per channel); 0 means unlimited. Applies to consumers started afterwards.
  void basic_qos(std::uint16_t prefetch_count, bool global = false);
  void basic_ack(std::uint64_t delivery_tag, bool multiple = false);
  void basic_nack(std::uint64_t delivery_tag, bool multiple = false, bool requeue = true);
  void basic_reject(std::uint64_t delivery_tag, bool requeue = true);
  void basic_recover(bool requeue = true);

  // Management (warrenctl's source): one row per queue, exchange, binding,
  // connection or consumer, or the broker overview; columns in docs/protocol.md.
  // `what`: overview, queues, exchanges, bindings, connections, consumers.
  std::vector<FieldTable> management_query(std::string_view what);
  // Changes the broker's users and permissions (warrenctl add_user, ...):
  // `verb` and `arguments` as in docs/protocol.md; returns the result table.
  // Needs the administrator tag when users are defined.
  FieldTable management_command(std::string_view verb, FieldTable arguments = {});

  // Closes the channel (channel.close). Idempotent.
  void close();

 private:
  friend class Connection;
  Channel(std::shared_ptr<detail::ConnectionCore> core, std::uint16_t number);

  std::shared_ptr<detail::ConnectionCore> core_;
  std::uint16_t number_ = 0;
};

}  // namespace warren
