// Tutorial part 2, "durable": the consumer. Manual acks on a durable queue:
// if this consumer dies before its ack the message goes back to the queue;
// if the broker dies, the message is still on disk when it comes back.
//   durable_receive [--endpoint E] [--count N] [--work-ms MS]
// Each message is acked after MS ms of "work" (the tutorial sleeps 10 s).
#include <chrono>
#include <iostream>
#include <thread>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  long work_ms = 0;
  for (std::size_t i = 0; i + 1 < args.words.size(); ++i)
    if (args.words[i] == "--work-ms") work_ms = std::stol(args.words[i + 1]);
  try {
    warren::Connection connection(args.endpoint);
    examples::stop_on_signals(connection);
    auto channel = connection.channel();
    channel.queue_declare("durable_hello", {.durable = true});
    long received = 0;
    channel.basic_consume("durable_hello", [&](const warren::Message& m) {
      std::cout << " [x] Received '" << m.body << "'" << (m.redelivered ? " (redelivered)" : "") << std::endl;
      std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));
      std::cout << " [x] Done" << std::endl;
      channel.basic_ack(m.delivery_tag);
      if (args.count > 0 && ++received >= args.count) connection.stop();
    });
    std::cout << " [*] Waiting for messages. To exit press CTRL+C" << std::endl;
    connection.run();
  } catch (const warren::Error& e) {
    std::cerr << "durable_receive: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
