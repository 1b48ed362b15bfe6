// The messages of remote execution and their encoding (docs/remote-execution.md
// is the normative description). Every body is one msgpack map, encoded as the
// wire protocol encodes a field table (protocol::encode_table), with
// content_type "application/msgpack". Pure functions, no I/O.
//
//   job           master -> every minion, on the fanout exchange kJobsExchange;
//                 properties: correlation_id = jid, reply_to, timestamp,
//                 expiration = timeout in ms
//   return        minion -> reply_to, correlation_id = jid
//   announcement  minion -> its presence queue (kPresencePrefix + id), the
//                 last value only
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "warren/field_value.hpp"

namespace warren::remote {

inline constexpr const char* kJobsExchange = "warren.remote.jobs";
inline constexpr const char* kPresencePrefix = "warren.remote.presence.";
inline constexpr const char* kContentType = "application/msgpack";

// A body that is not a valid job, return or announcement.
class FormatError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct Job {
  std::string jid;
  std::string target;
  std::string target_type = "glob";
  std::string fun;
  FieldArray args;
  std::int64_t timeout_ms = 5000;  // the minion must answer within this
  std::int64_t issued_ms = 0;      // wall clock at the master, ms since the epoch
  std::string user;                // who ran the master (for the minion's log)
};

struct Return {
  std::string id;
  std::string jid;
  std::string fun;
  FieldArray args;
  FieldValue ret;           // "return" on the wire: the function's result, or the error text
  std::int64_t retcode = 0;  // 0 on success
  bool success = true;
  double duration_ms = 0;   // "duration": how long the function ran, ms
};

struct Announcement {
  std::string id;
  FieldTable grains;
  std::int64_t sent_ms = 0;      // wall clock at the minion
  std::int64_t interval_ms = 0;  // the next one comes within this
  bool running = true;           // false: the minion announced that it stops
  std::string version;
};

std::string encode_job(const Job& job);
Job decode_job(std::string_view body);  // throws FormatError
FieldTable return_table(const Return& r);
std::string encode_return(const Return& r);
Return return_from_table(const FieldTable& t);  // throws FormatError
Return decode_return(std::string_view body);     // throws FormatError
std::string encode_announcement(const Announcement& a);
Announcement decode_announcement(std::string_view body);  // throws FormatError

// A job id as salt makes them: the local time YYYYMMDDhhmmssffffff
// (microseconds). REQUIRES nothing; two calls in one process never return
// the same jid (a clash waits for the next microsecond).
std::string make_jid();
// A jid is 20 digits; anything else is refused (it names a file).
bool valid_jid(std::string_view jid);
// Minion ids name queues: 1 to 200 characters from [A-Za-z0-9._-].
bool valid_minion_id(std::string_view id);

std::int64_t now_ms();  // wall clock, ms since the epoch

}  // namespace warren::remote
