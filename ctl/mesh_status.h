// What `meshtrustctl status` concludes from the CA's MeshStatus: the things
// that need an operator's attention, each a sentence naming what and why.
#ifndef MESHTRUST_CTL_MESH_STATUS_H_
#define MESHTRUST_CTL_MESH_STATUS_H_

#include <chrono>
#include <string>
#include <vector>

#include "meshtrust/v1/meshtrust.pb.h"

namespace meshtrust::ctl {

struct AttentionThresholds {
  // An enabled cluster's intermediate expiring sooner than this.
  std::chrono::seconds intermediate_expiry = std::chrono::hours(24 * 7);
  // A root CRL past this fraction of its validity (the CA re-signs at half).
  double crl_age_fraction = 0.75;
};

// Empty when all is well. Disabled clusters need nothing; a root rotation in
// progress, or a requested intermediate rotation, is reported by `status`
// but is not in itself a problem. A cluster is judged by the intermediate
// its agent acknowledged installing (acked_*), not by the latest one the CA
// issued (current_*): an issued intermediate that is not installed yet is
// pending, and one never installed protects nothing.
std::vector<std::string> NeedsAttention(const v1::MeshStatus& status,
                                        const AttentionThresholds& thresholds = {});

// "3d4h", "25m", "-2h" (expired) for a number of seconds.
std::string HumanDuration(int64_t seconds);

}  // namespace meshtrust::ctl

#endif  // MESHTRUST_CTL_MESH_STATUS_H_
