#include "key_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "warren/curve.hpp"

namespace warren::detail {

namespace {

std::string_view trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

KeyFields parse_key_file(std::string_view text) {
  KeyFields fields;
  std::string bare;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    // Z85 has '=' and '#' in its alphabet: a bare key is recognised first.
    if (is_curve_key(line)) {
      if (bare.empty()) bare = line;
      continue;
    }
    if (line.empty() || line.front() == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    auto value = trim(line.substr(eq + 1));
    // zcert-style quoting ("...") is accepted too.
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    fields.emplace(std::string(trim(line.substr(0, eq))), std::string(value));
  }
  if (!bare.empty()) fields.emplace("public-key", bare);
  return fields;
}

std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > 64 * 1024) return std::nullopt;  // no key file is this big
  }
  return text;
}

bool write_file_atomically(const std::string& path, const std::string& temp_dir, std::string_view text,
                           unsigned mode, bool exclusive) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string temp = temp_dir + "/.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rng());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int saved = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      errno = saved;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode);  // whatever the umask
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    return false;
  }
  // link() fails with EEXIST where rename() would replace.
  int rc = exclusive ? ::link(temp.c_str(), path.c_str()) : ::rename(temp.c_str(), path.c_str());
  int saved = errno;
  if (exclusive || rc != 0) ::unlink(temp.c_str());
  errno = saved;
  return rc == 0;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace warren::detail
