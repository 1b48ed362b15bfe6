// The tutorial's first example: put "Hello World!" on the queue 'hello'.
//
//   send [endpoint] [message]
#include <iostream>

#include <warren/warren.hpp>

int main(int argc, char** argv) {
  std::string endpoint = argc > 1 ? argv[1] : "tcp://127.0.0.1:5673";
  std::string body = argc > 2 ? argv[2] : "Hello World!";
  try {
    warren::Connection connection(endpoint);
    warren::Channel channel = connection.channel();
    channel.queue_declare("hello");  // idempotent: creates 'hello' if it is not there
    channel.basic_publish("", "hello", body);
    std::cout << " [x] Sent '" << body << "'" << std::endl;
    // Leaving scope closes the channel and the connection; the close
    // handshake makes sure the publish reached the broker first.
  } catch (const warren::Error& e) {
    std::cerr << "send: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
