#include "net/gated_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "net/listen_socket.h"

namespace meshtrust {
namespace {

// How often open connections are re-checked when nothing forces it, and at
// most how often while at a cap.
constexpr auto kSweepEvery = std::chrono::seconds(1);
constexpr auto kSweepAtCapEvery = std::chrono::milliseconds(50);
// How long accept pauses after EMFILE and similar errors.
constexpr int kPauseAfterErrorMs = 100;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string PeerAddress(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof(buf));
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      ::inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof(buf));
    } else {
      ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    }
  }
  return buf;
}

}  // namespace

OpenFilesLimit RaiseOpenFilesLimit() {
  OpenFilesLimit result;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return result;
  result.soft_before = limit.rlim_cur;
  result.hard = limit.rlim_max;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  result.soft = limit.rlim_cur;
  return result;
}

int ConnectionCapForLimit(uint64_t soft_limit, int configured_cap) {
  // Files, the database, keystore entries, gRPC's own event descriptors and
  // the HTTP listeners: an eighth of the limit, at least 64.
  uint64_t reserve = std::max<uint64_t>(64, soft_limit / 8);
  uint64_t room = soft_limit > reserve ? soft_limit - reserve : 1;
  return static_cast<int>(std::min<uint64_t>(room, static_cast<uint64_t>(configured_cap)));
}

absl::StatusOr<std::unique_ptr<GatedListener>> GatedListener::Start(
    const std::string& address, const GatedListenerOptions& options, Handoff handoff) {
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("the connection cap must be at least 1");
  }
  absl::StatusOr<ListeningSocket> socket = OpenListeningSocket(address, 1024);
  if (!socket.ok()) return socket.status();
  std::unique_ptr<GatedListener> listener(new GatedListener(
      socket->fd, socket->port, socket->loopback_host, options, std::move(handoff)));
  if (listener->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  listener->loop_ = std::thread([l = listener.get()] { l->Loop(); });
  return listener;
}

GatedListener::GatedListener(int fd, int port, std::string probe_host, GatedListenerOptions options,
                             Handoff handoff)
    : listen_fd_(fd),
      port_(port),
      probe_host_(std::move(probe_host)),
      options_(options),
      handoff_(std::move(handoff)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      last_sweep_(std::chrono::steady_clock::now()) {
  last_turn_ns_ = NowNs();
}

GatedListener::~GatedListener() {
  Stop();
  ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void GatedListener::Stop() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof(one));
  if (loop_.joinable()) loop_.join();
}

GatedListenerStats GatedListener::stats() const {
  absl::MutexLock lock(&mu_);
  GatedListenerStats s = stats_;
  s.open = static_cast<int>(open_.size());
  return s;
}

std::chrono::steady_clock::time_point GatedListener::last_turn() const {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(last_turn_ns_.load()));
}

void GatedListener::Loop() {
  while (!stopping_.load()) {
    last_turn_ns_ = NowNs();
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, 1000);
    if (stopping_.load()) break;
    if (n < 0 && errno != EINTR) {
      ::poll(nullptr, 0, kPauseAfterErrorMs);
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      if (std::chrono::steady_clock::now() - last_sweep_ >= kSweepEvery) Sweep();
    }
    if (n > 0 && (fds[0].revents & POLLIN) != 0) AcceptOne();
  }
}

void GatedListener::AcceptOne() {
  // Drain what the kernel queued, up to a batch, so a flood cannot starve
  // the periodic sweep.
  for (int i = 0; i < 64 && !stopping_.load(); ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
        return;
      }
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays queued; pause
      // and try again. Never give up on the listener.
      {
        absl::MutexLock lock(&mu_);
        ++stats_.accept_errors;
        Sweep();
      }
      ::poll(nullptr, 0, kPauseAfterErrorMs);
      return;
    }
    std::string address = PeerAddress(peer);
    struct stat st {};
    ::fstat(fd, &st);
    bool admit = false;
    {
      absl::MutexLock lock(&mu_);
      if (AtCap(address) && std::chrono::steady_clock::now() - last_sweep_ >= kSweepAtCapEvery) {
        Sweep();
      }
      if (static_cast<int>(open_.size()) >= options_.max_connections) {
        ++stats_.refused_at_cap;
      } else if (AtCap(address)) {
        ++stats_.refused_peer_cap;
      } else {
        // A descriptor number we still track was closed and reused: the old
        // connection is gone.
        auto old = open_.find(fd);
        if (old != open_.end()) {
          if (--per_peer_[old->second.peer] <= 0) per_peer_.erase(old->second.peer);
          open_.erase(old);
        }
        open_[fd] = Open{st.st_ino, address};
        ++per_peer_[address];
        ++stats_.accepted;
        admit = true;
      }
    }
    if (!admit) {
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    handoff_(fd);
  }
}

bool GatedListener::AtCap(const std::string& peer) const {
  if (static_cast<int>(open_.size()) >= options_.max_connections) return true;
  if (options_.max_connections_per_peer <= 0) return false;
  auto it = per_peer_.find(peer);
  return it != per_peer_.end() && it->second >= options_.max_connections_per_peer;
}

void GatedListener::Sweep() {
  last_sweep_ = std::chrono::steady_clock::now();
  for (auto it = open_.begin(); it != open_.end();) {
    struct stat st {};
    bool same =
        ::fstat(it->first, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == it->second.inode;
    if (same) {
      ++it;
      continue;
    }
    auto peer = per_peer_.find(it->second.peer);
    if (peer != per_peer_.end() && --peer->second <= 0) per_peer_.erase(peer);
    it = open_.erase(it);
  }
}

}  // namespace meshtrust
