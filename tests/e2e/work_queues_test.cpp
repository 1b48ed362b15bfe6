// End to end: the tutorial's work queue (new_task / worker) through warrend,
// including workers that die mid-task.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <regex>
#include <set>

#include "support/warrend.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

const std::string kNewTask = example("work_queues", "new_task");
const std::string kWorker = example("work_queues", "worker");

std::unique_ptr<Process> worker(const std::string& endpoint, const std::string& name, int dot_ms) {
  auto p = std::make_unique<Process>(
      std::vector<std::string>{kWorker, "--endpoint", endpoint, "--dot-ms", std::to_string(dot_ms), "--name", name});
  return p;
}

TEST(WorkQueues, KilledWorkerLosesNoTask) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  auto a = worker(broker.endpoint, "A", 60000);
  ASSERT_TRUE(a->wait_for_line("Waiting for messages"));
  Process task({kNewTask, "--endpoint", broker.endpoint, "long", "task."});
  EXPECT_EQ(task.wait(), 0);
  ASSERT_TRUE(a->wait_for_line("A received 'long task.'"));
  a->stop(SIGKILL);  // dies holding the unacknowledged task

  auto b = worker(broker.endpoint, "B", 1);
  auto got = b->wait_for_line("B received");
  ASSERT_TRUE(got) << b->output();
  EXPECT_NE(got->find("'long task.' (redelivered)"), std::string::npos) << *got;
  EXPECT_TRUE(b->wait_for_line("B done 'long task.'"));
}

TEST(WorkQueues, FairDispatchByPrefetchOne) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  // 4x apart in task time. Each task also costs a delivery and an ack round
  // trip, which under a sanitizer on a loaded machine reaches milliseconds:
  // tasks long beside that keep the workers' real speeds about 4x apart.
  auto fast = worker(broker.endpoint, "fast", 20);
  auto slow = worker(broker.endpoint, "slow", 80);
  ASSERT_TRUE(fast->wait_for_line("Waiting"));
  ASSERT_TRUE(slow->wait_for_line("Waiting"));
  constexpr int kTasks = 100;
  Process task({kNewTask, "--endpoint", broker.endpoint, "--count", std::to_string(kTasks), "job."});
  EXPECT_EQ(task.wait(), 0);
  int fast_done = 0, slow_done = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (fast_done + slow_done < kTasks && std::chrono::steady_clock::now() < deadline) {
    for (auto& l : fast->read_available()) fast_done += l.find(" done ") != std::string::npos;
    for (auto& l : slow->read_available()) slow_done += l.find(" done ") != std::string::npos;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(fast_done + slow_done, kTasks);
  EXPECT_GE(fast_done, 3 * slow_done) << "fast " << fast_done << ", slow " << slow_done;
}

TEST(WorkQueues, WorkersKilledAndRestartedLoseNothing) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  constexpr int kTasks = 10000;
  constexpr int kWorkers = 4;
  std::vector<std::unique_ptr<Process>> workers;
  // One '.' per task and 1 ms per '.': the run lasts seconds, through many kills.
  for (int i = 0; i < kWorkers; ++i) workers.push_back(worker(broker.endpoint, "w" + std::to_string(i), 1));
  for (auto& w : workers) ASSERT_TRUE(w->wait_for_line("Waiting"));
  Process task({kNewTask, "--endpoint", broker.endpoint, "--count", std::to_string(kTasks), "t."});

  const std::regex received(R"( received 't\. #(\d+)'( \(redelivered\))?)");
  const std::regex done(R"( done 't\. #(\d+)')");
  std::map<int, int> receipts;           // task -> times received
  std::set<int> completed;
  int unmarked_duplicates = 0, kills = 0;
  auto collect = [&](Process& p) {
    for (auto& line : p.read_available()) {
      std::smatch m;
      if (std::regex_search(line, m, received)) {
        int id = std::stoi(m[1]);
        if (receipts[id]++ > 0 && !m[2].matched) ++unmarked_duplicates;
      } else if (std::regex_search(line, m, done)) {
        completed.insert(std::stoi(m[1]));
      }
    }
  };
  std::mt19937 rng(42);
  auto next_kill = std::chrono::steady_clock::now() + 200ms;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (static_cast<int>(completed.size()) < kTasks && std::chrono::steady_clock::now() < deadline) {
    for (auto& w : workers) collect(*w);
    if (std::chrono::steady_clock::now() >= next_kill) {
      int victim = static_cast<int>(rng() % kWorkers);
      workers[victim]->stop(SIGKILL);
      collect(*workers[victim]);
      workers[victim] = worker(broker.endpoint, "w" + std::to_string(victim), 1);
      ++kills;
      next_kill = std::chrono::steady_clock::now() + 200ms;
    }
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(task.wait(), 0);
  EXPECT_EQ(static_cast<int>(completed.size()), kTasks) << "after " << kills << " kills";
  EXPECT_EQ(unmarked_duplicates, 0) << "a task seen twice must be marked redelivered";
  EXPECT_GE(kills, 5);
}

TEST(WorkQueues, WorkerCarriesOnAfterTheBrokerIsKilledAndRestarted) {
  auto broker = std::make_unique<Warrend>();
  ASSERT_FALSE(broker->endpoint.empty());
  std::string endpoint = broker->endpoint;
  auto w = worker(endpoint, "W", 1);
  ASSERT_TRUE(w->wait_for_line("Waiting"));
  Process first({kNewTask, "--endpoint", endpoint, "first"});
  EXPECT_EQ(first.wait(), 0);
  ASSERT_TRUE(w->wait_for_line("W done 'first'"));

  broker->process.stop(SIGKILL);
  broker.reset();
  // Same port again; retry while the kernel releases it.
  std::unique_ptr<Process> again;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    again = std::make_unique<Process>(std::vector<std::string>{kWarrendPath, "--endpoint", endpoint, "--heartbeat", "100",
                                                               "--log-level", "warning", "--data-dir", ""});
    if (again->wait_for_line("listening on")) break;
    again.reset();
  }
  ASSERT_TRUE(again) << "could not restart warrend on " << endpoint;
  // The worker reconnects and re-declares task_queue by itself; new_task
  // declares it too, so whichever comes first the task is not lost.
  Process second({kNewTask, "--endpoint", endpoint, "second"});
  EXPECT_EQ(second.wait(), 0);
  EXPECT_TRUE(w->wait_for_line("W done 'second'", 15s)) << w->output();
  EXPECT_EQ(w->stop(SIGTERM), 0);
}

}  // namespace
}  // namespace warren::testing
