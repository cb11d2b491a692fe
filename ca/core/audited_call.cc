#include "ca/core/audited_call.h"

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "pki/digest.h"

namespace meshtrust::ca {

AuditedCall::~AuditedCall() {
  if (ended_) return;
  event_.result = std::string(kUnfinishedResult);
  spdlog::error("{} by {} for \"{}\" ended without an audit outcome", event_.action, event_.caller,
                event_.target);
  if (absl::Status s = store_->AppendAudit(event_); !s.ok()) {
    spdlog::error("could not audit an unfinished call: {}", s.ToString());
  }
}

absl::Status AuditedCall::Refuse(absl::Status status) {
  ended_ = true;
  event_.result =
      absl::StrCat("refused: ", absl::StatusCodeToString(status.code()), ": ", status.message());
  spdlog::warn("refused {} by {} for \"{}\": {}", event_.action, event_.caller, event_.target,
               status.ToString());
  if (absl::Status s = store_->AppendAudit(event_); !s.ok()) {
    spdlog::error("could not audit a refusal: {}", s.ToString());
  }
  return status;
}

absl::Status AuditedCall::Record(absl::string_view result) {
  ended_ = true;
  event_.result = std::string(result);
  return store_->AppendAudit(event_);
}

const AuditEvent& AuditedCall::Succeeded(absl::string_view result) {
  ended_ = true;
  event_.result = std::string(result);
  return event_;
}

absl::Status AuditedCall::Fail(absl::Status status) {
  ended_ = true;
  return status;
}

AuditedCall AuditTrail::Begin(const Caller& caller, absl::string_view action,
                              absl::string_view target, absl::string_view request_digest) const {
  return BeginAs(caller.ToString(), action, target, request_digest);
}

AuditedCall AuditTrail::BeginAs(absl::string_view caller, absl::string_view action,
                                absl::string_view target, absl::string_view request_digest) const {
  AuditEvent event;
  event.time = clock_->Now();
  event.caller = std::string(caller);
  event.action = std::string(action);
  event.target = std::string(target);
  event.request_sha256 = std::string(request_digest);
  return AuditedCall(store_, std::move(event));
}

AuditCheckpoint AuditTrail::Checkpoint() const {
  AuditHead head = store_->Head();
  {
    absl::MutexLock lock(&mu_);
    if (!last_.signature.empty() && last_.sequence == head.sequence && last_.head_hash == head.hash)
      return last_;
  }
  absl::StatusOr<AuditCheckpoint> checkpoint = signer_->SignCheckpoint(head);
  if (checkpoint.ok()) {
    if (sink_ != nullptr) sink_->Published(*checkpoint);
    absl::MutexLock lock(&mu_);
    if (checkpoint->sequence > last_.sequence) last_ = *checkpoint;
    return *std::move(checkpoint);
  }
  // The records are signed and stored; only this receipt is not. An unsigned
  // checkpoint verifies nowhere, so no one mistakes it for one.
  spdlog::error("cannot sign the audit checkpoint at record {}: {}", head.sequence,
                checkpoint.status().ToString());
  return AuditCheckpoint{head.sequence, head.hash, ""};
}

std::string RequestDigest(std::initializer_list<absl::string_view> parts) {
  std::string buf;
  for (absl::string_view p : parts) {
    uint32_t n = static_cast<uint32_t>(p.size());
    for (int i = 3; i >= 0; --i) buf.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    buf.append(p.data(), p.size());
  }
  return pki::Sha256Hex(buf);
}

}  // namespace meshtrust::ca
