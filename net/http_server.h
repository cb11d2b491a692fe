// A small HTTP/1.1 server, plain or TLS: one thread per connection,
// keep-alive, Content-Length bodies only. It serves the CA's public CRL
// endpoint and the tests' Kubernetes API emulator; it is not meant for
// untrusted high-volume traffic (bounded headers and bodies, but a thread per
// connection).
#ifndef MESHTRUST_NET_HTTP_SERVER_H_
#define MESHTRUST_NET_HTTP_SERVER_H_

#include <openssl/ssl.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pki/ossl.h"

namespace meshtrust {

struct HttpRequest {
  std::string method;
  std::string path;                            // Without the query.
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

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Plain HTTP on `address` ("host:port"; port 0 picks one).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& address,
                                                           Handler handler);
  // HTTPS with a server context holding the certificate and key (see
  // net::NewTlsServerContext). Only HTTP/1.1 is offered in ALPN.
  static absl::StatusOr<std::unique_ptr<HttpServer>> StartTls(const std::string& address,
                                                              ossl::UniquePtr<SSL_CTX> ctx,
                                                              Handler handler);
  ~HttpServer();
  int port() const { return port_; }
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  HttpServer() = default;
  absl::Status Listen(const std::string& address);
  void AcceptLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void Serve(int fd) ABSL_LOCKS_EXCLUDED(mu_);

  ossl::UniquePtr<SSL_CTX> ctx_;  // Null for plain HTTP.
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meshtrust

#endif  // MESHTRUST_NET_HTTP_SERVER_H_
