// Redis's PSUBSCRIBE: prints every message whose channel matches a glob
// pattern ('*', '?', '[a-z]', '[^a]', '\' escapes).
//   pubsub_psubscribe [--endpoint E] [--count N] PATTERN
// Default endpoint tcp://127.0.0.1:5675.
#include <iostream>

#include <warren/errors.hpp>

#include "pubsub_common.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  if (args.words.empty()) {
    std::cerr << "usage: pubsub_psubscribe [--endpoint E] [--count N] PATTERN\n";
    return 2;
  }
  try {
    return examples::print_pubsub(
        args, examples::pubsub_endpoint(args, "tcp://127.0.0.1:5675"),
        [](warren::Subscriber& s, const std::string& p) { s.psubscribe(p); }, args.words[0]);
  } catch (const warren::Error& e) {
    std::cerr << "pubsub_psubscribe: " << e.what() << "\n";
    return 1;
  }
}
