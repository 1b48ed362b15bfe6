// Tutorial part 3: every subscriber gets its own exclusive, server-named
// queue bound to the fanout exchange 'logs', so each receives every message.
//   receive_logs [--endpoint E] [--count N]
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.exchange_declare("logs", "fanout");
    auto queue = channel.queue_declare("", {.exclusive = true}).queue;
    channel.queue_bind(queue, "logs");
    examples::print_messages(connection, channel, queue, args, false);
  } catch (const warren::Error& e) {
    std::cerr << "receive_logs: " << e.what() << "\n";
    return 1;
  }
}
