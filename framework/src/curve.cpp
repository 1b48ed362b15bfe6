// CURVE key helpers and the client side of a CURVE socket.
#include "warren/curve.hpp"

#include <zmq.h>

#include <zmq.hpp>

#include "key_file.hpp"
#include "warren/errors.hpp"

namespace warren {

namespace {

constexpr std::size_t kZ85KeyLength = 40;
constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

void require_key(std::string_view key, std::string_view what) {
  if (!is_curve_key(key))
    throw Error(ReplyCode::kPreconditionFailed,
                std::string(what) + " is not a CURVE key (40 characters of Z85 text expected)");
}

}  // namespace

bool curve_supported() { return zmq_has("curve") != 0; }

void require_curve() {
  if (!curve_supported())
    throw Error(ReplyCode::kNotImplemented,
                "this libzmq was built without CURVE (zmq_has(\"curve\") is false): install a libzmq "
                "built with libsodium (Debian's libzmq5 is)");
}

bool is_curve_key(std::string_view key) {
  return key.size() == kZ85KeyLength && key.find_first_not_of(kZ85Alphabet) == std::string_view::npos;
}

CurveKeyPair generate_curve_key_pair() {
  require_curve();
  char pub[kZ85KeyLength + 1], sec[kZ85KeyLength + 1];
  if (zmq_curve_keypair(pub, sec) != 0)
    throw Error(ReplyCode::kInternalError, std::string("zmq_curve_keypair: ") + zmq_strerror(zmq_errno()));
  return {pub, sec};
}

std::string curve_public_key_of(std::string_view secret_key) {
  require_curve();
  require_key(secret_key, "the secret key");
  std::string sec(secret_key);
  char pub[kZ85KeyLength + 1];
  if (zmq_curve_public(pub, sec.c_str()) != 0)
    throw Error(ReplyCode::kPreconditionFailed, "the secret key is not a valid CURVE key");
  return pub;
}

std::string curve_fingerprint(std::string_view public_key) {
  std::string key(public_key);
  std::uint8_t bytes[32];
  if (!is_curve_key(key) || !zmq_z85_decode(bytes, key.c_str()))
    throw Error(ReplyCode::kPreconditionFailed, "not a CURVE public key");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

namespace {

detail::KeyFields read_key_fields(const std::string& path) {
  auto text = detail::read_small_file(path);
  if (!text) throw Error(ReplyCode::kNotFound, "cannot read key file " + path);
  return detail::parse_key_file(*text);
}

std::string field(const detail::KeyFields& fields, const std::string& name, const std::string& path) {
  auto it = fields.find(name);
  if (it == fields.end() || !is_curve_key(it->second))
    throw Error(ReplyCode::kPreconditionFailed, "key file " + path + " holds no valid " + name);
  return it->second;
}

}  // namespace

CurveKeyPair load_curve_key_pair(const std::string& path) {
  auto fields = read_key_fields(path);
  CurveKeyPair pair{field(fields, "public-key", path), field(fields, "secret-key", path)};
  if (curve_public_key_of(pair.secret_key) != pair.public_key)
    throw Error(ReplyCode::kPreconditionFailed,
                "key file " + path + ": the secret key does not belong to the public key");
  return pair;
}

std::string load_curve_public_key(const std::string& path) {
  return field(read_key_fields(path), "public-key", path);
}

CurveClientOptions CurveClientOptions::from_files(const std::string& server_public_key_file,
                                                  const std::string& client_key_file) {
  return {load_curve_public_key(server_public_key_file), load_curve_key_pair(client_key_file)};
}

void apply_curve_client(zmq::socket_t& socket, const CurveClientOptions& options) {
  if (!options.enabled()) return;
  require_curve();
  require_key(options.server_public_key, "the server's public key");
  require_key(options.client.public_key, "the client's public key");
  require_key(options.client.secret_key, "the client's secret key");
  socket.set(zmq::sockopt::curve_serverkey, options.server_public_key);
  socket.set(zmq::sockopt::curve_publickey, options.client.public_key);
  socket.set(zmq::sockopt::curve_secretkey, options.client.secret_key);
}

}  // namespace warren
