// The product's plain HTTP/1.1 listeners (the CA's public CRL endpoint, the
// /metrics, /healthz and /readyz endpoint of the CA and the agent), on GNU
// libmicrohttpd. Built for untrusted clients: a fixed pool of threads polls
// every connection (epoll), so no client can make the process start threads;
// the number of connections is capped in total and per client address; a
// request must arrive complete within a deadline, so a client trickling its
// headers (slowloris) or holding a connection silent loses it; headers must
// fit a small per-connection buffer (431 otherwise) and bodies a byte limit
// (413). Running out of descriptors on accept leaves the listener waiting for
// connections to end, not failing.
#ifndef MESHTRUST_NET_HTTP_SERVER_H_
#define MESHTRUST_NET_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "net/listen_socket.h"

struct MHD_Daemon;

namespace meshtrust {

struct HttpRequest {
  std::string method;
  std::string path;                            // Without the query, not percent-decoded.
  std::string query;                           // Without '?'.
  std::map<std::string, std::string> headers;  // Lowercase names.
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// What one listener grants its clients. The defaults suit the CA's public
// CRL endpoint and the ops endpoints: small GET requests, few clients.
struct HttpServerLimits {
  // Connections open at once; more wait in the kernel's listen queue.
  int max_connections = 256;
  // Connections open at once from one client address.
  int max_connections_per_ip = 32;
  // From a connection's opening (or the end of its previous response) until
  // its request, headers and body, has fully arrived. Checked about four
  // times a second.
  absl::Duration request_timeout = absl::Seconds(10);
  // A connection with no traffic either way for this long is closed (whole
  // seconds, at least one).
  absl::Duration idle_timeout = absl::Seconds(30);
  // Memory for one connection's request line, headers and response headers;
  // a request whose headers do not fit is answered 431.
  size_t connection_memory_bytes = 32 * 1024;
  // Largest request body; a larger Content-Length is answered 413, a chunked
  // body 411.
  size_t max_body_bytes = 64 * 1024;
  // Threads polling the connections and running the handler.
  int threads = 2;
};

// Thread safety: Stop() may be called from any thread, once or more; the
// handler runs on the server's threads, several at once, and must be thread
// safe. It must not throw (an exception becomes a 500).
class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Plain HTTP on `address` (see OpenListeningSocket).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& address,
                                                           Handler handler);
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& address,
                                                           const HttpServerLimits& limits,
                                                           Handler handler);
  ~HttpServer();
  int port() const { return port_; }
  // Closes the listener and every connection; returns when no handler runs.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Connection;
  HttpServer() = default;
  struct Callbacks;  // libmicrohttpd's callbacks, in the .cc.
  // Shuts down connections whose request is overdue.
  void EnforceDeadlines() ABSL_LOCKS_EXCLUDED(mu_);
  void SetDeadline(Connection* c, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  Handler handler_;
  HttpServerLimits limits_;
  int port_ = 0;
  MHD_Daemon* daemon_ = nullptr;
  absl::Notification stopping_;
  std::thread deadline_enforcer_;
  absl::Mutex mu_;
  // Every open connection and when its request must have arrived
  // (InfiniteFuture while a response is being written).
  absl::flat_hash_map<Connection*, absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace meshtrust

#endif  // MESHTRUST_NET_HTTP_SERVER_H_
