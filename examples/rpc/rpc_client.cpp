// Tutorial part 6, client side: asks rpc_queue for fib(n).
//   rpc_client [--endpoint E] [--n N] [--count C] [--concurrency K] [--timeout MS] [--reply-queue]
// Sends C calls, K at a time, and prints each answer. --reply-queue uses an
// exclusive reply queue instead of direct reply-to. Exit status 1 if any failed.
#include <deque>
#include <iostream>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  std::string n = "30";
  long count = 1, concurrency = 1, timeout_ms = 5000;
  bool reply_queue = false;
  for (std::size_t i = 0; i < args.words.size(); ++i) {
    const auto& w = args.words[i];
    bool has_value = i + 1 < args.words.size();
    if (w == "--n" && has_value) n = args.words[++i];
    else if (w == "--count" && has_value) count = std::stol(args.words[++i]);
    else if (w == "--concurrency" && has_value) concurrency = std::stol(args.words[++i]);
    else if (w == "--timeout" && has_value) timeout_ms = std::stol(args.words[++i]);
    else if (w == "--reply-queue") reply_queue = true;
  }
  if (args.count) count = args.count;
  try {
    warren::RpcClient client(args.endpoint, {.direct_reply_to = !reply_queue});
    std::deque<std::future<warren::Message>> in_flight;
    long sent = 0, failed = 0;
    auto settle = [&] {
      try {
        auto reply = in_flight.front().get();
        std::cout << " [.] fib(" << n << ") = " << reply.body << std::endl;
      } catch (const warren::Error& e) {
        std::cout << " [!] " << e.what() << std::endl;
        ++failed;
      }
      in_flight.pop_front();
    };
    std::cout << " [x] Requesting fib(" << n << ")" << std::endl;
    while (sent < count || !in_flight.empty()) {
      while (sent < count && static_cast<long>(in_flight.size()) < concurrency) {
        in_flight.push_back(client.call("rpc_queue", n, std::chrono::milliseconds(timeout_ms)));
        ++sent;
      }
      settle();
    }
    return failed ? 1 : 0;
  } catch (const warren::Error& e) {
    std::cerr << "rpc_client: " << e.what() << "\n";
    return 1;
  }
}
