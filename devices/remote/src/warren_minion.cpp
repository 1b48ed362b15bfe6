// warren-minion: the remote-execution agent (docs/remote-execution.md).
//
// Settings come from flags and from an INI config file (--config); a flag
// overrides the file (grains: a key given as a flag overrides the same key
// in the file). SIGTERM / SIGINT stop it: running jobs are cancelled and a
// last announcement tells masters it is down.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include <boost/program_options.hpp>

#include "endpoint_check.hpp"
#include "grains.hpp"
#include "minion.hpp"
#include "warren/curve.hpp"
#include "warren/errors.hpp"
#include "warren/version.hpp"

namespace po = boost::program_options;
using namespace warren::remote;

namespace {

struct Settings {
  std::string endpoint = "tcp://127.0.0.1:5673";
  std::string id;
  std::vector<std::string> grains;
  std::size_t workers = 4;
  std::uint32_t announce_interval_ms = 30000;
  bool cmd_enabled = false;
  std::vector<std::string> cmd_allow;
  bool cmd_shell = false;
  std::uint32_t cmd_timeout_ms = 60000;
  std::size_t cmd_max_output = 64 * 1024;
  bool allow_remote = false;
  std::string curve_server_key, curve_key;  // CURVE: the broker's NAME.pub, this NAME.key
  bool quiet = false;
};

po::options_description settings_options(Settings& s) {
  po::options_description d("Settings (flags, or name = value in the --config file)");
  // clang-format off
  d.add_options()
      ("endpoint,e", po::value(&s.endpoint)->default_value(s.endpoint), "the broker (warrend)")
      ("id", po::value(&s.id), "this minion's id (default: the host name); [A-Za-z0-9._-]")
      ("grain,g", po::value(&s.grains)->composing(), "a custom grain key=value (repeatable)")
      ("workers", po::value(&s.workers)->default_value(s.workers), "jobs running at once")
      ("announce-interval", po::value(&s.announce_interval_ms)->default_value(s.announce_interval_ms),
       "ms between presence announcements; a minion silent for 3 intervals is down")
      ("cmd-enabled", po::value(&s.cmd_enabled)->default_value(false)->implicit_value(true),
       "allow cmd.run at all (off by default)")
      ("cmd-allow", po::value(&s.cmd_allow)->composing(),
       "a program cmd.run may start (repeatable): a name or glob ('uptime', 'system*') matched "
       "against a bare argv[0], or a path or path glob ('/usr/bin/*'); '*' allows all")
      ("cmd-shell", po::value(&s.cmd_shell)->default_value(false)->implicit_value(true),
       "run cmd.run lines through /bin/sh -c (off: argv split, no shell)")
      ("cmd-timeout", po::value(&s.cmd_timeout_ms)->default_value(s.cmd_timeout_ms),
       "ms a command may run at most (the job's timeout may be shorter); then its process group is killed")
      ("cmd-max-output", po::value(&s.cmd_max_output)->default_value(s.cmd_max_output),
       "bytes of stdout and of stderr kept, each")
      ("curve-server-key", po::value(&s.curve_server_key),
       "CURVE: the broker's public key file (NAME.pub; docs/security.md)")
      ("curve-key", po::value(&s.curve_key),
       "CURVE: this minion's key pair file (NAME.key from warren-keygen); its key must be accepted by the broker")
      ("allow-remote", po::value(&s.allow_remote)->default_value(false)->implicit_value(true),
       "connect to a broker on another host (without CURVE jobs travel unauthenticated: see the docs)")
      ("quiet,q", po::bool_switch(&s.quiet), "log nothing to stdout");
  // clang-format on
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  std::string config;
  po::options_description general("warren-minion: runs the jobs warren-master sends\n\nOptions");
  general.add_options()("help,h", "show this help and exit")("version", "show the version and exit")(
      "config,c", po::value(&config), "read settings from this INI file (flags override it)");
  auto settings = settings_options(s);
  po::options_description all;
  all.add(general).add(settings);
  po::variables_map vm;
  MinionOptions options;
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);  // first stored wins: flags
    if (vm.count("config")) {
      std::ifstream file(vm["config"].as<std::string>());
      if (!file) throw po::error("cannot read config file " + vm["config"].as<std::string>());
      po::store(po::parse_config_file(file, settings), vm);
    }
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << all << "\n";
      return 0;
    }
    if (vm.count("version")) {
      std::cout << "warren-minion " << warren::kVersionString << "\n";
      return 0;
    }
    if (s.id.empty()) s.id = host_name();
    if (!valid_minion_id(s.id)) throw po::error("minion id '" + s.id + "' must be 1-200 characters of [A-Za-z0-9._-]");
    if (!s.allow_remote && !is_local_endpoint(s.endpoint))
      throw po::error("endpoint " + s.endpoint +
                      " is not on this machine: set allow-remote (with CURVE keys, or only on a network you trust) "
                      "only on a network you trust (docs/remote-execution.md)");
    if (s.curve_server_key.empty() != s.curve_key.empty())
      throw po::error("curve-server-key and curve-key go together");
    if (!s.curve_key.empty()) options.connection.curve = warren::CurveClientOptions::from_files(s.curve_server_key, s.curve_key);
    options.endpoint = s.endpoint;
    options.id = s.id;
    options.grains = collect_grains(s.id, s.grains);
    options.workers = s.workers;
    options.announce_interval = std::chrono::milliseconds(std::max<std::uint32_t>(s.announce_interval_ms, 100));
    options.command.enabled = s.cmd_enabled;
    options.command.allowlist = s.cmd_allow;
    options.command.shell = s.cmd_shell;
    options.command.timeout = std::chrono::milliseconds(s.cmd_timeout_ms);
    options.command.max_output = s.cmd_max_output;
  } catch (const std::exception& e) {
    std::cerr << "warren-minion: " << e.what() << "\n";
    return 2;
  }
  std::mutex out_mu;
  if (!s.quiet) {
    options.log = [&out_mu](std::string_view line) {
      std::lock_guard<std::mutex> lk(out_mu);
      std::cout << line << std::endl;
    };
  }
  if (s.cmd_enabled && s.cmd_allow.empty())
    std::cerr << "warren-minion: cmd-enabled without any cmd-allow entry: every command will be refused\n";

  // Signals are taken by this thread with sigwait; every other thread
  // (created after this) has them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // the minion's thread ended by itself
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Minion minion(options);
  int status = 0;
  std::thread runner([&] {
    try {
      minion.run();
    } catch (const std::exception& e) {
      std::cerr << "warren-minion: " << e.what() << "\n";
      status = 1;
    }
    ::kill(::getpid(), SIGUSR1);
  });
  int sig = 0;
  sigwait(&signals, &sig);
  minion.stop();
  runner.join();
  return status;
}
