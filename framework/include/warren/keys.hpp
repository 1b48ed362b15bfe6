// KeysDirectory: the salt-key model of client keys for CURVE servers.
//
//   <dir>/accepted/<user>         a public key the server admits; the file's
//                                 name is the user the connection acts as
//   <dir>/pending/<fingerprint>   an unknown key that tried to connect
//   <dir>/rejected/<name>         a key refused for good
//
// Every file is text (docs/security.md): `name = value` lines, '#'
// comments; `public-key` holds the Z85 key. A bare Z85 key alone on a line is
// read as the public key too, so `echo KEY > accepted/alice` works. Names
// starting with '.' are ignored (temporary files). Files are written to a
// temporary name and renamed, so a reader never sees half a file.
//
// Thread rules: no state is kept in memory; every call reads the directory,
// so several processes (the broker's ZAP handler, warren-keys) may use it at
// once.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warren {

enum class KeyState { kAccepted, kPending, kRejected };
// "accepted", "pending", "rejected": also the subdirectory names.
const char* key_state_name(KeyState state);

struct KeyEntry {
  KeyState state = KeyState::kPending;
  std::string name;         // the file name: a user (accepted) or a fingerprint
  std::string public_key;   // Z85
  std::string fingerprint;  // curve_fingerprint(public_key)
  std::map<std::string, std::string> fields;  // every `name = value` in the file
};

// What the ZAP handler decides for one public key.
struct KeyVerdict {
  enum class Kind { kAccepted, kRejected, kPending, kUnknown, kConflict } kind = Kind::kUnknown;
  std::string user;  // kAccepted: the user name
  std::string text;  // why, for logs and the ZAP status text
};

// A user name an accepted key may map to: 1 to 64 of [A-Za-z0-9._@-], not
// starting with '.'.
bool valid_user_name(std::string_view name);

class KeysDirectory {
 public:
  explicit KeysDirectory(std::string dir);
  const std::string& path() const { return dir_; }

  // Creates the directory and its three subdirectories (mode 0700), and
  // missing parents, where missing. Throws warren::Error (506 RESOURCE_ERROR) when it cannot.
  void create() const;

  // Every key, accepted first, then pending, then rejected, each by name.
  // Unreadable or malformed files are skipped.
  std::vector<KeyEntry> list() const;
  std::vector<KeyEntry> list(KeyState state) const;

  // The decision for `public_key`, read from the files now: rejected wins;
  // then accepted (a key accepted under two names is a conflict, refused);
  // a key in pending/ stays pending; anything else is unknown.
  KeyVerdict check(std::string_view public_key) const;
  // Records an unknown key in pending/<fingerprint> (first-seen kept,
  // last-seen and attempts updated, peer-address the latest). Returns false
  // without writing when pending/ already holds `max_pending` other keys.
  bool record_pending(std::string_view public_key, std::string_view peer_address,
                      std::size_t max_pending = 1000) const;

  // The entry `name` designates: a file name in any of the three, or a
  // unique prefix (8 or more hex digits) of a key's fingerprint. Throws 404
  // when nothing matches, 406 when several do.
  KeyEntry find(std::string_view name) const;

  // Moves a pending or rejected key to accepted/<user>. `user` may be empty
  // when the entry's own name is a user name that is not a fingerprint.
  // Throws 406 for a bad or taken user name or a key already accepted, 404 for
  // no such key. Returns the accepted entry.
  KeyEntry accept(std::string_view name, std::string_view user) const;
  // Adds a public key straight to accepted/<user> (an operator who already
  // has the client's NAME.pub). Same errors as accept.
  KeyEntry add(std::string_view public_key, std::string_view user) const;
  // Moves a pending or accepted key to rejected/ (under its fingerprint).
  KeyEntry reject(std::string_view name) const;
  // Deletes the key's file, whatever its state. Returns what was deleted.
  KeyEntry remove(std::string_view name) const;

 private:
  std::string subdir(KeyState state) const;
  std::string dir_;
};

}  // namespace warren
