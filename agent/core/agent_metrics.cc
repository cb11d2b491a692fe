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

void RegisterAuditCheckpointMetrics(MetricsRegistry* registry,
                                    const AuditCheckpointCounters* counters) {
  auto one = [](auto value) {
    return [value] { return std::vector<MetricSample>{{{}, value()}}; };
  };
  registry->AddCounterReader(
      "meshtrust_agent_audit_checkpoint_refusals_total",
      "CA answers refused because their audit checkpoint did not verify, was behind the kept "
      "one, or contradicted it (audit log rolled back or rewritten)",
      one([counters] { return double(counters->refused.load()); }));
  registry->AddGauge("meshtrust_agent_audit_checkpoint_sequence",
                     "Sequence of the highest audit checkpoint the agent accepted and keeps",
                     one([counters] { return double(counters->kept_sequence.load()); }));
  registry->AddGauge(
      "meshtrust_agent_audit_checkpoints_verified",
      "1 when the agent verifies audit checkpoints; 0 when its identity predates the CA's audit "
      "key (enroll again)",
      one([counters] { return counters->verifying.load() ? 1.0 : 0.0; }));
}

}  // namespace meshtrust::agent
