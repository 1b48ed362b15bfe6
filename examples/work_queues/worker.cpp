// The tutorial's worker: takes one task at a time (prefetch 1), "works" for
// one unit per '.' in the task, then acknowledges it. A worker that dies
// mid-task loses nothing: the broker gives the unacknowledged task to another.
//
//   worker [--endpoint E] [--dot-ms MS] [--count N] [--name NAME]
//   (--dot-ms: time per '.', default 1000; --count: exit after N tasks)
#include <algorithm>
#include <cstring>
#include <iostream>
#include <thread>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  std::string endpoint = "tcp://127.0.0.1:5673";
  long dot_ms = 1000, limit = 0;
  std::string name = "worker";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--endpoint")) endpoint = argv[i + 1];
    else if (!std::strcmp(argv[i], "--dot-ms")) dot_ms = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--count")) limit = std::stol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--name")) name = argv[i + 1];
  }
  try {
    // A long-running consumer: ride through broker restarts by itself.
    warren::Connection connection(endpoint, {.automatic_recovery = true});
    examples::stop_on_signals(connection);
    auto channel = connection.channel();
    channel.queue_declare("task_queue", {.durable = true});
    channel.basic_qos(1);  // one unacknowledged task at a time: fair dispatch
    long done = 0;
    channel.basic_consume("task_queue", [&](const warren::Message& m) {
      std::cout << " [x] " << name << " received '" << m.body << "'" << (m.redelivered ? " (redelivered)" : "")
                << std::endl;
      auto dots = std::count(m.body.begin(), m.body.end(), '.');
      std::this_thread::sleep_for(std::chrono::milliseconds(dots * dot_ms));
      std::cout << " [x] " << name << " done '" << m.body << "'" << std::endl;
      channel.basic_ack(m.delivery_tag);
      if (limit && ++done >= limit) connection.stop();
    });
    std::cout << " [*] Waiting for messages. To exit press CTRL+C" << std::endl;
    connection.run();
  } catch (const warren::Error& e) {
    std::cerr << "worker: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
