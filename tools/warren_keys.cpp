// warren-keys: the client keys of a CURVE broker or forwarder, managed the
// way salt-key manages minion keys (docs/security.md).
//
//   warren-keys --keys-dir DIR --list
//   warren-keys --keys-dir DIR --accept NAME [--user USER]
//   warren-keys --keys-dir DIR --add FILE.pub --user USER
//   warren-keys --keys-dir DIR --reject NAME
//   warren-keys --keys-dir DIR --delete NAME
//
// NAME is a file name in accepted/, pending/ or rejected/ (a user, or a
// fingerprint) or a unique prefix of 8 or more hex digits of a fingerprint.
// A running broker sees each change at the next connection attempt.
//
// Exit status: 0 done; 1 the directory could not be read or written;
// 2 usage error; 3 no such key; 4 refused (ambiguous name, user taken,
// already in that state).
#include <unistd.h>

#include <iostream>

#include <boost/program_options.hpp>

#include <warren/curve.hpp>
#include <warren/errors.hpp>
#include <warren/keys.hpp>
#include <warren/version.hpp>

namespace po = boost::program_options;

namespace {

constexpr int kFailed = 1, kUsage = 2, kNoSuchKey = 3, kRefused = 4;

std::string field(const warren::KeyEntry& e, const std::string& name) {
  auto it = e.fields.find(name);
  return it == e.fields.end() ? std::string("-") : it->second;
}

void print_list(const warren::KeysDirectory& keys) {
  struct Section {
    warren::KeyState state;
    const char* title;
  };
  for (auto [state, title] : {Section{warren::KeyState::kAccepted, "Accepted Keys:"},
                              Section{warren::KeyState::kPending, "Pending Keys:"},
                              Section{warren::KeyState::kRejected, "Rejected Keys:"}}) {
    std::cout << title << "\n";
    for (auto& e : keys.list(state)) {
      switch (state) {
        case warren::KeyState::kAccepted:
          std::cout << "  " << e.name << "  " << e.public_key << "  fingerprint " << e.fingerprint.substr(0, 16)
                    << "\n";
          break;
        case warren::KeyState::kPending:
          std::cout << "  " << e.name << "  key " << e.public_key << "  from " << field(e, "peer-address")
                    << ", attempts " << field(e, "attempts") << ", last seen " << field(e, "last-seen") << "\n";
          break;
        case warren::KeyState::kRejected:
          std::cout << "  " << e.name << "  key " << e.public_key
                    << (e.fields.count("user") ? "  (was user " + e.fields.at("user") + ")" : std::string()) << "\n";
          break;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, accept, reject, remove, add, user;
  bool list = false;
  po::options_description desc(
      "warren-keys --keys-dir DIR ACTION: the client keys of a CURVE broker (salt-key's model)\n"
      "  accepted/USER        keys admitted, as the user the file is named after\n"
      "  pending/FINGERPRINT  unknown keys that tried to connect (refused until accepted)\n"
      "  rejected/FINGERPRINT keys refused for good\n"
      "NAME: a file name in one of those, or a unique fingerprint prefix of 8+ hex digits.\n"
      "Exit status: 0 done, 1 I/O failure, 2 usage, 3 no such key, 4 refused.\n\nOptions");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("keys-dir,k", po::value(&dir), "the keys directory (warrend's --keys-dir; default there <data-dir>/keys)")
      ("list,L", po::bool_switch(&list), "list accepted, pending and rejected keys")
      ("accept,a", po::value(&accept), "accept the pending or rejected key NAME (as --user)")
      ("add", po::value(&add), "accept the public key in this file (NAME.pub from warren-keygen) as --user")
      ("user,u", po::value(&user), "the user an accepted key maps to (needed unless NAME already is one)")
      ("reject,r", po::value(&reject), "reject the pending or accepted key NAME")
      ("delete,d", po::value(&remove), "delete the key NAME, whatever its state");
  // clang-format on
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    if (vm.count("version")) {
      std::cout << "warren-keys " << warren::kVersionString << "\n";
      return 0;
    }
    int actions = list + !accept.empty() + !add.empty() + !reject.empty() + !remove.empty();
    if (actions != 1) throw po::error("give exactly one of --list, --accept, --add, --reject, --delete");
    if (dir.empty()) throw po::error("--keys-dir is required");
    if (!user.empty() && accept.empty() && add.empty()) throw po::error("--user goes with --accept or --add");
    if (!add.empty() && user.empty()) throw po::error("--add needs --user");
    if (!user.empty() && !warren::valid_user_name(user))
      throw po::error("bad user name '" + user + "': 1 to 64 of A-Z a-z 0-9 . _ @ -, not starting with '.'");
  } catch (const po::error& e) {
    std::cerr << "warren-keys: " << e.what() << "\n" << desc << "\n";
    return kUsage;
  }
  warren::KeysDirectory keys(dir);
  try {
    if (list) {
      if (::access(dir.c_str(), R_OK | X_OK) != 0) {
        std::cerr << "warren-keys: cannot read keys directory " << dir << "\n";
        return kFailed;
      }
      print_list(keys);
    } else if (!accept.empty()) {
      auto e = keys.accept(accept, user);
      std::cout << "accepted " << e.public_key << " as user " << e.name << "\n";
    } else if (!add.empty()) {
      auto e = keys.add(warren::load_curve_public_key(add), user);
      std::cout << "accepted " << e.public_key << " as user " << e.name << "\n";
    } else if (!reject.empty()) {
      auto e = keys.reject(reject);
      std::cout << "rejected " << e.public_key << " (rejected/" << e.name << ")\n";
    } else {
      auto e = keys.remove(remove);
      std::cout << "deleted " << warren::key_state_name(e.state) << "/" << e.name << "\n";
    }
  } catch (const warren::Error& e) {
    std::cerr << "warren-keys: " << e.text() << "\n";
    switch (e.code()) {
      case warren::ReplyCode::kNotFound: return kNoSuchKey;
      case warren::ReplyCode::kPreconditionFailed: return kRefused;
      default: return kFailed;
    }
  }
  return 0;
}
