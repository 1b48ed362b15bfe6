// The tutorial's first consumer: print what arrives on the queue 'hello'.
//
//   receive [endpoint] [count]   (count: exit after that many messages; default: run until Ctrl-C)
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  std::string endpoint = argc > 1 ? argv[1] : "tcp://127.0.0.1:5673";
  long limit = argc > 2 ? std::stol(argv[2]) : 0;
  try {
    warren::Connection connection(endpoint);
    examples::stop_on_signals(connection);  // Ctrl-C ends run()
    warren::Channel channel = connection.channel();
    channel.queue_declare("hello");
    long received = 0;
    channel.basic_consume(
        "hello",
        [&](const warren::Message& m) {
          std::cout << " [x] Received '" << m.body << "'" << std::endl;
          if (limit && ++received >= limit) connection.stop();
        },
        {.auto_ack = true});
    std::cout << " [*] Waiting for messages. To exit press CTRL+C" << std::endl;
    connection.run();
  } catch (const warren::Error& e) {
    std::cerr << "receive: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
