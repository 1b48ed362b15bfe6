// An outside project: embeds a broker on inproc and round-trips one message.
#include <iostream>

#include <warren/broker.hpp>
#include <warren/warren.hpp>

int main() {
  warren::Broker broker({.endpoint = "inproc://consumer-test", .log_level = warren::LogLevel::kOff});
  broker.start();
  warren::Connection conn(broker.endpoint());
  auto ch = conn.channel();
  ch.queue_declare("q");
  ch.basic_publish("", "q", "installed");
  for (int i = 0; i < 500; ++i) {
    if (auto m = ch.basic_get("q", true)) {
      std::cout << "got '" << m->body << "'\n";
      return m->body == "installed" ? 0 : 1;
    }
  }
  return 1;
}
