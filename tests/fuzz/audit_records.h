// A compact binary form of audit records for the audit fuzzer and its seeds:
// per record u64 sequence, i64 unix milliseconds, the six text fields of
// AuditEvent as u16 length + bytes, then hash and signature as u8 length +
// bytes, all big-endian. Decoding stops at the first incomplete record.
#ifndef MESHTRUST_TESTS_FUZZ_AUDIT_RECORDS_H_
#define MESHTRUST_TESTS_FUZZ_AUDIT_RECORDS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "ca/audit/audit_chain.h"

namespace meshtrust::fuzz {

std::string EncodeAuditRecords(const std::vector<ca::AuditRecord>& records);
std::vector<ca::AuditRecord> DecodeAuditRecords(absl::string_view bytes);

// The signer whose records the seeds hold (seed: 32 bytes of 0x42).
const ca::AuditSigner& AuditFixtureSigner();

}  // namespace meshtrust::fuzz

#endif  // MESHTRUST_TESTS_FUZZ_AUDIT_RECORDS_H_
