// The device loop: one poll over the frontend, the backend and an eventfd
// that pause(), resume() and stop() write to. Each direction moves whole
// multipart messages, and only while the receiving socket can take one, so
// a PUSH or DEALER backend without room holds messages back in ZeroMQ's
// queues instead of dropping them.
#include "warren/forwarder.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <zmq.hpp>

#include "warren/context.hpp"
#include "warren/errors.hpp"

namespace warren {

const char* device_kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kForwarder: return "forwarder";
    case DeviceKind::kStreamer: return "streamer";
    case DeviceKind::kQueue: return "queue";
  }
  return "unknown";
}

namespace detail {

namespace {

constexpr int kBatch = 1024;  // messages per direction before polling again

std::pair<zmq::socket_type, zmq::socket_type> socket_types(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kStreamer: return {zmq::socket_type::pull, zmq::socket_type::push};
    case DeviceKind::kQueue: return {zmq::socket_type::router, zmq::socket_type::dealer};
    case DeviceKind::kForwarder: break;
  }
  return {zmq::socket_type::xsub, zmq::socket_type::xpub};
}

void bind_socket(zmq::socket_t& socket, const std::string& endpoint, std::string& bound) {
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    throw Error(ReplyCode::kResourceError, "cannot bind " + endpoint + ": " + e.what());
  }
  bound = socket.get(zmq::sockopt::last_endpoint);
}

bool writable(zmq::socket_t& socket) {
  return (socket.get(zmq::sockopt::events) & ZMQ_POLLOUT) != 0;
}

}  // namespace

// Counters kept by the loop thread in plain integers and published to
// atomics once per batch, so stats() is cheap and the loop pays no lock.
struct Counters {
  std::uint64_t messages_in = 0, bytes_in = 0, messages_out = 0, bytes_out = 0, dropped = 0,
                upstream = 0;
};

class ForwarderCore {
 public:
  explicit ForwarderCore(ForwarderOptions options)
      : options_(std::move(options)),
        context_(options_.context ? *options_.context : default_context()),
        frontend_(context_, socket_types(options_.device).first),
        backend_(context_, socket_types(options_.device).second) {
    frontend_.set(zmq::sockopt::linger, 0);
    backend_.set(zmq::sockopt::linger, 0);
    frontend_.set(zmq::sockopt::rcvhwm, options_.rcvhwm);
    frontend_.set(zmq::sockopt::sndhwm, options_.rcvhwm);
    backend_.set(zmq::sockopt::sndhwm, options_.sndhwm);
    backend_.set(zmq::sockopt::rcvhwm, options_.sndhwm);
    if (options_.device == DeviceKind::kQueue) frontend_.set(zmq::sockopt::router_mandatory, 1);
    if (options_.curve.enabled()) {
      curve_ = std::make_unique<CurveServer>(context_, options_.curve);
      curve_->apply(frontend_);
      curve_->apply(backend_);
    }
    bind_socket(frontend_, options_.frontend, frontend_endpoint_);
    bind_socket(backend_, options_.backend, backend_endpoint_);
    wakeup_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeup_fd_ < 0) throw Error(ReplyCode::kInternalError, "eventfd failed");
  }
  ~ForwarderCore() { ::close(wakeup_fd_); }

  void run() {
    // A streamer's PUSH backend never receives: only one direction exists.
    const bool two_way = options_.device != DeviceKind::kStreamer;
    while (!stop_.load()) {
      const bool paused = paused_.load();
      // Forward a direction while its destination can take a message;
      // otherwise wait for the destination to have room.
      const bool down = !paused && (!waits_for_room() || writable(backend_));
      const bool up = !paused && two_way && (!waits_for_room() || writable(frontend_));
      short front_events = 0, back_events = 0;
      if (!paused) {
        front_events = static_cast<short>((down ? ZMQ_POLLIN : 0) |
                                          (two_way && !up ? ZMQ_POLLOUT : 0));
        back_events = static_cast<short>((up ? ZMQ_POLLIN : 0) | (!down ? ZMQ_POLLOUT : 0));
      }
      std::array<zmq::pollitem_t, 3> items{{
          {nullptr, wakeup_fd_, ZMQ_POLLIN, 0},
          {frontend_.handle(), 0, front_events, 0},
          {backend_.handle(), 0, back_events, 0},
      }};
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(-1));
      if (items[0].revents & ZMQ_POLLIN) {
        std::uint64_t value;
        [[maybe_unused]] auto n = ::read(wakeup_fd_, &value, sizeof value);
        continue;
      }
      if (items[1].revents & ZMQ_POLLIN) move(frontend_, backend_, false);
      if (items[2].revents & ZMQ_POLLIN) move(backend_, frontend_, true);
      publish();
    }
    publish();
  }

  void wake() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakeup_fd_, &one, sizeof one);
  }

  ForwarderStats stats() const {
    return {stats_.messages_in.load(), stats_.bytes_in.load(), stats_.messages_out.load(),
            stats_.bytes_out.load(),   stats_.dropped.load(),  stats_.upstream.load()};
  }

  const ForwarderOptions& options() const { return options_; }
  const std::string& frontend_endpoint() const { return frontend_endpoint_; }
  const std::string& backend_endpoint() const { return backend_endpoint_; }

  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};

 private:
  // XPUB and XSUB never refuse a send (at the high-water mark they drop), so
  // a forwarder need not ask for room: asking costs a poll(2) and a
  // getpid(2) inside libzmq per message. A streamer's and a queue's sockets
  // do refuse, and they must not drop.
  bool waits_for_room() const { return options_.device != DeviceKind::kForwarder; }

  // Moves up to kBatch whole messages from `from` to `to`.
  void move(zmq::socket_t& from, zmq::socket_t& to, bool upstream) {
    for (int i = 0; i < kBatch; ++i) {
      if (i > 0 && waits_for_room() && !writable(to)) return;
      if (!from.recv(part_, zmq::recv_flags::dontwait)) return;
      std::uint64_t bytes = 0;
      bool sending = true;
      for (;;) {
        const bool more = part_.more();
        const std::size_t size = part_.size();
        bytes += size;
        if (sending) {
          try {
            sending = to.send(part_, more ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                          : zmq::send_flags::dontwait)
                          .has_value();
          } catch (const zmq::error_t& e) {
            if (e.num() != EHOSTUNREACH) throw;
            sending = false;  // a kQueue reply for a client that has gone
          }
        }
        if (!more) break;
        (void)from.recv(part_, zmq::recv_flags::none);
      }
      if (upstream) {
        ++local_.upstream;
        if (!sending) ++local_.dropped;
        continue;
      }
      ++local_.messages_in;
      local_.bytes_in += bytes;
      if (sending) {
        ++local_.messages_out;
        local_.bytes_out += bytes;
      } else {
        ++local_.dropped;
      }
    }
  }

  void publish() {
    stats_.messages_in.store(local_.messages_in, std::memory_order_relaxed);
    stats_.bytes_in.store(local_.bytes_in, std::memory_order_relaxed);
    stats_.messages_out.store(local_.messages_out, std::memory_order_relaxed);
    stats_.bytes_out.store(local_.bytes_out, std::memory_order_relaxed);
    stats_.dropped.store(local_.dropped, std::memory_order_relaxed);
    stats_.upstream.store(local_.upstream, std::memory_order_relaxed);
  }

  ForwarderOptions options_;
  zmq::context_t& context_;
  std::unique_ptr<CurveServer> curve_;  // outlives the sockets: their ZAP policy
  zmq::socket_t frontend_;
  zmq::socket_t backend_;
  std::string frontend_endpoint_;
  std::string backend_endpoint_;
  int wakeup_fd_ = -1;
  zmq::message_t part_;
  Counters local_;
  struct {
    std::atomic<std::uint64_t> messages_in{0}, bytes_in{0}, messages_out{0}, bytes_out{0},
        dropped{0}, upstream{0};
  } stats_;
};

}  // namespace detail

Forwarder::Forwarder(ForwarderOptions options)
    : core_(std::make_unique<detail::ForwarderCore>(std::move(options))) {}

Forwarder::~Forwarder() {
  stop();
  join();
}

const std::string& Forwarder::frontend_endpoint() const { return core_->frontend_endpoint(); }
const std::string& Forwarder::backend_endpoint() const { return core_->backend_endpoint(); }
DeviceKind Forwarder::device() const { return core_->options().device; }

void Forwarder::start() {
  thread_ = std::thread([this] { core_->run(); });
}

void Forwarder::run() { core_->run(); }

void Forwarder::pause() noexcept {
  core_->paused_.store(true);
  core_->wake();
}

void Forwarder::resume() noexcept {
  core_->paused_.store(false);
  core_->wake();
}

void Forwarder::stop() noexcept {
  core_->stop_.store(true);
  core_->wake();
}

void Forwarder::join() {
  if (thread_.joinable()) thread_.join();
}

ForwarderStats Forwarder::stats() const { return core_->stats(); }

}  // namespace warren
