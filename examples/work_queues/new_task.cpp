// The tutorial's work queue producer: each argument word joins into one task;
// every '.' in it stands for one unit of work for the worker.
//
//   new_task [--endpoint E] [--count N] [message words...]
//   (--count N sends N tasks, numbered "<message> #i")
#include <cstring>
#include <iostream>

#include <warren/warren.hpp>

int main(int argc, char** argv) {
  std::string endpoint = "tcp://127.0.0.1:5673";
  long count = 1;
  std::string message;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--endpoint") && i + 1 < argc) endpoint = argv[++i];
    else if (!std::strcmp(argv[i], "--count") && i + 1 < argc) count = std::stol(argv[++i]);
    else message += (message.empty() ? "" : " ") + std::string(argv[i]);
  }
  if (message.empty()) message = "Hello World!";
  try {
    warren::Connection connection(endpoint);
    auto channel = connection.channel();
    channel.queue_declare("task_queue", {.durable = true});
    warren::Properties persistent;
    persistent.delivery_mode = warren::kPersistent;  // make message persistent
    for (long i = 0; i < count; ++i) {
      std::string body = count == 1 ? message : message + " #" + std::to_string(i);
      channel.basic_publish("", "task_queue", body, persistent);
      if (count == 1) std::cout << " [x] Sent '" << body << "'" << std::endl;
    }
    if (count > 1) std::cout << " [x] Sent " << count << " tasks" << std::endl;
  } catch (const warren::Error& e) {
    std::cerr << "new_task: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
