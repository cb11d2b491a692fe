#include "net/ops_http.h"

namespace meshtrust {

HttpResponse HandleOpsHttp(const MetricsRegistry& metrics,
                           const std::function<absl::Status()>& ready, const HttpRequest& request,
                           const std::function<absl::Status()>& alive) {
  auto text = [](int status, std::string body) {
    return HttpResponse{status, "text/plain; charset=utf-8", std::move(body)};
  };
  if (request.method != "GET") return text(405, "only GET is served here\n");
  if (request.path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", metrics.Render()};
  }
  if (request.path == "/healthz") {
    absl::Status s = alive ? alive() : absl::OkStatus();
    if (s.ok()) return text(200, "ok\n");
    return text(503, std::string("not alive: ") + std::string(s.message()) + "\n");
  }
  if (request.path == "/readyz") {
    absl::Status s = ready();
    if (s.ok()) return text(200, "ready\n");
    return text(503, std::string("not ready: ") + std::string(s.message()) + "\n");
  }
  return text(404, "not found; try /metrics, /healthz or /readyz\n");
}

}  // namespace meshtrust
