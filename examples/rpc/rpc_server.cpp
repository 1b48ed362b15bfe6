// Tutorial part 6, server side: answers fib(n) requests on 'rpc_queue'.
//   rpc_server [--endpoint E] [--name NAME] [--delay-ms MS]
// Runs any number of copies: they share the queue, one request at a time each.
// Bad input (not a number, negative, n > 93 which overflows 64 bits) gets an
// error reply; the server stays up.
#include <charconv>
#include <iostream>
#include <stdexcept>
#include <thread>

#include <warren/warren.hpp>

#include "../common/example_args.hpp"

namespace {

// fib(n) iteratively, as a real service would: O(n), no recursion.
std::uint64_t fib(std::uint64_t n) {
  std::uint64_t a = 0, b = 1;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}

std::uint64_t parse_n(const std::string& body) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), n);
  if (ec != std::errc() || end != body.data() + body.size() || body.empty())
    throw std::invalid_argument("not a number: '" + body.substr(0, 32) + "'");
  if (n < 0) throw std::out_of_range("n must not be negative");
  if (n > 93) throw std::out_of_range("n must be at most 93 (fib(94) overflows 64 bits)");
  return static_cast<std::uint64_t>(n);
}

}  // namespace

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  std::string name = "server";
  long delay_ms = 0;
  for (std::size_t i = 0; i + 1 < args.words.size(); i += 2) {
    if (args.words[i] == "--name") name = args.words[i + 1];
    if (args.words[i] == "--delay-ms") delay_ms = std::stol(args.words[i + 1]);
  }
  try {
    warren::Connection connection(args.endpoint, {.automatic_recovery = true});
    examples::stop_on_signals(connection);
    auto channel = connection.channel();
    warren::RpcServer server(channel, "rpc_queue", [&](const warren::Message& request) {
      auto n = parse_n(request.body);
      std::cout << " [" << name << "] fib(" << n << ")" << std::endl;
      if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      return warren::RpcReply{std::to_string(fib(n))};
    });
    std::cout << " [x] Awaiting RPC requests" << std::endl;
    connection.run();
  } catch (const warren::Error& e) {
    std::cerr << "rpc_server: " << e.what() << "\n";
    return 1;
  }
}
