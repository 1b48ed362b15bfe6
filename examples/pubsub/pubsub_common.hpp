// Shared by the pub/sub examples: the endpoints of warrend's built-in
// forwarder, and printing what a Subscriber receives.
#pragma once

#include <csignal>
#include <iostream>
#include <string>

#include <warren/pubsub.hpp>

#include "../common/example_args.hpp"

namespace examples {

// warrend's forwarder: publishers connect to 5674, subscribers to 5675.
// --endpoint overrides (the broker's 5673 default of example_args does not
// apply here).
inline std::string pubsub_endpoint(const Args& args, const std::string& fallback) {
  return args.endpoint == Args(0, nullptr).endpoint ? fallback : args.endpoint;
}

inline warren::Subscriber*& subscriber_to_stop() {
  static warren::Subscriber* target = nullptr;
  return target;
}

// Prints " [x] <channel>: <body>" (with " (pattern <p>)" for a pattern
// match) until Ctrl-C, or until args.count messages with --count.
inline int print_pubsub(const Args& args, const std::string& endpoint,
                        void (*subscribe)(warren::Subscriber&, const std::string&),
                        const std::string& what) {
  long received = 0;
  warren::Subscriber* self = nullptr;
  warren::Subscriber subscriber(endpoint, [&](const warren::PubSubMessage& m) {
    std::cout << " [x] " << m.channel << ": " << m.body
              << (m.pattern.empty() ? "" : " (pattern " + m.pattern + ")") << std::endl;
    if (args.count && ++received >= args.count) self->stop();
  });
  self = &subscriber;
  subscribe(subscriber, what);
  subscriber_to_stop() = &subscriber;
  auto handler = [](int) {
    if (subscriber_to_stop()) subscriber_to_stop()->stop();
  };
  std::signal(SIGINT, handler);
  std::signal(SIGTERM, handler);
  std::cout << " [*] Subscribed to " << what << ". To exit press CTRL+C" << std::endl;
  subscriber.run();
  subscriber_to_stop() = nullptr;
  return 0;
}

}  // namespace examples
