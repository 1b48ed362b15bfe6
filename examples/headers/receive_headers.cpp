// A headers exchange: receive messages whose headers match the binding.
//   receive_headers [--endpoint E] [--count N] [all|any] key=value...
// "all" (default): every key=value must be in the headers; "any": one is enough.
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  warren::FieldTable binding{{"x-match", "all"}};
  for (const auto& word : args.words) {
    auto eq = word.find('=');
    if (eq == std::string::npos) binding["x-match"] = word;
    else binding[word.substr(0, eq)] = word.substr(eq + 1);
  }
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.exchange_declare("headers_logs", "headers");
    auto queue = channel.queue_declare("", {.exclusive = true}).queue;
    channel.queue_bind(queue, "headers_logs", "", binding);
    examples::print_messages(connection, channel, queue, args, false);
  } catch (const warren::Error& e) {
    std::cerr << "receive_headers: " << e.what() << "\n";
    return 1;
  }
}
