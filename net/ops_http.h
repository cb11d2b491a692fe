// The operations endpoint shared by the CA and the agent:
//   /metrics  Prometheus text format
//   /healthz  200 while `alive` returns OK (or, without it, while the
//             process answers at all), else 503 with its message (liveness)
//   /readyz   200 when `ready` returns OK, else 503 with its message
#ifndef MESHTRUST_NET_OPS_HTTP_H_
#define MESHTRUST_NET_OPS_HTTP_H_

#include <functional>

#include "absl/status/status.h"
#include "base/metrics.h"
#include "net/http_server.h"

namespace meshtrust {

HttpResponse HandleOpsHttp(const MetricsRegistry& metrics,
                           const std::function<absl::Status()>& ready, const HttpRequest& request,
                           const std::function<absl::Status()>& alive = {});

}  // namespace meshtrust

#endif  // MESHTRUST_NET_OPS_HTTP_H_
