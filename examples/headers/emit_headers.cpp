// A headers exchange: routing by message headers instead of the routing key.
//   emit_headers [--endpoint E] key=value... [message]
// Each key=value becomes a string header; the last word without '=' is the body.
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.exchange_declare("headers_logs", "headers");
    warren::Properties properties;
    properties.headers.emplace();
    std::string message = "Hello World!";
    for (const auto& word : args.words) {
      auto eq = word.find('=');
      if (eq == std::string::npos) message = word;
      else (*properties.headers)[word.substr(0, eq)] = word.substr(eq + 1);
    }
    channel.basic_publish("headers_logs", "", message, properties);
    std::cout << " [x] Sent '" << message << "'" << std::endl;
  } catch (const warren::Error& e) {
    std::cerr << "emit_headers: " << e.what() << "\n";
    return 1;
  }
}
