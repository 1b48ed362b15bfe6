// Errors: AMQP reply codes and the exceptions the client throws.
// Every exception derived from warren::Error carries a reply code and text.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace warren {

enum class ReplyCode : std::uint16_t {
  kSuccess = 200,
  kContentTooLarge = 311,
  kNoRoute = 312,
  kNoConsumers = 313,
  kConnectionForced = 320,
  kInvalidPath = 402,
  kAccessRefused = 403,
  kNotFound = 404,
  kResourceLocked = 405,
  kPreconditionFailed = 406,
  kFrameError = 501,
  kSyntaxError = 502,
  kCommandInvalid = 503,
  kChannelError = 504,
  kUnexpectedFrame = 505,
  kResourceError = 506,
  kNotAllowed = 530,
  kNotImplemented = 540,
  kInternalError = 541,
};

// "NOT_FOUND" for 404, and so on; "UNKNOWN" for codes not in the table.
std::string_view reply_code_name(ReplyCode code);

// True for codes that AMQP defines as connection-level (hard) errors.
bool is_connection_error(ReplyCode code);

class Error : public std::runtime_error {
 public:
  Error(ReplyCode code, std::string text);
  ReplyCode code() const { return code_; }
  // The reply text without the "404 NOT_FOUND - " prefix that what() carries.
  const std::string& text() const { return text_; }

 private:
  ReplyCode code_;
  std::string text_;
};

// The broker closed a channel (or the client used one that is closed).
class ChannelError : public Error {
 public:
  using Error::Error;
};

// The connection is closed: by the broker, by the client, or found dead.
class ConnectionError : public Error {
 public:
  using Error::Error;
};

// The broker went away (missed heartbeats, shut down, restarted) or the
// socket failed. With ConnectionOptions::automatic_recovery the connection
// reconnects by itself: run()/process_events() keep retrying without
// throwing, while other calls made before it is back throw this.
class ConnectionLost : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

// A synchronous method got no reply in time.
class TimeoutError : public Error {
 public:
  explicit TimeoutError(std::string text) : Error(ReplyCode::kConnectionForced, std::move(text)) {}
};

// A header frame could not be decoded; carries 501 FRAME_ERROR or the code
// the decoder chose (540 for an unknown opcode or version).
class ProtocolError : public Error {
 public:
  using Error::Error;
};

}  // namespace warren
