// warren-forwarder: one ZeroMQ device (forwarder, streamer or queue) as a
// program. Prints the bound endpoints, then moves messages until SIGINT or
// SIGTERM, and prints its counters on the way out.
#include <csignal>
#include <iostream>

#include <boost/program_options.hpp>

#include "warren/curve.hpp"
#include "warren/forwarder.hpp"
#include "warren/version.hpp"

namespace po = boost::program_options;

namespace {
warren::Forwarder* g_device = nullptr;
void on_signal(int) {
  if (g_device) g_device->stop();
}

warren::DeviceKind parse_device(const std::string& s) {
  if (s == "forwarder") return warren::DeviceKind::kForwarder;
  if (s == "streamer") return warren::DeviceKind::kStreamer;
  if (s == "queue") return warren::DeviceKind::kQueue;
  throw po::validation_error(po::validation_error::invalid_option_value, "device", s);
}
}  // namespace

int main(int argc, char** argv) {
  warren::ForwarderOptions options;
  options.frontend = "tcp://127.0.0.1:5674";
  options.backend = "tcp://127.0.0.1:5675";
  std::string device = "forwarder";
  std::string secret_key_file;
  po::options_description desc(
      "warren-forwarder: a ZeroMQ device\n"
      "  forwarder  XSUB frontend (publishers connect) -> XPUB backend (subscribers connect)\n"
      "  streamer   PULL frontend (pushers connect) -> PUSH backend (pullers connect)\n"
      "  queue      ROUTER frontend (clients connect) <-> DEALER backend (workers connect)\n\n"
      "Options");
  desc.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("device,d", po::value(&device)->default_value(device), "forwarder, streamer or queue")
      ("frontend,f", po::value(&options.frontend)->default_value(options.frontend),
       "where publishers / pushers / clients connect")
      ("backend,b", po::value(&options.backend)->default_value(options.backend),
       "where subscribers / pullers / workers connect")
      ("rcvhwm", po::value(&options.rcvhwm)->default_value(options.rcvhwm),
       "frontend high-water mark, messages")
      ("sndhwm", po::value(&options.sndhwm)->default_value(options.sndhwm),
       "backend high-water mark, messages")
      ("curve-secret-key", po::value(&secret_key_file),
       "the server's key pair file (NAME.key from warren-keygen): both endpoints use CURVE and "
       "admit only client keys accepted in --keys-dir (docs/security.md)")
      ("keys-dir", po::value(&options.curve.keys_dir),
       "client keys for CURVE: accepted/, pending/, rejected/ (see warren-keys)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    options.device = parse_device(device);
    if (!secret_key_file.empty() && options.curve.keys_dir.empty())
      throw po::error("--curve-secret-key needs --keys-dir");
    if (secret_key_file.empty() && !options.curve.keys_dir.empty())
      throw po::error("--keys-dir needs --curve-secret-key");
  } catch (const po::error& e) {
    std::cerr << "warren-forwarder: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "warren-forwarder " << warren::kVersionString << "\n";
    return 0;
  }
  try {
    if (!secret_key_file.empty()) {
      options.curve.secret_key = warren::load_curve_key_pair(secret_key_file).secret_key;
      options.curve.log = [](bool, std::string_view text) { std::cerr << "curve: " << text << std::endl; };
    }
    warren::Forwarder forwarder(options);
    g_device = &forwarder;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::cout << "warren-forwarder " << warren::kVersionString << " " << device << " frontend "
              << forwarder.frontend_endpoint() << " backend " << forwarder.backend_endpoint()
              << (options.curve.enabled() ? " (CURVE)" : "") << std::endl;
    forwarder.run();
    g_device = nullptr;
    auto s = forwarder.stats();
    std::cout << "messages in " << s.messages_in << " out " << s.messages_out << " dropped "
              << s.dropped << "; bytes in " << s.bytes_in << " out " << s.bytes_out << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "warren-forwarder: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
