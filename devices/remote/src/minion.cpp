#include "minion.hpp"

#include <algorithm>

#include "functions.hpp"
#include "target.hpp"
#include "warren/errors.hpp"
#include "warren/version.hpp"

namespace warren::remote {
namespace {
using Clock = std::chrono::steady_clock;
}

Minion::Minion(MinionOptions options)
    : options_(std::move(options)), presence_queue_(kPresencePrefix + options_.id) {
  if (!valid_minion_id(options_.id))
    throw std::invalid_argument("minion id '" + options_.id + "' must be 1-200 characters of [A-Za-z0-9._-]");
  options_.workers = std::clamp<std::size_t>(options_.workers, 1, 1024);
}

Minion::~Minion() { stop(); }

void Minion::stop() {
  stopping_.store(true);
  {
    std::lock_guard<std::mutex> lk(stop_mu_);
  }
  stop_cv_.notify_all();
  work_cv_.notify_all();
  std::lock_guard<std::mutex> lk(conn_mu_);
  if (conn_) conn_->stop();
}

bool Minion::wait_for_stop(Clock::time_point until) {
  std::unique_lock<std::mutex> lk(stop_mu_);
  return stop_cv_.wait_until(lk, until, [&] { return stopping_.load(); });
}

void Minion::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void Minion::run() {
  for (std::size_t i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker(); });
  bool served = false;  // a session got as far as ready
  std::exception_ptr first_failure;
  while (!stopping_.load()) {
    try {
      session();
    } catch (const Error& e) {
      served = served || ready_.load();
      ready_.store(false);
      if (!served) {  // the broker is not there, or refuses our declarations: say so
        first_failure = std::current_exception();
        break;
      }
      log("connection lost (" + std::string(e.what()) + "); reconnecting");
      wait_for_stop(Clock::now() + options_.reconnect_interval);
    }
  }
  stopping_.store(true);
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  if (first_failure) std::rethrow_exception(first_failure);
}

void Minion::session() {
  Connection conn(options_.endpoint, options_.connection);
  Channel ch = conn.channel();
  ch.exchange_declare(kJobsExchange, "fanout", {.durable = true});
  auto queue = ch.queue_declare("", {.exclusive = true, .auto_delete = true}).queue;
  ch.queue_bind(queue, kJobsExchange);
  ch.queue_declare(presence_queue_, {.durable = true});
  auto prefetch = std::min<std::size_t>(options_.workers * 2, 65535);
  ch.basic_qos(static_cast<std::uint16_t>(prefetch));
  {
    std::lock_guard<std::mutex> lk(conn_mu_);
    conn_ = &conn;
    channel_ = &ch;
    ++session_;
  }
  struct Detach {  // whatever happens, workers stop posting to this connection
    Minion* m;
    ~Detach() {
      std::lock_guard<std::mutex> lk(m->conn_mu_);
      m->conn_ = nullptr;
      m->channel_ = nullptr;
    }
  } detach{this};
  ch.basic_consume(queue, [this](const Message& m) { on_job(m); });
  announce(ch, true);
  if (!ready_.exchange(true)) log("minion " + options_.id + " ready");
  auto next = Clock::now() + options_.announce_interval;
  while (!stopping_.load()) {
    conn.run_for(std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()));
    if (Clock::now() >= next) {
      announce(ch, true);
      next = Clock::now() + options_.announce_interval;
    }
  }
  ready_.store(false);
  try {
    announce(ch, false);
  } catch (const Error&) {
    // the broker went meanwhile: the master will see the announcement age
  }
}

void Minion::announce(Channel& channel, bool running) {
  Announcement a{.id = options_.id,
                 .grains = options_.grains,
                 .sent_ms = now_ms(),
                 .interval_ms = options_.announce_interval.count(),
                 .running = running,
                 .version = kVersionString};
  // The queue keeps the last announcement only (a last-value queue): publish
  // the new one, then take the older ones from the head. Never purge first:
  // a minion killed between purge and publish would vanish from the roster.
  Properties p;
  p.content_type = kContentType;
  p.delivery_mode = kPersistent;
  channel.basic_publish("", presence_queue_, encode_announcement(a), p);
  auto ready = channel.queue_declare(presence_queue_, {.passive = true}).message_count;
  for (std::uint32_t i = 1; i < ready; ++i) {
    auto old = channel.basic_get(presence_queue_, false);
    if (!old) break;
    if (old->message_count == 0) {  // a master holds the others for a moment: keep this one
      channel.basic_reject(old->delivery_tag, true);
      break;
    }
    channel.basic_ack(old->delivery_tag);
  }
}

void Minion::on_job(const Message& m) {
  Job job;
  try {
    job = decode_job(m.body);
  } catch (const FormatError& e) {
    log(std::string("dropped a malformed job: ") + e.what());
    channel_->basic_ack(m.delivery_tag);
    return;
  }
  bool targeted = false;
  try {
    targeted = target_matches(parse_target_type(job.target_type), job.target, options_.id, options_.grains);
  } catch (const TargetError& e) {
    log("job " + job.jid + " " + job.fun + ": bad target (" + e.what() + ")");
  }
  const char* skip = nullptr;
  std::int64_t left_ms = job.issued_ms + job.timeout_ms - now_ms();
  if (!targeted) skip = "not targeted";
  else if (!m.properties.reply_to || m.properties.reply_to->empty()) skip = "no reply_to, dropped";
  else if (left_ms <= 0) skip = "expired before it arrived, dropped";
  if (skip) {
    ++jobs_skipped_;
    log("job " + job.jid + " " + job.fun + ": " + skip);
    channel_->basic_ack(m.delivery_tag);
    return;
  }
  // Our clock may differ from the master's: never allow more than the timeout.
  auto budget = std::chrono::milliseconds(std::min(left_ms, job.timeout_ms));
  Work work{std::move(job), *m.properties.reply_to, m.delivery_tag, 0, Clock::now() + budget};
  {
    std::lock_guard<std::mutex> lk(conn_mu_);
    work.session = session_;
  }
  {
    std::lock_guard<std::mutex> lk(work_mu_);
    work_.push_back(std::move(work));
  }
  work_cv_.notify_one();
}

void Minion::worker() {
  for (;;) {
    Work work;
    {
      std::unique_lock<std::mutex> lk(work_mu_);
      work_cv_.wait(lk, [&] { return stopping_.load() || !work_.empty(); });
      if (stopping_.load()) return;
      work = std::move(work_.front());
      work_.pop_front();
    }
    FunctionContext context{
        .grains = options_.grains,
        .command = options_.command,
        .deadline = work.deadline,
        .wait_until = [this](Clock::time_point until) { return wait_for_stop(until); },
        .cancelled = [this] { return stopping_.load(); },
    };
    auto started = Clock::now();
    FunctionResult result = execute(work.job.fun, work.job.args, context);
    Return ret{.id = options_.id,
               .jid = work.job.jid,
               .fun = work.job.fun,
               .args = work.job.args,
               .ret = std::move(result.ret),
               .retcode = result.retcode,
               .success = result.success,
               .duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count()};
    finish(work, std::move(ret));
  }
}

void Minion::finish(const Work& work, Return ret) {
  std::string body = encode_return(ret);
  std::string line = "job " + ret.jid + " " + ret.fun + ": returned " + (ret.success ? "success" : "failure") +
                     " (retcode " + std::to_string(ret.retcode) + ")";
  std::lock_guard<std::mutex> lk(conn_mu_);
  // A job from an earlier session went with its connection (its queue was
  // exclusive): nothing to acknowledge, and the master has given up on it.
  if (!conn_ || work.session != session_) return;
  conn_->post([this, body = std::move(body), line = std::move(line), reply_to = work.reply_to,
               tag = work.delivery_tag, jid = ret.jid] {
    if (!channel_) return;
    try {
      Properties p;
      p.content_type = kContentType;
      p.correlation_id = jid;
      channel_->basic_publish("", reply_to, body, p);
      channel_->basic_ack(tag);
      ++jobs_run_;
      log(line);
    } catch (const Error& e) {
      log("job " + jid + ": could not return (" + std::string(e.what()) + ")");
    }
  });
}

}  // namespace warren::remote
