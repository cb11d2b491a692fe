#include "ctl/mesh_status.h"

#include <cstdlib>

namespace meshtrust::ctl {

std::string HumanDuration(int64_t seconds) {
  std::string sign = seconds < 0 ? "-" : "";
  int64_t s = std::llabs(seconds);
  int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
  if (d > 0) return sign + std::to_string(d) + "d" + std::to_string(h) + "h";
  if (h > 0) return sign + std::to_string(h) + "h" + std::to_string(m) + "m";
  if (m > 0) return sign + std::to_string(m) + "m";
  return sign + std::to_string(s % 60) + "s";
}

std::vector<std::string> NeedsAttention(const v1::MeshStatus& status,
                                        const AttentionThresholds& thresholds) {
  std::vector<std::string> out;
  int64_t now = status.now().seconds();
  for (const v1::Cluster& c : status.clusters()) {
    if (!c.enabled()) continue;
    if (c.current_serial().empty()) {
      out.push_back(c.name() + ": no intermediate issued yet (is its agent running?)");
      continue;
    }
    // What counts is what the agent installed, not what the CA signed.
    if (c.acked_serial().empty()) {
      out.push_back(c.name() + ": intermediate " + c.current_serial() +
                    " was issued but its agent never reported it installed (see the agent's "
                    "log: can it write the cacerts secret?)");
    } else {
      int64_t left = c.acked_not_after().seconds() - now;
      if (left <= 0) {
        out.push_back(c.name() + ": intermediate " + c.acked_serial() + " expired " +
                      HumanDuration(-left) + " ago");
      } else if (left < thresholds.intermediate_expiry.count()) {
        out.push_back(c.name() + ": intermediate expires in " + HumanDuration(left) +
                      (c.acked_serial() == c.current_serial()
                           ? " and has not been renewed"
                           : " and its renewal is not installed yet"));
      }
      if (c.acked_serial() != c.current_serial()) {
        out.push_back(c.name() + ": has not acknowledged its current intermediate " +
                      c.current_serial() + " (installed: " + c.acked_serial() + ")");
      }
    }
    if (c.acked_bundle_sha256() != status.bundle_sha256()) {
      out.push_back(c.name() + ": its root-cert.pem is not the current trust bundle");
    }
  }
  for (const v1::MeshStatus::RootCrl& crl : status.crls()) {
    int64_t valid = crl.next_update().seconds() - crl.this_update().seconds();
    int64_t age = now - crl.this_update().seconds();
    if (now >= crl.next_update().seconds()) {
      out.push_back("the CRL of root " + crl.root_key_id() + " passed its nextUpdate " +
                    HumanDuration(now - crl.next_update().seconds()) +
                    " ago; verifiers reject it (is the CA's re-signing failing?)");
    } else if (valid > 0 && age > thresholds.crl_age_fraction * static_cast<double>(valid)) {
      out.push_back("the CRL of root " + crl.root_key_id() + " reaches its nextUpdate in " +
                    HumanDuration(crl.next_update().seconds() - now) + " and was not re-signed");
    }
  }
  return out;
}

}  // namespace meshtrust::ctl
