// warrend: the warren broker as a program.
#include <csignal>
#include <iostream>

#include <boost/program_options.hpp>

#include "warren/broker.hpp"
#include "warren/version.hpp"

namespace po = boost::program_options;

namespace {
warren::Broker* g_broker = nullptr;
void on_signal(int) {
  if (g_broker) g_broker->stop();
}

warren::LogLevel parse_level(const std::string& s) {
  if (s == "debug") return warren::LogLevel::kDebug;
  if (s == "info") return warren::LogLevel::kInfo;
  if (s == "warning") return warren::LogLevel::kWarning;
  if (s == "error") return warren::LogLevel::kError;
  if (s == "off") return warren::LogLevel::kOff;
  throw po::validation_error(po::validation_error::invalid_option_value, "log-level", s);
}
}  // namespace

int main(int argc, char** argv) {
  warren::BrokerOptions options;
  std::string level = "info";
  std::uint32_t heartbeat_ms = static_cast<std::uint32_t>(options.heartbeat.count());
  po::options_description desc("warrend: the warren message broker\n\nOptions");
  desc.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("endpoint,e", po::value(&options.endpoint)->default_value(options.endpoint),
       "where clients connect (tcp://, ipc://); loopback only by default")
      ("heartbeat", po::value(&heartbeat_ms)->default_value(heartbeat_ms),
       "heartbeat interval proposed to clients, ms (0 disables)")
      ("max-message-size", po::value(&options.max_message_size)->default_value(options.max_message_size),
       "largest message body accepted, bytes")
      ("max-channels", po::value(&options.max_channels)->default_value(options.max_channels),
       "channels per connection")
      ("log-level", po::value(&level)->default_value(level), "debug, info, warning, error or off");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    options.log_level = parse_level(level);
  } catch (const po::error& e) {
    std::cerr << "warrend: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "warrend " << warren::kVersionString << "\n";
    return 0;
  }
  options.heartbeat = std::chrono::milliseconds(heartbeat_ms);
  try {
    warren::Broker broker(options);
    g_broker = &broker;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::cout << "warrend " << warren::kVersionString << " listening on " << broker.endpoint() << std::endl;
    broker.run();
    g_broker = nullptr;
  } catch (const std::exception& e) {
    std::cerr << "warrend: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
