#include "grains.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <stdexcept>

namespace warren::remote {
namespace {

// The value of `key` in an os-release file (KEY="value" or KEY=value).
std::string os_release(const std::string& key) {
  for (const char* path : {"/etc/os-release", "/usr/lib/os-release"}) {
    std::ifstream in(path);
    std::string line;
    bool found_file = static_cast<bool>(in);
    while (std::getline(in, line)) {
      if (line.rfind(key + "=", 0) != 0) continue;
      std::string value = line.substr(key.size() + 1);
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
        value = value.substr(1, value.size() - 2);
      return value;
    }
    if (found_file) return {};
  }
  return {};
}

std::int64_t mem_total_mib() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {  // "MemTotal:       24684060 kB"
    long long kib = 0;
    if (std::sscanf(line.c_str(), "MemTotal: %lld", &kib) == 1) return kib / 1024;
  }
  return 0;
}

}  // namespace

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

FieldTable collect_grains(const std::string& id, const std::vector<std::string>& custom) {
  FieldTable g;
  utsname u{};
  ::uname(&u);
  std::string name = os_release("NAME");
  g["os"] = name.empty() ? std::string(u.sysname) : name.substr(0, name.find(' '));
  g["osrelease"] = os_release("VERSION_ID");
  g["kernel"] = std::string(u.sysname);
  g["kernelrelease"] = std::string(u.release);
  g["cpuarch"] = std::string(u.machine);
  g["hostname"] = host_name();
  g["num_cpus"] = static_cast<std::int64_t>(::sysconf(_SC_NPROCESSORS_ONLN));
  g["mem_total"] = mem_total_mib();
  std::set<std::string> seen;
  for (const auto& entry : custom) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("grain '" + entry + "' is not key=value");
    std::string key = entry.substr(0, eq);
    if (!seen.insert(key).second) continue;
    g[key] = entry.substr(eq + 1);
  }
  g["id"] = id;  // the id is not a grain anyone may redefine
  return g;
}

}  // namespace warren::remote
