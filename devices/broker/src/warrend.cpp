// warrend: the warren broker as a program, with the pub/sub forwarder
// (XSUB/XPUB, warren::Forwarder) on its own thread beside it.
#include <csignal>
#include <iostream>
#include <memory>

#include <boost/program_options.hpp>

#include "warren/broker.hpp"
#include "warren/errors.hpp"
#include "warren/forwarder.hpp"
#include "warren/version.hpp"

namespace po = boost::program_options;

namespace {
warren::Broker* g_broker = nullptr;
warren::Forwarder* g_forwarder = nullptr;
void on_signal(int) {
  if (g_forwarder) g_forwarder->stop();
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
  warren::ForwarderOptions pubsub;
  pubsub.frontend = "tcp://127.0.0.1:5674";
  pubsub.backend = "tcp://127.0.0.1:5675";
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
      ("log-level", po::value(&level)->default_value(level), "debug, info, warning, error or off")
      ("pubsub-frontend", po::value(&pubsub.frontend)->default_value(pubsub.frontend),
       "where pub/sub publishers connect (the forwarder's XSUB)")
      ("pubsub-backend", po::value(&pubsub.backend)->default_value(pubsub.backend),
       "where pub/sub subscribers connect (the forwarder's XPUB)")
      ("no-pubsub", "do not run the pub/sub forwarder");
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
    // Explicit pub/sub endpoints must bind; the defaults are fixed ports that
    // another warrend on this machine may hold, and then only the pub/sub
    // path is given up, not the broker.
    std::unique_ptr<warren::Forwarder> forwarder;
    std::string pubsub_warning;
    if (!vm.count("no-pubsub")) {
      try {
        forwarder = std::make_unique<warren::Forwarder>(pubsub);
      } catch (const warren::Error& e) {
        if (!vm["pubsub-frontend"].defaulted() || !vm["pubsub-backend"].defaulted()) throw;
        pubsub_warning = e.text();
      }
    }
    g_broker = &broker;
    g_forwarder = forwarder.get();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::cout << "warrend " << warren::kVersionString << " listening on " << broker.endpoint() << std::endl;
    if (forwarder) {
      std::cout << "pubsub frontend " << forwarder->frontend_endpoint()
                << " (publishers connect)\npubsub backend " << forwarder->backend_endpoint()
                << " (subscribers connect)" << std::endl;
      forwarder->start();
    } else if (!pubsub_warning.empty()) {
      std::cerr << "warrend: pub/sub forwarder not started: " << pubsub_warning << "\n";
    }
    broker.run();
    if (forwarder) {
      forwarder->stop();
      forwarder->join();
    }
    g_forwarder = nullptr;
    g_broker = nullptr;
  } catch (const std::exception& e) {
    std::cerr << "warrend: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
