#include "master.hpp"

#include <algorithm>
#include <set>
#include <unistd.h>
#include <pwd.h>

#include "warren/errors.hpp"
#include "warren/rpc.hpp"  // kDirectReplyTo

namespace warren::remote {
namespace {

using Clock = std::chrono::steady_clock;

std::string user_name() {
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return std::to_string(::geteuid());
}

}  // namespace

bool is_up(const Announcement& a, std::int64_t now) {
  return a.running && now - a.sent_ms <= 3 * std::max<std::int64_t>(a.interval_ms, 1);
}

std::vector<Announcement> read_roster(Channel& channel) {
  std::vector<Announcement> roster;
  const std::string prefix = kPresencePrefix;
  for (const auto& row : channel.management_query("queues")) {
    auto name = row.find("name");
    if (name == row.end() || !name->second.is<std::string>()) continue;
    const auto& queue = name->second.as<std::string>();
    if (queue.rfind(prefix, 0) != 0) continue;
    // Normally one message; more for a moment while a minion replaces its
    // announcement (or after another master gave them back). Take the
    // newest, give them all back.
    std::optional<Announcement> newest;
    std::vector<std::uint64_t> tags;
    for (int i = 0; i < 8; ++i) {
      auto m = channel.basic_get(queue, false);
      if (!m) break;
      tags.push_back(m->delivery_tag);
      try {
        auto a = decode_announcement(m->body);
        if (a.id == queue.substr(prefix.size()) && (!newest || a.sent_ms >= newest->sent_ms)) newest = std::move(a);
      } catch (const FormatError&) {
        // not an announcement: ignore it
      }
      if (m->message_count == 0) break;
    }
    for (auto tag : tags) channel.basic_reject(tag, true);
    if (newest) roster.push_back(std::move(*newest));
  }
  std::sort(roster.begin(), roster.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return roster;
}

void forget_minion(Channel& channel, const std::string& id) {
  if (!valid_minion_id(id)) throw std::invalid_argument("not a minion id: " + id);
  channel.queue_delete(kPresencePrefix + id);
}

std::vector<std::string> expected_minions(const std::vector<Announcement>& roster, const Job& job) {
  auto type = parse_target_type(job.target_type);
  validate_target(type, job.target);
  std::vector<std::string> ids;
  for (const auto& a : roster)
    if (target_matches(type, job.target, a.id, a.grains)) ids.push_back(a.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

Job make_job(std::string target, TargetType type, std::string fun, FieldArray args,
             std::chrono::milliseconds timeout) {
  auto margin = std::clamp<std::chrono::milliseconds>(timeout / 10, std::chrono::milliseconds(50),
                                                      std::chrono::milliseconds(500));
  Job job;
  job.jid = make_jid();
  job.target = std::move(target);
  job.target_type = std::string(target_type_name(type));
  job.fun = std::move(fun);
  job.args = std::move(args);
  job.timeout_ms = std::max<std::int64_t>((timeout - margin).count(), 1);
  job.issued_ms = now_ms();
  job.user = user_name();
  return job;
}

JobOutcome run_job(Connection& connection, Channel& channel, Job job, std::vector<std::string> expected,
                   std::chrono::milliseconds wait, const std::function<void(const Return&)>& on_return) {
  JobOutcome outcome;
  outcome.expected = std::move(expected);
  std::set<std::string> waiting(outcome.expected.begin(), outcome.expected.end());
  std::set<std::string> returned;
  auto deadline = Clock::now() + wait;
  auto tag = channel.basic_consume(
      kDirectReplyTo,
      [&](const Message& m) {
        if (m.properties.correlation_id != job.jid) return;  // a late return of an earlier job
        Return r;
        try {
          r = decode_return(m.body);
        } catch (const FormatError&) {
          return;  // not a return: ignore it
        }
        if (r.jid != job.jid || !returned.insert(r.id).second) return;
        waiting.erase(r.id);
        if (on_return) on_return(r);
        outcome.returns.push_back(std::move(r));
      },
      {.auto_ack = true});
  channel.exchange_declare(kJobsExchange, "fanout", {.durable = true});
  Properties p;
  p.content_type = kContentType;
  p.correlation_id = job.jid;
  p.reply_to = kDirectReplyTo;
  p.timestamp = job.issued_ms / 1000;
  // A broker that honours per-message TTL drops the job once it is stale;
  // minions also refuse it by its issued_ms (docs/remote-execution.md).
  p.expiration = std::to_string(job.timeout_ms);
  channel.basic_publish(kJobsExchange, "", encode_job(job), p);
  while (!waiting.empty()) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    connection.process_events(left);
  }
  try {
    channel.basic_cancel(tag);
  } catch (const Error&) {
    // the channel is gone; so is the consumer
  }
  outcome.missing.assign(waiting.begin(), waiting.end());
  outcome.job = std::move(job);
  return outcome;
}

}  // namespace warren::remote
