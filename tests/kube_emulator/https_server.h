// A small HTTPS/1.1 server for test fakes: one thread per connection,
// keep-alive, Content-Length bodies. Good enough for kubectl and the agent;
// not a production server.
#ifndef MESHTRUST_TESTS_KUBE_EMULATOR_HTTPS_SERVER_H_
#define MESHTRUST_TESTS_KUBE_EMULATOR_HTTPS_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "pki/ossl.h"

namespace meshtrust::testing {

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

class HttpsServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Listens on 127.0.0.1:`port` (0 picks one) with `cert_chain_pem`/`key`.
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Start(int port,
                                                            const std::string& cert_chain_pem,
                                                            EVP_PKEY* key, Handler handler);
  ~HttpsServer();
  int port() const { return port_; }
  void Stop();

 private:
  HttpsServer() = default;
  void AcceptLoop();
  void Serve(int fd);

  ossl::UniquePtr<SSL_CTX> ctx_;
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;
};

}  // namespace meshtrust::testing

#endif  // MESHTRUST_TESTS_KUBE_EMULATOR_HTTPS_SERVER_H_
