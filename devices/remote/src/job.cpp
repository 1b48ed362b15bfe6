#include "job.hpp"

#include <sys/time.h>

#include <atomic>
#include <ctime>
#include <mutex>

#include "warren/errors.hpp"
#include "warren/protocol.hpp"

namespace warren::remote {
namespace {

FieldTable decode(std::string_view body, const char* what) {
  try {
    return protocol::decode_table(body);
  } catch (const Error& e) {
    throw FormatError(std::string(what) + " is not a msgpack map: " + e.text());
  }
}

template <class T>
const T& field(const FieldTable& t, const char* key, const char* what) {
  auto it = t.find(key);
  if (it == t.end() || !it->second.is<T>())
    throw FormatError(std::string(what) + ": field '" + key + "' missing or of the wrong type");
  return it->second.as<T>();
}

template <class T>
T optional_field(const FieldTable& t, const char* key, T fallback) {
  auto it = t.find(key);
  if (it == t.end() || !it->second.is<T>()) return fallback;
  return it->second.as<T>();
}

}  // namespace

std::string encode_job(const Job& job) {
  FieldTable t{{"jid", job.jid},
               {"tgt", job.target},
               {"tgt_type", job.target_type},
               {"fun", job.fun},
               {"args", job.args},
               {"timeout_ms", job.timeout_ms},
               {"issued_ms", job.issued_ms},
               {"user", job.user}};
  return protocol::encode_table(t);
}

Job decode_job(std::string_view body) {
  auto t = decode(body, "job");
  Job job;
  job.jid = field<std::string>(t, "jid", "job");
  job.target = field<std::string>(t, "tgt", "job");
  job.target_type = field<std::string>(t, "tgt_type", "job");
  job.fun = field<std::string>(t, "fun", "job");
  job.args = field<FieldArray>(t, "args", "job");
  job.timeout_ms = field<std::int64_t>(t, "timeout_ms", "job");
  job.issued_ms = field<std::int64_t>(t, "issued_ms", "job");
  job.user = optional_field<std::string>(t, "user", "");
  if (!valid_jid(job.jid)) throw FormatError("job: malformed jid");
  if (job.timeout_ms <= 0) throw FormatError("job: timeout_ms must be positive");
  return job;
}

FieldTable return_table(const Return& r) {
  return FieldTable{{"id", r.id},         {"jid", r.jid},         {"fun", r.fun},
                    {"args", r.args},     {"return", r.ret},      {"retcode", r.retcode},
                    {"success", r.success}, {"duration", r.duration_ms}};
}

std::string encode_return(const Return& r) { return protocol::encode_table(return_table(r)); }

Return return_from_table(const FieldTable& t) {
  Return r;
  r.id = field<std::string>(t, "id", "return");
  r.jid = field<std::string>(t, "jid", "return");
  r.fun = field<std::string>(t, "fun", "return");
  r.args = optional_field<FieldArray>(t, "args", {});
  auto ret = t.find("return");
  if (ret == t.end()) throw FormatError("return: field 'return' missing");
  r.ret = ret->second;
  r.retcode = field<std::int64_t>(t, "retcode", "return");
  r.success = field<bool>(t, "success", "return");
  r.duration_ms = optional_field<double>(t, "duration", 0.0);
  return r;
}

Return decode_return(std::string_view body) { return return_from_table(decode(body, "return")); }

std::string encode_announcement(const Announcement& a) {
  FieldTable t{{"id", a.id},
               {"grains", a.grains},
               {"sent_ms", a.sent_ms},
               {"interval_ms", a.interval_ms},
               {"running", a.running},
               {"version", a.version}};
  return protocol::encode_table(t);
}

Announcement decode_announcement(std::string_view body) {
  auto t = decode(body, "announcement");
  Announcement a;
  a.id = field<std::string>(t, "id", "announcement");
  a.grains = field<FieldTable>(t, "grains", "announcement");
  a.sent_ms = field<std::int64_t>(t, "sent_ms", "announcement");
  a.interval_ms = field<std::int64_t>(t, "interval_ms", "announcement");
  a.running = optional_field<bool>(t, "running", true);
  a.version = optional_field<std::string>(t, "version", "");
  if (!valid_minion_id(a.id)) throw FormatError("announcement: malformed minion id");
  return a;
}

std::string make_jid() {
  static std::mutex mu;
  static std::int64_t last_us = 0;
  std::lock_guard<std::mutex> lk(mu);
  std::int64_t us = 0;
  do {
    timeval tv{};
    ::gettimeofday(&tv, nullptr);
    us = std::int64_t{tv.tv_sec} * 1000000 + tv.tv_usec;
  } while (us <= last_us);
  last_us = us;
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm local{};
  ::localtime_r(&secs, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &local);
  char jid[40];
  std::snprintf(jid, sizeof jid, "%s%06lld", buf, static_cast<long long>(us % 1000000));
  return jid;
}

bool valid_jid(std::string_view jid) {
  if (jid.size() != 20) return false;
  for (char c : jid)
    if (c < '0' || c > '9') return false;
  return true;
}

bool valid_minion_id(std::string_view id) {
  if (id.empty() || id.size() > 200) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace warren::remote
