// warren-master: sends a job to the minions a target names and prints their
// returns, as `salt` does (docs/remote-execution.md).
//
//   warren-master [options] TARGET FUNCTION [ARGS...]
//   warren-master --list            up and down minions (salt-run manage.status)
//   warren-master --lookup JID      the returns of a recent job (salt-run jobs.lookup_jid)
//   warren-master --forget ID       stop expecting a minion (salt-key -d)
//
// Exit status: 0 every expected minion returned success; 1 a minion failed
// or did not return; 2 usage error, bad target or no minion matched; 3 the
// broker could not be reached.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include <boost/program_options.hpp>

#include "endpoint_check.hpp"
#include "job_store.hpp"
#include "master.hpp"
#include "output.hpp"
#include "warren/curve.hpp"
#include "warren/errors.hpp"
#include "warren/version.hpp"

namespace po = boost::program_options;
using namespace warren::remote;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBroker = 3;

struct Settings {
  std::string endpoint = "tcp://127.0.0.1:5673";
  std::string state_dir;
  double keep_jobs_hours = 24;
  bool allow_remote = false;
  std::string curve_server_key, curve_key;  // CURVE: the broker's NAME.pub, this NAME.key
};

po::options_description settings_options(Settings& s) {
  po::options_description d("Settings (flags, or name = value in the --config file)");
  // clang-format off
  d.add_options()
      ("endpoint,e", po::value(&s.endpoint)->default_value(s.endpoint), "the broker (warrend)")
      ("state-dir", po::value(&s.state_dir),
       "the job cache lives here (default: /var/lib/warren/master for root, else "
       "$XDG_STATE_HOME/warren/master or ~/.local/state/warren/master)")
      ("keep-jobs", po::value(&s.keep_jobs_hours)->default_value(s.keep_jobs_hours),
       "hours a job's returns stay available to --lookup")
      ("curve-server-key", po::value(&s.curve_server_key),
       "CURVE: the broker's public key file (NAME.pub; docs/security.md)")
      ("curve-key", po::value(&s.curve_key),
       "CURVE: this master's key pair file (NAME.key from warren-keygen); its key must be accepted by the broker")
      ("allow-remote", po::value(&s.allow_remote)->default_value(false)->implicit_value(true),
       "use a broker on another host (without CURVE jobs travel unauthenticated: see the docs)");
  // clang-format on
  return d;
}

std::string default_state_dir() {
  if (::geteuid() == 0) return "/var/lib/warren/master";
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) return std::string(state) + "/warren/master";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/warren/master";
  return "warren-master-state";
}

int outcome_status(const JobOutcome& o) {
  if (!o.missing.empty()) return kExitFailed;
  for (const auto& r : o.returns)
    if (!r.success) return kExitFailed;
  return kExitOk;
}

void print_missing(const JobOutcome& o, OutputFormat format) {
  for (const auto& id : o.missing) std::cout << format_missing(id, o.job.jid, format) << std::flush;
}

int list_status(warren::Channel& ch, OutputFormat format) {
  auto roster = read_roster(ch);
  std::vector<std::string> up, down;
  auto now = now_ms();
  for (const auto& a : roster) (is_up(a, now) ? up : down).push_back(a.id);
  if (format == OutputFormat::kJson) {
    warren::FieldArray u(up.begin(), up.end()), d(down.begin(), down.end());
    warren::FieldTable t{{"up", u}, {"down", d}};
    std::cout << to_json(t) << "\n";
    return kExitOk;
  }
  std::cout << "down:\n";
  for (const auto& id : down) std::cout << "    - " << id << "\n";
  std::cout << "up:\n";
  for (const auto& id : up) std::cout << "    - " << id << "\n";
  return kExitOk;
}

warren::FieldArray parse_args(const std::vector<std::string>& words) {
  warren::FieldArray args;
  for (const auto& w : words) args.emplace_back(w);
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  std::string config, tgt_type = "glob", out = "text", lookup, forget;
  double timeout_s = 5;
  warren::CurveClientOptions curve;
  std::vector<std::string> positional;
  po::options_description general(
      "warren-master: run a function on the minions a target names\n\n"
      "  warren-master [options] TARGET FUNCTION [ARGS...]\n"
      "  warren-master --list | --lookup JID | --forget ID\n\nOptions");
  // clang-format off
  general.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("config,c", po::value(&config), "read settings from this INI file (flags override it)")
      ("timeout,t", po::value(&timeout_s)->default_value(timeout_s), "seconds to wait for the minions' returns")
      ("tgt-type", po::value(&tgt_type)->default_value(tgt_type), "glob, list, grain or compound")
      (",L", "the target is a list of ids (--tgt-type list)")
      (",G", "the target is a grain key:glob (--tgt-type grain)")
      (",C", "the target is a compound (--tgt-type compound)")
      ("out", po::value(&out)->default_value(out), "text (salt's nested output) or json (one object per line)")
      ("verbose,v", "print the jid before the returns (to stderr)")
      ("list", "show up and down minions (salt-run manage.status)")
      ("lookup", po::value(&lookup), "show the returns of a recent job")
      ("forget", po::value(&forget), "stop expecting this minion (its presence queue is deleted)");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("words", po::value(&positional));
  po::positional_options_description pos;
  pos.add("words", -1);
  auto settings = settings_options(s);
  po::options_description all, visible;
  all.add(general).add(settings).add(hidden);
  visible.add(general).add(settings);
  po::variables_map vm;
  OutputFormat format = OutputFormat::kText;
  TargetType type = TargetType::kGlob;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    if (vm.count("config")) {
      std::ifstream file(vm["config"].as<std::string>());
      if (!file) throw po::error("cannot read config file " + vm["config"].as<std::string>());
      po::store(po::parse_config_file(file, settings), vm);
    }
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << visible << "\n";
      return kExitOk;
    }
    if (vm.count("version")) {
      std::cout << "warren-master " << warren::kVersionString << "\n";
      return kExitOk;
    }
    if (out != "text" && out != "json") throw po::error("--out must be text or json");
    format = out == "json" ? OutputFormat::kJson : OutputFormat::kText;
    if (vm.count("-L")) tgt_type = "list";
    if (vm.count("-G")) tgt_type = "grain";
    if (vm.count("-C")) tgt_type = "compound";
    type = parse_target_type(tgt_type);
    bool action = vm.count("list") || vm.count("lookup") || vm.count("forget");
    if (!action && positional.size() < 2) throw po::error("give a TARGET and a FUNCTION");
    if (!(timeout_s > 0 && timeout_s < 86400)) throw po::error("--timeout must be between 0 and 86400 seconds");
    if (!s.allow_remote && !is_local_endpoint(s.endpoint))
      throw po::error("endpoint " + s.endpoint + " is not on this machine; set allow-remote only on a network "
                      "you trust (docs/remote-execution.md)");
    if (s.state_dir.empty()) s.state_dir = default_state_dir();
    if (s.curve_server_key.empty() != s.curve_key.empty())
      throw po::error("curve-server-key and curve-key go together");
    if (!s.curve_key.empty()) curve = warren::CurveClientOptions::from_files(s.curve_server_key, s.curve_key);
  } catch (const std::exception& e) {
    std::cerr << "warren-master: " << e.what() << "\n(warren-master --help shows the options)\n";
    return kExitUsage;
  }

  if (vm.count("lookup")) {
    try {
      JobStore store(s.state_dir);
      auto o = store.load(lookup);
      if (!o) {
        std::cerr << "warren-master: no job " << lookup << " in " << s.state_dir << " (expired, or never run here)\n";
        return kExitUsage;
      }
      for (const auto& r : o->returns) std::cout << format_return(r, format);
      print_missing(*o, format);
      return outcome_status(*o);
    } catch (const std::exception& e) {
      std::cerr << "warren-master: " << e.what() << "\n";
      return kExitUsage;
    }
  }

  try {
    warren::Connection conn(s.endpoint, {.connect_timeout = std::chrono::seconds(5), .curve = curve});
    auto ch = conn.channel();
    if (vm.count("list")) return list_status(ch, format);
    if (vm.count("forget")) {
      forget_minion(ch, forget);
      std::cout << "forgot " << forget << "\n";
      return kExitOk;
    }
    auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
    std::vector<std::string> words(positional.begin() + 2, positional.end());
    Job job = make_job(positional[0], type, positional[1], parse_args(words), timeout);
    std::vector<std::string> expected;
    try {
      expected = expected_minions(read_roster(ch), job);
    } catch (const TargetError& e) {
      std::cerr << "warren-master: bad target: " << e.what() << "\n";
      return kExitUsage;
    }
    if (expected.empty()) {
      std::cerr << "No minions matched the target. No command was sent, no jid was assigned.\n";
      return kExitUsage;
    }
    if (vm.count("verbose")) std::cerr << "Executing job with jid " << job.jid << "\n";
    auto outcome = run_job(conn, ch, std::move(job), std::move(expected), timeout,
                           [&](const Return& r) { std::cout << format_return(r, format) << std::flush; });
    print_missing(outcome, format);
    try {
      JobStore store(s.state_dir);
      store.save(outcome);
      store.expire(std::chrono::seconds(static_cast<std::int64_t>(s.keep_jobs_hours * 3600)));
    } catch (const std::exception& e) {
      std::cerr << "warren-master: job " << outcome.job.jid << " not kept for --lookup: " << e.what() << "\n";
    }
    return outcome_status(outcome);
  } catch (const warren::ConnectionError& e) {
    std::cerr << "warren-master: cannot reach the broker at " << s.endpoint << ": " << e.what() << "\n";
    return kExitBroker;
  } catch (const std::exception& e) {
    std::cerr << "warren-master: " << e.what() << "\n";
    return kExitFailed;
  }
}
