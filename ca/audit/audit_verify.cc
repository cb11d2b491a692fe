#include "ca/audit/audit_verify.h"

namespace meshtrust::ca {

absl::StatusOr<AuditVerification> VerifyStoredAudit(AuditLogReader* store,
                                                    const std::string& public_key) {
  AuditVerifier verifier(public_key);
  uint64_t after = 0;
  while (verifier.ok()) {
    absl::StatusOr<std::vector<AuditRecord>> page = store->ReadAudit(after, 1000);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const AuditRecord& r : *page) {
      if (!verifier.Next(r)) break;
    }
    after = page->back().sequence;
  }
  AuditVerification out;
  out.ok = verifier.ok();
  out.records_checked = verifier.checked();
  out.first_bad_sequence = verifier.first_bad_sequence();
  out.problem = verifier.problem();
  out.head = verifier.head();
  return out;
}

}  // namespace meshtrust::ca
