// CURVE: ZeroMQ's authenticated encryption (CurveZMQ, libsodium) for the
// broker, the forwarder and their clients. See docs/security.md.
//
// Keys are Z85 text, 40 characters each (32 bytes). A key pair is written
// by warren-keygen as NAME.key (both keys, mode 0600) and NAME.pub (the
// public key only); the formats are in docs/security.md.
//
// A server (CurveServer) admits a client only when the ZAP handler finds
// the client's public key in accepted/ of its keys directory (KeysDirectory,
// warren/keys.hpp); the file's name is the user the connection acts as.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace warren {

// True when the libzmq in use was built with CURVE (zmq_has("curve")).
bool curve_supported();
// Throws warren::Error (540 NOT_IMPLEMENTED) naming the problem when it is not.
void require_curve();

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// A fresh key pair. Throws 540 when CURVE is not supported.
CurveKeyPair generate_curve_key_pair();
// The public key belonging to `secret_key`. Throws 406 for a malformed key.
std::string curve_public_key_of(std::string_view secret_key);
// True for a well-formed Z85 key (40 characters of the Z85 alphabet).
bool is_curve_key(std::string_view key);
// The key's 32 bytes as 64 lowercase hex digits: the name under which
// pending/ and rejected/ keep it. REQUIRES: is_curve_key(public_key).
std::string curve_fingerprint(std::string_view public_key);

// Key files. Each throws warren::Error: 404 NOT_FOUND when the file cannot
// be read, 406 PRECONDITION_FAILED when it holds no valid key (or, for a
// key pair, a secret key that does not match its public key).
CurveKeyPair load_curve_key_pair(const std::string& path);   // NAME.key
std::string load_curve_public_key(const std::string& path);  // NAME.pub (or NAME.key, or accepted/USER)

// The client side of a CURVE connection (Connection, Publisher, Subscriber,
// warren-master/minion). Empty server_public_key: plaintext (no CURVE).
struct CurveClientOptions {
  std::string server_public_key;  // the server's public key, Z85
  CurveKeyPair client;            // this client's key pair, Z85

  bool enabled() const { return !server_public_key.empty(); }
  // server.pub (as warren-keygen writes it) and the client's NAME.key.
  static CurveClientOptions from_files(const std::string& server_public_key_file,
                                       const std::string& client_key_file);
};

// Makes `socket` a CURVE client with these keys. REQUIRES: before connect.
// Throws 406 for malformed keys, 540 when CURVE is not supported.
void apply_curve_client(zmq::socket_t& socket, const CurveClientOptions& options);

// The server side. Empty secret_key: plaintext (no CURVE).
struct CurveServerOptions {
  std::string secret_key;  // the server's secret key, Z85
  // The keys directory (accepted/, pending/, rejected/; docs/security.md).
  // Required with a secret key; created (mode 0700) if missing.
  std::string keys_dir;
  // Told each ZAP decision: admitted (true) or refused, and a line of text.
  // Called on the ZAP handler's thread.
  std::function<void(bool admitted, std::string_view text)> log{};

  bool enabled() const { return !secret_key.empty(); }
};

namespace detail {
struct ZapRegistration;
}

// One CURVE server policy registered with the ZAP handler of a ZeroMQ
// context. Each context has one ZAP handler (the REP socket bound to
// inproc://zeromq.zap.01 that libzmq asks), started by the first
// CurveServer on it and stopped with the last; each CurveServer has its own
// ZAP domain, so brokers and forwarders sharing a context keep their own
// keys directories. A CURVE socket of this context whose domain no
// CurveServer owns is refused (ZAP 400).
//
// The handler reads accepted/ and rejected/ afresh for every handshake, so
// a key accepted or rejected takes effect at the next connection attempt,
// with no restart; connections already open are not re-checked.
//
// Thread rules: construct and apply() on the thread that owns the sockets;
// the context must outlive the CurveServer.
class CurveServer {
 public:
  // Registers the policy. Throws warren::Error: 540 without CURVE support,
  // 406 for a malformed secret key or an empty keys_dir, 506 when the keys
  // directory cannot be created or inproc://zeromq.zap.01 is already bound
  // by a handler that is not warren's.
  CurveServer(zmq::context_t& context, CurveServerOptions options);
  ~CurveServer();
  CurveServer(const CurveServer&) = delete;
  CurveServer& operator=(const CurveServer&) = delete;

  // Makes `socket` a CURVE server under this policy. REQUIRES: before bind.
  void apply(zmq::socket_t& socket) const;
  const std::string& public_key() const { return public_key_; }

 private:
  std::string secret_key_;
  std::string public_key_;
  std::string domain_;
  std::unique_ptr<detail::ZapRegistration> registration_;
};

}  // namespace warren
