#include "net/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace meshtrust {

// One client connection, owned by libmicrohttpd's socket context from its
// opening to its close. Only the thread serving the connection touches the
// request; the deadline enforcer reads `fd` (set before the connection is
// published under mu_).
struct HttpServer::Connection {
  int fd = -1;
  std::string uri;  // The request target as sent.
  HttpRequest request;
};

struct HttpServer::Callbacks {
  static void Log(void*, const char* format, va_list ap) {
    char line[512];
    std::vsnprintf(line, sizeof(line), format, ap);
    // Refused and dropped clients are routine on a public listener: debug.
    spdlog::debug("http: {}", std::string(absl::StripTrailingAsciiWhitespace(line)));
  }

  static Connection* Of(MHD_Connection* connection) {
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == nullptr ? nullptr : static_cast<Connection*>(info->socket_context);
  }

  static void OnConnection(void* cls, MHD_Connection* connection, void** socket_context,
                           MHD_ConnectionNotificationCode code) {
    auto* server = static_cast<HttpServer*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* c = new Connection();
      const MHD_ConnectionInfo* info =
          MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
      if (info != nullptr) c->fd = info->connect_fd;
      *socket_context = c;
      absl::MutexLock lock(&server->mu_);
      server->deadlines_[c] = absl::Now() + server->limits_.request_timeout;
      return;
    }
    // libmicrohttpd reports the close before it closes the descriptor, so
    // once the entry is gone the enforcer can no longer touch a reused one.
    auto* c = static_cast<Connection*>(*socket_context);
    if (c == nullptr) return;
    {
      absl::MutexLock lock(&server->mu_);
      server->deadlines_.erase(c);
    }
    *socket_context = nullptr;
    delete c;
  }

  static void* OnUri(void*, const char* uri, MHD_Connection* connection) {
    if (Connection* c = Of(connection)) {
      c->uri = uri;
      c->request = HttpRequest();
    }
    return nullptr;
  }

  static MHD_Result AddHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
    auto* request = static_cast<HttpRequest*>(cls);
    request->headers[absl::AsciiStrToLower(key)] = value == nullptr ? "" : value;
    return MHD_YES;
  }

  static MHD_Result Reply(MHD_Connection* connection, const HttpResponse& response) {
    MHD_Response* r = MHD_create_response_from_buffer(
        response.body.size(), const_cast<char*>(response.body.data()), MHD_RESPMEM_MUST_COPY);
    if (r == nullptr) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
    MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(response.status), r);
    MHD_destroy_response(r);
    return queued;
  }

  static HttpResponse Text(int status, std::string body) {
    return {status, "text/plain; charset=utf-8", std::move(body)};
  }

  // Called once the headers are in (`*request_state` null), once per piece
  // of body, and once more when the request is complete.
  static MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char*,
                              const char* method, const char*, const char* upload_data,
                              size_t* upload_data_size, void** request_state) {
    auto* server = static_cast<HttpServer*>(cls);
    Connection* c = Of(connection);
    if (c == nullptr) return MHD_NO;
    HttpRequest& request = c->request;
    if (*request_state == nullptr) {
      *request_state = c;
      request.method = method;
      size_t q = c->uri.find('?');
      request.path = c->uri.substr(0, q);
      request.query = q == std::string::npos ? "" : c->uri.substr(q + 1);
      MHD_get_connection_values(connection, MHD_HEADER_KIND, &AddHeader, &request);
      if (!request.Header("transfer-encoding").empty()) {
        server->SetDeadline(c, absl::InfiniteFuture());
        return Reply(connection, Text(411, "send a Content-Length body, not a chunked one\n"));
      }
      std::string length = request.Header("content-length");
      size_t n = 0;
      if (!length.empty() &&
          (!absl::SimpleAtoi(length, &n) || n > server->limits_.max_body_bytes)) {
        server->SetDeadline(c, absl::InfiniteFuture());
        return Reply(connection,
                     Text(413, absl::StrCat("the body may be at most ",
                                            server->limits_.max_body_bytes, " bytes\n")));
      }
      return MHD_YES;
    }
    if (*upload_data_size != 0) {
      // Content-Length was checked; this only guards against surprises.
      if (request.body.size() + *upload_data_size > server->limits_.max_body_bytes) return MHD_NO;
      request.body.append(upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
    server->SetDeadline(c, absl::InfiniteFuture());
    HttpResponse response;
    try {
      response = server->handler_(request);
    } catch (const std::exception& e) {
      spdlog::error("HTTP handler for {} {} failed: {}", request.method, request.path, e.what());
      response = Text(500, "internal error\n");
    }
    return Reply(connection, response);
  }

  // The next request on a kept-alive connection gets a fresh deadline.
  static void OnRequestEnded(void* cls, MHD_Connection* connection, void**,
                             MHD_RequestTerminationCode) {
    auto* server = static_cast<HttpServer*>(cls);
    if (Connection* c = Of(connection)) {
      server->SetDeadline(c, absl::Now() + server->limits_.request_timeout);
    }
  }
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& address,
                                                              Handler handler) {
  return Start(address, HttpServerLimits(), std::move(handler));
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& address,
                                                              const HttpServerLimits& limits,
                                                              Handler handler) {
  if (limits.max_connections < 1 || limits.max_connections_per_ip < 1 || limits.threads < 1 ||
      limits.max_connections < limits.threads || limits.request_timeout <= absl::ZeroDuration() ||
      limits.idle_timeout < absl::Seconds(1) || limits.connection_memory_bytes < 4096) {
    return absl::InvalidArgumentError(
        "HTTP limits: connections, per-address connections and threads must be at least 1 "
        "(connections at least threads), timeouts positive (idle at least 1 s), connection "
        "memory at least 4096 bytes");
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->handler_ = std::move(handler);
  server->limits_ = limits;
  // A backlog about the size of the cap: clients beyond it wait in the
  // kernel, and beyond that the kernel drops their SYNs.
  absl::StatusOr<ListeningSocket> socket =
      OpenListeningSocket(address, std::max(limits.max_connections, 64));
  if (!socket.ok()) return socket.status();
  server->port_ = socket->port;
  // libmicrohttpd owns the listening socket from here and closes it on stop.
  // A pool of one is no pool to libmicrohttpd (it warns): 0 asks for its
  // single internal thread instead.
  const unsigned pool = limits.threads > 1 ? static_cast<unsigned>(limits.threads) : 0;
  server->daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, nullptr, nullptr,
      &Callbacks::OnRequest, server.get(),
      // The logger first, so that what the other options report goes to it.
      MHD_OPTION_EXTERNAL_LOGGER, &Callbacks::Log, nullptr, MHD_OPTION_LISTEN_SOCKET,
      static_cast<MHD_socket>(socket->fd), MHD_OPTION_THREAD_POOL_SIZE, pool,
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(limits.max_connections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(limits.max_connections_per_ip),
      MHD_OPTION_CONNECTION_TIMEOUT,
      static_cast<unsigned>(absl::ToInt64Seconds(limits.idle_timeout)),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(limits.connection_memory_bytes),
      MHD_OPTION_NOTIFY_CONNECTION, &Callbacks::OnConnection, server.get(),
      MHD_OPTION_NOTIFY_COMPLETED, &Callbacks::OnRequestEnded, server.get(),
      MHD_OPTION_URI_LOG_CALLBACK, &Callbacks::OnUri, server.get(), MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", address,
                     ": libmicrohttpd did not start (see the debug log for why)"));
  }
  HttpServer* self = server.get();
  server->deadline_enforcer_ = std::thread([self] { self->EnforceDeadlines(); });
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  stopping_.Notify();
  if (deadline_enforcer_.joinable()) deadline_enforcer_.join();
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

void HttpServer::SetDeadline(Connection* c, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto it = deadlines_.find(c);
  if (it != deadlines_.end()) it->second = deadline;
}

void HttpServer::EnforceDeadlines() {
  while (!stopping_.WaitForNotificationWithTimeout(absl::Milliseconds(250))) {
    absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    for (auto& [c, deadline] : deadlines_) {
      if (deadline > now || c->fd < 0) continue;
      // libmicrohttpd sees the connection end and closes it on its own thread.
      ::shutdown(c->fd, SHUT_RDWR);
      deadline = absl::InfiniteFuture();
    }
  }
}

}  // namespace meshtrust
