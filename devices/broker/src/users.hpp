// Users: who may do what, in RabbitMQ's model. Internal to the broker.
//
// A user has tags (administrator, monitoring) and, optionally, permissions:
// three regular expressions (configure, write, read) over exchange and queue
// names, searched unanchored as RabbitMQ does (write "^...$" to anchor); the
// empty expression permits nothing. A user without permissions may do
// nothing but what its tags allow. There is one vhost, "/".
//
// With no users defined the broker is open, as it always was: every
// connection may do everything (enabled() is false and nobody is asked).
// Once a user is defined, a connection acts with its own user's rights only.
//
// Every change bumps epoch(), so callers may cache a decision together with
// the epoch it was made in. Thread rules: the broker's loop thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "warren/field_value.hpp"

namespace warren::detail {

enum class Access : std::uint8_t { kConfigure, kWrite, kRead };
std::string_view access_name(Access a);  // "configure", "write", "read"

// One permission: a regular expression (ECMAScript syntax) over names.
class Permission {
 public:
  // Throws std::invalid_argument naming the problem when `pattern` is not a
  // valid regular expression.
  explicit Permission(std::string pattern);
  bool permits(std::string_view name) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::regex regex_;
};

struct Permissions {
  Permission configure, write, read;
  const Permission& of(Access a) const { return a == Access::kConfigure ? configure : a == Access::kWrite ? write : read; }
};

struct User {
  std::string name;
  std::vector<std::string> tags;  // sorted, no duplicates
  std::optional<Permissions> permissions;
  bool has_tag(std::string_view tag) const;
  bool administrator() const { return has_tag("administrator"); }
  // monitoring or administrator: may read the broker's state.
  bool monitoring() const { return administrator() || has_tag("monitoring"); }
};

class Users {
 public:
  static constexpr std::string_view kKnownTags = "administrator, monitoring";

  // False while no user is defined: everybody may do everything.
  bool enabled() const { return !users_.empty(); }
  std::uint64_t epoch() const { return epoch_; }
  std::size_t size() const { return users_.size(); }
  const User* find(std::string_view name) const;
  // Whether `user` may have `access` to the resource `name`. A user that
  // is not defined may do nothing. REQUIRES: enabled().
  bool permits(std::string_view user, Access access, std::string_view name) const;

  // Changes. Each throws std::invalid_argument with a text fit for an
  // operator (an invalid name, tag or expression) and leaves everything as
  // it was; the callers add the reply code.
  // Creates `name`, or replaces its tags if it exists. Returns whether it was new.
  bool put_user(const std::string& name, std::vector<std::string> tags);
  bool remove_user(std::string_view name);  // false: there was none
  // REQUIRES: find(user).
  void set_permissions(std::string_view user, std::string configure, std::string write, std::string read);
  void clear_permissions(std::string_view user);  // REQUIRES: find(user)

  // Rows as in management.query and the definitions file (docs/protocol.md):
  // users {name, tags}, permissions {user, configure, write, read}; by name.
  FieldArray user_rows() const;
  FieldArray permission_rows() const;
  // Loads rows as user_rows()/permission_rows() write them, on top of what
  // is here. Throws std::invalid_argument on a malformed row.
  void load(const FieldArray& users, const FieldArray& permissions);

  // Throws std::invalid_argument when `name` cannot be a user name (empty,
  // over 255 bytes, control characters).
  static void check_name(std::string_view name);
  // Sorted, deduplicated; throws std::invalid_argument for an unknown tag.
  static std::vector<std::string> normalize_tags(std::vector<std::string> tags);

 private:
  User& at(std::string_view name);
  std::unordered_map<std::string, User> users_;
  std::uint64_t epoch_ = 1;
};

// The users file an operator gives the broker (BrokerOptions::users_file,
// docs/security.md): one statement a line, words separated by blanks, a
// word in double quotes may hold blanks and \" \\ escapes ("" is empty):
//
//   # a comment
//   user NAME [TAG...]
//   permissions NAME CONFIGURE WRITE READ
//
// Applied in order on top of `users`: `user` creates the user or sets its
// tags, `permissions` sets its permissions (the user must be defined by
// then). Throws std::runtime_error "users file PATH line N: why" and leaves
// `users` unchanged on any error.
void apply_users_file(const std::filesystem::path& path, Users& users);

}  // namespace warren::detail
