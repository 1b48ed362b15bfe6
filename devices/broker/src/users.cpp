// Users, their tags and permissions; the users file. See users.hpp.
#include "users.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <stdexcept>

namespace warren::detail {
namespace {

constexpr std::string_view kTags[] = {"administrator", "monitoring"};

std::string in_quotes(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.append(1, '\'').append(s).append(1, '\'');
  return out;
}

template <class T>
const T& column(const FieldTable& row, const char* name) {
  auto it = row.find(name);
  if (it == row.end() || !it->second.is<T>())
    throw std::invalid_argument(std::string("a row lacks '") + name + "' or has the wrong type");
  return it->second.as<T>();
}

// The words of one users-file line; none for a blank or comment line.
std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
      ++i;
      continue;
    }
    if (line[i] == '#') break;
    std::string word;
    if (line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < line.size() && (line[i] == '"' || line[i] == '\\')) c = line[i++];
        word.push_back(c);
      }
      if (!closed) throw std::invalid_argument("unterminated quoted word");
      if (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
        throw std::invalid_argument("a quoted word must be followed by a blank");
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') word.push_back(line[i++]);
    }
    words.push_back(std::move(word));
  }
  return words;
}

}  // namespace

std::string_view access_name(Access a) {
  switch (a) {
    case Access::kConfigure: return "configure";
    case Access::kWrite: return "write";
    case Access::kRead: return "read";
  }
  return "unknown";
}

Permission::Permission(std::string pattern) : pattern_(std::move(pattern)) {
  if (pattern_.size() > 4096) throw std::invalid_argument("regular expression longer than 4096 bytes");
  try {
    regex_ = std::regex(pattern_, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("invalid regular expression " + in_quotes(pattern_) + ": " + e.what());
  }
}

bool Permission::permits(std::string_view name) const {
  // RabbitMQ: an empty expression permits nothing (not even the empty name).
  if (pattern_.empty()) return false;
  return std::regex_search(name.begin(), name.end(), regex_);
}

bool User::has_tag(std::string_view tag) const { return std::find(tags.begin(), tags.end(), tag) != tags.end(); }

const User* Users::find(std::string_view name) const {
  auto it = users_.find(std::string(name));
  return it == users_.end() ? nullptr : &it->second;
}

User& Users::at(std::string_view name) {
  auto it = users_.find(std::string(name));
  if (it == users_.end()) throw std::logic_error("no user " + in_quotes(name));
  return it->second;
}

bool Users::permits(std::string_view user, Access access, std::string_view name) const {
  const User* u = find(user);
  return u && u->permissions && u->permissions->of(access).permits(name);
}

void Users::check_name(std::string_view name) {
  if (name.empty()) throw std::invalid_argument("a user name cannot be empty");
  if (name.size() > 255) throw std::invalid_argument("user name longer than 255 bytes");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) throw std::invalid_argument("user name with a control character");
}

std::vector<std::string> Users::normalize_tags(std::vector<std::string> tags) {
  for (const auto& t : tags)
    if (std::find(std::begin(kTags), std::end(kTags), t) == std::end(kTags))
      throw std::invalid_argument("unknown tag " + in_quotes(t) + " (known: " + std::string(kKnownTags) + ")");
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  return tags;
}

bool Users::put_user(const std::string& name, std::vector<std::string> tags) {
  check_name(name);
  tags = normalize_tags(std::move(tags));
  ++epoch_;
  auto [it, created] = users_.try_emplace(name, User{name, {}, std::nullopt});
  it->second.tags = std::move(tags);
  return created;
}

bool Users::remove_user(std::string_view name) {
  ++epoch_;
  return users_.erase(std::string(name)) > 0;
}

void Users::set_permissions(std::string_view user, std::string configure, std::string write, std::string read) {
  auto label = [](std::string_view which, const std::invalid_argument& e) {
    return std::invalid_argument(std::string(which) + " permission: " + e.what());
  };
  std::optional<Permission> c, w, r;
  try {
    c.emplace(std::move(configure));
  } catch (const std::invalid_argument& e) {
    throw label("configure", e);
  }
  try {
    w.emplace(std::move(write));
  } catch (const std::invalid_argument& e) {
    throw label("write", e);
  }
  try {
    r.emplace(std::move(read));
  } catch (const std::invalid_argument& e) {
    throw label("read", e);
  }
  at(user).permissions.emplace(Permissions{std::move(*c), std::move(*w), std::move(*r)});
  ++epoch_;
}

void Users::clear_permissions(std::string_view user) {
  at(user).permissions.reset();
  ++epoch_;
}

FieldArray Users::user_rows() const {
  std::map<std::string_view, const User*> sorted;
  for (const auto& [name, u] : users_) sorted.emplace(name, &u);
  FieldArray rows;
  for (const auto& [name, u] : sorted) {
    FieldArray tags;
    for (const auto& t : u->tags) tags.emplace_back(t);
    // Built step by step: a braced FieldTable here trips GCC 12's -Wmaybe-uninitialized.
    FieldTable row;
    row["name"] = u->name;
    row["tags"] = std::move(tags);
    rows.emplace_back(std::move(row));
  }
  return rows;
}

FieldArray Users::permission_rows() const {
  std::map<std::string_view, const User*> sorted;
  for (const auto& [name, u] : users_) sorted.emplace(name, &u);
  FieldArray rows;
  for (const auto& [name, u] : sorted) {
    if (!u->permissions) continue;
    const auto& p = *u->permissions;
    rows.push_back(FieldTable{{"user", u->name},
                              {"configure", p.configure.pattern()},
                              {"write", p.write.pattern()},
                              {"read", p.read.pattern()}});
  }
  return rows;
}

void Users::load(const FieldArray& users, const FieldArray& permissions) {
  Users next = *this;  // all or nothing
  for (const auto& v : users) {
    if (!v.is<FieldTable>()) throw std::invalid_argument("a user row is not a table");
    const auto& row = v.as<FieldTable>();
    std::vector<std::string> tags;
    for (const auto& t : column<FieldArray>(row, "tags")) {
      if (!t.is<std::string>()) throw std::invalid_argument("a tag is not a string");
      tags.push_back(t.as<std::string>());
    }
    next.put_user(column<std::string>(row, "name"), std::move(tags));
  }
  for (const auto& v : permissions) {
    if (!v.is<FieldTable>()) throw std::invalid_argument("a permissions row is not a table");
    const auto& row = v.as<FieldTable>();
    const auto& user = column<std::string>(row, "user");
    if (!next.find(user)) throw std::invalid_argument("permissions for user " + in_quotes(user) + ", who is not defined");
    next.set_permissions(user, column<std::string>(row, "configure"), column<std::string>(row, "write"),
                         column<std::string>(row, "read"));
  }
  *this = std::move(next);
}

void apply_users_file(const std::filesystem::path& path, Users& users) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("users file " + path.string() + ": cannot be read");
  Users next = users;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    try {
      auto words = words_of(line);
      if (words.empty()) continue;
      if (words[0] == "user") {
        if (words.size() < 2) throw std::invalid_argument("'user' needs a name: user NAME [TAG...]");
        next.put_user(words[1], std::vector<std::string>(words.begin() + 2, words.end()));
      } else if (words[0] == "permissions") {
        if (words.size() != 5)
          throw std::invalid_argument("'permissions' takes four words: permissions NAME CONFIGURE WRITE READ");
        if (!next.find(words[1]))
          throw std::invalid_argument("user " + in_quotes(words[1]) + " is not defined (a 'user' line comes first)");
        next.set_permissions(words[1], words[2], words[3], words[4]);
      } else {
        throw std::invalid_argument("unknown statement " + in_quotes(words[0]) + " (user, permissions)");
      }
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("users file " + path.string() + " line " + std::to_string(number) + ": " + e.what());
    }
  }
  if (in.bad()) throw std::runtime_error("users file " + path.string() + ": read error");
  users = std::move(next);
}

}  // namespace warren::detail
