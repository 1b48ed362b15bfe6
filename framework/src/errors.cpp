#include "warren/errors.hpp"

namespace warren {

std::string_view reply_code_name(ReplyCode code) {
  switch (code) {
    case ReplyCode::kSuccess: return "REPLY_SUCCESS";
    case ReplyCode::kContentTooLarge: return "CONTENT_TOO_LARGE";
    case ReplyCode::kNoRoute: return "NO_ROUTE";
    case ReplyCode::kNoConsumers: return "NO_CONSUMERS";
    case ReplyCode::kConnectionForced: return "CONNECTION_FORCED";
    case ReplyCode::kInvalidPath: return "INVALID_PATH";
    case ReplyCode::kAccessRefused: return "ACCESS_REFUSED";
    case ReplyCode::kNotFound: return "NOT_FOUND";
    case ReplyCode::kResourceLocked: return "RESOURCE_LOCKED";
    case ReplyCode::kPreconditionFailed: return "PRECONDITION_FAILED";
    case ReplyCode::kFrameError: return "FRAME_ERROR";
    case ReplyCode::kSyntaxError: return "SYNTAX_ERROR";
    case ReplyCode::kCommandInvalid: return "COMMAND_INVALID";
    case ReplyCode::kChannelError: return "CHANNEL_ERROR";
    case ReplyCode::kUnexpectedFrame: return "UNEXPECTED_FRAME";
    case ReplyCode::kResourceError: return "RESOURCE_ERROR";
    case ReplyCode::kNotAllowed: return "NOT_ALLOWED";
    case ReplyCode::kNotImplemented: return "NOT_IMPLEMENTED";
    case ReplyCode::kInternalError: return "INTERNAL_ERROR";
  }
  return "UNKNOWN";
}

bool is_connection_error(ReplyCode code) {
  switch (code) {
    case ReplyCode::kConnectionForced:
    case ReplyCode::kInvalidPath:
    case ReplyCode::kFrameError:
    case ReplyCode::kSyntaxError:
    case ReplyCode::kCommandInvalid:
    case ReplyCode::kChannelError:
    case ReplyCode::kUnexpectedFrame:
    case ReplyCode::kResourceError:
    case ReplyCode::kNotImplemented:
    case ReplyCode::kInternalError: return true;
    default: return false;
  }
}

namespace {
std::string describe(ReplyCode code, const std::string& text) {
  return std::to_string(static_cast<int>(code)) + " " + std::string(reply_code_name(code)) + " - " +
         text;
}
}  // namespace

Error::Error(ReplyCode code, std::string text)
    : std::runtime_error(describe(code, text)), code_(code), text_(std::move(text)) {}

}  // namespace warren
