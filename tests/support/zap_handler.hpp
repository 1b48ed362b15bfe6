// A ZAP handler (RFC 27) for tests: answers every request on a context with
// 200 and a User-Id of the test's choosing, so connections to a broker with
// BrokerOptions::zap_domain set get real user names without CURVE keys.
//
//   zmq::context_t ctx;
//   ZapHandler zap(ctx);              // before the broker binds on ctx
//   auto o = quiet_broker(); o.context = &ctx; o.zap_domain = "warren";
//   zap.set_user("bob");              // the next connection is bob
//
// The User-Id is the one set when the connection's handshake reaches the
// handler; Connection's constructor returns after that, so set_user() then
// connect() names exactly that connection.
// Destroy it before the context (declare it after the context).
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

namespace warren::testing {

class ZapHandler {
 public:
  explicit ZapHandler(zmq::context_t& ctx) : socket_(ctx, zmq::socket_type::rep) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("inproc://zeromq.zap.01");
    thread_ = std::thread([this] { serve(); });
  }
  ~ZapHandler() {
    stop_.store(true);
    thread_.join();
  }
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  void set_user(std::string user) {
    std::lock_guard<std::mutex> lk(mu_);
    user_ = std::move(user);
  }
  // Refuse (400) every connection from now on, or admit again.
  void set_refuse(bool refuse) { refuse_.store(refuse); }
  std::size_t requests() const { return requests_.load(); }

 private:
  void serve() {
    while (!stop_.load()) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> request;
      for (bool more = true; more;) {
        zmq::message_t part;
        (void)socket_.recv(part);
        more = part.more();
        request.push_back(std::move(part));
      }
      // version, request id, domain, address, identity, mechanism, credentials...
      std::string request_id = request.size() > 1 ? request[1].to_string() : "";
      std::string user;
      {
        std::lock_guard<std::mutex> lk(mu_);
        user = user_;
      }
      bool refuse = refuse_.load();
      ++requests_;
      std::vector<std::string> reply{"1.0", request_id, refuse ? "400" : "200", refuse ? "refused" : "OK",
                                     refuse ? "" : user, ""};
      for (std::size_t i = 0; i < reply.size(); ++i)
        socket_.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  zmq::socket_t socket_;
  std::mutex mu_;
  std::string user_ = "guest";
  std::atomic<bool> refuse_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> requests_{0};
  std::thread thread_;
};

}  // namespace warren::testing
