#include "ca/server/ca_metrics.h"

#include "absl/strings/ascii.h"

namespace meshtrust::ca {
namespace {

double Seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::duration<double>>(d).count();
}

}  // namespace

CaMetrics::CaMetrics(MetricsRegistry* registry, Authority* authority, Store* store,
                     const Clock* clock)
    : signings_(registry->AddCounter(
          "meshtrust_ca_signings_total",
          "SignIntermediate calls by result: issued, or refused with the reason (status code)")),
      signing_seconds_(registry->AddHistogram("meshtrust_ca_signing_duration_seconds",
                                              "Time to answer a SignIntermediate call",
                                              LatencyBuckets())) {
  registry->AddGauge(
      "meshtrust_ca_intermediate_expiry_seconds",
      "Seconds until the intermediate each enabled cluster installed (acknowledged) expires "
      "(negative: expired)",
      [store, clock] {
        std::vector<MetricSample> out;
        absl::StatusOr<std::vector<ClusterRecord>> clusters = store->ListClusters();
        if (!clusters.ok()) return out;
        // An intermediate signed but never installed protects nothing: what
        // expires is the one the cluster uses. meshtrust_ca_cluster_in_sync
        // shows a cluster that installed none.
        for (const ClusterRecord& c : *clusters) {
          if (!c.enabled || c.acked_serial.empty()) continue;
          out.push_back({{{"cluster", c.name}}, Seconds(c.acked_not_after - clock->Now())});
        }
        return out;
      });
  registry->AddGauge(
      "meshtrust_ca_cluster_in_sync",
      "1 when the cluster acknowledged its current intermediate and the current trust bundle",
      [store, authority] {
        std::vector<MetricSample> out;
        absl::StatusOr<std::vector<ClusterRecord>> clusters = store->ListClusters();
        if (!clusters.ok()) return out;
        std::string bundle = authority->CurrentBundle().sha256;
        for (const ClusterRecord& c : *clusters) {
          if (!c.enabled) continue;
          bool in_sync = !c.current_serial.empty() && c.acked_serial == c.current_serial &&
                         c.acked_bundle_sha256 == bundle;
          out.push_back({{{"cluster", c.name}}, in_sync ? 1.0 : 0.0});
        }
        return out;
      });
  registry->AddGauge("meshtrust_ca_clusters", "Registered clusters by state", [store] {
    double enabled = 0, disabled = 0;
    absl::StatusOr<std::vector<ClusterRecord>> clusters = store->ListClusters();
    if (clusters.ok()) {
      for (const ClusterRecord& c : *clusters) (c.enabled ? enabled : disabled) += 1;
    }
    return std::vector<MetricSample>{{{{"state", "enabled"}}, enabled},
                                     {{{"state", "disabled"}}, disabled}};
  });
  auto crl_gauge = [store, clock](auto value) {
    return [store, clock, value] {
      std::vector<MetricSample> out;
      absl::StatusOr<std::vector<CrlRecord>> crls = store->ListCrls();
      if (!crls.ok()) return out;
      for (const CrlRecord& c : *crls) out.push_back({{{"root", c.root_key_id}}, value(c, *clock)});
      return out;
    };
  };
  registry->AddGauge("meshtrust_ca_crl_age_seconds", "Seconds since each root CRL's thisUpdate",
                     crl_gauge([](const CrlRecord& c, const Clock& clk) {
                       return Seconds(clk.Now() - c.this_update);
                     }));
  registry->AddGauge("meshtrust_ca_crl_next_update_seconds",
                     "Seconds until each root CRL's nextUpdate (it is re-signed at half-life)",
                     crl_gauge([](const CrlRecord& c, const Clock& clk) {
                       return Seconds(c.next_update - clk.Now());
                     }));
  registry->AddGauge(
      "meshtrust_ca_crl_number", "CRL number of each root's current CRL",
      crl_gauge([](const CrlRecord& c, const Clock&) { return static_cast<double>(c.number); }));
  registry->AddGauge(
      "meshtrust_ca_audit_head_sequence", "Sequence number of the newest audit record", [store] {
        return std::vector<MetricSample>{{{}, static_cast<double>(store->Head().sequence)}};
      });
  registry->AddGauge(
      "meshtrust_ca_root_rotation_phase",
      "1 for the root rotation's current phase (idle, begun, activated)", [authority] {
        absl::StatusOr<RotationPhase> phase = authority->CurrentRotationPhase();
        std::vector<MetricSample> out;
        for (RotationPhase p :
             {RotationPhase::kIdle, RotationPhase::kBegun, RotationPhase::kActivated}) {
          out.push_back({{{"phase", std::string(RotationPhaseName(p))}},
                         phase.ok() && *phase == p ? 1.0 : 0.0});
        }
        return out;
      });
  registry->AddGauge("meshtrust_ca_watch_streams", "Agents' Watch streams open now", [authority] {
    return std::vector<MetricSample>{{{}, static_cast<double>(authority->WatchStreams())}};
  });
  registry->AddGauge("meshtrust_ca_enroll_throttled_sources",
                     "Source addresses refused right now for sending too many invalid join tokens",
                     [authority] {
                       return std::vector<MetricSample>{
                           {{}, static_cast<double>(authority->ThrottledEnrollSources())}};
                     });
  registry->AddGauge(
      "meshtrust_ca_issuance_throttled_clusters",
      "Clusters refused right now for asking for more certificates than their issuance limit, "
      "by kind (intermediate, identity)",
      [authority] {
        return std::vector<MetricSample>{
            {{{"kind", "intermediate"}},
             static_cast<double>(authority->ThrottledClusters(CertificateKind::kIntermediate))},
            {{{"kind", "identity"}},
             static_cast<double>(authority->ThrottledClusters(CertificateKind::kAgentIdentity))}};
      });
}

void CaMetrics::RecordSigning(const absl::Status& result, std::chrono::nanoseconds took) {
  if (result.ok()) {
    signings_->Add({{"result", "issued"}, {"reason", ""}});
  } else {
    signings_->Add({{"result", "refused"},
                    {"reason", absl::AsciiStrToLower(absl::StatusCodeToString(result.code()))}});
  }
  signing_seconds_->Observe(Seconds(took));
}

}  // namespace meshtrust::ca
