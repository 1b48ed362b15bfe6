// Tutorial part 4: publish to the direct exchange 'direct_logs' with the
// severity as routing key.
//   emit_log_direct [--endpoint E] [severity] [message...]
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.exchange_declare("direct_logs", "direct");
    auto severity = args.words.empty() ? std::string("info") : args.words[0];
    auto message = args.message(1, "Hello World!");
    channel.basic_publish("direct_logs", severity, message);
    std::cout << " [x] Sent '" << severity << "':'" << message << "'" << std::endl;
  } catch (const warren::Error& e) {
    std::cerr << "emit_log_direct: " << e.what() << "\n";
    return 1;
  }
}
