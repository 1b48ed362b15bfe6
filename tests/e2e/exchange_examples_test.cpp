// End to end: the tutorial's publish/subscribe, routing and topics examples
// and the headers example, each with several subscribers that must receive
// exactly what they should.
#include <gtest/gtest.h>

#include "support/warrend.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

// A subscriber process: started, waited on until subscribed.
std::unique_ptr<Process> subscribe(const std::string& program, const std::string& endpoint, Lines words) {
  std::vector<std::string> argv{program, "--endpoint", endpoint};
  argv.insert(argv.end(), words.begin(), words.end());
  auto p = std::make_unique<Process>(argv);
  if (!p->wait_for_line("Waiting for logs")) ADD_FAILURE() << program << " did not subscribe";
  return p;
}

void emit(const std::string& program, const std::string& endpoint, Lines words) {
  std::vector<std::string> argv{program, "--endpoint", endpoint};
  argv.insert(argv.end(), words.begin(), words.end());
  Process p(argv);
  EXPECT_EQ(p.wait(), 0) << program;
}

// Emits a final marker every subscriber is bound to receive, then returns
// the " [x] ..." lines each subscriber printed before the marker.
Lines received_until(Process& subscriber, const std::string& marker) {
  Lines got;
  for (;;) {
    auto line = subscriber.wait_for_line(" [x] ");
    if (!line) {
      ADD_FAILURE() << "no marker; output so far:\n" << subscriber.output();
      return got;
    }
    if (line->find(marker) != std::string::npos) return got;
    got.push_back(line->substr(line->find(" [x] ") + 5));
  }
}

TEST(ExchangeExamples, PublishSubscribeReachesEverySubscriber) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  auto program = example("publish_subscribe", "receive_logs");
  auto a = subscribe(program, broker.endpoint, {});
  auto b = subscribe(program, broker.endpoint, {});
  auto c = subscribe(program, broker.endpoint, {});
  emit(example("publish_subscribe", "emit_log"), broker.endpoint, {"info:", "first"});
  emit(example("publish_subscribe", "emit_log"), broker.endpoint, {"error:", "second"});
  emit(example("publish_subscribe", "emit_log"), broker.endpoint, {"END"});
  for (auto* s : {a.get(), b.get(), c.get()})
    EXPECT_EQ(received_until(*s, "END"), (Lines{"info: first", "error: second"}));
}

TEST(ExchangeExamples, RoutingBySeverity) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  auto program = example("routing", "receive_logs_direct");
  auto errors = subscribe(program, broker.endpoint, {"error", "end"});
  auto all = subscribe(program, broker.endpoint, {"info", "warning", "error", "end"});
  auto emitter = example("routing", "emit_log_direct");
  emit(emitter, broker.endpoint, {"info", "starting"});
  emit(emitter, broker.endpoint, {"error", "disk", "full"});
  emit(emitter, broker.endpoint, {"debug", "nobody", "listens"});
  emit(emitter, broker.endpoint, {"warning", "hot"});
  emit(emitter, broker.endpoint, {"end", "END"});
  EXPECT_EQ(received_until(*errors, "END"), (Lines{"error:disk full"}));
  EXPECT_EQ(received_until(*all, "END"), (Lines{"info:starting", "error:disk full", "warning:hot"}));
}

TEST(ExchangeExamples, TopicsWithTheTutorialBindings) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  auto program = example("topics", "receive_logs_topic");
  auto www = subscribe(program, broker.endpoint, {"www.*.#", "end"});
  auto hello = subscribe(program, broker.endpoint, {"hello.*", "end"});
  auto everything = subscribe(program, broker.endpoint, {"#"});
  auto emitter = example("topics", "emit_log_topic");
  emit(emitter, broker.endpoint, {"www.baidu.com", "search"});
  emit(emitter, broker.endpoint, {"hello.world", "greeting"});
  emit(emitter, broker.endpoint, {"www", "bare"});
  emit(emitter, broker.endpoint, {"kern.critical", "panic"});
  emit(emitter, broker.endpoint, {"end", "END"});
  EXPECT_EQ(received_until(*www, "END"), (Lines{"www.baidu.com:search"}));
  EXPECT_EQ(received_until(*hello, "END"), (Lines{"hello.world:greeting"}));
  EXPECT_EQ(received_until(*everything, "END"),
            (Lines{"www.baidu.com:search", "hello.world:greeting", "www:bare", "kern.critical:panic"}));
}

TEST(ExchangeExamples, HeadersAllAndAny) {
  Warrend broker;
  ASSERT_FALSE(broker.endpoint.empty());
  auto program = example("headers", "receive_headers");
  auto all = subscribe(program, broker.endpoint, {"all", "format=pdf", "type=report"});
  auto any = subscribe(program, broker.endpoint, {"any", "format=pdf", "type=report", "end=yes"});
  auto emitter = example("headers", "emit_headers");
  emit(emitter, broker.endpoint, {"format=pdf", "type=report", "both"});
  emit(emitter, broker.endpoint, {"format=pdf", "one"});
  emit(emitter, broker.endpoint, {"format=zip", "neither"});
  emit(emitter, broker.endpoint, {"format=pdf", "type=report", "end=yes", "END"});
  EXPECT_EQ(received_until(*all, "END"), (Lines{"both"}));
  EXPECT_EQ(received_until(*any, "END"), (Lines{"both", "one"}));
}

}  // namespace
}  // namespace warren::testing
