// The tutorial's RedisHelper.publish('alex db', 'fm111.7') over warren's
// pub/sub fast path: connects to warrend's forwarder and publishes.
//   pubsub_publish [--endpoint E] [--count N] [channel [message...]]
// Defaults: channel fm111.7, message "alex db", endpoint tcp://127.0.0.1:5674.
#include <chrono>
#include <iostream>
#include <thread>

#include <warren/errors.hpp>

#include "pubsub_common.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  const std::string channel = args.words.empty() ? "fm111.7" : args.words[0];
  const std::string message = args.message(1, "alex db");
  try {
    warren::Publisher publisher(examples::pubsub_endpoint(args, "tcp://127.0.0.1:5674"));
    // PUB drops what it sends before its connection is up (ZeroMQ's "slow
    // joiner"); a long-lived publisher does not notice, a one-shot does.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (long i = 0; i < std::max(1L, args.count); ++i) publisher.publish(channel, message);
    std::cout << " [x] Published '" << message << "' on " << channel << std::endl;
  } catch (const warren::Error& e) {
    std::cerr << "pubsub_publish: " << e.what() << "\n";
    return 1;
  }
}
