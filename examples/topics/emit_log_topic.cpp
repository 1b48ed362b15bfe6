// Tutorial part 5: publish to the topic exchange 'topic_logs' with a dotted
// routing key such as "www.baidu.com" or "kern.critical".
//   emit_log_topic [--endpoint E] [routing_key] [message...]
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.exchange_declare("topic_logs", "topic");
    auto routing_key = args.words.empty() ? std::string("anonymous.info") : args.words[0];
    auto message = args.message(1, "Hello World!");
    channel.basic_publish("topic_logs", routing_key, message);
    std::cout << " [x] Sent '" << routing_key << "':'" << message << "'" << std::endl;
  } catch (const warren::Error& e) {
    std::cerr << "emit_log_topic: " << e.what() << "\n";
    return 1;
  }
}
