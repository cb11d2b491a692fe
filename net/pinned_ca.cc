#include "net/pinned_ca.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pki/certificate.h"
#include "pki/chain.h"
#include "pki/error.h"
#include "pki/key.h"

namespace meshtrust::net {
namespace {

class Socket {
 public:
  Socket() = default;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  void Reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

absl::Status ConnectWithTimeout(const std::string& host, const std::string& port,
                                std::chrono::milliseconds timeout, Socket* out) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    Socket s;
    s.Reset(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (s.fd() < 0) continue;
    if (::connect(s.fd(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      continue;
    }
    pollfd p{s.fd(), POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
      last_error = "connection timed out";
      continue;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last_error = std::strerror(err);
      continue;
    }
    // Blocking from here on, bounded by socket timeouts.
    ::fcntl(s.fd(), F_SETFL, ::fcntl(s.fd(), F_GETFL) & ~O_NONBLOCK);
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(s.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    out->Reset(s.Release());
    ::freeaddrinfo(res);
    return absl::OkStatus();
  }
  ::freeaddrinfo(res);
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", host, ":", port, ": ", last_error));
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

absl::Status CheckServerCertificateFor(X509* leaf, const std::string& host,
                                       const std::string& address) {
  // An explicit serverAuth, not merely "no EKU": every server certificate the
  // CA issues carries one, and a client identity (clientAuth) from the same
  // control CA must not pass for the server.
  uint32_t flags = X509_get_extension_flags(leaf);
  if ((flags & EXFLAG_XKUSAGE) == 0 || (X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER) == 0) {
    ERR_clear_error();
    return absl::PermissionDeniedError(absl::StrCat(
        "the server certificate of ", address,
        " is not for a TLS server (no serverAuth extended key usage): the control CA issued it "
        "for another purpose (or someone is in the middle)"));
  }
  bool matches = IsIpAddress(host)
                     ? X509_check_ip_asc(leaf, host.c_str(), 0) == 1
                     : X509_check_host(leaf, host.data(), host.size(),
                                       X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
  ERR_clear_error();
  if (!matches) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the server certificate of ", address, " is not for ", host,
        " (no matching DNS or IP subjectAltName): connect with a name or address the CA's "
        "server certificate carries (meshtrust-ca init --server-names)"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePin(const std::string& pin) {
  constexpr absl::string_view kPrefix = "sha256:";
  bool ok = pin.size() == kPrefix.size() + 64 && absl::StartsWith(pin, kPrefix);
  for (size_t i = kPrefix.size(); ok && i < pin.size(); ++i) {
    ok = (pin[i] >= '0' && pin[i] <= '9') || (pin[i] >= 'a' && pin[i] <= 'f');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        "the CA pin must be \"sha256:\" followed by 64 lowercase hex digits, as printed by "
        "meshtrust-ca init");
  }
  return absl::OkStatus();
}

absl::Status SplitHostPort(const std::string& address, std::string* host, std::string* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(absl::StrCat("address \"", address, "\" is not host:port"));
  }
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

absl::StatusOr<ossl::UniquePtr<X509>> FetchPinnedCa(const std::string& address,
                                                    const std::string& pin,
                                                    std::chrono::milliseconds timeout) {
  if (absl::Status s = ValidatePin(pin); !s.ok()) return s;
  std::string host, port;
  if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) return s;
  Socket sock;
  if (absl::Status s = ConnectWithTimeout(host, port, timeout, &sock); !s.ok()) return s;

  ossl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return pki::InternalOpenSslError("creating a TLS context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Deliberately unverified: trust comes from the pin, checked below.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>("\x02h2"), 3);
  ossl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), sock.fd()) != 1) {
    return pki::InternalOpenSslError("creating a TLS connection");
  }
  SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  if (SSL_connect(ssl.get()) != 1) {
    return pki::OpenSslError(absl::StatusCode::kUnavailable,
                             absl::StrCat("TLS handshake with ", address, " failed"));
  }
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());  // get0: owned by ssl.
  X509* leaf = SSL_get0_peer_certificate(ssl.get());
  if (chain == nullptr || leaf == nullptr) {
    return absl::UnavailableError(absl::StrCat(address, " presented no certificate"));
  }
  std::vector<X509*> others;
  X509* pinned = nullptr;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    X509* cert = sk_X509_value(chain, i);
    absl::StatusOr<std::string> cert_pin = pki::SpkiSha256Pin(pki::PublicKeyOf(cert));
    if (cert_pin.ok() && *cert_pin == pin && pki::IsCa(cert)) {
      pinned = cert;
    } else if (cert != leaf) {
      others.push_back(cert);
    }
  }
  SSL_shutdown(ssl.get());
  if (pinned == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("no CA certificate presented by ", address,
                     " matches the pin; check the pin printed by meshtrust-ca init (or someone is "
                     "in the middle)"));
  }
  if (absl::Status s = pki::VerifyChain(leaf, others, {pinned}); !s.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the server certificate of ", address, " is not issued by the pinned CA: ", s.message()));
  }
  if (absl::Status s = CheckServerCertificateFor(leaf, host, address); !s.ok()) return s;
  return ossl::UpRef(pinned);
}

}  // namespace meshtrust::net
