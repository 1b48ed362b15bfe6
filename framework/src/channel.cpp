#include "warren/channel.hpp"

#include <algorithm>
#include <utility>

#include "connection_core.hpp"

namespace warren {

using protocol::Opcode;

Channel::Channel(std::shared_ptr<detail::ConnectionCore> core, std::uint16_t number)
    : core_(std::move(core)), number_(number) {}

Channel::Channel(Channel&& other) noexcept
    : core_(std::move(other.core_)), number_(std::exchange(other.number_, 0)) {}

Channel& Channel::operator=(Channel&& other) noexcept {
  if (this != &other) {
    if (core_) core_->release_channel(number_);
    core_ = std::move(other.core_);
    number_ = std::exchange(other.number_, 0);
  }
  return *this;
}

Channel::~Channel() {
  if (core_) core_->release_channel(number_);
}

bool Channel::is_open() const { return core_ && core_->channel_open(number_); }

void Channel::close() {
  if (core_) core_->close_channel(number_);
}

QueueDeclareResult Channel::queue_declare(std::string_view queue, const QueueDeclareOptions& o) {
  protocol::QueueDeclare declare{std::string(queue), o.passive, o.durable, o.exclusive, o.auto_delete,
                                 o.arguments};
  auto reply = core_->call(number_, declare, Opcode::kQueueDeclareOk);
  auto& ok = std::get<protocol::QueueDeclareOk>(reply.method);
  if (!o.passive) {
    // Remembered for automatic recovery, under the name the broker gave it.
    declare.queue = ok.queue;
    core_->record(number_, std::move(declare));
  }
  return {std::move(ok.queue), ok.message_count, ok.consumer_count};
}

std::uint32_t Channel::queue_delete(std::string_view queue, const QueueDeleteOptions& o) {
  auto reply = core_->call(number_, protocol::QueueDelete{std::string(queue), o.if_unused, o.if_empty},
                           Opcode::kQueueDeleteOk);
  core_->forget_queue(queue);
  return std::get<protocol::QueueDeleteOk>(reply.method).message_count;
}

std::uint32_t Channel::queue_purge(std::string_view queue) {
  auto reply = core_->call(number_, protocol::QueuePurge{std::string(queue)}, Opcode::kQueuePurgeOk);
  return std::get<protocol::QueuePurgeOk>(reply.method).message_count;
}

void Channel::exchange_declare(std::string_view exchange, std::string_view type,
                               const ExchangeDeclareOptions& o) {
  protocol::ExchangeDeclare declare{std::string(exchange), std::string(type), o.passive, o.durable,
                                    o.auto_delete, o.internal, o.arguments};
  core_->call(number_, declare, Opcode::kExchangeDeclareOk);
  if (!o.passive) core_->record(number_, std::move(declare));
}

void Channel::exchange_delete(std::string_view exchange, const ExchangeDeleteOptions& o) {
  core_->call(number_, protocol::ExchangeDelete{std::string(exchange), o.if_unused}, Opcode::kExchangeDeleteOk);
  core_->forget_exchange(exchange);
}

void Channel::queue_bind(std::string_view queue, std::string_view exchange, std::string_view routing_key,
                         const FieldTable& arguments) {
  protocol::QueueBind bind{std::string(queue), std::string(exchange), std::string(routing_key), arguments};
  core_->call(number_, bind, Opcode::kQueueBindOk);
  core_->record(number_, std::move(bind));
}

void Channel::queue_unbind(std::string_view queue, std::string_view exchange, std::string_view routing_key,
                           const FieldTable& arguments) {
  protocol::QueueBind bind{std::string(queue), std::string(exchange), std::string(routing_key), arguments};
  core_->call(number_, protocol::QueueUnbind{bind.queue, bind.exchange, bind.routing_key, bind.arguments},
              Opcode::kQueueUnbindOk);
  core_->forget(bind);
}

void Channel::exchange_bind(std::string_view destination, std::string_view source, std::string_view routing_key,
                            const FieldTable& arguments) {
  protocol::ExchangeBind bind{std::string(destination), std::string(source), std::string(routing_key), arguments};
  core_->call(number_, bind, Opcode::kExchangeBindOk);
  core_->record(number_, std::move(bind));
}

void Channel::exchange_unbind(std::string_view destination, std::string_view source,
                              std::string_view routing_key, const FieldTable& arguments) {
  protocol::ExchangeBind bind{std::string(destination), std::string(source), std::string(routing_key), arguments};
  core_->call(number_,
              protocol::ExchangeUnbind{bind.destination, bind.source, bind.routing_key, bind.arguments},
              Opcode::kExchangeUnbindOk);
  core_->forget(bind);
}

void Channel::on_return(ReturnCallback callback) { core_->set_return_callback(number_, std::move(callback)); }

std::uint64_t Channel::basic_publish(std::string_view exchange, std::string_view routing_key,
                                     std::string_view body, const Properties& properties,
                                     const PublishOptions& options) {
  // Most messages carry no properties: skip encoding an empty map.
  static const Properties kNone;
  std::string raw = properties == kNone ? std::string() : protocol::encode_properties(properties);
  return core_->publish(number_,
                        protocol::BasicPublish{std::string(exchange), std::string(routing_key), options.mandatory},
                        raw, body);
}

void Channel::confirm_select() { core_->confirm_select(number_); }

bool Channel::wait_for_confirms(std::chrono::milliseconds timeout) {
  return core_->wait_for_confirms(number_, 1, detail::Clock::now() + timeout);
}

void Channel::wait_for_confirm_window(std::size_t window, std::chrono::milliseconds timeout) {
  core_->wait_for_confirms(number_, std::max<std::size_t>(window, 1), detail::Clock::now() + timeout);
}

std::uint64_t Channel::unconfirmed() const { return core_->unconfirmed(number_); }

void Channel::on_confirm(ConfirmCallback callback) { core_->set_confirm_callback(number_, std::move(callback)); }

std::string Channel::basic_consume(std::string_view queue, ConsumerCallback callback,
                                   const ConsumeOptions& o) {
  protocol::BasicConsume spec{std::string(queue), o.consumer_tag, o.auto_ack, o.exclusive, o.arguments};
  auto reply = core_->call(number_, spec, Opcode::kBasicConsumeOk);
  spec.consumer_tag = std::get<protocol::BasicConsumeOk>(reply.method).consumer_tag;
  // Deliveries that arrive before this point wait in the connection's pending
  // queue and are dispatched only from process_events, so none is missed.
  core_->add_consumer(number_, spec, std::move(callback), o.on_cancel);
  return spec.consumer_tag;
}

void Channel::basic_cancel(std::string_view consumer_tag) {
  core_->call(number_, protocol::BasicCancel{std::string(consumer_tag)}, Opcode::kBasicCancelOk);
  core_->remove_consumer(number_, consumer_tag);
}

std::optional<Message> Channel::basic_get(std::string_view queue, bool auto_ack) {
  auto reply = core_->call(number_, protocol::BasicGet{std::string(queue), auto_ack}, Opcode::kBasicGetOk,
                           Opcode::kBasicGetEmpty);
  auto* ok = std::get_if<protocol::BasicGetOk>(&reply.method);
  if (!ok) return std::nullopt;
  Message m;
  m.exchange = std::move(ok->exchange);
  m.routing_key = std::move(ok->routing_key);
  m.properties = protocol::decode_properties(reply.properties);
  m.body.assign(reply.body_view());
  m.delivery_tag = ok->delivery_tag;
  m.redelivered = ok->redelivered;
  m.message_count = ok->message_count;
  return m;
}

std::vector<FieldTable> Channel::management_query(std::string_view what) {
  auto reply = core_->call(number_, protocol::ManagementQuery{std::string(what)}, Opcode::kManagementQueryOk);
  auto& result = std::get<protocol::ManagementQueryOk>(reply.method).result;
  std::vector<FieldTable> rows;
  auto it = result.find("rows");
  if (it == result.end() || !it->second.is<FieldArray>()) return rows;
  for (const auto& row : it->second.as<FieldArray>())
    if (row.is<FieldTable>()) rows.push_back(row.as<FieldTable>());
  return rows;
}

FieldTable Channel::management_command(std::string_view verb, FieldTable arguments) {
  auto reply = core_->call(number_, protocol::ManagementCommand{std::string(verb), std::move(arguments)},
                           Opcode::kManagementCommandOk);
  return std::move(std::get<protocol::ManagementCommandOk>(reply.method).result);
}

void Channel::basic_qos(std::uint16_t prefetch_count, bool global) {
  protocol::BasicQos qos{prefetch_count, global};
  core_->call(number_, qos, Opcode::kBasicQosOk);
  core_->record_qos(number_, qos);
}

void Channel::basic_ack(std::uint64_t delivery_tag, bool multiple) {
  core_->settle(number_, protocol::BasicAck{delivery_tag, multiple});
}

void Channel::basic_nack(std::uint64_t delivery_tag, bool multiple, bool requeue) {
  core_->settle(number_, protocol::BasicNack{delivery_tag, multiple, requeue});
}

void Channel::basic_reject(std::uint64_t delivery_tag, bool requeue) {
  core_->settle(number_, protocol::BasicReject{delivery_tag, requeue});
}

void Channel::basic_recover(bool requeue) {
  core_->call(number_, protocol::BasicRecover{requeue}, Opcode::kBasicRecoverOk);
}

}  // namespace warren
