// Tutorial part 3: publish a log line to the fanout exchange 'logs'.
//   emit_log [--endpoint E] [message...]
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.exchange_declare("logs", "fanout");
    auto message = args.message(0, "info: Hello World!");
    channel.basic_publish("logs", "", message);
    std::cout << " [x] Sent '" << message << "'" << std::endl;
  } catch (const warren::Error& e) {
    std::cerr << "emit_log: " << e.what() << "\n";
    return 1;
  }
}
