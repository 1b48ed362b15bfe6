// KeysDirectory and the key-file helpers: the salt-key model on disk.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"
#include "warren/curve.hpp"
#include "warren/errors.hpp"
#include "warren/keys.hpp"

namespace warren::testing {
namespace {

ReplyCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ReplyCode::kSuccess;
}

class KeysDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
    keys_.create();
  }
  std::string file(KeyState state, const std::string& name) {
    return (tmp_.path / key_state_name(state) / name).string();
  }
  TempDir tmp_;
  KeysDirectory keys_{tmp_.path.string()};
};

TEST(CurveKeys, GeneratedPairsAreValidAndDistinct) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  auto a = generate_curve_key_pair(), b = generate_curve_key_pair();
  EXPECT_TRUE(is_curve_key(a.public_key));
  EXPECT_TRUE(is_curve_key(a.secret_key));
  EXPECT_NE(a.public_key, b.public_key);
  EXPECT_EQ(curve_public_key_of(a.secret_key), a.public_key);
  auto fp = curve_fingerprint(a.public_key);
  EXPECT_EQ(fp.size(), 64u);
  EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_FALSE(is_curve_key("short"));
  EXPECT_FALSE(is_curve_key(std::string(40, ' ')));
  EXPECT_EQ(code_of([] { curve_public_key_of("not a key"); }), ReplyCode::kPreconditionFailed);
}

TEST(CurveKeys, KeyFilesLoadAndBadOnesAreRefused) {
  if (!curve_supported()) GTEST_SKIP() << "libzmq without CURVE";
  TempDir tmp;
  auto k = generate_curve_key_pair(), other = generate_curve_key_pair();
  auto pair = tmp.write("a.key", "# comment\npublic-key = " + k.public_key + "\nsecret-key = " + k.secret_key + "\n");
  auto loaded = load_curve_key_pair(pair);
  EXPECT_EQ(loaded.public_key, k.public_key);
  EXPECT_EQ(loaded.secret_key, k.secret_key);
  EXPECT_EQ(load_curve_public_key(pair), k.public_key);
  // zcert-style quotes and a bare key line are read too.
  EXPECT_EQ(load_curve_public_key(tmp.write("q.pub", "public-key = \"" + k.public_key + "\"\n")), k.public_key);
  EXPECT_EQ(load_curve_public_key(tmp.write("bare", k.public_key + "\n")), k.public_key);
  // Z85 uses '=': a bare key with one is a key, not a `name = value` line.
  CurveKeyPair eq{"?", "?"};
  for (int i = 0; i < 5000 && eq.public_key.find('=') == std::string::npos; ++i) eq = generate_curve_key_pair();
  ASSERT_NE(eq.public_key.find('='), std::string::npos);
  EXPECT_EQ(load_curve_public_key(tmp.write("eq", eq.public_key + "\n")), eq.public_key);
  EXPECT_EQ(code_of([&] { load_curve_key_pair((tmp.path / "missing.key").string()); }), ReplyCode::kNotFound);
  EXPECT_EQ(code_of([&] { load_curve_public_key(tmp.write("empty.pub", "# nothing\n")); }),
            ReplyCode::kPreconditionFailed);
  EXPECT_EQ(code_of([&] { load_curve_key_pair(tmp.write("nosecret.key", "public-key = " + k.public_key + "\n")); }),
            ReplyCode::kPreconditionFailed);
  // A secret key that is not the public key's.
  EXPECT_EQ(code_of([&] {
              load_curve_key_pair(
                  tmp.write("mixed.key", "public-key = " + k.public_key + "\nsecret-key = " + other.secret_key + "\n"));
            }),
            ReplyCode::kPreconditionFailed);
}

TEST(CurveKeys, UserNames) {
  for (const std::string& ok : std::vector<std::string>{"alice", "svc.orders-1", "a_b@c", std::string(64, 'x')})
    EXPECT_TRUE(valid_user_name(ok)) << ok;
  for (const std::string& bad : std::vector<std::string>{"", ".hidden", "a/b", "..", "sp ace", "tab\t", std::string(65, 'x')})
    EXPECT_FALSE(valid_user_name(bad)) << bad;
}

TEST_F(KeysDirectoryTest, CreateMakesPrivateSubdirectories) {
  for (auto s : {KeyState::kAccepted, KeyState::kPending, KeyState::kRejected}) {
    struct stat st;
    ASSERT_EQ(::stat((tmp_.path / key_state_name(s)).c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700u);
  }
}

TEST_F(KeysDirectoryTest, UnknownKeyBecomesPendingThenAccepted) {
  auto k = generate_curve_key_pair();
  EXPECT_EQ(keys_.check(k.public_key).kind, KeyVerdict::Kind::kUnknown);
  ASSERT_TRUE(keys_.record_pending(k.public_key, "10.0.0.7"));
  ASSERT_TRUE(keys_.record_pending(k.public_key, "10.0.0.8"));
  auto fp = curve_fingerprint(k.public_key);
  auto pending = keys_.list(KeyState::kPending);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].name, fp);
  EXPECT_EQ(pending[0].fields["attempts"], "2");
  EXPECT_EQ(pending[0].fields["peer-address"], "10.0.0.8");
  EXPECT_FALSE(pending[0].fields["first-seen"].empty());
  EXPECT_EQ(keys_.check(k.public_key).kind, KeyVerdict::Kind::kPending);

  // A fingerprint needs a user name; a prefix finds the key.
  EXPECT_EQ(code_of([&] { keys_.accept(fp, ""); }), ReplyCode::kPreconditionFailed);
  EXPECT_EQ(code_of([&] { keys_.accept(fp.substr(0, 10), "bad/name"); }), ReplyCode::kPreconditionFailed);
  auto accepted = keys_.accept(fp.substr(0, 10), "alice");
  EXPECT_EQ(accepted.state, KeyState::kAccepted);
  EXPECT_EQ(accepted.name, "alice");
  auto v = keys_.check(k.public_key);
  EXPECT_EQ(v.kind, KeyVerdict::Kind::kAccepted);
  EXPECT_EQ(v.user, "alice");
  EXPECT_TRUE(keys_.list(KeyState::kPending).empty());
  EXPECT_EQ(code_of([&] { keys_.accept("alice", "alice2"); }), ReplyCode::kPreconditionFailed);  // already
}

TEST_F(KeysDirectoryTest, RejectWinsAndRemembersTheUser) {
  auto k = generate_curve_key_pair();
  keys_.add(k.public_key, "bob");
  auto rejected = keys_.reject("bob");
  EXPECT_EQ(rejected.state, KeyState::kRejected);
  EXPECT_EQ(rejected.name, curve_fingerprint(k.public_key));
  EXPECT_EQ(rejected.fields["user"], "bob");
  EXPECT_EQ(keys_.check(k.public_key).kind, KeyVerdict::Kind::kRejected);
  EXPECT_EQ(code_of([&] { keys_.reject(rejected.name); }), ReplyCode::kPreconditionFailed);
  // Rejected wins over a copy left in accepted/.
  std::ofstream(file(KeyState::kAccepted, "bob-copy")) << k.public_key << "\n";
  EXPECT_EQ(keys_.check(k.public_key).kind, KeyVerdict::Kind::kRejected);
  std::filesystem::remove(file(KeyState::kAccepted, "bob-copy"));
  // Accepting it again without --user brings back its old user name.
  EXPECT_EQ(keys_.accept(rejected.name, "").name, "bob");
  EXPECT_EQ(keys_.check(k.public_key).user, "bob");
}

TEST_F(KeysDirectoryTest, HandWrittenFilesAndConflicts) {
  auto k = generate_curve_key_pair(), other = generate_curve_key_pair();
  // An operator may drop NAME.pub (or a bare key) into accepted/.
  std::ofstream(file(KeyState::kAccepted, "carol")) << "# carol's laptop\npublic-key = " << k.public_key << "\n";
  std::ofstream(file(KeyState::kAccepted, ".tmp-ignored")) << other.public_key << "\n";
  std::ofstream(file(KeyState::kAccepted, "garbage")) << "not a key\n";
  EXPECT_EQ(keys_.check(k.public_key).user, "carol");
  EXPECT_EQ(keys_.check(other.public_key).kind, KeyVerdict::Kind::kUnknown);
  EXPECT_EQ(keys_.list(KeyState::kAccepted).size(), 1u);
  // The same key under two names is refused rather than guessed.
  std::ofstream(file(KeyState::kAccepted, "carol2")) << k.public_key << "\n";
  EXPECT_EQ(keys_.check(k.public_key).kind, KeyVerdict::Kind::kConflict);
  // add() refuses a key already accepted and a user already taken.
  EXPECT_EQ(code_of([&] { keys_.add(k.public_key, "dave"); }), ReplyCode::kPreconditionFailed);
  EXPECT_EQ(code_of([&] { keys_.add(other.public_key, "carol"); }), ReplyCode::kPreconditionFailed);
  EXPECT_EQ(code_of([&] { keys_.add("nonsense", "erin"); }), ReplyCode::kPreconditionFailed);
}

TEST_F(KeysDirectoryTest, FindAndRemove) {
  EXPECT_EQ(code_of([&] { keys_.find("nobody"); }), ReplyCode::kNotFound);
  EXPECT_EQ(code_of([&] { keys_.find("../../etc/passwd"); }), ReplyCode::kNotFound);
  EXPECT_EQ(code_of([&] { keys_.find(""); }), ReplyCode::kPreconditionFailed);
  auto k = generate_curve_key_pair();
  keys_.record_pending(k.public_key, "");
  auto removed = keys_.remove(curve_fingerprint(k.public_key).substr(0, 8));
  EXPECT_EQ(removed.state, KeyState::kPending);
  EXPECT_EQ(removed.fields["peer-address"], "local");
  EXPECT_TRUE(keys_.list().empty());
}

TEST_F(KeysDirectoryTest, PendingIsBounded) {
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(keys_.record_pending(generate_curve_key_pair().public_key, "x", 3));
  EXPECT_FALSE(keys_.record_pending(generate_curve_key_pair().public_key, "x", 3));
  EXPECT_EQ(keys_.list(KeyState::kPending).size(), 3u);
}

}  // namespace
}  // namespace warren::testing
