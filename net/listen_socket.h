// Listening TCP sockets for every server the project runs: the CA's gated
// gRPC listener, the HTTP listeners, and the tests' TLS servers.
#ifndef MESHTRUST_NET_LISTEN_SOCKET_H_
#define MESHTRUST_NET_LISTEN_SOCKET_H_

#include <string>

#include "absl/status/statusor.h"

namespace meshtrust {

struct ListeningSocket {
  int fd = -1;  // Close-on-exec, non-blocking; the caller owns it.
  int port = 0;
  // The bound address, numeric; a wildcard is given as the loopback address
  // of its family, so a probe of one's own listener can connect to it.
  std::string loopback_host;
};

// Opens a listening TCP socket on `address`: "host:port" (host an IPv4
// address, a name such as "localhost" bound on its IPv4 address, or empty
// for all IPv4 interfaces) or "[IPv6]:port" ("[::]" takes IPv4 too); port 0
// picks one.
absl::StatusOr<ListeningSocket> OpenListeningSocket(const std::string& address, int backlog);

}  // namespace meshtrust

#endif  // MESHTRUST_NET_LISTEN_SOCKET_H_
