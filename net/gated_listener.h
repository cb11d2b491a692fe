// GatedListener: a TCP listening socket whose accept loop we own, so that a
// flood of connections can neither exhaust the process's descriptors nor
// stop accepting for good.
//
// It accepts while fewer than `max_connections` (and fewer than
// `max_connections_per_peer` from one address) of the connections it handed
// off are still open, and closes the excess at once. It learns that a
// handed-off connection ended by checking its descriptor (still the same
// socket inode?) rather than by a callback, so the consumer (gRPC's external
// connection acceptor) needs no hook. EMFILE/ENFILE and other transient
// accept errors pause the loop briefly and it tries again; it never stops by
// itself.
#ifndef MESHTRUST_NET_GATED_LISTENER_H_
#define MESHTRUST_NET_GATED_LISTENER_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace meshtrust {

struct GatedListenerOptions {
  int max_connections = 16384;
  int max_connections_per_peer = 512;  // 0: no cap per peer address.
};

struct GatedListenerStats {
  int open = 0;                   // Handed off and still open.
  uint64_t accepted = 0;          // Handed off since start.
  uint64_t refused_at_cap = 0;    // Closed at once: max_connections reached.
  uint64_t refused_peer_cap = 0;  // Closed at once: the peer's cap reached.
  uint64_t accept_errors = 0;     // accept() failures (EMFILE, ENFILE, ...).
};

// Raises the soft RLIMIT_NOFILE to the hard limit. Returns {soft before,
// hard}; the caller logs both.
struct OpenFilesLimit {
  uint64_t soft_before = 0;
  uint64_t soft = 0;
  uint64_t hard = 0;
};
OpenFilesLimit RaiseOpenFilesLimit();

// The connection cap that leaves `reserve` descriptors of the soft open-files
// limit for files, databases and the other listeners.
int ConnectionCapForLimit(uint64_t soft_limit, int configured_cap);

class GatedListener {
 public:
  // Takes ownership of a connected, non-blocking socket.
  using Handoff = std::function<void(int fd)>;

  // Listens on `address` ("host:port", "[v6]:port"; port 0 picks one).
  static absl::StatusOr<std::unique_ptr<GatedListener>> Start(const std::string& address,
                                                              const GatedListenerOptions& options,
                                                              Handoff handoff);
  ~GatedListener();
  GatedListener(const GatedListener&) = delete;
  GatedListener& operator=(const GatedListener&) = delete;

  int port() const { return port_; }
  // The host part of the listening address, for a loopback probe: a wildcard
  // address is reported as the loopback address of its family.
  const std::string& probe_host() const { return probe_host_; }
  GatedListenerStats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // When the accept loop last went round; a loop that stops turning means
  // nothing new is accepted.
  std::chrono::steady_clock::time_point last_turn() const;
  // Stops accepting and joins the loop. Connections already handed off stay
  // with their owner.
  void Stop();

 private:
  struct Open {
    ino_t inode;
    std::string peer;
  };
  GatedListener(int fd, int port, std::string probe_host, GatedListenerOptions options,
                Handoff handoff);
  void Loop();
  void AcceptOne() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the total cap, or `peer`'s, is reached.
  bool AtCap(const std::string& peer) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the connections whose descriptor no longer names their socket.
  void Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int listen_fd_;
  const int port_;
  const std::string probe_host_;
  const GatedListenerOptions options_;
  const Handoff handoff_;
  int wake_fd_ = -1;  // eventfd that ends poll() on Stop().
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> last_turn_ns_{0};
  std::thread loop_;
  mutable absl::Mutex mu_;
  std::map<int, Open> open_ ABSL_GUARDED_BY(mu_);  // By descriptor.
  std::map<std::string, int> per_peer_ ABSL_GUARDED_BY(mu_);
  GatedListenerStats stats_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_sweep_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrust

#endif  // MESHTRUST_NET_GATED_LISTENER_H_
