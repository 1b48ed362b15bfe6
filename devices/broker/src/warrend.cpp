// warrend: the warren broker as a program, with the pub/sub forwarder
// (XSUB/XPUB, warren::Forwarder) on its own thread beside it.
//
// Settings come from flags and from an INI config file (--config); a flag
// overrides the file. --print-config shows the settings in force, in the
// file's format. SIGTERM / SIGINT stop it (clients get 320); SIGHUP reopens
// the log file (for logrotate).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>

#include <boost/program_options.hpp>

#include "warren/broker.hpp"
#include "warren/curve.hpp"
#include "warren/errors.hpp"
#include "warren/forwarder.hpp"
#include "warren/version.hpp"

namespace po = boost::program_options;

namespace {

warren::Broker* g_broker = nullptr;
warren::Forwarder* g_forwarder = nullptr;
std::atomic<bool> g_reopen_log{false};

void on_stop_signal(int) {
  if (g_forwarder) g_forwarder->stop();
  if (g_broker) g_broker->stop();
}
void on_hangup(int) { g_reopen_log.store(true); }

// Appends log lines to a file; reopens it (same path) after SIGHUP, so a
// rotated log is let go. Called from the broker's thread.
class LogFile {
 public:
  explicit LogFile(std::string path) : path_(std::move(path)) { open(); }
  ~LogFile() {
    if (file_) std::fclose(file_);
  }
  void write(std::string_view line) {
    std::lock_guard<std::mutex> lk(mu_);
    if (g_reopen_log.exchange(false)) open();
    if (!file_) return;
    std::fprintf(file_, "%.*s\n", static_cast<int>(line.size()), line.data());
    std::fflush(file_);
  }

 private:
  void open() {
    if (file_) std::fclose(file_);
    file_ = std::fopen(path_.c_str(), "a");
    if (!file_) throw std::runtime_error("cannot open log file " + path_);
  }
  std::string path_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;
};

warren::LogLevel parse_level(const std::string& s) {
  if (s == "debug") return warren::LogLevel::kDebug;
  if (s == "info") return warren::LogLevel::kInfo;
  if (s == "warning") return warren::LogLevel::kWarning;
  if (s == "error") return warren::LogLevel::kError;
  if (s == "off") return warren::LogLevel::kOff;
  throw po::validation_error(po::validation_error::invalid_option_value, "log-level", s);
}

struct Settings {
  warren::BrokerOptions broker;
  warren::ForwarderOptions pubsub;
  std::string level = "info";
  std::string log_format = "text";
  std::string log_file;
  std::uint32_t heartbeat_ms = 0;
  std::uint32_t sync_interval_ms = 0;
  std::string memory_limit = "40%";
  bool no_pubsub = false;
  std::string curve_secret_key_file;
  std::string config;
};

// The settings a config file may hold, also accepted as flags.
po::options_description settings_options(Settings& s) {
  po::options_description d("Settings (flags, or name = value in the --config file)");
  // clang-format off
  d.add_options()
      ("endpoint,e", po::value(&s.broker.endpoint)->default_value(s.broker.endpoint),
       "where clients connect (tcp://, ipc://); loopback only by default")
      ("heartbeat", po::value(&s.heartbeat_ms)->default_value(s.heartbeat_ms),
       "heartbeat interval proposed to clients, ms (0 disables)")
      ("data-dir", po::value(&s.broker.data_dir)->default_value(s.broker.data_dir),
       "durable definitions and persistent messages are kept here (locked: one broker per "
       "directory); empty keeps nothing")
      ("sync-interval", po::value(&s.sync_interval_ms)->default_value(s.sync_interval_ms),
       "0: confirm persistent messages once fdatasynced (safe against power loss); N: once written, "
       "fdatasync every N ms (a power loss may lose the last N ms)")
      ("memory-limit", po::value(&s.memory_limit)->default_value(s.memory_limit),
       "bytes messages may hold before publishers are blocked: N, N with K/M/G, P% of physical "
       "memory, or 0 for no limit")
      ("max-message-size", po::value(&s.broker.max_message_size)->default_value(s.broker.max_message_size),
       "largest message body accepted, bytes")
      ("max-channels", po::value(&s.broker.max_channels)->default_value(s.broker.max_channels),
       "channels per connection")
      ("max-connections", po::value(&s.broker.max_connections)->default_value(s.broker.max_connections),
       "connections at once (more are refused, 530); 0: no limit")
      ("max-queues", po::value(&s.broker.max_queues)->default_value(s.broker.max_queues),
       "queues at once (more are refused, 406); 0: no limit")
      ("max-consumers-per-channel", po::value(&s.broker.max_consumers_per_channel)->default_value(s.broker.max_consumers_per_channel),
       "consumers on one channel (more are refused, 530); 0: no limit")
      ("max-unacked-per-channel", po::value(&s.broker.max_unacked_per_channel)->default_value(s.broker.max_unacked_per_channel),
       "unacked deliveries one channel may hold (consumers wait, basic.get is refused with 406); 0: no limit")
      ("curve-secret-key", po::value(&s.curve_secret_key_file)->default_value(s.curve_secret_key_file),
       "the server's key pair file (NAME.key from warren-keygen): the broker and pub/sub endpoints use "
       "CURVE and admit only accepted client keys (docs/security.md); empty: plaintext")
      ("keys-dir", po::value(&s.broker.keys_dir)->default_value(s.broker.keys_dir),
       "client keys for CURVE: accepted/, pending/, rejected/ (see warren-keys); default <data-dir>/keys")
      ("users-file", po::value(&s.broker.users_file)->default_value(s.broker.users_file),
       "users and permissions to set at every start (docs/security.md); empty: none")
      ("allow-remote-guest", po::value(&s.broker.allow_remote_guest)->default_value(false)->implicit_value(true),
       "let the user guest (connections no ZAP handler named) connect from other hosts, not only loopback")
      ("log-level", po::value(&s.level)->default_value(s.level), "debug, info, warning, error or off")
      ("log-format", po::value(&s.log_format)->default_value(s.log_format),
       "text (time level subject: details) or json (one object per line)")
      ("log-file", po::value(&s.log_file)->default_value(s.log_file),
       "append the log here instead of stderr; SIGHUP reopens it")
      ("pubsub-frontend", po::value(&s.pubsub.frontend)->default_value(s.pubsub.frontend),
       "where pub/sub publishers connect (the forwarder's XSUB)")
      ("pubsub-backend", po::value(&s.pubsub.backend)->default_value(s.pubsub.backend),
       "where pub/sub subscribers connect (the forwarder's XPUB)")
      ("no-pubsub", po::bool_switch(&s.no_pubsub), "do not run the pub/sub forwarder");
  // clang-format on
  return d;
}

// "0", "N" bytes, "N" with a K/M/G suffix (powers of 1024), or "P%" of the
// machine's physical memory.
std::uint64_t parse_memory_limit(const std::string& text) {
  auto invalid = [&] {
    return po::validation_error(po::validation_error::invalid_option_value, "memory-limit", text);
  };
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw invalid();
  }
  std::string unit = text.substr(used);
  if (value < 0 || (unit.size() > 1)) throw invalid();
  double scale = 1;
  if (unit == "%") {
    if (value > 100) throw invalid();
    scale = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 100;
  } else if (unit == "K" || unit == "k") {
    scale = 1024.0;
  } else if (unit == "M" || unit == "m") {
    scale = 1024.0 * 1024;
  } else if (unit == "G" || unit == "g") {
    scale = 1024.0 * 1024 * 1024;
  } else if (!unit.empty()) {
    throw invalid();
  }
  return static_cast<std::uint64_t>(value * scale);
}

// /var/lib/warren for root (as a service runs it), else the user's own
// state directory, so a broker started without configuration can keep
// durable queues anywhere it runs.
std::string default_data_dir() {
  if (::geteuid() == 0) return "/var/lib/warren";
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) return std::string(state) + "/warren";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/warren";
  return "warren-data";
}

void print_config(const Settings& s) {
  std::cout << "# warrend " << warren::kVersionString << ": the settings in force\n"
            << "endpoint = " << s.broker.endpoint << "\n"
            << "heartbeat = " << s.heartbeat_ms << "\n"
            << "data-dir = " << s.broker.data_dir << "\n"
            << "sync-interval = " << s.sync_interval_ms << "\n"
            << "memory-limit = " << s.memory_limit << "\n"
            << "max-message-size = " << s.broker.max_message_size << "\n"
            << "max-channels = " << s.broker.max_channels << "\n"
            << "max-connections = " << s.broker.max_connections << "\n"
            << "max-queues = " << s.broker.max_queues << "\n"
            << "max-consumers-per-channel = " << s.broker.max_consumers_per_channel << "\n"
            << "max-unacked-per-channel = " << s.broker.max_unacked_per_channel << "\n"
            << "curve-secret-key = " << s.curve_secret_key_file << "\n"
            << "keys-dir = " << s.broker.keys_dir << "\n"
            << "users-file = " << s.broker.users_file << "\n"
            << "allow-remote-guest = " << (s.broker.allow_remote_guest ? "true" : "false") << "\n"
            << "log-level = " << s.level << "\n"
            << "log-format = " << s.log_format << "\n"
            << "log-file = " << s.log_file << "\n"
            << "pubsub-frontend = " << s.pubsub.frontend << "\n"
            << "pubsub-backend = " << s.pubsub.backend << "\n"
            << "no-pubsub = " << (s.no_pubsub ? "true" : "false") << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  s.heartbeat_ms = static_cast<std::uint32_t>(s.broker.heartbeat.count());
  s.broker.data_dir = default_data_dir();
  s.pubsub.frontend = "tcp://127.0.0.1:5674";
  s.pubsub.backend = "tcp://127.0.0.1:5675";
  po::options_description general("warrend: the warren message broker\n\nOptions");
  general.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("config,c", po::value(&s.config), "read settings from this INI file (flags override it)")
      ("print-config", "print the settings in force, in config-file form, and exit");
  auto settings = settings_options(s);
  po::options_description all;
  all.add(general).add(settings);
  po::variables_map vm;
  try {
    // Flags first: po::store keeps the first value it sees, so they win.
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("config")) {
      std::ifstream file(vm["config"].as<std::string>());
      if (!file) throw po::error("cannot read config file " + vm["config"].as<std::string>());
      po::store(po::parse_config_file(file, settings), vm);
    }
    po::notify(vm);
    s.broker.log_level = parse_level(s.level);
    s.broker.memory_limit = parse_memory_limit(s.memory_limit);
    if (s.log_format != "text" && s.log_format != "json")
      throw po::validation_error(po::validation_error::invalid_option_value, "log-format", s.log_format);
    s.broker.log_format = s.log_format == "json" ? warren::LogFormat::kJson : warren::LogFormat::kText;
    if (s.broker.keys_dir.empty() && !s.broker.data_dir.empty()) s.broker.keys_dir = s.broker.data_dir + "/keys";
    if (!s.curve_secret_key_file.empty() && s.broker.keys_dir.empty())
      throw po::error("--curve-secret-key needs --keys-dir (or a --data-dir to hold <data-dir>/keys)");
  } catch (const po::error& e) {
    std::cerr << "warrend: " << e.what() << "\n" << all << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << all << "\n";
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "warrend " << warren::kVersionString << "\n";
    return 0;
  }
  if (vm.count("print-config")) {
    print_config(s);
    return 0;
  }
  s.broker.heartbeat = std::chrono::milliseconds(s.heartbeat_ms);
  s.broker.sync_interval = std::chrono::milliseconds(s.sync_interval_ms);
  try {
    if (!s.curve_secret_key_file.empty()) {
      auto keys = warren::load_curve_key_pair(s.curve_secret_key_file);
      s.broker.curve_secret_key = keys.secret_key;
      s.pubsub.curve.secret_key = keys.secret_key;
      s.pubsub.curve.keys_dir = s.broker.keys_dir;
    }
    std::unique_ptr<LogFile> log_file;
    if (!s.log_file.empty()) {
      log_file = std::make_unique<LogFile>(s.log_file);
      s.broker.log_sink = [file = log_file.get()](std::string_view line) { file->write(line); };
    }
    if (s.pubsub.curve.enabled() && s.broker.log_level <= warren::LogLevel::kWarning) {
      auto level = s.broker.log_level;
      s.pubsub.curve.log = [file = log_file.get(), level](bool admitted, std::string_view text) {
        if (admitted && level > warren::LogLevel::kInfo) return;
        std::string line = "pubsub curve: " + std::string(text);
        if (file) file->write(line);
        else std::cerr << line + "\n";
      };
    }
    warren::Broker broker(s.broker);
    // Explicit pub/sub endpoints must bind; the defaults are fixed ports that
    // another warrend on this machine may hold, and then only the pub/sub
    // path is given up, not the broker.
    std::unique_ptr<warren::Forwarder> forwarder;
    std::string pubsub_warning;
    if (!s.no_pubsub) {
      try {
        forwarder = std::make_unique<warren::Forwarder>(s.pubsub);
      } catch (const warren::Error& e) {
        if (!vm["pubsub-frontend"].defaulted() || !vm["pubsub-backend"].defaulted()) throw;
        pubsub_warning = e.text();
      }
    }
    g_broker = &broker;
    g_forwarder = forwarder.get();
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGHUP, on_hangup);
    std::cout << "warrend " << warren::kVersionString << " listening on " << broker.endpoint() << std::endl;
    std::cout << "data directory "
              << (s.broker.data_dir.empty() ? std::string("none (durable queues last until exit)") : s.broker.data_dir)
              << (s.broker.data_dir.empty() ? std::string()
                  : s.sync_interval_ms ? ", fsync every " + std::to_string(s.sync_interval_ms) + " ms"
                                       : std::string(", fsync before confirm"))
              << std::endl;
    if (!s.broker.curve_secret_key.empty())
      std::cout << "CURVE on, server public key " << warren::curve_public_key_of(s.broker.curve_secret_key)
                << ", client keys in " << s.broker.keys_dir << std::endl;
    std::cout << "memory limit "
              << (s.broker.memory_limit ? std::to_string(s.broker.memory_limit) + " bytes of messages" : "none")
              << std::endl;
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
