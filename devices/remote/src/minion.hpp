// Minion: the remote-execution agent. Receives every job on the jobs fanout
// exchange (through an exclusive queue of its own), decides itself whether
// the target names it, runs the function on a small worker pool and returns
// the result to the job's reply_to with correlation_id = jid. Announces
// itself (id and grains) on its presence queue at start, every
// announce_interval, and when it stops.
//
// Thread rules: run() drives everything on the calling thread, which owns
// the warren::Connection; workers hand results back to it with
// Connection::post. stop() is safe from any thread and from a signal handler
// only through its atomic flag (see stop()). REQUIRES: run() has returned
// before the Minion is destroyed.
//
// A minion never dies on a job: a malformed job is logged and dropped, a bad
// function or bad arguments give an error return, an exception in a function
// gives an error return.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "command.hpp"
#include "job.hpp"
#include "warren/connection.hpp"

namespace warren::remote {

struct MinionOptions {
  std::string endpoint = "tcp://127.0.0.1:5673";
  std::string id;     // REQUIRES: valid_minion_id(id)
  FieldTable grains;  // collect_grains(id, ...) for a real minion
  CommandOptions command{};
  std::size_t workers = 4;  // jobs running at once; as many more wait at the broker's side
  std::chrono::milliseconds announce_interval{30000};
  std::chrono::milliseconds reconnect_interval{1000};  // after the broker is lost
  ConnectionOptions connection{};
  // One line per event (ready, each job, reconnects); called from the
  // connection's thread only. Empty: silent.
  std::function<void(std::string_view line)> log{};
};

class Minion {
 public:
  explicit Minion(MinionOptions options);
  ~Minion();
  Minion(const Minion&) = delete;
  Minion& operator=(const Minion&) = delete;

  // Serves jobs until stop(). Reconnects (re-declaring everything) when the
  // broker is lost. Throws ConnectionError when the first connection fails.
  void run();
  // Makes run() return soon: running functions are cancelled (commands
  // killed), a last "stopped" announcement is sent. Safe from any thread.
  void stop();

  // Subscribed to jobs and announced (for tests and the log).
  bool ready() const { return ready_.load(); }
  std::uint64_t jobs_run() const { return jobs_run_.load(); }
  std::uint64_t jobs_skipped() const { return jobs_skipped_.load(); }  // not targeted or expired

 private:
  struct Work {
    Job job;
    std::string reply_to;
    std::uint64_t delivery_tag = 0;
    std::uint64_t session = 0;
    std::chrono::steady_clock::time_point deadline{};
  };

  void session();
  void announce(Channel& channel, bool running);
  void on_job(const Message& message);
  void worker();
  void finish(const Work& work, Return ret);
  bool wait_for_stop(std::chrono::steady_clock::time_point until);
  void log(const std::string& line) const;

  MinionOptions options_;
  std::string presence_queue_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> jobs_run_{0};
  std::atomic<std::uint64_t> jobs_skipped_{0};

  std::mutex stop_mu_;  // with stop_cv_: interruptible waits (test.sleep, reconnect backoff)
  std::condition_variable stop_cv_;

  // The live session's connection and channel. conn_ is read by workers
  // under conn_mu_; channel_ only on the connection's thread.
  std::mutex conn_mu_;
  Connection* conn_ = nullptr;
  std::uint64_t session_ = 0;
  Channel* channel_ = nullptr;

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::deque<Work> work_;
  std::vector<std::thread> workers_;
};

}  // namespace warren::remote
