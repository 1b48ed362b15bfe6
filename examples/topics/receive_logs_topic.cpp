// Tutorial part 5: bind an exclusive queue to 'topic_logs' once per binding
// key given ("www.*.#", "hello.*", "#"); receive what matches any of them.
//   receive_logs_topic [--endpoint E] [--count N] binding_key...
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  if (args.words.empty()) {
    std::cerr << "Usage: receive_logs_topic [--endpoint E] binding_key...\n";
    return 1;
  }
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.exchange_declare("topic_logs", "topic");
    auto queue = channel.queue_declare("", {.exclusive = true}).queue;
    for (const auto& binding_key : args.words) channel.queue_bind(queue, "topic_logs", binding_key);
    examples::print_messages(connection, channel, queue, args, true);
  } catch (const warren::Error& e) {
    std::cerr << "receive_logs_topic: " << e.what() << "\n";
    return 1;
  }
}
