// routing-bench: the per-message cost of topic-exchange routing
// (TopicTrie::match), with 10 bindings and with 100,000.
//
// A match walks the trie one routing-key word at a time, so its cost should
// depend on the key and on the bindings that can match it, not on how many
// bindings the exchange has: the two sizes should be within 2x of each other.
// Both sizes hold the same 10 typical bindings ("stock.nyse.ibm",
// "logs.*.error", "#.critical", ...); the large one adds 99,990 generated
// ones of the same shapes (per-symbol, per-service, per-order, per-tenant).
// Every size is matched with the same 1,024 routing keys in turn, so the
// results count equal work.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "topic_trie.hpp"

namespace {

using warren::detail::TopicTrie;

const char* const kTypicalBindings[] = {
    "stock.nyse.ibm", "stock.nasdaq.*", "stock.#",     "logs.*.error", "#.critical",
    "logs.auth.#",    "*.*.warn",       "orders.eu.#", "audit",        "#.nyse.#",
};

// The n-th generated binding: one of the shapes of kTypicalBindings, with
// names that do not collide with the typical ones.
std::string generated_binding(std::size_t n) {
  const std::string i = std::to_string(n / 8);
  switch (n % 8) {
    case 0:
    case 1:
    case 2:
      return "stock.ex" + std::to_string(n % 20) + ".sym" + i;
    case 3:
      return "logs.svc" + i + ".error";
    case 4:
      return "logs.svc" + i + ".*";
    case 5:
      return "*.svc" + i + ".warn";
    case 6:
      return "orders.region" + std::to_string(n % 16) + ".order" + i;
    default:
      return "tenant" + i + ".#";
  }
}

std::unique_ptr<TopicTrie<int>> make_trie(std::size_t bindings) {
  auto trie = std::make_unique<TopicTrie<int>>();
  int queue = 0;
  for (const char* key : kTypicalBindings) {
    if (trie->size() == bindings) break;
    trie->insert(key, queue++);
  }
  for (std::size_t n = 0; trie->size() < bindings; ++n) trie->insert(generated_binding(n), queue++);
  return trie;
}

// Routing keys as publishers send them: some hit the typical bindings, some
// the generated ones (when present), some nothing.
std::vector<std::string> make_routing_keys() {
  std::mt19937 rng(42);
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  const char* const exchanges[] = {"nyse", "nasdaq", "lse"};
  const char* const levels[] = {"error", "warn", "info", "debug", "critical"};
  std::vector<std::string> keys;
  while (keys.size() < 1024) {
    switch (pick(6)) {
      case 0:
        keys.push_back(std::string("stock.") + exchanges[pick(3)] + ".ibm");
        break;
      case 1:
        keys.push_back("stock.ex" + std::to_string(pick(20)) + ".sym" + std::to_string(pick(5000)));
        break;
      case 2:
        keys.push_back("logs.svc" + std::to_string(pick(5000)) + "." + levels[pick(5)]);
        break;
      case 3:
        keys.push_back(std::string("logs.auth.") + levels[pick(5)]);
        break;
      case 4:
        keys.push_back("orders.region" + std::to_string(pick(16)) + ".order" +
                       std::to_string(pick(5000)));
        break;
      default:
        keys.push_back("tenant" + std::to_string(pick(20000)) + ".events.created");
        break;
    }
  }
  return keys;
}

const TopicTrie<int>& trie_of(std::size_t bindings) {
  static std::map<std::size_t, std::unique_ptr<TopicTrie<int>>> tries;
  auto& trie = tries[bindings];
  if (!trie) trie = make_trie(bindings);
  return *trie;
}

// state.range(0): the number of bindings.
void BM_TopicMatch(benchmark::State& state) {
  const auto& trie = trie_of(static_cast<std::size_t>(state.range(0)));
  static const std::vector<std::string> keys = make_routing_keys();
  std::size_t next = 0;
  std::int64_t matched = 0;
  for (auto _ : state) {
    trie.match(keys[next], [&](int queue) { matched += queue >= 0; });
    next = (next + 1) % keys.size();
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(state.iterations());
  state.counters["bindings"] = static_cast<double>(trie.size());
  state.counters["matches_per_key"] =
      static_cast<double>(matched) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_TopicMatch)->Arg(10)->Arg(1000)->Arg(100000);

// The cost of '#': a binding key of six '#' against a 30-word routing key
// (exponential for a backtracking matcher, a few hundred steps here).
void BM_TopicMatchManyHashes(benchmark::State& state) {
  TopicTrie<int> trie;
  trie.insert("#.#.#.#.#.#", 1);
  trie.insert("#.a.#.a.#.a.#", 2);
  std::string key = "a";
  for (int i = 1; i < 30; ++i) key += ".a";
  std::int64_t matched = 0;
  for (auto _ : state) trie.match(key, [&](int) { ++matched; });
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TopicMatchManyHashes);

}  // namespace

BENCHMARK_MAIN();
