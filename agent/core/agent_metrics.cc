#include "agent/core/agent_metrics.h"

namespace meshtrust::agent {
namespace {

double UnixSecondsOrZero(TimePoint t) {
  return t == TimePoint{} ? 0.0 : static_cast<double>(UnixSeconds(t));
}

}  // namespace

void RegisterAgentMetrics(MetricsRegistry* registry, const std::string& cluster,
                          std::function<RunnerStatus()> status) {
  auto one = [status](auto value) {
    return [status, value] { return std::vector<MetricSample>{{{}, value(status())}}; };
  };
  registry->AddGauge("meshtrust_agent_info", "Constant 1, labelled with the agent's cluster",
                     [cluster] {
                       return std::vector<MetricSample>{{{{"cluster", cluster}}, 1}};
                     });
  registry->AddGauge("meshtrust_agent_last_success_timestamp_seconds",
                     "When the agent last confirmed a valid cacerts (Unix time; 0: never)",
                     one([](const RunnerStatus& s) { return UnixSecondsOrZero(s.last_success); }));
  registry->AddGauge("meshtrust_agent_next_renewal_timestamp_seconds",
                     "When the installed intermediate is due for renewal (Unix time)",
                     one([](const RunnerStatus& s) { return UnixSecondsOrZero(s.next_renewal); }));
  registry->AddGauge("meshtrust_agent_intermediate_not_after_timestamp_seconds",
                     "When the installed intermediate expires (Unix time)",
                     one([](const RunnerStatus& s) { return UnixSecondsOrZero(s.not_after); }));
  registry->AddGauge("meshtrust_agent_consecutive_failures",
                     "Failed attempts since the last success",
                     one([](const RunnerStatus& s) { return double(s.consecutive_failures); }));
  registry->AddGauge("meshtrust_agent_watch_connected",
                     "1 while the Watch stream to the CA is open",
                     one([](const RunnerStatus& s) { return s.watch_connected ? 1.0 : 0.0; }));
  registry->AddCounterReader("meshtrust_agent_errors_total", "Failed attempts",
                             one([](const RunnerStatus& s) { return double(s.failures_total); }));
  registry->AddCounterReader("meshtrust_agent_changes_total",
                             "Writes of cacerts (new intermediates, bundles, CRLs, repairs)",
                             one([](const RunnerStatus& s) { return double(s.changes); }));
  registry->AddCounterReader(
      "meshtrust_agent_trust_refusals_total",
      "CA answers refused because their roots were not pinned, not endorsed by a trusted root, or "
      "dropped the installed intermediate's root outside a rotation's retire phase",
      one([](const RunnerStatus& s) { return double(s.trust_refusals); }));
}

}  // namespace meshtrust::agent
