// Test helpers: an in-process broker on an ephemeral endpoint, and waiting
// on conditions with deadlines (never fixed sleeps).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "warren/broker.hpp"
#include "warren/warren.hpp"

namespace warren::testing {

using namespace std::chrono_literals;

inline BrokerOptions quiet_broker(std::string endpoint = "tcp://127.0.0.1:*") {
  BrokerOptions o;
  o.endpoint = std::move(endpoint);
  o.log_level = LogLevel::kOff;
  return o;
}

// Waits for `done()` without a connection to drive (polls every millisecond).
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds deadline = 5s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(1ms);
  }
}

// Starts a broker on 127.0.0.1 with a free port for each test.
class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { start_broker(quiet_broker()); }
  void TearDown() override { broker_.reset(); }

  void start_broker(BrokerOptions options) {
    broker_ = std::make_unique<Broker>(std::move(options));
    broker_->start();
  }
  const std::string& endpoint() const { return broker_->endpoint(); }
  // Starts an (empty) broker on `where` after the previous one stopped. The
  // old socket releases the port in the background, so this retries until
  // bound or the deadline; returns whether it got the port.
  bool start_broker_again(const std::string& where) { return start_broker_again(quiet_broker(where)); }
  // The same with any options (their endpoint names the old one's address).
  bool start_broker_again(const BrokerOptions& options) {
    return wait_until([&] {
      try {
        start_broker(options);
        return true;
      } catch (const std::runtime_error&) {
        return false;
      }
    });
  }
  // Stops the broker and starts an empty one on the same endpoint, like a
  // restarted process without durable state.
  bool restart_broker() {
    std::string where = endpoint();
    broker_.reset();
    return start_broker_again(where);
  }
  Connection connect(ConnectionOptions options = {}) { return Connection(endpoint(), std::move(options)); }

  std::unique_ptr<Broker> broker_;
};

// Drives `conn` until `done()` or the deadline; returns done().
inline bool pump_until(Connection& conn, const std::function<bool()>& done,
                       std::chrono::milliseconds deadline = 5s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (done()) return true;  // done() is called once per turn: it may have side effects
    if (std::chrono::steady_clock::now() >= until) return false;
    conn.process_events(10ms);
  }
}

// Expects `fn` to throw E carrying `code`.
template <class E = Error, class F>
void expect_refused(F&& fn, ReplyCode code) {
  try {
    fn();
    ADD_FAILURE() << "expected reply code " << static_cast<int>(code) << ", nothing thrown";
  } catch (const E& e) {
    EXPECT_EQ(e.code(), code) << e.what();
  }
}

}  // namespace warren::testing
