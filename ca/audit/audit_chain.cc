#include "ca/audit/audit_chain.h"

#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "pki/key.h"

namespace meshtrust::ca {
namespace {

constexpr absl::string_view kRecordDomain = "meshtrust-audit-v1";
constexpr absl::string_view kSignatureDomain = "meshtrust-audit-record-v1";
constexpr absl::string_view kCheckpointDomain = "meshtrust-audit-checkpoint-v1";

void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutField(std::string* out, absl::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out->append(s.data(), s.size());
}

const unsigned char* U(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string CheckpointMessage(uint64_t sequence, const std::string& head_hash) {
  std::string msg(kCheckpointDomain);
  PutU64(&msg, sequence);
  msg += head_hash;
  return msg;
}

}  // namespace

std::string CanonicalAuditBytes(uint64_t sequence, const AuditEvent& event) {
  std::string out(kRecordDomain);
  PutU64(&out, sequence);
  int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(event.time.time_since_epoch()).count();
  PutU64(&out, static_cast<uint64_t>(ms));
  for (const std::string* f : {&event.caller, &event.action, &event.target, &event.request_sha256,
                               &event.result, &event.serial}) {
    PutField(&out, *f);
  }
  return out;
}

std::string AuditRecordHash(const std::string& previous_hash, uint64_t sequence,
                            const AuditEvent& event) {
  std::string canonical = CanonicalAuditBytes(sequence, event);
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, kAuditHashBytes);
  crypto_generichash_update(&state, U(previous_hash), previous_hash.size());
  crypto_generichash_update(&state, U(canonical), canonical.size());
  std::string hash(kAuditHashBytes, '\0');
  crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(hash.data()), hash.size());
  return hash;
}

absl::StatusOr<std::unique_ptr<AuditSigner>> AuditSigner::Create(
    std::shared_ptr<const pki::Signer> signer) {
  EnsureSodiumInitialized();
  if (signer == nullptr || signer->algorithm() != pki::SignatureAlgorithm::kEd25519) {
    return absl::InvalidArgumentError("the audit key must be an Ed25519 key");
  }
  absl::StatusOr<std::string> public_key = pki::Ed25519RawPublicKey(signer->public_key());
  if (!public_key.ok()) return public_key.status();
  return std::unique_ptr<AuditSigner>(new AuditSigner(std::move(signer), *std::move(public_key)));
}

absl::StatusOr<std::unique_ptr<AuditSigner>> AuditSigner::FromSeed(const SecretBytes& seed) {
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = pki::Ed25519KeyFromSeed(seed);
  if (!key.ok()) return absl::DataLossError("audit signing key seed has the wrong length");
  absl::StatusOr<std::unique_ptr<pki::Signer>> signer = pki::NewInMemorySigner(*std::move(key));
  if (!signer.ok()) return signer.status();
  return Create(*std::move(signer));
}

SecretBytes AuditSigner::GenerateSeed() {
  EnsureSodiumInitialized();
  SecretBytes seed(crypto_sign_SEEDBYTES);
  randombytes_buf(seed.UnsafeSecretView().data(), seed.size());
  return seed;
}

absl::StatusOr<AuditRecord> AuditSigner::Seal(uint64_t sequence, const AuditEvent& event,
                                              const std::string& previous_hash) const {
  AuditRecord record;
  record.sequence = sequence;
  record.event = event;
  record.hash = AuditRecordHash(previous_hash, sequence, event);
  absl::StatusOr<std::string> signature =
      signer_->Sign(absl::StrCat(kSignatureDomain, record.hash));
  if (!signature.ok()) return signature.status();
  record.signature = *std::move(signature);
  return record;
}

absl::StatusOr<AuditCheckpoint> AuditSigner::SignCheckpoint(const AuditHead& head) const {
  absl::StatusOr<std::string> signature =
      signer_->Sign(CheckpointMessage(head.sequence, head.hash));
  if (!signature.ok()) return signature.status();
  return AuditCheckpoint{head.sequence, head.hash, *std::move(signature)};
}

bool AuditVerifier::Next(const AuditRecord& record) {
  if (!problem_.empty()) return false;
  uint64_t expected = head_.sequence + 1;
  auto fail = [&](std::string problem) {
    first_bad_ = record.sequence;
    problem_ = std::move(problem);
    return false;
  };
  if (record.sequence != expected) {
    return fail(absl::StrCat("record ", record.sequence, " follows record ", head_.sequence,
                             ": records were deleted, inserted or reordered"));
  }
  std::string hash = AuditRecordHash(head_.hash, record.sequence, record.event);
  if (hash != record.hash) {
    return fail(absl::StrCat("record ", record.sequence,
                             " does not match its hash: its content or an earlier record's was "
                             "changed"));
  }
  if (!VerifyAuditRecordSignature(public_key_, record)) {
    return fail(absl::StrCat("record ", record.sequence,
                             " has an invalid signature: it was not written by this CA's audit "
                             "key"));
  }
  head_.sequence = record.sequence;
  head_.hash = record.hash;
  ++checked_;
  return true;
}

bool VerifyAuditRecordSignature(const std::string& public_key, const AuditRecord& record) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES ||
      record.signature.size() != crypto_sign_BYTES) {
    return false;
  }
  std::string message = absl::StrCat(kSignatureDomain, record.hash);
  return crypto_sign_verify_detached(U(record.signature), U(message), message.size(),
                                     U(public_key)) == 0;
}

bool VerifyAuditCheckpoint(const std::string& public_key, const AuditCheckpoint& checkpoint) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES ||
      checkpoint.signature.size() != crypto_sign_BYTES) {
    return false;
  }
  std::string message = CheckpointMessage(checkpoint.sequence, checkpoint.head_hash);
  return crypto_sign_verify_detached(U(checkpoint.signature), U(message), message.size(),
                                     U(public_key)) == 0;
}

}  // namespace meshtrust::ca
