// Users, permissions and the users file (devices/broker/src/users.hpp).
#include "users.hpp"

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"

namespace warren::detail {
namespace {

using warren::testing::TempDir;

TEST(PermissionTest, SearchesUnanchoredAsRabbitMQAndEmptyPermitsNothing) {
  EXPECT_TRUE(Permission(".*").permits("anything"));
  EXPECT_TRUE(Permission(".*").permits(""));
  EXPECT_TRUE(Permission("app").permits("my.app.queue"));  // unanchored
  EXPECT_FALSE(Permission("^app$").permits("my.app.queue"));
  EXPECT_TRUE(Permission("^app\\.").permits("app.in"));
  EXPECT_FALSE(Permission("").permits(""));
  EXPECT_FALSE(Permission("").permits("q"));
  EXPECT_TRUE(Permission("^$").permits(""));
}

TEST(PermissionTest, AnInvalidExpressionNamesItself) {
  try {
    Permission p("a(b");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("invalid regular expression 'a(b'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Permission(std::string(5000, 'a')), std::invalid_argument);
}

TEST(UsersTest, PermitsOnlyWhatAUsersExpressionsAllow) {
  Users users;
  EXPECT_FALSE(users.enabled());
  auto epoch = users.epoch();
  EXPECT_TRUE(users.put_user("bob", {}));
  EXPECT_TRUE(users.enabled());
  EXPECT_GT(users.epoch(), epoch);
  EXPECT_FALSE(users.permits("bob", Access::kRead, "q"));  // no permissions yet
  users.set_permissions("bob", "^c", "^w", "^r");
  EXPECT_TRUE(users.permits("bob", Access::kConfigure, "cq"));
  EXPECT_FALSE(users.permits("bob", Access::kConfigure, "wq"));
  EXPECT_TRUE(users.permits("bob", Access::kWrite, "wq"));
  EXPECT_TRUE(users.permits("bob", Access::kRead, "rq"));
  EXPECT_FALSE(users.permits("alice", Access::kRead, "rq"));  // unknown user
  epoch = users.epoch();
  users.clear_permissions("bob");
  EXPECT_GT(users.epoch(), epoch);
  EXPECT_FALSE(users.permits("bob", Access::kWrite, "wq"));
}

TEST(UsersTest, AFailedChangeLeavesPermissionsAsTheyWere) {
  Users users;
  users.put_user("bob", {});
  users.set_permissions("bob", ".*", ".*", ".*");
  EXPECT_THROW(users.set_permissions("bob", "", "", "("), std::invalid_argument);
  EXPECT_TRUE(users.permits("bob", Access::kRead, "q"));
  EXPECT_THROW(users.put_user("bob", {"root"}), std::invalid_argument);
  EXPECT_THROW(users.put_user("", {}), std::invalid_argument);
  EXPECT_THROW(users.put_user("a\nb", {}), std::invalid_argument);
  EXPECT_EQ(users.size(), 1u);
}

TEST(UsersTest, TagsAreSortedAndDeduplicated) {
  Users users;
  users.put_user("ops", {"monitoring", "administrator", "monitoring"});
  const User* u = users.find("ops");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->tags, (std::vector<std::string>{"administrator", "monitoring"}));
  EXPECT_TRUE(u->administrator());
  users.put_user("ops", {"monitoring"});
  EXPECT_FALSE(users.find("ops")->administrator());
  EXPECT_TRUE(users.find("ops")->monitoring());
}

TEST(UsersTest, RowsRoundTrip) {
  Users users;
  users.put_user("b", {"monitoring"});
  users.put_user("a", {});
  users.set_permissions("a", "", "^x$", ".*");
  Users copy;
  copy.load(users.user_rows(), users.permission_rows());
  EXPECT_EQ(copy.user_rows(), users.user_rows());
  EXPECT_EQ(copy.permission_rows(), users.permission_rows());
  EXPECT_EQ(users.user_rows().front().as<FieldTable>().at("name").as<std::string>(), "a");
  Users bad;
  EXPECT_THROW(bad.load({}, FieldArray{FieldTable{{"user", "ghost"}, {"configure", ""}, {"write", ""}, {"read", ""}}}),
               std::invalid_argument);
  EXPECT_THROW(bad.load(FieldArray{FieldTable{{"name", "x"}}}, {}), std::invalid_argument);
  EXPECT_FALSE(bad.enabled());  // all or nothing
}

TEST(UsersFileTest, ReadsUsersPermissionsQuotesAndComments) {
  TempDir dir;
  auto path = dir.write("users",
                        "# comment\n"
                        "  user ops administrator   # trailing comment\n"
                        "user \"app one\"\n"
                        "permissions \"app one\" \"\" \"^a b$\" \"say \\\"hi\\\"\"\n"
                        "permissions ops .* .* .*\n");
  Users users;
  apply_users_file(path, users);
  ASSERT_TRUE(users.find("app one"));
  EXPECT_TRUE(users.find("ops")->administrator());
  EXPECT_FALSE(users.permits("app one", Access::kConfigure, "x"));
  EXPECT_TRUE(users.permits("app one", Access::kWrite, "a b"));
  EXPECT_TRUE(users.permits("app one", Access::kRead, "say \"hi\""));
}

TEST(UsersFileTest, ErrorsNameTheLineAndChangeNothing) {
  TempDir dir;
  auto expect_error = [&](const std::string& text, const std::string& message) {
    Users users;
    users.put_user("keep", {});
    auto path = dir.write("users", text);
    try {
      apply_users_file(path, users);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    EXPECT_EQ(users.size(), 1u);
  };
  expect_error("user a\npermissions b .* .* .*\n", "line 2: user 'b' is not defined");
  expect_error("user a\npermissions a .* .*\n", "line 2: 'permissions' takes four words");
  expect_error("user a wizard\n", "line 1: unknown tag 'wizard'");
  expect_error("\n\nrole a\n", "line 3: unknown statement 'role'");
  expect_error("user \"a\n", "line 1: unterminated quoted word");
  expect_error("user\n", "line 1: 'user' needs a name");
  expect_error("user a\npermissions a \"[\" .* .*\n", "line 2: configure permission: invalid regular expression");
  Users users;
  EXPECT_THROW(apply_users_file(dir.path / "none", users), std::runtime_error);
}

}  // namespace
}  // namespace warren::detail
