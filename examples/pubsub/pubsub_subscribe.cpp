// The tutorial's RedisHelper.subscribe('fm111.7'): prints what arrives.
//   pubsub_subscribe [--endpoint E] [--count N] [channel]
// Defaults: channel fm111.7, endpoint tcp://127.0.0.1:5675.
#include <warren/errors.hpp>

#include "pubsub_common.hpp"

int main(int argc, char** argv) {
  examples::Args args(argc, argv);
  try {
    return examples::print_pubsub(
        args, examples::pubsub_endpoint(args, "tcp://127.0.0.1:5675"),
        [](warren::Subscriber& s, const std::string& c) { s.subscribe(c); },
        args.words.empty() ? "fm111.7" : args.words[0]);
  } catch (const warren::Error& e) {
    std::cerr << "pubsub_subscribe: " << e.what() << "\n";
    return 1;
  }
}
