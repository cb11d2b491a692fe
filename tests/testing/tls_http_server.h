// An HTTPS/1.1 server for test doubles of outside services (the Kubernetes
// API emulator, a pinned CA endpoint): one thread per connection, keep-alive,
// Content-Length bodies only, HTTP/1.1 offered in ALPN. Threads of finished
// connections are joined as new ones arrive, so a long test does not pile up
// thread stacks. It is for tests on loopback, not for untrusted clients; the
// product's listeners use net/http_server.h.
#ifndef MESHTRUST_TESTS_TESTING_TLS_HTTP_SERVER_H_
#define MESHTRUST_TESTS_TESTING_TLS_HTTP_SERVER_H_

#include <openssl/ssl.h>

#include <atomic>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "net/http_server.h"
#include "pki/ossl.h"

namespace meshtrust::testing {

class TlsHttpServer {
 public:
  using Handler = HttpServer::Handler;
  // Serves `address` ("host:port"; port 0 picks one) with a server context
  // holding the certificate and key (see net::NewTlsServerContext).
  static absl::StatusOr<std::unique_ptr<TlsHttpServer>> Start(const std::string& address,
                                                              ossl::UniquePtr<SSL_CTX> ctx,
                                                              Handler handler);
  ~TlsHttpServer();
  int port() const { return port_; }
  // Closes the listener and every connection and joins every thread.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  TlsHttpServer() = default;
  absl::Status Listen(const std::string& address);
  void AcceptLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void Serve(int fd, Worker* self) ABSL_LOCKS_EXCLUDED(mu_);
  // Joins the threads of connections that have ended.
  void JoinFinished() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ossl::UniquePtr<SSL_CTX> ctx_;
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::list<Worker> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_TESTING_TLS_HTTP_SERVER_H_
