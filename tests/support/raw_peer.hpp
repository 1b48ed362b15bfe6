// RawPeer: a bare ZeroMQ DEALER that talks to a broker frame by frame, for
// tests that send what no well-behaved client would. Every receive has a
// deadline (rcvtimeo); nothing here sleeps.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>
#include <zmq.hpp>

#include "warren/errors.hpp"
#include "warren/protocol.hpp"

namespace warren::testing {

// One ZeroMQ multipart message: header frame, then the body frame if any.
using Frames = std::vector<std::string>;

// The body of a content command decoded from frames[0]: the body frame, or
// the bytes inline after the properties when it came as one frame.
inline std::string body_of(const Frames& frames, const protocol::Command& command) {
  return frames.size() == 2 ? frames[1] : std::string(command.inline_body);
}

// A command the broker sent, decoded, with its properties copied out.
struct Received {
  std::uint16_t channel = 0;
  protocol::Method method;
  std::string properties;
  std::size_t frames = 0;
  std::string body;  // content commands: see body_of
};

// What a test expects the broker to answer. `code` applies to
// connection.close and channel.close only.
struct Expect {
  protocol::Opcode opcode;
  std::uint16_t channel = 0;
  std::optional<ReplyCode> code{};
};

inline Expect connection_close(ReplyCode code) {
  return {protocol::Opcode::kConnectionClose, 0, code};
}
inline Expect channel_close(std::uint16_t channel, ReplyCode code) {
  return {protocol::Opcode::kChannelClose, channel, code};
}
inline Expect reply(protocol::Opcode opcode, std::uint16_t channel) { return {opcode, channel}; }

inline std::string describe(const Received& r) {
  std::string text = std::string(protocol::name_of(protocol::opcode_of(r.method))) +
                     " on channel " + std::to_string(r.channel);
  if (auto* c = std::get_if<protocol::ConnectionClose>(&r.method))
    text += " (" + std::to_string(c->reply_code) + " " + c->reply_text + ")";
  if (auto* c = std::get_if<protocol::ChannelClose>(&r.method))
    text += " (" + std::to_string(c->reply_code) + " " + c->reply_text + ")";
  return text;
}

// Compares a received command (nullopt: nothing arrived in time) with `want`.
inline ::testing::AssertionResult matches(const std::optional<Received>& got, const Expect& want) {
  std::string wanted =
      std::string(protocol::name_of(want.opcode)) + " on channel " + std::to_string(want.channel);
  if (want.code) wanted += " with code " + std::to_string(static_cast<int>(*want.code));
  if (!got)
    return ::testing::AssertionFailure() << "expected " << wanted << ", got no reply in time";
  bool ok = protocol::opcode_of(got->method) == want.opcode && got->channel == want.channel;
  if (ok && want.code) {
    std::uint16_t code = 0;
    std::string text;
    if (auto* c = std::get_if<protocol::ConnectionClose>(&got->method)) {
      code = c->reply_code;
      text = c->reply_text;
    } else if (auto* c = std::get_if<protocol::ChannelClose>(&got->method)) {
      code = c->reply_code;
      text = c->reply_text;
    }
    ok = code == static_cast<std::uint16_t>(*want.code) && !text.empty();
  }
  if (!ok)
    return ::testing::AssertionFailure() << "expected " << wanted << ", got " << describe(*got);
  return ::testing::AssertionSuccess();
}

class RawPeer {
 public:
  // Connects a fresh DEALER to `endpoint`. Receives give up after `timeout`.
  RawPeer(zmq::context_t& context, const std::string& endpoint,
          std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : RawPeer(context, endpoint, std::string_view(), timeout) {}
  // The same with a chosen routing id (ZMQ_ROUTING_ID); empty: ZeroMQ's own.
  RawPeer(zmq::context_t& context, const std::string& endpoint, std::string_view routing_id,
          std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    if (!routing_id.empty()) socket_.set(zmq::sockopt::routing_id, zmq::buffer(routing_id.data(), routing_id.size()));
    set_timeout(timeout);
    socket_.connect(endpoint);
  }

  void set_timeout(std::chrono::milliseconds timeout) {
    socket_.set(zmq::sockopt::rcvtimeo, static_cast<int>(timeout.count()));
  }

  void send(const Frames& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      socket_.send(zmq::buffer(frames[i]), flags);
    }
  }

  // The next multipart message, or nullopt when none arrives in time.
  std::optional<Frames> recv_frames() {
    Frames frames;
    zmq::message_t part;
    if (!socket_.recv(part)) return std::nullopt;
    frames.push_back(part.to_string());
    while (part.more()) {
      if (!socket_.recv(part)) return std::nullopt;
      frames.push_back(part.to_string());
    }
    return frames;
  }

  // The next command other than a heartbeat, or nullopt when none arrives in
  // time. A broker frame that does not decode throws ProtocolError.
  std::optional<Received> recv_command() {
    for (;;) {
      auto frames = recv_frames();
      if (!frames) return std::nullopt;
      auto command = protocol::decode((*frames)[0]);
      if (std::holds_alternative<protocol::Heartbeat>(command.method)) continue;
      return Received{command.channel, std::move(command.method), std::string(command.properties),
                      frames->size(), body_of(*frames, command)};
    }
  }

  ::testing::AssertionResult expect(const Expect& want) { return matches(recv_command(), want); }

  // connection.open with heartbeats off (the broker's proposal then applies).
  ::testing::AssertionResult open() {
    send({protocol::encode(0, protocol::ConnectionOpen{})});
    return expect(reply(protocol::Opcode::kConnectionOpenOk, 0));
  }
  ::testing::AssertionResult open_channel(std::uint16_t channel) {
    send({protocol::encode(channel, protocol::ChannelOpen{})});
    return expect(reply(protocol::Opcode::kChannelOpenOk, channel));
  }
  // A clean connection.close, answered by connection.close_ok.
  ::testing::AssertionResult close() {
    send({protocol::encode(0, protocol::ConnectionClose{200, "bye"})});
    return expect(reply(protocol::Opcode::kConnectionCloseOk, 0));
  }

  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
};

}  // namespace warren::testing
