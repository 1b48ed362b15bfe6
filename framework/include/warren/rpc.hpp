// RPC over warren, the tutorial's part 6 made robust: a request carries
// reply_to and a unique correlation_id; the server replies to reply_to with
// the same correlation_id; the client matches replies to calls.
//
// RpcServer runs on a Channel you own (your thread drives it with run()).
// RpcClient owns its connection and a thread of its own, so call() is safe
// from any thread and returns a future that completes without your help.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "warren/channel.hpp"
#include "warren/connection.hpp"
#include "warren/errors.hpp"
#include "warren/message.hpp"

namespace warren {

// The header that marks a reply as an error; its value is the server's text.
inline constexpr const char* kRpcErrorHeader = "x-error";
// RabbitMQ's direct reply-to pseudo queue: replies come straight back to the
// calling channel without a queue.
inline constexpr const char* kDirectReplyTo = "amq.rabbitmq.reply-to";

// The server answered with an error reply; what() / text() carry its text.
class RpcError : public Error {
 public:
  explicit RpcError(std::string text) : Error(ReplyCode::kInternalError, std::move(text)) {}
};

struct RpcReply {
  std::string body;
  Properties properties{};
};
// Computes the reply to a request. Throwing sends an error reply instead.
using RpcHandler = std::function<RpcReply(const Message& request)>;

struct RpcServerOptions {
  std::uint16_t prefetch = 1;  // requests in progress per server
  bool declare_queue = true;   // declare the request queue if missing
};

class RpcServer {
 public:
  // Starts consuming `queue` on `channel`. REQUIRES: channel outlives this.
  RpcServer(Channel& channel, std::string queue, RpcHandler handler, RpcServerOptions options = {});
  ~RpcServer();  // cancels the consumer if the channel is still open
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  std::uint64_t handled() const { return handled_; }  // replies sent
  std::uint64_t failed() const { return failed_; }    // of which error replies

 private:
  void on_request(const Message& request);

  Channel& channel_;
  std::string queue_;
  RpcHandler handler_;
  std::string consumer_tag_;
  std::uint64_t handled_ = 0;
  std::uint64_t failed_ = 0;
};

struct RpcClientOptions {
  ConnectionOptions connection{};
  // true: direct reply-to; false: an exclusive server-named reply queue.
  bool direct_reply_to = true;
  std::string exchange{};  // requests go here; "" routes by queue name
};

class RpcClient {
 public:
  // Connects (throws ConnectionError if it cannot) and starts the client's thread.
  explicit RpcClient(const std::string& endpoint, RpcClientOptions options = {});
  // Fails outstanding calls with ConnectionError and stops the thread.
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // Sends a request; the future yields the reply message, or throws
  // TimeoutError after `timeout`, RpcError for an error reply, or
  // ConnectionError if the connection is gone. Safe from any thread.
  std::future<Message> call(std::string_view routing_key, std::string body, std::chrono::milliseconds timeout,
                            Properties properties = {});

  // Replies that matched no outstanding call (late, after a timeout, or unknown).
  std::uint64_t dropped_replies() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace warren
