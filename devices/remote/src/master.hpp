// The master's side of remote execution, as a library (warren-master is a
// thin CLI over it; tests drive it in-process): the roster of minions, read
// from their presence queues, and running one job: publish it, collect the
// returns until every expected minion answered or the timeout.
//
// Thread rules: every function here uses the given Connection / Channel on
// the calling thread, which must own them.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "job.hpp"
#include "target.hpp"
#include "warren/connection.hpp"

namespace warren::remote {

// A minion is up while its last announcement says it runs and is younger
// than 3 announce intervals (salt's manage.status asks the minions; we read
// what they told the broker).
bool is_up(const Announcement& a, std::int64_t now_ms);

// Every minion that ever announced itself (until forgotten), by id: the last
// announcement on each presence queue. Leaves the announcements in place
// (read and requeued), so any number of masters may read them.
std::vector<Announcement> read_roster(Channel& channel);

// Deletes a minion's presence queue (salt-key -d): it is no longer expected.
// A minion that still runs reappears with its next announcement.
void forget_minion(Channel& channel, const std::string& id);

// The ids in `roster` that `job` targets, sorted. Throws TargetError.
std::vector<std::string> expected_minions(const std::vector<Announcement>& roster, const Job& job);

struct JobOutcome {
  Job job;
  std::vector<std::string> expected;  // sorted
  std::vector<Return> returns;        // in arrival order, one per minion
  std::vector<std::string> missing;   // expected, did not return; sorted
};

// A job for `fun` with a fresh jid, issued now. The minions get
// timeout - margin to answer (margin: a tenth, between 50 and 500 ms), so a
// timeout error of theirs still reaches a master waiting `timeout`.
Job make_job(std::string target, TargetType type, std::string fun, FieldArray args,
             std::chrono::milliseconds timeout);

// Publishes `job` to every minion (replies by direct reply-to on `channel`)
// and collects returns until all of `expected` answered or `wait` passed.
// Returns of minions not expected are kept too (a minion that announced
// after the roster was read). `on_return` runs for each as it arrives.
JobOutcome run_job(Connection& connection, Channel& channel, Job job, std::vector<std::string> expected,
                   std::chrono::milliseconds wait, const std::function<void(const Return&)>& on_return = {});

}  // namespace warren::remote
