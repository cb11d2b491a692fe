// Enroller over gRPC: bootstraps trust from the pin and calls Enroll without
// a client certificate (client::EnrollCsr).
#ifndef MESHTRUST_AGENT_GRPC_GRPC_ENROLLER_H_
#define MESHTRUST_AGENT_GRPC_GRPC_ENROLLER_H_

#include <chrono>
#include <string>

#include "agent/core/enroller.h"

namespace meshtrust::agent {

class GrpcEnroller final : public Enroller {
 public:
  // `address` is the CA's host:port.
  GrpcEnroller(std::string address, std::chrono::milliseconds timeout)
      : address_(std::move(address)), timeout_(timeout) {}
  absl::StatusOr<EnrolledIdentity> Enroll(const std::string& pin, const std::string& token,
                                          const std::string& csr_der,
                                          const std::string& expected_identity) override;

 private:
  std::string address_;
  std::chrono::milliseconds timeout_;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_GRPC_GRPC_ENROLLER_H_
