// TopicTrie against RabbitMQ's topic-exchange semantics: a table of (binding
// key, routing key, expected) rows covering every edge case of words, empty
// words, '*' and '#'; bookkeeping (duplicates, erase and pruning); and a
// randomized cross-check against a plain recursive matcher written here from
// the definition, independent of the trie.
#include "topic_trie.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <iterator>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warren::detail {
namespace {

// ---- Reference matcher: the definition, written as plainly as possible ----

std::vector<std::string> split_words(const std::string& key) {
  std::vector<std::string> words;
  if (key.empty()) return words;  // the empty key is zero words
  std::string word;
  for (char c : key) {
    if (c == '.') {
      words.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  words.push_back(word);
  return words;
}

bool reference_match(const std::vector<std::string>& pattern, std::size_t p,
                     const std::vector<std::string>& key, std::size_t k) {
  if (p == pattern.size()) return k == key.size();
  if (pattern[p] == "#") {
    return reference_match(pattern, p + 1, key, k) ||
           (k < key.size() && reference_match(pattern, p, key, k + 1));
  }
  if (k == key.size()) return false;
  if (pattern[p] != "*" && pattern[p] != key[k]) return false;
  return reference_match(pattern, p + 1, key, k + 1);
}

bool reference_match(const std::string& binding_key, const std::string& routing_key) {
  return reference_match(split_words(binding_key), 0, split_words(routing_key), 0);
}

// Values the trie reports for `routing_key`, de-duplicated.
template <class T>
std::multiset<T> matches(const TopicTrie<T>& trie, std::string_view routing_key) {
  std::multiset<T> out;
  trie.match(routing_key, [&](const T& v) { out.insert(v); });
  return out;
}

bool trie_matches(const std::string& binding_key, const std::string& routing_key) {
  TopicTrie<int> trie;
  trie.insert(binding_key, 1);
  const auto out = matches(trie, routing_key);
  EXPECT_LE(out.size(), 1u) << "one binding reported twice";
  return !out.empty();
}

// ---- The table ----

struct Row {
  const char* binding_key;
  const char* routing_key;
  bool expected;
};

void PrintTo(const Row& row, std::ostream* os) {
  *os << "binding \"" << row.binding_key << "\" routing \"" << row.routing_key << "\" -> "
      << (row.expected ? "match" : "no match");
}

constexpr Row kRows[] = {
    // Literal words.
    {"a", "a", true},
    {"a", "b", false},
    {"a.b", "a.b", true},
    {"a.b", "a", false},
    {"a", "a.b", false},
    {"a.b.c", "a.b.c", true},
    {"a.b.c", "a.b.d", false},
    {"a.b.c", "a.c.b", false},
    {"stock.nyse.ibm", "stock.nyse.ibm", true},
    {"A", "a", false},  // case-sensitive
    {"ab", "a", false},
    {"a", "ab", false},
    {"a b", "a b", true},
    {"\xC3\xBC.x", "\xC3\xBC.x", true},  // UTF-8 words are bytes
    // The empty key is zero words.
    {"", "", true},
    {"", "a", false},
    {"", ".", false},
    {"a", "", false},
    {"#", "", true},
    {"*", "", false},
    {"#.#", "", true},
    {"*.#", "", false},
    {"#.*", "", false},
    {"#.*.#", "", false},
    {".", "", false},
    // '#' alone matches everything.
    {"#", "a", true},
    {"#", "a.b.c", true},
    {"#", ".", true},
    {"#", "..", true},
    {"#", "a..b", true},
    {"#", "a.", true},
    // '*' is exactly one word, an empty one included.
    {"*", "a", true},
    {"*", "a.b", false},
    {"*", ".", false},  // "." is two empty words
    {"*.*", ".", true},
    {"*.*", "a.", true},
    {"*.*", ".a", true},
    {"*.*", "a", false},
    {"*.*", "a.b.c", false},
    {"*.*.*", "..", true},
    {"*.*.*", ".", false},
    {"a.*", "a.", true},
    {"a.*", "a", false},
    {"*.b", ".b", true},
    {"*.b", "b", false},
    {"a.*.c", "a..c", true},
    {"a.*.c", "a.c", false},
    {"a.*.c", "a.b.b.c", false},
    // Empty words are literal words.
    {".", ".", true},
    {".", "..", false},
    {".", "a", false},
    {"a.", "a.", true},
    {"a.", "a", false},
    {".a", ".a", true},
    {".a", "a", false},
    {"a..b", "a..b", true},
    {"a..b", "a.b", false},
    {"a..b", "a.x.b", false},
    {"..", "..", true},
    {"..", ".", false},
    // '#.#' is the same as '#'.
    {"#.#", "a", true},
    {"#.#", "a.b.c", true},
    {"#.#", ".", true},
    // 'a.#.b'.
    {"a.#.b", "a.b", true},
    {"a.#.b", "a.x.b", true},
    {"a.#.b", "a.x.y.b", true},
    {"a.#.b", "a.b.c", false},
    {"a.#.b", "a", false},
    {"a.#.b", "b", false},
    {"a.#.b", "a.b.b", true},
    {"a.#.b", "a..b", true},
    {"a.#.b", "x.a.b", false},
    // '*.#' and '#.*': one or more words.
    {"*.#", "a", true},
    {"*.#", "a.b", true},
    {"*.#", ".", true},
    {"#.*", "a", true},
    {"#.*", "a.b.c", true},
    // '#.*.#': one or more words.
    {"#.*.#", "a", true},
    {"#.*.#", "a.b.c", true},
    {"#.*.#", ".", true},
    // '#.a'.
    {"#.a", "a", true},
    {"#.a", "x.a", true},
    {"#.a", "x.y.a", true},
    {"#.a", "a.x", false},
    {"#.a", "x.a.b", false},
    {"#.a", "", false},
    {"#.a", "xa", false},
    // 'a.#' matches 'a' itself.
    {"a.#", "a", true},
    {"a.#", "a.b", true},
    {"a.#", "a.b.c", true},
    {"a.#", "a.", true},
    {"a.#", "b", false},
    {"a.#", "", false},
    {"a.#", "ab", false},
    {"a.#", "b.a", false},
    // '*' and '#' are wildcards only as whole words.
    {"a*", "a*", true},
    {"a*", "ab", false},
    {"a*", "a", false},
    {"*a", "ba", false},
    {"#a", "#a", true},
    {"#a", "xa", false},
    {"#a", "a", false},
    {"a#", "a.b", false},
    {"a#", "a", false},
    {"**", "a", false},
    {"**", "**", true},
    {"##", "a", false},
    {"##", "", false},
    {"*#", "a.b", false},
    // Routing-key words are always literal.
    {"a", "*", false},
    {"a", "#", false},
    {"*", "*", true},
    {"*", "#", true},
    {"#", "#", true},
    {"#", "*.#", true},
    {"a.b", "*.b", false},
    {"a.b", "#", false},
    {"a.#", "#", false},
    // Several '#', and '#' beside '*'.
    {"#.#.#.#", "a.b", true},
    {"#.#.#.#", "", true},
    {"#.b.#", "b", true},
    {"#.b.#", "a.b.c", true},
    {"#.b.#", "a.c", false},
    {"#.b.#.d.#", "b.d", true},
    {"#.b.#.d.#", "x.b.y.d.z", true},
    {"#.b.#.d.#", "d.b", false},
    {"a.#.#.b", "a.b", true},
    {"*.*.#", "a", false},
    {"*.*.#", "a.b", true},
    {"#.*.*", "a", false},
    {"#.*.*", "a.b.c.d", true},
    {"a.*.#", "a", false},
    {"a.*.#", "a.b", true},
    {"a.#.*", "a.b", true},
    {"a.#.*", "a", false},
    {"*.a.#.b.*", "x.a.b.y", true},
    {"*.a.#.b.*", "x.a.q.r.b.y", true},
    {"*.a.#.b.*", "a.b.y", false},
    {"#.a.#.a.#", "a", false},
    {"#.a.#.a.#", "a.a", true},
    {"#.a.#.a.#", "x.a.y.a.z", true},
    // The RabbitMQ tutorial's examples, and realistic keys.
    {"*.orange.*", "quick.orange.rabbit", true},
    {"*.*.rabbit", "quick.orange.rabbit", true},
    {"*.orange.*", "lazy.orange.elephant", true},
    {"lazy.#", "lazy.orange.elephant", true},
    {"*.orange.*", "quick.orange.fox", true},
    {"*.*.rabbit", "lazy.brown.fox", false},
    {"lazy.#", "lazy.pink.rabbit", true},
    {"*.*.rabbit", "quick.brown.fox", false},
    {"*.orange.*", "quick.orange.male.rabbit", false},
    {"lazy.#", "lazy.orange.male.rabbit", true},
    {"lazy.#", "orange", false},
    {"logs.*.error", "logs.auth.error", true},
    {"logs.*.error", "logs.error", false},
    {"logs.*.error", "logs.auth.db.error", false},
    {"#.critical", "kern.critical", true},
    {"#.critical", "critical", true},
    {"#.critical", "kern.critical.x", false},
};

class TopicTableTest : public ::testing::TestWithParam<Row> {};

TEST_P(TopicTableTest, TrieMatchesAsRabbitMQ) {
  const Row& row = GetParam();
  EXPECT_EQ(trie_matches(row.binding_key, row.routing_key), row.expected);
}

// The reference matcher must agree with the table too, or the randomized
// cross-check below proves nothing.
TEST_P(TopicTableTest, ReferenceMatchesAsRabbitMQ) {
  const Row& row = GetParam();
  EXPECT_EQ(reference_match(row.binding_key, row.routing_key), row.expected);
}

INSTANTIATE_TEST_SUITE_P(Rows, TopicTableTest, ::testing::ValuesIn(kRows));

TEST(TopicTrieTable, HasEnoughRows) { EXPECT_GE(std::size(kRows), 80u); }

// All the table's bindings in one trie: sharing nodes must not make one
// binding's match leak into another's.
TEST(TopicTrieTable, AllRowsInOneTrie) {
  TopicTrie<std::string> trie;
  std::set<std::string> binding_keys;
  for (const Row& row : kRows) binding_keys.insert(row.binding_key);
  for (const auto& key : binding_keys) ASSERT_TRUE(trie.insert(key, key));
  for (const Row& row : kRows) {
    std::set<std::string> expected;
    for (const auto& key : binding_keys)
      if (reference_match(key, row.routing_key)) expected.insert(key);
    const auto got = matches(trie, row.routing_key);
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), expected)
        << "routing key \"" << row.routing_key << "\"";
    EXPECT_EQ(got.size(), expected.size()) << "a binding reported twice";
  }
}

// ---- Bookkeeping ----

TEST(TopicTrie, StartsEmpty) {
  TopicTrie<int> trie;
  EXPECT_TRUE(trie.empty());
  EXPECT_EQ(trie.size(), 0u);
  EXPECT_EQ(trie.node_count(), 1u);
  EXPECT_TRUE(matches(trie, "").empty());
  EXPECT_TRUE(matches(trie, "a.b").empty());
}

TEST(TopicTrie, DuplicateInsertIsRefused) {
  TopicTrie<int> trie;
  EXPECT_TRUE(trie.insert("a.*", 1));
  EXPECT_FALSE(trie.insert("a.*", 1));
  EXPECT_EQ(trie.size(), 1u);
  EXPECT_EQ(matches(trie, "a.b"), std::multiset<int>{1});
}

TEST(TopicTrie, EraseOfAbsentPairIsRefused) {
  TopicTrie<int> trie;
  EXPECT_FALSE(trie.erase("a", 1));
  trie.insert("a.b", 1);
  EXPECT_FALSE(trie.erase("a.b", 2));    // other value
  EXPECT_FALSE(trie.erase("a", 1));      // prefix of the key
  EXPECT_FALSE(trie.erase("a.b.c", 1));  // extension of the key
  EXPECT_FALSE(trie.erase("a.*", 1));    // a key that matches, not the key
  EXPECT_FALSE(trie.erase("#", 1));
  EXPECT_EQ(trie.size(), 1u);
  EXPECT_TRUE(trie.erase("a.b", 1));
  EXPECT_FALSE(trie.erase("a.b", 1));  // twice
  EXPECT_TRUE(trie.empty());
}

TEST(TopicTrie, ErasePrunesAndReinsertWorks) {
  TopicTrie<int> trie;
  const std::vector<std::string> keys = {"a.b.c", "a.b", "a.*.#", "#", "", ".", "a..", "#.#.x"};
  for (int round = 0; round < 2; ++round) {
    for (const auto& key : keys) ASSERT_TRUE(trie.insert(key, 7));
    EXPECT_EQ(trie.size(), keys.size());
    EXPECT_GT(trie.node_count(), 1u);
    for (const auto& key : keys) ASSERT_TRUE(trie.erase(key, 7)) << key;
    EXPECT_EQ(trie.size(), 0u);
    EXPECT_TRUE(trie.empty());
    EXPECT_EQ(trie.node_count(), 1u) << "erase left empty nodes";
    EXPECT_TRUE(matches(trie, "a.b.c").empty());
    EXPECT_TRUE(matches(trie, "").empty());
  }
}

TEST(TopicTrie, ErasePrunesOnlyUnusedNodes) {
  TopicTrie<int> trie;
  trie.insert("a.b.c.d", 1);
  const std::size_t deep = trie.node_count();  // root + 4
  EXPECT_EQ(deep, 5u);
  trie.insert("a.b", 2);
  EXPECT_EQ(trie.node_count(), deep);
  trie.erase("a.b.c.d", 1);
  EXPECT_EQ(trie.node_count(), 3u);  // root, a, b: b still holds a binding
  EXPECT_EQ(matches(trie, "a.b"), std::multiset<int>{2});
  trie.insert("a.b.c.d", 1);
  trie.erase("a.b", 2);
  EXPECT_EQ(trie.node_count(), deep);  // b still leads to c.d
  EXPECT_EQ(matches(trie, "a.b.c.d"), std::multiset<int>{1});
  EXPECT_TRUE(matches(trie, "a.b").empty());
}

TEST(TopicTrie, SeveralValuesOnOneKey) {
  TopicTrie<std::string> trie;
  EXPECT_TRUE(trie.insert("logs.*", "q1"));
  EXPECT_TRUE(trie.insert("logs.*", "q2"));
  EXPECT_TRUE(trie.insert("logs.*", "q3"));
  EXPECT_EQ(trie.size(), 3u);
  EXPECT_EQ(matches(trie, "logs.x"), (std::multiset<std::string>{"q1", "q2", "q3"}));
  EXPECT_TRUE(trie.erase("logs.*", "q2"));
  EXPECT_EQ(matches(trie, "logs.x"), (std::multiset<std::string>{"q1", "q3"}));
}

TEST(TopicTrie, OneValueUnderSeveralKeysIsReportedPerMatchingKey) {
  TopicTrie<std::string> trie;
  trie.insert("a.*", "q");
  trie.insert("#", "q");
  trie.insert("a.b", "q");
  trie.insert("x.y", "q");
  EXPECT_EQ(trie.size(), 4u);
  EXPECT_EQ(matches(trie, "a.b"), (std::multiset<std::string>{"q", "q", "q"}));
  EXPECT_EQ(matches(trie, "x.y"), (std::multiset<std::string>{"q", "q"}));
  EXPECT_EQ(matches(trie, "z"), (std::multiset<std::string>{"q"}));
  trie.erase("#", "q");
  EXPECT_TRUE(matches(trie, "z").empty());
  EXPECT_EQ(matches(trie, "a.b"), (std::multiset<std::string>{"q", "q"}));
}

TEST(TopicTrie, PointerValues) {
  int q1 = 0, q2 = 0;
  TopicTrie<const int*> trie;
  trie.insert("a.#", &q1);
  trie.insert("*.b", &q2);
  EXPECT_EQ(matches(trie, "a.b"), (std::multiset<const int*>{&q1, &q2}));
  EXPECT_EQ(matches(trie, "a"), (std::multiset<const int*>{&q1}));
}

TEST(TopicTrie, ClearAndMove) {
  TopicTrie<int> trie;
  trie.insert("a.#", 1);
  trie.insert("b", 2);
  TopicTrie<int> moved(std::move(trie));
  EXPECT_EQ(moved.size(), 2u);
  EXPECT_EQ(matches(moved, "a.x"), std::multiset<int>{1});
  EXPECT_TRUE(trie.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(trie.node_count(), 1u);
  EXPECT_TRUE(matches(trie, "a.x").empty());
  trie.insert("c", 3);  // moved-from is usable
  trie = std::move(moved);
  EXPECT_EQ(matches(trie, "b"), std::multiset<int>{2});
  EXPECT_TRUE(matches(trie, "c").empty());
  trie.clear();
  EXPECT_TRUE(trie.empty());
  EXPECT_EQ(trie.node_count(), 1u);
  EXPECT_TRUE(matches(trie, "b").empty());
}

// Exchange-to-exchange routing matches again from inside the callback.
TEST(TopicTrie, CallbackMayMatchAgain) {
  TopicTrie<int> trie;
  trie.insert("a.*", 1);
  trie.insert("#", 2);
  std::multiset<int> inner;
  std::multiset<int> outer;
  trie.match("a.b", [&](int v) {
    outer.insert(v);
    trie.match("c", [&](int w) { inner.insert(w); });
  });
  EXPECT_EQ(outer, (std::multiset<int>{1, 2}));
  EXPECT_EQ(inner, (std::multiset<int>{2, 2}));
}

// ---- Cost: no exponential blowup, no recursion on key length ----

std::string repeat_words(const std::string& word, std::size_t n) {
  std::string key;
  for (std::size_t i = 0; i < n; ++i) key += (i ? "." : "") + word;
  return key;
}

TEST(TopicTrie, ManyHashesStayFast) {
  TopicTrie<int> trie;
  trie.insert("#.#.#.#.#.#", 1);
  trie.insert("#.a.#.a.#.a.#.a.#.a.#", 2);
  trie.insert("#.*.#.*.#.*.#.*.#.*.#", 3);
  trie.insert("#.b.#.b.#", 4);  // never matches a key of a's
  const std::string key = repeat_words("a", 30);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) EXPECT_EQ(matches(trie, key), (std::multiset<int>{1, 2, 3}));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Backtracking would take of the order of 30^6 steps per match; the
  // automaton takes a few hundred. The bound only catches the blowup.
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(TopicTrie, VeryLongKeysDoNotRecurse) {
  const std::string long_key = repeat_words("w", 200000);
  TopicTrie<int> trie;
  ASSERT_TRUE(trie.insert(long_key, 1));
  ASSERT_TRUE(trie.insert("#", 2));
  EXPECT_EQ(trie.node_count(), 200000u + 2u);
  EXPECT_EQ(matches(trie, long_key), (std::multiset<int>{1, 2}));
  EXPECT_EQ(matches(trie, long_key + ".w"), std::multiset<int>{2});
  ASSERT_TRUE(trie.erase(long_key, 1));
  EXPECT_EQ(trie.node_count(), 2u);
  ASSERT_TRUE(trie.insert(long_key, 1));
  // Destruction of the deep trie happens at scope exit: it must not overflow.
}

// ---- Randomized cross-check against the reference matcher ----

class RandomKeys {
 public:
  explicit RandomKeys(unsigned seed) : rng_(seed) {}

  // Up to 5 words over a small alphabet, so that collisions, empty words and
  // wildcards are common.
  std::string binding_key() { return key({"a", "b", "", "*", "#"}); }
  // Routing keys may hold the words "*" and "#": they are literal there.
  std::string routing_key() { return key({"a", "b", "", "c", "*", "#"}); }
  std::size_t below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

 private:
  std::string key(const std::vector<std::string>& alphabet) {
    const std::size_t n = below(6);
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) out += '.';
      out += alphabet[below(alphabet.size())];
    }
    return out;
  }

  std::mt19937 rng_;
};

TEST(TopicTrieRandom, SingleBindingAgreesWithReference) {
  RandomKeys random(20240601);
  for (int i = 0; i < 20000; ++i) {
    const std::string binding_key = random.binding_key();
    const std::string routing_key = random.routing_key();
    ASSERT_EQ(trie_matches(binding_key, routing_key), reference_match(binding_key, routing_key))
        << "binding \"" << binding_key << "\" routing \"" << routing_key << "\"";
  }
}

// Many bindings in one trie, matched with 20k routing keys, then half of them
// erased and matched again, then all erased: the trie must report exactly the
// bindings the reference matches, each once, and end with no nodes.
TEST(TopicTrieRandom, ManyBindingsAgreeWithReference) {
  RandomKeys random(7);
  TopicTrie<int> trie;
  std::vector<std::pair<std::string, int>> bindings;
  for (int value = 0; value < 300; ++value) {
    // Values repeat across keys and keys repeat across values.
    std::pair<std::string, int> b{random.binding_key(), value % 40};
    if (trie.insert(b.first, b.second)) bindings.push_back(b);
  }
  ASSERT_EQ(trie.size(), bindings.size());

  auto check = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      const std::string routing_key = random.routing_key();
      std::multiset<int> expected;
      for (const auto& [key, value] : bindings)
        if (reference_match(key, routing_key)) expected.insert(value);
      ASSERT_EQ(matches(trie, routing_key), expected) << "routing \"" << routing_key << "\"";
    }
  };
  check(20000);

  for (std::size_t i = 0; i < bindings.size();) {
    if (random.below(2) == 0) {
      ASSERT_TRUE(trie.erase(bindings[i].first, bindings[i].second));
      bindings[i] = bindings.back();
      bindings.pop_back();
    } else {
      ++i;
    }
  }
  ASSERT_EQ(trie.size(), bindings.size());
  check(5000);

  for (const auto& [key, value] : bindings) ASSERT_TRUE(trie.erase(key, value));
  EXPECT_TRUE(trie.empty());
  EXPECT_EQ(trie.node_count(), 1u);
}

}  // namespace
}  // namespace warren::detail
