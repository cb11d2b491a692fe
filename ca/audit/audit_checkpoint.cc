#include "ca/audit/audit_checkpoint.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/hex.h"
#include "base/json_fields.h"
#include "nlohmann/json.hpp"

namespace meshtrust::ca {
namespace {

std::string ShortHash(const std::string& hash) { return HexEncode(hash).substr(0, 16); }

}  // namespace

std::string CheckpointJson(const AuditCheckpoint& checkpoint) {
  nlohmann::json j = {{"sequence", checkpoint.sequence},
                      {"head_hash", HexEncode(checkpoint.head_hash)},
                      {"signature", HexEncode(checkpoint.signature)}};
  return j.dump();
}

absl::StatusOr<AuditCheckpoint> ParseCheckpointJson(absl::string_view text,
                                                    absl::string_view source) {
  auto bad = [source](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, " is not an audit checkpoint (", why,
        "); expected {\"sequence\":N,\"head_hash\":\"<hex>\",\"signature\":\"<hex>\"}"));
  };
  nlohmann::json j =
      nlohmann::json::parse(absl::StripAsciiWhitespace(text), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("not JSON");
  if (!j.is_object()) return bad("not a JSON object");
  for (const char* key : {"sequence", "head_hash", "signature"}) {
    if (!j.contains(key)) return bad(absl::StrCat("no field \"", key, "\""));
  }
  absl::StatusOr<int64_t> sequence = JsonInt64(j, "sequence");
  if (!sequence.ok()) return bad(sequence.status().message());
  if (*sequence < 0) return bad("\"sequence\" is negative");
  AuditCheckpoint checkpoint;
  checkpoint.sequence = static_cast<uint64_t>(*sequence);
  for (auto [key, into, size] : {std::tuple{"head_hash", &checkpoint.head_hash, kAuditHashBytes},
                                 std::tuple{"signature", &checkpoint.signature, size_t{64}}}) {
    absl::StatusOr<std::string> hex = JsonString(j, key);
    if (!hex.ok()) return bad(hex.status().message());
    absl::StatusOr<std::string> raw = HexDecode(*hex);
    if (!raw.ok()) return bad(absl::StrCat("\"", key, "\" is not hex"));
    if (raw->size() != size) {
      return bad(absl::StrCat("\"", key, "\" has ", raw->size(), " bytes, not ", size));
    }
    *into = *std::move(raw);
  }
  return checkpoint;
}

absl::Status CheckCheckpointSignature(const std::string& public_key,
                                      const AuditCheckpoint& checkpoint) {
  if (VerifyAuditCheckpoint(public_key, checkpoint)) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("the audit checkpoint at record ", checkpoint.sequence,
                   " does not verify under the pinned audit key; it was not signed by this CA"));
}

absl::Status CheckNotBehind(const AuditCheckpoint& kept, const AuditCheckpoint& next) {
  if (next.sequence < kept.sequence) {
    return absl::DataLossError(absl::StrCat(
        "audit log rolled back: the CA's checkpoint is at record ", next.sequence,
        " but a checkpoint at record ", kept.sequence,
        " was seen before; records were removed from the log (restore the CA's database from a "
        "backup that holds them, and investigate)"));
  }
  if (next.sequence == kept.sequence && next.head_hash != kept.head_hash) {
    return absl::DataLossError(absl::StrCat(
        "audit log forked: the CA's checkpoint at record ", next.sequence, " has head hash ",
        ShortHash(next.head_hash), "..., but the checkpoint seen before at the same record has ",
        ShortHash(kept.head_hash), "...; the log was rewritten (investigate)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointLedger> CheckpointLedger::Create(std::string public_key,
                                                          std::optional<AuditCheckpoint> kept) {
  if (public_key.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("the audit public key has ", public_key.size(), " bytes, not 32"));
  }
  if (kept.has_value()) {
    if (absl::Status s = CheckCheckpointSignature(public_key, *kept); !s.ok()) {
      return absl::DataLossError(absl::StrCat("the kept checkpoint is not valid: ", s.message()));
    }
  }
  return CheckpointLedger(std::move(public_key), std::move(kept));
}

absl::StatusOr<bool> CheckpointLedger::Accept(const AuditCheckpoint& next) {
  if (absl::Status s = CheckCheckpointSignature(public_key_, next); !s.ok()) return s;
  if (!kept_.has_value()) {
    kept_ = next;
    return true;
  }
  if (absl::Status s = CheckNotBehind(*kept_, next); !s.ok()) return s;
  if (next.sequence == kept_->sequence) return false;
  kept_ = next;
  return true;
}

}  // namespace meshtrust::ca
