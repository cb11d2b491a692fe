// The operations endpoint shared by the CA and the agent:
//   /metrics  Prometheus text format
//   /healthz  200 while the process serves requests (liveness)
//   /readyz   200 when `ready` returns OK, else 503 with its message
#ifndef MESHTRUST_NET_OPS_HTTP_H_
#define MESHTRUST_NET_OPS_HTTP_H_

#include <functional>

#include "absl/status/status.h"
#include "base/metrics.h"
#include "net/http_server.h"

namespace meshtrust {

HttpResponse HandleOpsHttp(const MetricsRegistry& metrics,
                           const std::function<absl::Status()>& ready, const HttpRequest& request);

}  // namespace meshtrust

#endif  // MESHTRUST_NET_OPS_HTTP_H_
