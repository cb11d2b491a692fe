// The audit log's cryptography: canonical records, the BLAKE2b hash chain,
// Ed25519 signatures and checkpoints (libsodium).
//
// record hash  = BLAKE2b-256(previous hash || canonical bytes of the record)
// signature    = Ed25519("meshtrust-audit-record-v1" || record hash)
// checkpoint   = Ed25519("meshtrust-audit-checkpoint-v1" || u64be(seq) || head hash)
// The first record's previous hash is 32 zero bytes. Canonical bytes are
// "meshtrust-audit-v1", u64be(sequence), i64be(unix milliseconds), then each
// text field as u32be(length) || bytes, in the order of AuditEvent.
#ifndef MESHTRUST_CA_AUDIT_AUDIT_CHAIN_H_
#define MESHTRUST_CA_AUDIT_AUDIT_CHAIN_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "base/secret_bytes.h"

namespace meshtrust::ca {

inline constexpr size_t kAuditHashBytes = 32;

// What happened, as the authority reports it.
struct AuditEvent {
  TimePoint time;
  std::string caller;          // Identity URI, or "anonymous from <address>" for Enroll.
  std::string action;          // e.g. "SignIntermediate", "AddCluster".
  std::string target;          // e.g. the cluster name.
  std::string request_sha256;  // Hex digest of the request.
  std::string result;          // "ok" or "refused: <code>: <message>".
  std::string serial;          // Issued certificate serial, if any.
};

struct AuditRecord {
  uint64_t sequence = 0;
  AuditEvent event;
  std::string hash;       // kAuditHashBytes raw bytes.
  std::string signature;  // 64 raw bytes.
};

struct AuditHead {
  uint64_t sequence = 0;  // 0: empty log.
  std::string hash = std::string(kAuditHashBytes, '\0');
};

struct AuditCheckpoint {
  uint64_t sequence = 0;
  std::string head_hash;
  std::string signature;
};

std::string CanonicalAuditBytes(uint64_t sequence, const AuditEvent& event);
std::string AuditRecordHash(const std::string& previous_hash, uint64_t sequence,
                            const AuditEvent& event);

// Seals records and checkpoints with the audit key. Thread safe.
class AuditSigner {
 public:
  // `seed` is the 32-byte Ed25519 seed kept in the keystore.
  static absl::StatusOr<std::unique_ptr<AuditSigner>> FromSeed(const SecretBytes& seed);
  // A fresh random seed, for `meshtrust-ca init`.
  static SecretBytes GenerateSeed();

  AuditRecord Seal(uint64_t sequence, const AuditEvent& event,
                   const std::string& previous_hash) const;
  AuditCheckpoint SignCheckpoint(const AuditHead& head) const;
  const std::string& public_key() const { return public_key_; }

 private:
  AuditSigner(SecretBytes secret_key, std::string public_key)
      : secret_key_(std::move(secret_key)), public_key_(std::move(public_key)) {}
  std::string Sign(const std::string& message) const;
  SecretBytes secret_key_;  // libsodium's 64-byte form.
  std::string public_key_;  // 32 bytes.
};

// Checks records one by one in stored order and remembers the first bad one.
class AuditVerifier {
 public:
  explicit AuditVerifier(std::string public_key) : public_key_(std::move(public_key)) {}
  // False once any record failed; later records are not checked.
  bool Next(const AuditRecord& record);
  bool ok() const { return problem_.empty(); }
  uint64_t checked() const { return checked_; }
  uint64_t first_bad_sequence() const { return first_bad_; }
  const std::string& problem() const { return problem_; }
  const AuditHead& head() const { return head_; }

 private:
  std::string public_key_;
  AuditHead head_;
  uint64_t checked_ = 0;
  uint64_t first_bad_ = 0;
  std::string problem_;
};

bool VerifyAuditCheckpoint(const std::string& public_key, const AuditCheckpoint& checkpoint);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_AUDIT_AUDIT_CHAIN_H_
