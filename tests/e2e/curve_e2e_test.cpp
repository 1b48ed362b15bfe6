// CURVE with the real programs: warren-keygen writes the keys, warrend runs
// with them, warrenctl connects, and warren-keys moves a pending key to
// accepted while the broker keeps running. Bad input to each tool gets a
// clear message and its documented exit status.
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "support/broker_fixture.hpp"
#include "support/warrend.hpp"
#include "warren/pubsub.hpp"

namespace warren::testing {
namespace {

using namespace std::chrono_literals;

const std::string kTools = TOOLS_DIR;

struct Result {
  int status;
  std::string out;
};

Result run(std::vector<std::string> args) {
  std::string line;
  for (const auto& a : args) line += a + " ";
  Process p(std::move(args));
  auto status = p.finish();
  if (!status) ADD_FAILURE() << "did not exit within 60 s: " << line << "\noutput so far:\n" << p.output();
  return {status ? *status : -1, p.output()};
}

Result keygen(std::vector<std::string> args) {
  args.insert(args.begin(), kTools + "/warren-keygen");
  return run(std::move(args));
}
Result keys_tool(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {kTools + "/warren-keys", "--keys-dir", dir});
  return run(std::move(args));
}

TEST(WarrenKeygen, WritesAPairOnceWithAPrivateSecret) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  TempDir dir;
  auto r = keygen({"--dir", dir.path.string(), "server"});
  ASSERT_EQ(r.status, 0) << r.out;
  auto key = (dir.path / "server.key").string(), pub = (dir.path / "server.pub").string();
  struct stat st;
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto pair = load_curve_key_pair(key);
  EXPECT_EQ(load_curve_public_key(pub), pair.public_key);
  EXPECT_NE(r.out.find(pair.public_key), std::string::npos) << r.out;
  // Never overwrites: the same name again fails and leaves the files alone.
  EXPECT_EQ(keygen({"--dir", dir.path.string(), "server"}).status, 1);
  EXPECT_EQ(load_curve_key_pair(key).secret_key, pair.secret_key);
  EXPECT_EQ(keygen({"--dir", dir.path.string()}).status, 2);                 // no name
  EXPECT_EQ(keygen({"--dir", dir.path.string(), "../escape"}).status, 2);    // not a name
  EXPECT_EQ(keygen({"--dir", (dir.path / "missing").string(), "x"}).status, 1);
  EXPECT_EQ(keygen({"--bogus"}).status, 2);
  EXPECT_EQ(keygen({"--help"}).status, 0);
}

TEST(WarrenKeys, BadInputGetsItsExitStatus) {
  TempDir dir;
  auto keys = (dir.path / "keys").string();
  EXPECT_EQ(keys_tool(keys, {}).status, 2);                                   // no action
  EXPECT_EQ(keys_tool(keys, {"--list", "--delete", "x"}).status, 2);          // two actions
  EXPECT_EQ(run({kTools + "/warren-keys", "--list"}).status, 2);              // no --keys-dir
  EXPECT_EQ(keys_tool(keys, {"--list"}).status, 1);                           // no such directory
  KeysDirectory(keys).create();
  EXPECT_EQ(keys_tool(keys, {"--list"}).out, "Accepted Keys:\nPending Keys:\nRejected Keys:\n");
  EXPECT_EQ(keys_tool(keys, {"--accept", "nobody", "--user", "x"}).status, 3);
  EXPECT_EQ(keys_tool(keys, {"--reject", "deadbeefdead"}).status, 3);
  EXPECT_EQ(keys_tool(keys, {"--accept", "x", "--user", "bad/name"}).status, 2);
  EXPECT_EQ(keys_tool(keys, {"--reject", "x", "--user", "y"}).status, 2);
  EXPECT_EQ(keys_tool(keys, {"--add", (dir.path / "none.pub").string()}).status, 2);  // no --user
  EXPECT_EQ(keys_tool(keys, {"--help"}).status, 0);
}

// The whole setup of docs/security.md, with the real programs.
TEST(CurveEndToEnd, PendingKeyAcceptedWithWarrenKeysWhileTheBrokerRuns) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  TempDir dir;
  auto d = dir.path.string();
  ASSERT_EQ(keygen({"--dir", d, "server"}).status, 0);
  ASSERT_EQ(keygen({"--dir", d, "dave"}).status, 0);
  auto keys = d + "/keys";
  Warrend broker({"--no-pubsub", "--curve-secret-key", d + "/server.key", "--keys-dir", keys});
  ASSERT_FALSE(broker.endpoint.empty());
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {kTools + "/warrenctl", "--endpoint", broker.endpoint, "--curve-server-key",
                               d + "/server.pub", "--curve-key", d + "/dave.key"});
    return run(std::move(args));
  };
  // Unknown: refused (403 -> exit 4) and recorded as pending.
  EXPECT_EQ(ctl({"status"}).status, 4);
  auto listed = keys_tool(keys, {"--list"});
  auto fingerprint = curve_fingerprint(load_curve_public_key(d + "/dave.pub"));
  EXPECT_NE(listed.out.find("Pending Keys:\n  " + fingerprint), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("from 127.0.0.1"), std::string::npos) << listed.out;
  // A fingerprint needs a user; a prefix with one accepts it.
  EXPECT_EQ(keys_tool(keys, {"--accept", fingerprint}).status, 4);
  auto accepted = keys_tool(keys, {"--accept", fingerprint.substr(0, 12), "--user", "dave"});
  EXPECT_EQ(accepted.status, 0) << accepted.out;
  EXPECT_NE(keys_tool(keys, {"--list"}).out.find("Accepted Keys:\n  dave  "), std::string::npos);
  // Admitted now, no restart; list_connections shows the user.
  auto conns = ctl({"list_connections", "user", "peer"});
  EXPECT_EQ(conns.status, 0) << conns.out;
  EXPECT_EQ(conns.out, "user\tpeer\ndave\t127.0.0.1\n");
  // Without CURVE, or with the wrong server key: refused.
  EXPECT_EQ(run({kTools + "/warrenctl", "--endpoint", broker.endpoint, "status"}).status, 4);
  ASSERT_EQ(keygen({"--dir", d, "impostor"}).status, 0);
  EXPECT_EQ(run({kTools + "/warrenctl", "--endpoint", broker.endpoint, "--curve-server-key", d + "/impostor.pub",
                 "--curve-key", d + "/dave.key", "status"})
                .status,
            4);
  // Half the CURVE flags, or a key file that is not one: usage errors.
  EXPECT_EQ(run({kTools + "/warrenctl", "--endpoint", broker.endpoint, "--curve-key", d + "/dave.key", "status"})
                .status,
            2);
  EXPECT_EQ(run({kTools + "/warrenctl", "--endpoint", broker.endpoint, "--curve-server-key", d + "/server.pub",
                 "--curve-key", d + "/dave.pub", "status"})
                .status,
            2);
  // Rejected: refused again.
  EXPECT_EQ(keys_tool(keys, {"--reject", "dave"}).status, 0);
  EXPECT_EQ(ctl({"status"}).status, 4);
  EXPECT_EQ(keys_tool(keys, {"--reject", "dave"}).status, 3);  // no file named dave any more
  EXPECT_EQ(keys_tool(keys, {"--delete", fingerprint.substr(0, 8)}).status, 0);
  EXPECT_EQ(keys_tool(keys, {"--list"}).out, "Accepted Keys:\nPending Keys:\nRejected Keys:\n");
}

TEST(CurveEndToEnd, WarrendRefusesBadCurveSettings) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  TempDir dir;
  auto d = dir.path.string();
  ASSERT_EQ(keygen({"--dir", d, "server"}).status, 0);
  auto start = [&](std::vector<std::string> extra) {
    std::vector<std::string> a{kWarrendPath, "--endpoint", "tcp://127.0.0.1:*", "--no-pubsub"};
    a.insert(a.end(), extra.begin(), extra.end());
    return run(a).status;
  };
  EXPECT_EQ(start({"--data-dir", "", "--curve-secret-key", d + "/server.key"}), 2);  // nowhere for keys
  EXPECT_EQ(start({"--data-dir", d + "/data", "--curve-secret-key", d + "/server.pub"}), 1);  // no secret
  EXPECT_EQ(start({"--data-dir", d + "/data", "--curve-secret-key", d + "/missing.key"}), 1);
  // The keys directory defaults to <data-dir>/keys.
  Warrend broker({"--no-pubsub", "--data-dir", d + "/data", "--curve-secret-key", d + "/server.key"});
  ASSERT_FALSE(broker.endpoint.empty());
  EXPECT_TRUE(std::filesystem::is_directory(d + "/data/keys/pending"));
}

TEST(CurveEndToEnd, WarrendPubSubUsesTheSameKeys) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  TempDir dir;
  auto d = dir.path.string();
  ASSERT_EQ(keygen({"--dir", d, "server"}).status, 0);
  auto keys = d + "/keys";
  auto client = generate_curve_key_pair();
  KeysDirectory(keys).add(client.public_key, "app");
  Warrend broker({"--curve-secret-key", d + "/server.key", "--keys-dir", keys, "--pubsub-frontend",
                  "tcp://127.0.0.1:*", "--pubsub-backend", "tcp://127.0.0.1:*"});
  ASSERT_FALSE(broker.endpoint.empty());
  auto front = broker.process.wait_for_line("pubsub frontend");
  auto back = broker.process.wait_for_line("pubsub backend");
  ASSERT_TRUE(front && back);
  auto endpoint_in = [](const std::string& line) {
    auto at = line.find("tcp://");
    return line.substr(at, line.find(' ', at) - at);
  };
  CurveClientOptions curve{load_curve_public_key(d + "/server.pub"), client};
  int got = 0;
  Subscriber sub(endpoint_in(*back), [&](const PubSubMessage&) { ++got; }, {.curve = curve});
  sub.subscribe("t");
  Publisher pub(endpoint_in(*front), {.curve = curve});
  auto until = std::chrono::steady_clock::now() + 10s;
  while (got == 0 && std::chrono::steady_clock::now() < until) {
    pub.publish("t", "x");
    sub.process_events(5ms);
  }
  EXPECT_GT(got, 0);
  // A stranger's subscription is refused and recorded.
  Subscriber spy(endpoint_in(*back), [](const PubSubMessage&) {}, {.curve = {curve.server_public_key,
                                                                         generate_curve_key_pair()}});
  EXPECT_TRUE(wait_until([&] { return KeysDirectory(keys).list(KeyState::kPending).size() == 1; }));
}

// Remote execution over CURVE (docs/remote-execution.md, Security): the
// master and a minion connect with keys added by warren-keys, each as its
// own user, and a job goes out and its return comes back; a minion with a
// key the broker never accepted, or a master without CURVE, is refused
// with its documented exit status.
TEST(CurveEndToEnd, RemoteExecutionWithAcceptedKeysOnly) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  const std::string remote = REMOTE_DIR;
  TempDir dir, state;
  auto d = dir.path.string();
  auto keys = d + "/keys";
  for (auto name : {"server", "master", "web1", "intruder"}) ASSERT_EQ(keygen({"--dir", d, name}).status, 0);
  KeysDirectory(keys).create();
  ASSERT_EQ(keys_tool(keys, {"--add", d + "/master.pub", "--user", "master"}).status, 0);
  ASSERT_EQ(keys_tool(keys, {"--add", d + "/web1.pub", "--user", "minion-web1"}).status, 0);
  Warrend broker({"--no-pubsub", "--curve-secret-key", d + "/server.key", "--keys-dir", keys});
  ASSERT_FALSE(broker.endpoint.empty());
  auto curve_flags = [&](const std::string& name) {
    return std::vector<std::string>{"--curve-server-key", d + "/server.pub", "--curve-key", d + "/" + name + ".key"};
  };
  auto minion_args = [&](const std::string& id, const std::string& key) {
    std::vector<std::string> args{remote + "/warren-minion", "--endpoint", broker.endpoint, "--id", id,
                                  "--announce-interval", "500"};
    auto flags = curve_flags(key);
    args.insert(args.end(), flags.begin(), flags.end());
    return args;
  };
  Process minion(minion_args("web1", "web1"));
  ASSERT_TRUE(minion.wait_for_line("minion web1 ready", 30s)) << minion.output();

  std::vector<std::string> master{remote + "/warren-master", "--endpoint", broker.endpoint, "--state-dir",
                                  state.path.string(), "--out", "json"};
  auto with_curve = master;
  auto flags = curve_flags("master");
  with_curve.insert(with_curve.end(), flags.begin(), flags.end());
  with_curve.insert(with_curve.end(), {"web1", "test.echo", "over curve"});
  auto job = run(with_curve);
  ASSERT_EQ(job.status, 0) << job.out;
  EXPECT_NE(job.out.find("\"id\":\"web1\""), std::string::npos) << job.out;
  EXPECT_NE(job.out.find("\"return\":\"over curve\""), std::string::npos) << job.out;
  EXPECT_NE(job.out.find("\"success\":true"), std::string::npos) << job.out;
  // Each connected as the user its key maps to.
  auto ctl = run({kTools + "/warrenctl", "--endpoint", broker.endpoint, "--curve-server-key", d + "/server.pub",
                  "--curve-key", d + "/master.key", "list_connections", "user"});
  EXPECT_EQ(ctl.status, 0) << ctl.out;
  EXPECT_NE(ctl.out.find("\nminion-web1\n"), std::string::npos) << ctl.out;

  // A key nobody accepted: the minion is refused (exit 1) and its key waits
  // as pending; a master without CURVE cannot reach the broker (exit 3).
  auto intruder = run(minion_args("web2", "intruder"));
  EXPECT_EQ(intruder.status, 1) << intruder.out;
  EXPECT_EQ(KeysDirectory(keys).list(KeyState::kPending).size(), 1u);
  auto plain = master;
  plain.insert(plain.end(), {"web1", "test.ping"});
  EXPECT_EQ(run(plain).status, 3);
  // The accepted minion was not disturbed: it still answers.
  auto again = run(with_curve);
  EXPECT_EQ(again.status, 0) << again.out;
}

}  // namespace
}  // namespace warren::testing
