// Tutorial part 4: bind an exclusive queue to 'direct_logs' once per
// severity given; receive only those.
//   receive_logs_direct [--endpoint E] [--count N] severity...
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  if (args.words.empty()) {
    std::cerr << "Usage: receive_logs_direct [--endpoint E] [info] [warning] [error]\n";
    return 1;
  }
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.exchange_declare("direct_logs", "direct");
    auto queue = channel.queue_declare("", {.exclusive = true}).queue;
    for (const auto& severity : args.words) channel.queue_bind(queue, "direct_logs", severity);
    examples::print_messages(connection, channel, queue, args, true);
  } catch (const warren::Error& e) {
    std::cerr << "receive_logs_direct: " << e.what() << "\n";
    return 1;
  }
}
