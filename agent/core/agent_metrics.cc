#include "agent/core/agent_metrics.h"

#include <map>
#include <string>
#include <vector>

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
  // Every rule and kind has a sample from the start, so rate() sees the first.
  auto by_label = [status](const char* label, std::vector<std::string> keys,
                           std::map<std::string, int64_t> RunnerStatus::*field) {
    return [status, label, keys, field] {
      RunnerStatus s = status();
      std::vector<MetricSample> out;
      for (const std::string& k : keys) {
        auto it = (s.*field).find(k);
        out.push_back({{{label, k}}, it == (s.*field).end() ? 0.0 : double(it->second)});
      }
      return out;
    };
  };
  registry->AddCounterReader(
      "meshtrust_agent_istiod_refusals_total",
      "Sets of cacerts not written because istiod would have refused them, by the rule they broke",
      by_label("rule", {"chain", "key", "key_mismatch", "crl_parse", "crl_missing", "root_bundle"},
               &RunnerStatus::istiod_refusals));
  registry->AddCounterReader(
      "meshtrust_agent_crl_repairs_total",
      "CRLs from the CA left out of ca-crl.pem, or kept from the installed set, so that istiod "
      "accepts it",
      by_label("action", {"dropped_unparsable", "dropped_untrusted", "kept_installed"},
               &RunnerStatus::crl_repairs));
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
