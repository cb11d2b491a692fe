// The long-running agent's metrics, read from its Runner's status on every
// scrape. docs/metrics.md describes each one.
#ifndef MESHTRUST_AGENT_CORE_AGENT_METRICS_H_
#define MESHTRUST_AGENT_CORE_AGENT_METRICS_H_

#include <functional>
#include <string>

#include "agent/core/audit_checkpoint_guard.h"
#include "agent/core/runner.h"
#include "base/metrics.h"

namespace meshtrust::agent {

// `status` is called on every scrape and must be thread safe.
void RegisterAgentMetrics(MetricsRegistry* registry, const std::string& cluster,
                          std::function<RunnerStatus()> status);

// The audit checkpoint guards' counters; `counters` must outlive `registry`.
void RegisterAuditCheckpointMetrics(MetricsRegistry* registry,
                                    const AuditCheckpointCounters* counters);

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_CORE_AGENT_METRICS_H_
