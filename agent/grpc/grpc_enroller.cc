#include "agent/grpc/grpc_enroller.h"

#include "client/ca_client.h"

namespace meshtrust::agent {

absl::StatusOr<EnrolledIdentity> GrpcEnroller::Enroll(const std::string& pin,
                                                      const std::string& token,
                                                      const std::string& csr_der,
                                                      const std::string& expected_identity) {
  absl::StatusOr<client::EnrolledCertificate> enrolled =
      client::EnrollCsr(address_, pin, token, csr_der, timeout_, expected_identity);
  if (!enrolled.ok()) return enrolled.status();
  return EnrolledIdentity{enrolled->identity, enrolled->certificate_pem, enrolled->control_ca_pem,
                          enrolled->audit_public_key};
}

}  // namespace meshtrust::agent
