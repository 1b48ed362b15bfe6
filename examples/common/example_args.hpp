// Argument handling shared by the examples: [--endpoint E] [--count N] words...
// --count N makes a receiver exit after N messages (tests use it).
#pragma once

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include <warren/connection.hpp>

namespace examples {

struct Args {
  std::string endpoint = "tcp://127.0.0.1:5673";
  long count = 0;
  std::vector<std::string> words;

  Args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      if (!std::strcmp(argv[i], "--endpoint") && i + 1 < argc) endpoint = argv[++i];
      else if (!std::strcmp(argv[i], "--count") && i + 1 < argc) count = std::stol(argv[++i]);
      else words.emplace_back(argv[i]);
    }
  }
  // The words after the first `skip`, joined by spaces, or `fallback`.
  std::string message(std::size_t skip, const std::string& fallback) const {
    std::string m;
    for (std::size_t i = skip; i < words.size(); ++i) m += (m.empty() ? "" : " ") + words[i];
    return m.empty() ? fallback : m;
  }
};

// Ctrl-C / SIGTERM stop the connection's run() loop.
inline warren::Connection*& stop_target() {
  static warren::Connection* target = nullptr;
  return target;
}
inline void stop_on_signals(warren::Connection& connection) {
  stop_target() = &connection;
  auto handler = [](int) {
    if (stop_target()) stop_target()->stop();
  };
  std::signal(SIGINT, handler);
  std::signal(SIGTERM, handler);
}

}  // namespace examples

#include <iostream>

#include <warren/channel.hpp>

namespace examples {

// Consumes `queue` with auto-ack and prints each message as
// " [x] <routing_key>:<body>" (or " [x] <body>" without the key) until
// Ctrl-C, or until args.count messages when --count was given.
inline void print_messages(warren::Connection& connection, warren::Channel& channel, const std::string& queue,
                           const Args& args, bool with_key) {
  stop_on_signals(connection);
  long received = 0;
  channel.basic_consume(queue, [&](const warren::Message& m) {
    std::cout << " [x] " << (with_key ? m.routing_key + ":" : "") << m.body << std::endl;
    if (args.count && ++received >= args.count) connection.stop();
  }, {.auto_ack = true});
  std::cout << " [*] Waiting for logs. To exit press CTRL+C" << std::endl;
  connection.run();
}

}  // namespace examples
