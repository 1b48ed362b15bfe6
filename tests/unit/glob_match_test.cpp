// glob_match and glob_literal_prefix against Redis's PSUBSCRIBE pattern
// rules: a table of (pattern, channel, expected) rows, and the prefixes the
// Subscriber hands to ZeroMQ's filter.
#include <gtest/gtest.h>

#include <string>

#include "warren/pubsub.hpp"

namespace warren {
namespace {

struct Row {
  const char* pattern;
  const char* text;
  bool match;
};

const Row kRows[] = {
    {"news", "news", true},
    {"news", "newsletter", false},
    {"news", "new", false},
    {"", "", true},
    {"", "a", false},
    {"*", "", true},
    {"*", "anything.at.all", true},
    {"news.*", "news.sport", true},
    {"news.*", "news.", true},
    {"news.*", "news", false},
    {"news.*", "newsletter", false},
    {"*.7", "fm111.7", true},
    {"fm*7", "fm111.7", true},
    {"fm*7", "fm111.8", false},
    {"a*b*c", "aXXbYYc", true},
    {"a*b*c", "aXXbYY", false},
    {"a**b", "ab", true},
    {"*a", "bbba", true},
    {"*a*", "bbb", false},
    {"h?llo", "hello", true},
    {"h?llo", "hallo", true},
    {"h?llo", "hllo", false},
    {"h?llo", "heello", false},
    {"h[ae]llo", "hello", true},
    {"h[ae]llo", "hallo", true},
    {"h[ae]llo", "hillo", false},
    {"h[^e]llo", "hallo", true},
    {"h[^e]llo", "hello", false},
    {"h[!e]llo", "hallo", true},
    {"h[!e]llo", "hello", false},
    {"h[a-b]llo", "hbllo", true},
    {"h[a-b]llo", "hcllo", false},
    {"h[b-a]llo", "hallo", true},  // a reversed range, as Redis reads it
    {"[0-9][0-9]", "42", true},
    {"[0-9][0-9]", "4x", false},
    {"[\\]]", "]", true},
    {"[\\-]", "-", true},
    {"[a\\-z]", "b", false},
    {"\\*", "*", true},
    {"\\*", "a", false},
    {"\\?", "?", true},
    {"\\?", "x", false},
    {"\\[a]", "[a]", true},
    {"a\\", "a\\", true},  // a trailing backslash is itself
    {"fm111.[0-9]", "fm111.7", true},
    {"fm111.[!0-9]", "fm111.7", false},
    {"*[xyz]", "abcz", true},
    {"*[xyz]", "abcw", false},
    {"[abc", "a", true},  // an unclosed class runs to the end
};

TEST(GlobMatch, Table) {
  for (const auto& row : kRows)
    EXPECT_EQ(glob_match(row.pattern, row.text), row.match)
        << "pattern '" << row.pattern << "' text '" << row.text << "'";
}

TEST(GlobMatch, ManyStarsStayFast) {
  // Backtracking without recursion: this would take ages with naive recursion.
  std::string text(2000, 'a');
  EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(glob_match("*a*a*a*a*a*a*a*a*a*a", text));
}

TEST(GlobLiteralPrefix, StopsAtTheFirstWildcard) {
  EXPECT_EQ(glob_literal_prefix("news.*"), "news.");
  EXPECT_EQ(glob_literal_prefix("h?llo"), "h");
  EXPECT_EQ(glob_literal_prefix("[ab]c"), "");
  EXPECT_EQ(glob_literal_prefix("*"), "");
  EXPECT_EQ(glob_literal_prefix("plain"), "plain");
  EXPECT_EQ(glob_literal_prefix("a\\*b*"), "a*b");
  EXPECT_EQ(glob_literal_prefix("a\\"), "a\\");
}

TEST(GlobLiteralPrefix, EveryMatchStartsWithThePrefix) {
  for (const auto& row : kRows) {
    if (!row.match) continue;
    auto prefix = glob_literal_prefix(row.pattern);
    EXPECT_EQ(std::string(row.text).rfind(prefix, 0), 0u) << row.pattern;
  }
}

}  // namespace
}  // namespace warren
