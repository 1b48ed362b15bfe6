// The ZAP handler (ZeroMQ RFC 27) behind CurveServer: one REP socket on
// inproc://zeromq.zap.01 per ZeroMQ context, on a thread of its own, that
// answers each CURVE handshake from the keys directory of the CurveServer
// owning the request's domain.
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include <zmq.hpp>

#include "warren/curve.hpp"
#include "warren/errors.hpp"
#include "warren/keys.hpp"

namespace warren {
namespace detail {

namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

struct Policy {
  KeysDirectory keys;
  std::function<void(bool, std::string_view)> log;
};

struct Decision {
  std::string status;  // "200" or "400"
  std::string text;
  std::string user;
};

Decision decide(const Policy& policy, const std::string& mechanism, const std::string& address,
                const std::string& credential) {
  if (mechanism != "CURVE") return {"400", "mechanism " + mechanism + " is not allowed", {}};
  if (credential.size() != 32) return {"400", "malformed CURVE credential", {}};
  char z85[41];
  if (!zmq_z85_encode(z85, reinterpret_cast<const std::uint8_t*>(credential.data()), 32))
    return {"400", "malformed CURVE credential", {}};
  std::string key(z85);
  try {
    auto verdict = policy.keys.check(key);
    switch (verdict.kind) {
      case KeyVerdict::Kind::kAccepted: return {"200", "OK", verdict.user};
      case KeyVerdict::Kind::kUnknown:
        if (!policy.keys.record_pending(key, address))
          return {"400", "unknown key, not recorded: pending/ is full (" + curve_fingerprint(key) + ")", {}};
        return {"400", "unknown key, recorded as pending/" + curve_fingerprint(key), {}};
      case KeyVerdict::Kind::kPending:
        policy.keys.record_pending(key, address);
        return {"400", verdict.text, {}};
      default: return {"400", verdict.text, {}};
    }
  } catch (const std::exception& e) {
    return {"400", std::string("keys directory: ") + e.what(), {}};
  }
}

}  // namespace

// The handler of one context, shared by every CurveServer on it.
class ZapService {
 public:
  explicit ZapService(zmq::context_t& context) : socket_(context, zmq::socket_type::rep) {
    socket_.set(zmq::sockopt::linger, 0);
    try {
      socket_.bind(kZapEndpoint);
    } catch (const zmq::error_t& e) {
      throw Error(ReplyCode::kResourceError,
                  std::string("cannot start the ZAP handler: ") + kZapEndpoint + " is taken (" + e.what() +
                      "); another ZAP handler runs on this ZeroMQ context");
    }
    wakeup_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeup_fd_ < 0) throw Error(ReplyCode::kInternalError, "eventfd failed");
    thread_ = std::thread([this] { run(); });
  }
  ~ZapService() {
    stop_.store(true);
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wakeup_fd_, &one, sizeof one);
    thread_.join();
    ::close(wakeup_fd_);
  }

  void add(const std::string& domain, std::shared_ptr<const Policy> policy) {
    std::lock_guard lk(mu_);
    policies_[domain] = std::move(policy);
  }
  // Returns true when no domain is left. Waits for a request of `domain`
  // being answered, so its policy (and the log callback's owner) is no
  // longer used once this returns.
  bool remove(const std::string& domain) {
    std::unique_lock lk(mu_);
    policies_.erase(domain);
    idle_.wait(lk, [&] { return busy_domain_ != domain; });
    return policies_.empty();
  }

 private:
  void run() {
    while (!stop_.load()) {
      zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, wakeup_fd_, ZMQ_POLLIN, 0}};
      try {
        zmq::poll(items, 2, std::chrono::milliseconds(-1));
        if (items[0].revents & ZMQ_POLLIN) answer();
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) return;
      }
    }
  }

  // One request: version, request id, domain, address, identity, mechanism,
  // credentials... (RFC 27). Always answered, so no handshake hangs.
  void answer() {
    std::vector<zmq::message_t> frames;
    for (bool more = true; more;) {
      zmq::message_t part;
      (void)socket_.recv(part, zmq::recv_flags::none);
      more = part.more();
      frames.push_back(std::move(part));
    }
    auto frame = [&](std::size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
    std::string domain = frame(2), address = frame(3), mechanism = frame(5);
    std::shared_ptr<const Policy> policy;
    {
      std::lock_guard lk(mu_);
      if (auto it = policies_.find(domain); it != policies_.end()) {
        policy = it->second;
        busy_domain_ = domain;
      }
    }
    struct Done {
      ZapService* service;
      ~Done() {
        {
          std::lock_guard lk(service->mu_);
          service->busy_domain_.clear();
        }
        service->idle_.notify_all();
      }
    } done{this};
    Decision d;
    if (frame(0) != "1.0" || frames.size() < 6) d = {"400", "malformed ZAP request", {}};
    else if (!policy) d = {"400", "no CURVE policy for ZAP domain '" + domain + "'", {}};
    else d = decide(*policy, mechanism, address, frame(6));
    if (policy && policy->log)
      policy->log(d.status == "200", (d.status == "200" ? "admitted " + d.user + " from " : "refused a client from ") +
                                         (address.empty() ? std::string("local") : address) + ": " + d.text);
    std::string reply[] = {"1.0", frame(1), d.status, d.text, d.user, ""};
    for (std::size_t i = 0; i < 6; ++i)
      socket_.send(zmq::buffer(reply[i]), i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }

  zmq::socket_t socket_;
  int wakeup_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::string busy_domain_;  // the domain of the request being answered
  std::map<std::string, std::shared_ptr<const Policy>> policies_;
};

namespace {
std::mutex g_services_mu;
std::map<void*, std::shared_ptr<ZapService>> g_services;  // by context handle
std::atomic<std::uint64_t> g_domains{0};
}  // namespace

struct ZapRegistration {
  ZapRegistration(zmq::context_t& context, std::string domain, std::shared_ptr<const Policy> policy)
      : context_handle(context.handle()), domain(std::move(domain)) {
    std::lock_guard lk(g_services_mu);
    auto& service = g_services[context_handle];
    try {
      if (!service) service = std::make_shared<ZapService>(context);
    } catch (...) {
      g_services.erase(context_handle);
      throw;
    }
    service->add(this->domain, std::move(policy));
    this->service = service;
  }
  ~ZapRegistration() {
    std::lock_guard lk(g_services_mu);
    if (service->remove(domain)) {
      g_services.erase(context_handle);
      service.reset();  // the last one: stops the thread and closes the socket
    }
  }
  void* context_handle;
  std::string domain;
  std::shared_ptr<ZapService> service;
};

}  // namespace detail

CurveServer::CurveServer(zmq::context_t& context, CurveServerOptions options) {
  require_curve();
  if (!is_curve_key(options.secret_key))
    throw Error(ReplyCode::kPreconditionFailed, "the server's secret key is not a CURVE key (40 characters of Z85)");
  if (options.keys_dir.empty())
    throw Error(ReplyCode::kPreconditionFailed, "a CURVE server needs a keys directory (accepted client keys)");
  secret_key_ = options.secret_key;
  public_key_ = curve_public_key_of(secret_key_);
  KeysDirectory keys(options.keys_dir);
  keys.create();
  domain_ = "warren-" + std::to_string(::getpid()) + "-" + std::to_string(++detail::g_domains);
  auto policy = std::make_shared<const detail::Policy>(detail::Policy{std::move(keys), std::move(options.log)});
  registration_ = std::make_unique<detail::ZapRegistration>(context, domain_, std::move(policy));
}

CurveServer::~CurveServer() = default;

void CurveServer::apply(zmq::socket_t& socket) const {
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, secret_key_);
  socket.set(zmq::sockopt::zap_domain, domain_);
}

}  // namespace warren
