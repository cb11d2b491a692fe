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
#include "pki/signer.h"

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

// Seals records and checkpoints with the audit key, an Ed25519 key used
// through its signer (it may live in a keystore that never lets it go).
// Records and checkpoints verify with libsodium (RFC 8032 signatures are the
// same whoever makes them). Thread safe.
class AuditSigner {
 public:
  // kInvalidArgument unless `signer` signs with Ed25519.
  static absl::StatusOr<std::unique_ptr<AuditSigner>> Create(
      std::shared_ptr<const pki::Signer> signer);
  // A signer over the Ed25519 key of a 32-byte seed held in memory: for
  // tests and fuzzing, which need fixed keys.
  static absl::StatusOr<std::unique_ptr<AuditSigner>> FromSeed(const SecretBytes& seed);
  static SecretBytes GenerateSeed();

  // Fails (kUnavailable, say) only when the signer cannot sign; nothing may
  // be recorded then.
  absl::StatusOr<AuditRecord> Seal(uint64_t sequence, const AuditEvent& event,
                                   const std::string& previous_hash) const;
  absl::StatusOr<AuditCheckpoint> SignCheckpoint(const AuditHead& head) const;
  const std::string& public_key() const { return public_key_; }  // Raw, 32 bytes.

 private:
  AuditSigner(std::shared_ptr<const pki::Signer> signer, std::string public_key)
      : signer_(std::move(signer)), public_key_(std::move(public_key)) {}
  std::shared_ptr<const pki::Signer> signer_;
  std::string public_key_;
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

// Whether `record.signature` is the audit key's over `record.hash` (the
// hash itself is not recomputed).
bool VerifyAuditRecordSignature(const std::string& public_key, const AuditRecord& record);
bool VerifyAuditCheckpoint(const std::string& public_key, const AuditCheckpoint& checkpoint);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_AUDIT_AUDIT_CHAIN_H_
