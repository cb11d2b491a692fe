#include "tests/testing/tls_http_server.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "net/listen_socket.h"

namespace meshtrust::testing {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 8 * 1024 * 1024;

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

// Reads until `buf` holds a complete request; false on EOF/error.
bool ReadRequest(SSL* ssl, std::string* buf, HttpRequest* req) {
  size_t header_end;
  while ((header_end = buf->find("\r\n\r\n")) == std::string::npos) {
    if (buf->size() > kMaxHeaderBytes) return false;
    char chunk[16384];
    int n = SSL_read(ssl, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buf->append(chunk, static_cast<size_t>(n));
  }
  std::string head = buf->substr(0, header_end);
  size_t line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return false;
  req->method = request_line.substr(0, sp1);
  std::string target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t q = target.find('?');
  req->path = target.substr(0, q);
  req->query = q == std::string::npos ? "" : target.substr(q + 1);
  req->headers.clear();
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = absl::AsciiStrToLower(line.substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      req->headers[name] = value;
    }
    pos = end + 2;
  }
  size_t length = 0;
  std::string cl = req->Header("content-length");
  if (!cl.empty() && (!absl::SimpleAtoi(cl, &length) || length > kMaxBodyBytes)) return false;
  if (absl::AsciiStrToLower(req->Header("transfer-encoding")) == "chunked") return false;
  size_t body_start = header_end + 4;
  while (buf->size() < body_start + length) {
    char chunk[16384];
    int n = SSL_read(ssl, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buf->append(chunk, static_cast<size_t>(n));
  }
  req->body = buf->substr(body_start, length);
  buf->erase(0, body_start + length);
  return true;
}

bool WriteAll(SSL* ssl, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    int n = SSL_write(ssl, data.data() + done, static_cast<int>(data.size() - done));
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

int SelectHttp11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen, void*) {
  static const unsigned char kProto[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kProto, sizeof(kProto), in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsHttpServer>> TlsHttpServer::Start(const std::string& address,
                                                                    ossl::UniquePtr<SSL_CTX> ctx,
                                                                    Handler handler) {
  // A client closing early must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<TlsHttpServer> server(new TlsHttpServer());
  server->handler_ = std::move(handler);
  server->ctx_ = std::move(ctx);
  SSL_CTX_set_min_proto_version(server->ctx_.get(), TLS1_2_VERSION);
  SSL_CTX_set_alpn_select_cb(server->ctx_.get(), SelectHttp11, nullptr);
  if (absl::Status s = server->Listen(address); !s.ok()) return s;
  return server;
}

absl::Status TlsHttpServer::Listen(const std::string& address) {
  absl::StatusOr<ListeningSocket> socket = OpenListeningSocket(address, 64);
  if (!socket.ok()) return socket.status();
  listen_fd_ = socket->fd;
  port_ = socket->port;
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

TlsHttpServer::~TlsHttpServer() { Stop(); }

void TlsHttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::list<Worker> workers;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (Worker& w : workers) w.thread.join();
}

void TlsHttpServer::JoinFinished() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done.load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void TlsHttpServer::AcceptLoop() {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      // Out of descriptors: wait for connections to end instead of spinning.
      if (errno == EMFILE || errno == ENFILE) ::usleep(50 * 1000);
      continue;
    }
    absl::MutexLock lock(&mu_);
    JoinFinished();
    Worker& worker = workers_.emplace_back();
    open_fds_.push_back(fd);
    try {
      worker.thread = std::thread([this, fd, &worker] { Serve(fd, &worker); });
    } catch (const std::system_error&) {
      // No thread to be had: refuse this connection, keep serving the others.
      workers_.pop_back();
      open_fds_.pop_back();
      ::close(fd);
    }
  }
}

void TlsHttpServer::Serve(int fd, Worker* self) {
  // A silent client must not hold its thread forever.
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  ossl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
  SSL_set_fd(ssl.get(), fd);
  if (SSL_accept(ssl.get()) == 1) {
    std::string buf;
    HttpRequest req;
    while (!stopping_ && ReadRequest(ssl.get(), &buf, &req)) {
      HttpResponse resp = handler_(req);
      std::string out = absl::StrCat("HTTP/1.1 ", resp.status, " ", Reason(resp.status),
                                     "\r\nContent-Type: ", resp.content_type,
                                     "\r\nContent-Length: ", resp.body.size(),
                                     "\r\nCache-Control: no-cache, private\r\n\r\n", resp.body);
      if (!WriteAll(ssl.get(), out)) break;
    }
    SSL_shutdown(ssl.get());
  }
  ssl.reset();
  ERR_clear_error();
  absl::MutexLock lock(&mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
  ::close(fd);
  self->done = true;
}

}  // namespace meshtrust::testing
