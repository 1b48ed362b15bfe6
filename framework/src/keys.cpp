// KeysDirectory: accepted/, pending/ and rejected/ client keys (docs/security.md).
#include "warren/keys.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "key_file.hpp"
#include "warren/curve.hpp"
#include "warren/errors.hpp"

namespace warren {

namespace {

constexpr KeyState kStates[] = {KeyState::kAccepted, KeyState::kPending, KeyState::kRejected};

bool is_fingerprint(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

[[noreturn]] void io_error(const std::string& what) {
  throw Error(ReplyCode::kResourceError, what + ": " + std::strerror(errno));
}

// The file's text: the public key first, then the other fields in order.
std::string render(std::string_view public_key, const std::map<std::string, std::string>& fields) {
  std::string text = "public-key = " + std::string(public_key) + "\n";
  for (auto& [k, v] : fields)
    if (k != "public-key") text += k + " = " + v + "\n";
  return text;
}

std::optional<KeyEntry> read_entry(const std::string& dir, KeyState state, const std::string& name) {
  auto text = detail::read_small_file(dir + "/" + name);
  if (!text) return std::nullopt;
  auto fields = detail::parse_key_file(*text);
  auto it = fields.find("public-key");
  if (it == fields.end() || !is_curve_key(it->second)) return std::nullopt;
  KeyEntry e;
  e.state = state;
  e.name = name;
  e.public_key = it->second;
  e.fingerprint = curve_fingerprint(e.public_key);
  e.fields = std::move(fields);
  return e;
}

std::vector<std::string> file_names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (auto* ent = ::readdir(d)) {
    if (ent->d_name[0] == '.') continue;  // ., .., temporary files
    struct stat st;
    if (::stat((dir + "/" + ent->d_name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    names.emplace_back(ent->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

const char* key_state_name(KeyState state) {
  switch (state) {
    case KeyState::kAccepted: return "accepted";
    case KeyState::kPending: return "pending";
    case KeyState::kRejected: return "rejected";
  }
  return "unknown";
}

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '@' || c == '-';
  });
}

KeysDirectory::KeysDirectory(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

std::string KeysDirectory::subdir(KeyState state) const { return dir_ + "/" + key_state_name(state); }

void KeysDirectory::create() const {
  auto make = [](const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) io_error("cannot create keys directory " + path);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw Error(ReplyCode::kResourceError, "keys directory " + path + " is not a directory");
  };
  if (dir_.empty()) throw Error(ReplyCode::kPreconditionFailed, "no keys directory given");
  // Parents (a data directory not made yet) with the usual mode; the keys
  // directory itself private.
  std::error_code ec;
  auto parent = std::filesystem::path(dir_).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) std::filesystem::create_directories(parent, ec);
  make(dir_);
  for (auto s : kStates) make(subdir(s));
}

std::vector<KeyEntry> KeysDirectory::list(KeyState state) const {
  std::vector<KeyEntry> out;
  auto dir = subdir(state);
  for (auto& name : file_names(dir))
    if (auto e = read_entry(dir, state, name)) out.push_back(std::move(*e));
  return out;
}

std::vector<KeyEntry> KeysDirectory::list() const {
  std::vector<KeyEntry> out;
  for (auto s : kStates) {
    auto part = list(s);
    std::move(part.begin(), part.end(), std::back_inserter(out));
  }
  return out;
}

KeyVerdict KeysDirectory::check(std::string_view public_key) const {
  KeyVerdict v;
  for (auto& e : list(KeyState::kRejected))
    if (e.public_key == public_key) return {KeyVerdict::Kind::kRejected, {}, "key rejected (rejected/" + e.name + ")"};
  std::vector<std::string> users;
  for (auto& e : list(KeyState::kAccepted))
    if (e.public_key == public_key) users.push_back(e.name);
  if (users.size() == 1) return {KeyVerdict::Kind::kAccepted, users.front(), "key accepted as " + users.front()};
  if (users.size() > 1)
    return {KeyVerdict::Kind::kConflict, {}, "key accepted under several names (" + users[0] + ", " + users[1] + ")"};
  if (read_entry(subdir(KeyState::kPending), KeyState::kPending, curve_fingerprint(public_key)))
    return {KeyVerdict::Kind::kPending, {}, "key pending (pending/" + curve_fingerprint(public_key) + ")"};
  return {KeyVerdict::Kind::kUnknown, {}, "unknown key"};
}

bool KeysDirectory::record_pending(std::string_view public_key, std::string_view peer_address,
                                   std::size_t max_pending) const {
  auto fp = curve_fingerprint(public_key);
  auto dir = subdir(KeyState::kPending);
  auto old = read_entry(dir, KeyState::kPending, fp);
  if (!old && file_names(dir).size() >= max_pending) return false;
  std::map<std::string, std::string> fields;
  auto now = detail::utc_now();
  std::uint64_t attempts = 0;
  if (old) {
    fields = old->fields;
    try {
      attempts = std::stoull(fields["attempts"]);
    } catch (const std::exception&) {
    }
  }
  if (fields["first-seen"].empty()) fields["first-seen"] = now;
  fields["last-seen"] = now;
  fields["attempts"] = std::to_string(attempts + 1);
  fields["peer-address"] = peer_address.empty() ? "local" : std::string(peer_address);
  return detail::write_file_atomically(dir + "/" + fp, dir_, render(public_key, fields), 0600);
}

KeyEntry KeysDirectory::find(std::string_view name) const {
  if (name.empty()) throw Error(ReplyCode::kPreconditionFailed, "no key name given");
  std::vector<KeyEntry> found;
  bool by_name = valid_user_name(name);  // never a path: no '/'
  if (by_name)
    for (auto s : kStates)
      if (auto e = read_entry(subdir(s), s, std::string(name))) found.push_back(std::move(*e));
  if (found.empty() && name.size() >= 8 && name.size() <= 64 &&
      name.find_first_not_of("0123456789abcdef") == std::string_view::npos)
    for (auto& e : list())
      if (e.fingerprint.compare(0, name.size(), name) == 0) found.push_back(e);
  if (found.empty()) throw Error(ReplyCode::kNotFound, "no key named " + std::string(name) + " in " + dir_);
  if (found.size() > 1) {
    std::string which;
    for (auto& e : found) which += std::string(which.empty() ? "" : ", ") + key_state_name(e.state) + "/" + e.name;
    throw Error(ReplyCode::kPreconditionFailed, std::string(name) + " is ambiguous: " + which);
  }
  return found.front();
}

KeyEntry KeysDirectory::accept(std::string_view name, std::string_view user) const {
  auto e = find(name);
  if (e.state == KeyState::kAccepted)
    throw Error(ReplyCode::kPreconditionFailed, "key " + e.name + " is already accepted");
  if (user.empty() && e.fields.count("user")) user = e.fields.at("user");  // rejected once accepted
  if (user.empty()) {
    if (is_fingerprint(e.name))
      throw Error(ReplyCode::kPreconditionFailed, "a user name is needed to accept " + e.name + " (--user NAME)");
    user = e.name;
  }
  auto accepted = add(e.public_key, user);
  if (::unlink((subdir(e.state) + "/" + e.name).c_str()) != 0 && errno != ENOENT)
    io_error("cannot remove " + subdir(e.state) + "/" + e.name);
  return accepted;
}

KeyEntry KeysDirectory::add(std::string_view public_key, std::string_view user) const {
  if (!is_curve_key(public_key)) throw Error(ReplyCode::kPreconditionFailed, "not a CURVE public key");
  if (!valid_user_name(user))
    throw Error(ReplyCode::kPreconditionFailed,
                "bad user name '" + std::string(user) + "': 1 to 64 of A-Z a-z 0-9 . _ @ -, not starting with '.'");
  for (auto& other : list(KeyState::kAccepted))
    if (other.public_key == public_key)
      throw Error(ReplyCode::kPreconditionFailed, "this key is already accepted as " + other.name);
  create();
  auto path = subdir(KeyState::kAccepted) + "/" + std::string(user);
  std::map<std::string, std::string> fields{{"accepted", detail::utc_now()}};
  if (!detail::write_file_atomically(path, dir_, render(public_key, fields), 0644, true)) {
    if (errno == EEXIST)
      throw Error(ReplyCode::kPreconditionFailed, "user " + std::string(user) + " already has an accepted key");
    io_error("cannot write " + path);
  }
  return *read_entry(subdir(KeyState::kAccepted), KeyState::kAccepted, std::string(user));
}

KeyEntry KeysDirectory::reject(std::string_view name) const {
  auto e = find(name);
  if (e.state == KeyState::kRejected)
    throw Error(ReplyCode::kPreconditionFailed, "key " + e.name + " is already rejected");
  auto fields = e.fields;
  if (e.state == KeyState::kAccepted) fields["user"] = e.name;
  fields.erase("accepted");
  fields["rejected"] = detail::utc_now();
  auto dir = subdir(KeyState::kRejected);
  if (!detail::write_file_atomically(dir + "/" + e.fingerprint, dir_, render(e.public_key, fields), 0644))
    io_error("cannot write " + dir + "/" + e.fingerprint);
  if (::unlink((subdir(e.state) + "/" + e.name).c_str()) != 0 && errno != ENOENT)
    io_error("cannot remove " + subdir(e.state) + "/" + e.name);
  return *read_entry(dir, KeyState::kRejected, e.fingerprint);
}

KeyEntry KeysDirectory::remove(std::string_view name) const {
  auto e = find(name);
  if (::unlink((subdir(e.state) + "/" + e.name).c_str()) != 0 && errno != ENOENT)
    io_error("cannot remove " + subdir(e.state) + "/" + e.name);
  return e;
}

}  // namespace warren
