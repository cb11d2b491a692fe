// Audit records as `audit verify` reads them back from storage it does not
// trust: every field, hash and signature attacker-chosen. Invariant: the
// verifier accepts a record only if it is the correctly chained, signed
// successor, so a rewritten history is always caught.
#include "base/hex.h"
#include "ca/audit/audit_chain.h"
#include "tests/fuzz/audit_records.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  static const std::string* public_key = new std::string(fuzz::AuditFixtureSigner().public_key());
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<ca::AuditRecord> records = fuzz::DecodeAuditRecords(in);
  ca::AuditVerifier verifier(*public_key);
  std::string previous(ca::kAuditHashBytes, '\0');
  for (const ca::AuditRecord& record : records) {
    bool ok = verifier.Next(record);
    if (!ok) break;
    fuzz::Require(record.hash == ca::AuditRecordHash(previous, record.sequence, record.event),
                  "an accepted record is chained");
    previous = record.hash;
  }
  fuzz::Require(verifier.checked() <= records.size(), "checked count");
  (void)HexDecode(in);
  if (records.size() > 0) {
    (void)ca::VerifyAuditCheckpoint(*public_key,
                                    {records[0].sequence, records[0].hash, records[0].signature});
  }
  return 0;
}
