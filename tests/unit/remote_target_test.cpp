// Target matching for remote execution: glob, list, grain and compound
// targets, compound precedence (not > and > or), and malformed targets.
#include <gtest/gtest.h>

#include "target.hpp"

namespace warren::remote {
namespace {

const FieldTable kWeb1{{"os", "Debian"}, {"role", "web"}, {"num_cpus", std::int64_t{4}}, {"virtual", true}};
const FieldTable kDb1{{"os", "Ubuntu"}, {"role", "db"}, {"num_cpus", std::int64_t{16}}};

bool glob(const char* expr, const char* id) { return target_matches(TargetType::kGlob, expr, id, {}); }
bool list(const char* expr, const char* id) { return target_matches(TargetType::kList, expr, id, {}); }
bool grain(const char* expr, const FieldTable& g) { return target_matches(TargetType::kGrain, expr, "x", g); }
bool compound(const char* expr, const char* id, const FieldTable& g) {
  return target_matches(TargetType::kCompound, expr, id, g);
}

TEST(RemoteTarget, Glob) {
  EXPECT_TRUE(glob("*", "web1"));
  EXPECT_TRUE(glob("web*", "web1"));
  EXPECT_FALSE(glob("web*", "db1"));
  EXPECT_TRUE(glob("web[12]", "web2"));
  EXPECT_FALSE(glob("web[12]", "web3"));
  EXPECT_TRUE(glob("w?b1", "web1"));
  EXPECT_FALSE(glob("web", "web1"));  // a glob matches the whole id
  EXPECT_THROW(glob("", "web1"), TargetError);
}

TEST(RemoteTarget, List) {
  EXPECT_TRUE(list("web1,db1", "db1"));
  EXPECT_TRUE(list("web1, db1", "db1"));
  EXPECT_FALSE(list("web1,db1", "web2"));
  EXPECT_FALSE(list("web*", "web1"));  // exact ids, no globs
  EXPECT_THROW(list(" , ", "web1"), TargetError);
}

TEST(RemoteTarget, Grain) {
  EXPECT_TRUE(grain("os:Debian", kWeb1));
  EXPECT_FALSE(grain("os:Debian", kDb1));
  EXPECT_TRUE(grain("os:Deb*", kWeb1));
  EXPECT_TRUE(grain("num_cpus:4", kWeb1));      // integers match as decimal text
  EXPECT_TRUE(grain("num_cpus:1?", kDb1));
  EXPECT_TRUE(grain("virtual:True", kWeb1));    // booleans as salt prints them
  EXPECT_FALSE(grain("missing:*", kWeb1));      // an absent grain never matches
  EXPECT_TRUE(grain("role:*", kWeb1));
  EXPECT_THROW(grain("os", kWeb1), TargetError);
  EXPECT_THROW(grain(":Debian", kWeb1), TargetError);
}

TEST(RemoteTarget, CompoundTerms) {
  EXPECT_TRUE(compound("web*", "web1", kWeb1));
  EXPECT_TRUE(compound("G@role:db", "db1", kDb1));
  EXPECT_TRUE(compound("L@web1,db1", "db1", kDb1));
  EXPECT_TRUE(compound("web* and G@os:Debian", "web1", kWeb1));
  EXPECT_FALSE(compound("web* and G@os:Ubuntu", "web1", kWeb1));
  EXPECT_TRUE(compound("web* or G@os:Ubuntu", "db1", kDb1));
  EXPECT_TRUE(compound("not web*", "db1", kDb1));
  EXPECT_FALSE(compound("not web*", "web1", kWeb1));
  EXPECT_TRUE(compound("G@role:web and not L@web2", "web1", kWeb1));
}

TEST(RemoteTarget, CompoundPrecedenceAndParentheses) {
  // and binds tighter than or: "a or (b and c)".
  EXPECT_TRUE(compound("db* or web* and G@os:Ubuntu", "db1", kDb1));
  EXPECT_FALSE(compound("db* or web* and G@os:Ubuntu", "web1", kWeb1));
  // Parentheses change it: "(a or b) and c".
  EXPECT_FALSE(compound("( db* or web* ) and G@os:Ubuntu", "web1", kWeb1));
  EXPECT_TRUE(compound("(db* or web*) and G@os:Ubuntu", "db1", kDb1));
  // not binds tighter than and.
  EXPECT_TRUE(compound("not G@role:web and db*", "db1", kDb1));
  EXPECT_TRUE(compound("not not web*", "web1", kWeb1));
  // A parenthesis inside a [class] is part of the glob.
  EXPECT_TRUE(compound("a[(]b", "a(b", {}));
}

TEST(RemoteTarget, MalformedCompoundsAreErrors) {
  for (const char* bad : {"", "and", "web* and", "web* or or db*", "(web*", "web*)", "E@web.*",
                          "web* db*", "G@os", "not"}) {
    EXPECT_THROW(validate_target(TargetType::kCompound, bad), TargetError) << bad;
    // An error even when the left side already decided the result.
    EXPECT_THROW(compound(bad, "web1", kWeb1), TargetError) << bad;
  }
  EXPECT_NO_THROW(validate_target(TargetType::kCompound, "web* and not ( G@os:Debian or L@db1 )"));
}

TEST(RemoteTarget, TypeNames) {
  for (auto name : {"glob", "list", "grain", "compound"})
    EXPECT_EQ(target_type_name(parse_target_type(name)), name);
  EXPECT_THROW(parse_target_type("pcre"), TargetError);
}

}  // namespace
}  // namespace warren::remote
