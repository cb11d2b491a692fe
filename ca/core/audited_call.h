// AuditedCall: the one way the Authority's decisions reach the audit log.
//
// Every operation begins one (AuditTrail::Begin) with who called, what it
// asked for, on what, and a digest of the request, and ends it in exactly
// one outcome:
//
//   Refuse(status)     records the refusal ("refused: CODE: message") and
//                      returns `status`.
//   Record(result)     records a call that changes nothing (an admin's
//                      read, a notification) now; the call goes on only if
//                      the store answers OK.
//   Succeeded(result)  the record of a success, for the store call that
//                      commits it in one transaction with the change itself
//                      (ca/store/store.h). A refusal may still follow when
//                      the store refuses the change.
//   Unrecorded()       a success deliberately left out of the log (agents'
//                      polling reads).
//   Fail(status)       returns `status` with no record: the call failed on
//                      something that is not a decision (the store, the
//                      keystore), or repeats a refusal already recorded once
//                      (a flood of join-token guesses).
//
// A call that ends with none of these is a defect: its destructor records it
// with the result "unfinished: ..." and logs an error, so the log still shows
// that the call happened.
#ifndef MESHTRUST_CA_CORE_AUDITED_CALL_H_
#define MESHTRUST_CA_CORE_AUDITED_CALL_H_

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "ca/audit/audit_chain.h"
#include "ca/audit/audit_checkpoint.h"
#include "ca/core/identity.h"
#include "ca/store/store.h"

namespace meshtrust::ca {

// The result recorded for a call that ended without an outcome.
inline constexpr absl::string_view kUnfinishedResult = "unfinished: the call recorded no outcome";

// One operation's audit record. Not thread safe: it belongs to the operation
// that began it.
class AuditedCall {
 public:
  AuditedCall(const AuditedCall&) = delete;
  AuditedCall& operator=(const AuditedCall&) = delete;
  ~AuditedCall();

  // The record as it stands.
  const AuditEvent& event() const { return event_; }
  // What the call turned out to be about (e.g. the identity a token names).
  void set_target(absl::string_view target) { event_.target = std::string(target); }
  // The certificate the call issued or concerns.
  void set_serial(absl::string_view serial) { event_.serial = std::string(serial); }

  absl::Status Refuse(absl::Status status);
  absl::Status Record(absl::string_view result = "ok");
  const AuditEvent& Succeeded(absl::string_view result = "ok");
  void Unrecorded() { ended_ = true; }
  absl::Status Fail(absl::Status status);

 private:
  friend class AuditTrail;
  AuditedCall(Store* store, AuditEvent event) : store_(store), event_(std::move(event)) {}

  Store* store_;
  AuditEvent event_;
  bool ended_ = false;
};

// The audit log as the Authority's parts use it: calls recorded in `store`
// at `clock`'s time, and checkpoints signed by `signer`. Thread safe.
class AuditTrail {
 public:
  // `store`, `signer` and `clock` must outlive it.
  // `sink`, when given, is told of every checkpoint handed out.
  AuditTrail(Store* store, const AuditSigner* signer, const Clock* clock,
             CheckpointSink* sink = nullptr)
      : store_(store), signer_(signer), clock_(clock), sink_(sink) {}

  AuditedCall Begin(const Caller& caller, absl::string_view action, absl::string_view target,
                    absl::string_view request_digest) const;
  // For a call with no authenticated caller: `caller` is what the record
  // names ("anonymous from 192.0.2.7", "local:meshtrust-ca").
  AuditedCall BeginAs(absl::string_view caller, absl::string_view action, absl::string_view target,
                      absl::string_view request_digest) const;

  // The signed head of the log, handed to agents with every response. Each
  // head is signed once: the responses of writes committed together (and
  // any read answered before the next write) share its checkpoint.
  AuditCheckpoint Checkpoint() const ABSL_LOCKS_EXCLUDED(mu_);
  // The key that verifies the log's signatures.
  const std::string& public_key() const { return signer_->public_key(); }

 private:
  Store* store_;
  const AuditSigner* signer_;
  const Clock* clock_;
  CheckpointSink* sink_;
  mutable absl::Mutex mu_;
  mutable AuditCheckpoint last_ ABSL_GUARDED_BY(mu_);
};

// Hex SHA-256 over length-prefixed parts; the audit's request digest.
std::string RequestDigest(std::initializer_list<absl::string_view> parts);

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_CORE_AUDITED_CALL_H_
