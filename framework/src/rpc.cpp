#include "warren/rpc.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace warren {

// ---- server -----------------------------------------------------------------

RpcServer::RpcServer(Channel& channel, std::string queue, RpcHandler handler, RpcServerOptions options)
    : channel_(channel), queue_(std::move(queue)), handler_(std::move(handler)) {
  if (options.declare_queue) channel_.queue_declare(queue_);
  channel_.basic_qos(options.prefetch);
  consumer_tag_ = channel_.basic_consume(queue_, [this](const Message& m) { on_request(m); });
}

RpcServer::~RpcServer() {
  try {
    if (channel_.is_open()) channel_.basic_cancel(consumer_tag_);
  } catch (const Error&) {
    // the channel or connection went meanwhile: nothing left to cancel
  }
}

void RpcServer::on_request(const Message& request) {
  if (!request.properties.reply_to) {  // nowhere to answer: drop it, do not retry it
    channel_.basic_ack(request.delivery_tag);
    return;
  }
  RpcReply reply;
  bool failed = false;
  try {
    reply = handler_(request);
  } catch (const std::exception& e) {
    failed = true;
    reply = RpcReply{};
    reply.properties.headers = FieldTable{{kRpcErrorHeader, std::string(e.what())}};
  } catch (...) {
    failed = true;
    reply = RpcReply{};
    reply.properties.headers = FieldTable{{kRpcErrorHeader, "unknown error"}};
  }
  reply.properties.correlation_id = request.properties.correlation_id;
  // Reply first, then ack: a server that dies in between leaves the request to
  // be redelivered (at-least-once), never lost.
  channel_.basic_publish("", *request.properties.reply_to, reply.body, reply.properties);
  channel_.basic_ack(request.delivery_tag);
  ++handled_;
  failed_ += failed;
}

// ---- client -----------------------------------------------------------------

class RpcClient::Impl {
 public:
  Impl(const std::string& endpoint, RpcClientOptions options) : options_(std::move(options)) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, endpoint, &ready] { run(endpoint, ready); });
    try {
      started.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }

  ~Impl() {
    stopping_ = true;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (connection_) connection_->stop();
    }
    thread_.join();
  }

  std::future<Message> call(std::string_view routing_key, std::string body, std::chrono::milliseconds timeout,
                            Properties properties) {
    auto promise = std::make_shared<std::promise<Message>>();
    auto future = promise->get_future();
    std::lock_guard<std::mutex> lk(mu_);
    if (!connection_ || stopping_) {
      promise->set_exception(std::make_exception_ptr(closed_ ? *closed_ : ConnectionError(ReplyCode::kConnectionForced, "RPC client closed")));
      return future;
    }
    connection_->post([this, promise, key = std::string(routing_key), body = std::move(body), timeout,
                       properties = std::move(properties)]() mutable {
      start_call(std::move(promise), key, body, timeout, std::move(properties));
    });
    return future;
  }

  std::uint64_t dropped() const { return dropped_; }

 private:
  struct Pending {
    std::shared_ptr<std::promise<Message>> promise;
    std::string routing_key;
    std::chrono::milliseconds timeout;
  };
  using Clock = std::chrono::steady_clock;

  void run(const std::string& endpoint, std::promise<void>& ready) {
    std::optional<Connection> connection;
    std::optional<Channel> channel;
    try {
      connection.emplace(endpoint, options_.connection);
      channel.emplace(connection->channel());
      reply_to_ = options_.direct_reply_to ? kDirectReplyTo : channel->queue_declare("", {.exclusive = true}).queue;
      channel->basic_consume(options_.direct_reply_to ? kDirectReplyTo : reply_to_,
                             [this](const Message& m) { on_reply(m); }, {.auto_ack = true});
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    channel_ = &*channel;
    {
      std::lock_guard<std::mutex> lk(mu_);
      connection_ = &*connection;
    }
    ready.set_value();
    std::exception_ptr failure;
    while (!stopping_) {
      try {
        auto wait = std::chrono::milliseconds(50);
        if (!deadlines_.empty())
          wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(deadlines_.begin()->first - Clock::now()),
                            std::chrono::milliseconds(0), wait);
        connection->process_events(wait);
      } catch (const ConnectionError& e) {
        failure = std::current_exception();
        std::lock_guard<std::mutex> lk(mu_);
        closed_ = e;
        break;
      }
      expire(Clock::now());
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      connection_ = nullptr;
    }
    // Calls posted but never started are failed here too: run what is queued.
    if (!failure) failure = std::make_exception_ptr(ConnectionError(ReplyCode::kConnectionForced, "RPC client closed"));
    for (auto& [id, p] : pending_) p.promise->set_exception(failure);
    pending_.clear();
    channel_ = nullptr;
    stopping_ = true;
    try {
      connection->run_for(std::chrono::milliseconds(0));  // runs posted calls: they fail fast now
    } catch (const Error&) {
    }
  }

  // On the connection's thread.
  void start_call(std::shared_ptr<std::promise<Message>> promise, const std::string& routing_key,
                  const std::string& body, std::chrono::milliseconds timeout, Properties properties) {
    if (!channel_) {
      promise->set_exception(std::make_exception_ptr(ConnectionError(ReplyCode::kConnectionForced, "RPC client closed")));
      return;
    }
    std::string id = std::to_string(++next_id_);
    properties.correlation_id = id;
    properties.reply_to = reply_to_;
    try {
      channel_->basic_publish(options_.exchange, routing_key, body, properties);
    } catch (const Error&) {
      promise->set_exception(std::current_exception());
      return;
    }
    pending_.emplace(id, Pending{std::move(promise), routing_key, timeout});
    deadlines_.emplace(Clock::now() + timeout, id);
  }

  void on_reply(const Message& reply) {
    auto id = reply.properties.correlation_id;
    auto it = id ? pending_.find(*id) : pending_.end();
    if (it == pending_.end()) {
      ++dropped_;
      return;
    }
    auto promise = std::move(it->second.promise);
    pending_.erase(it);
    const auto& headers = reply.properties.headers;
    if (headers) {
      auto error = headers->find(kRpcErrorHeader);
      if (error != headers->end()) {
        auto text = error->second.is<std::string>() ? error->second.as<std::string>() : "error reply";
        promise->set_exception(std::make_exception_ptr(RpcError(text)));
        return;
      }
    }
    promise->set_value(reply);
  }

  void expire(Clock::time_point now) {
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = pending_.find(id);
      if (it == pending_.end()) continue;  // answered in time
      it->second.promise->set_exception(std::make_exception_ptr(
          TimeoutError("RPC call to '" + it->second.routing_key + "' got no reply within " +
                       std::to_string(it->second.timeout.count()) + " ms")));
      pending_.erase(it);
    }
  }

  RpcClientOptions options_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;  // guards connection_ and closed_, read by callers' threads
  Connection* connection_ = nullptr;
  std::optional<ConnectionError> closed_;
  // Below: the client's thread only.
  Channel* channel_ = nullptr;
  std::string reply_to_;
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::string, Pending> pending_;
  std::multimap<Clock::time_point, std::string> deadlines_;
  std::atomic<std::uint64_t> dropped_{0};
};

RpcClient::RpcClient(const std::string& endpoint, RpcClientOptions options)
    : impl_(std::make_unique<Impl>(endpoint, std::move(options))) {}
RpcClient::~RpcClient() = default;

std::future<Message> RpcClient::call(std::string_view routing_key, std::string body, std::chrono::milliseconds timeout,
                                     Properties properties) {
  return impl_->call(routing_key, std::move(body), timeout, std::move(properties));
}

std::uint64_t RpcClient::dropped_replies() const { return impl_->dropped(); }

}  // namespace warren
