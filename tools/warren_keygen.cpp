// warren-keygen: writes a CURVE key pair for a warren server or client.
//
//   warren-keygen [--dir DIR] NAME
//
// Writes DIR/NAME.key (both keys, mode 0600: keep it secret) and DIR/NAME.pub
// (the public key: hand it to the other side). Never overwrites a file.
// File formats: docs/security.md.
//
// Exit status: 0 written; 1 could not write; 2 usage error.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <boost/program_options.hpp>

#include <warren/curve.hpp>
#include <warren/errors.hpp>
#include <warren/keys.hpp>
#include <warren/version.hpp>

namespace po = boost::program_options;

namespace {

constexpr int kFailed = 1, kUsage = 2;

// Creates `path` with `mode`, failing if it exists.
bool write_new(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0 && ok;
  int saved = errno;
  ok = ::close(fd) == 0 && ok;
  errno = saved;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = ".", name;
  po::options_description desc(
      "warren-keygen [--dir DIR] NAME: write a CURVE key pair\n"
      "  DIR/NAME.key  public and secret key, mode 0600 (keep it secret)\n"
      "  DIR/NAME.pub  the public key (give it to the other side)\n"
      "Existing files are never overwritten. Exit status: 0 written, 1 failed, 2 usage.\n\nOptions");
  desc.add_options()("help,h", "show this help and exit")("version", "show the version and exit")(
      "dir,d", po::value(&dir)->default_value(dir), "where to write the files")(
      "name", po::value(&name), "the key pair's name (a server, or the user a client acts as)");
  po::positional_options_description positional;
  positional.add("name", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(positional).run(), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    if (vm.count("version")) {
      std::cout << "warren-keygen " << warren::kVersionString << "\n";
      return 0;
    }
    if (name.empty()) throw po::error("no NAME given");
    if (!warren::valid_user_name(name))
      throw po::error("bad NAME '" + name + "': 1 to 64 of A-Z a-z 0-9 . _ @ -, not starting with '.'");
  } catch (const po::error& e) {
    std::cerr << "warren-keygen: " << e.what() << "\n" << desc << "\n";
    return kUsage;
  }
  try {
    auto keys = warren::generate_curve_key_pair();
    std::string key_path = dir + "/" + name + ".key", pub_path = dir + "/" + name + ".pub";
    for (auto& path : {key_path, pub_path})
      if (::access(path.c_str(), F_OK) == 0) {
        std::cerr << "warren-keygen: " << path << " exists; not overwriting it\n";
        return kFailed;
      }
    if (!write_new(key_path,
                   "# warren CURVE key pair '" + name + "': keep this file secret\npublic-key = " + keys.public_key +
                       "\nsecret-key = " + keys.secret_key + "\n",
                   0600)) {
      std::cerr << "warren-keygen: cannot write " << key_path << ": " << std::strerror(errno) << "\n";
      return kFailed;
    }
    if (!write_new(pub_path, "# warren CURVE public key '" + name + "'\npublic-key = " + keys.public_key + "\n",
                   0644)) {
      std::cerr << "warren-keygen: cannot write " << pub_path << ": " << std::strerror(errno) << "\n";
      ::unlink(key_path.c_str());
      return kFailed;
    }
    std::cout << "wrote " << key_path << " (secret) and " << pub_path << "\npublic key " << keys.public_key
              << "\nfingerprint " << warren::curve_fingerprint(keys.public_key) << "\n";
  } catch (const warren::Error& e) {
    std::cerr << "warren-keygen: " << e.what() << "\n";
    return kFailed;
  }
  return 0;
}
