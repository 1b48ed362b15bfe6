// Tutorial part 2, "durable": the producer. A durable queue and persistent
// messages (delivery_mode=2) survive the broker going down. Unlike the
// tutorial, it also turns on publisher confirms and waits for them, so
// " [x] Sent" is printed only once the broker has the message on disk.
//   durable_send [--endpoint E] [--count N] [message words...]
// The queue is 'durable_hello', not the tutorial's 'hello': hello world
// declares 'hello' transient, and redeclaring it durable would be refused
// (406), in RabbitMQ as here.
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  auto message = args.message(0, "Hello World!");
  long count = args.count > 0 ? args.count : 1;
  try {
    warren::Connection connection(args.endpoint);
    auto channel = connection.channel();
    channel.queue_declare("durable_hello", {.durable = true});  // the queue survives a restart
    channel.confirm_select();
    warren::Properties properties;
    properties.delivery_mode = warren::kPersistent;  // and so does the message
    for (long i = 0; i < count; ++i)
      channel.basic_publish("", "durable_hello", count == 1 ? message : message + " #" + std::to_string(i),
                            properties);
    if (!channel.wait_for_confirms()) {
      std::cerr << "durable_send: the broker refused a message (nack)\n";
      return 1;
    }
    if (count == 1) std::cout << " [x] Sent '" << message << "'" << std::endl;
    else std::cout << " [x] Sent " << count << " messages" << std::endl;
  } catch (const warren::Error& e) {
    std::cerr << "durable_send: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
