// Connecting to the CA, shared by meshtrustctl and meshtrust-agent: TLS
// channels verified against the control CA, and enrollment with a join token.
#ifndef MESHTRUST_CLIENT_CA_CLIENT_H_
#define MESHTRUST_CLIENT_CA_CLIENT_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "base/secret_bytes.h"
#include "ca/audit/audit_chain.h"
#include "client/identity.h"
#include "pki/key.h"

namespace meshtrust::client {

inline constexpr std::chrono::seconds kDefaultCallTimeout{15};

// A channel to `address` that verifies the server against `control_ca_pem`,
// presenting `identity`'s certificate when given.
// `interceptors` observe every call (tests use them to see the bytes sent).
std::shared_ptr<grpc::Channel> CreateChannel(
    const std::string& address, const std::string& control_ca_pem, const Identity* identity,
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors = {});

// Bootstraps trust with `pin`, generates a key of `algorithm` locally,
// and exchanges `token` and a CSR for an identity certificate. With
// `expected_identity`, the CA refuses (without spending the token) a token
// that enrolls another identity.
absl::StatusOr<Identity> Enroll(const std::string& address, const std::string& pin,
                                const std::string& token, pki::KeyAlgorithm algorithm,
                                std::chrono::milliseconds timeout = kDefaultCallTimeout,
                                const std::string& expected_identity = "");

// What the CA answered to an enrollment.
struct EnrolledCertificate {
  std::string identity;  // spiffe://meshtrust/...
  std::string certificate_pem;
  std::string control_ca_pem;  // The pinned control CA.
  // Delivered over the pinned channel; empty from a CA that predates it.
  std::string audit_public_key;
  // The enrollment answer's checkpoint, verified under audit_public_key.
  std::optional<ca::AuditCheckpoint> checkpoint;
};

// Bootstraps trust with `pin` and exchanges `token` and `csr_der` for an
// identity certificate. The caller generated the key and must check that the
// certificate is for it. `expected_identity` as for Enroll.
absl::StatusOr<EnrolledCertificate> EnrollCsr(
    const std::string& address, const std::string& pin, const std::string& token,
    const std::string& csr_der, std::chrono::milliseconds timeout = kDefaultCallTimeout,
    const std::string& expected_identity = "");

absl::Status FromGrpcStatus(const grpc::Status& status);

// A checkpoint from the wire; nullopt when the answer carried none.
template <typename Proto>
std::optional<ca::AuditCheckpoint> CheckpointFrom(const Proto& answer) {
  if (!answer.has_checkpoint()) return std::nullopt;
  return ca::AuditCheckpoint{answer.checkpoint().sequence(), answer.checkpoint().head_hash(),
                             answer.checkpoint().signature()};
}

// A ClientContext with a deadline, for one call. It carries `request_id` (a
// fresh one when empty) as x-request-id metadata, which the CA writes into
// its log line for the call.
std::unique_ptr<grpc::ClientContext> NewContext(
    std::chrono::milliseconds timeout = kDefaultCallTimeout, const std::string& request_id = "");

// 16 random hex digits.
std::string NewRequestId();

}  // namespace meshtrust::client

#endif  // MESHTRUST_CLIENT_CA_CLIENT_H_
