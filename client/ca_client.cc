#include "client/ca_client.h"

#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "ca/audit/audit_checkpoint.h"
#include "meshtrust/v1/meshtrust.grpc.pb.h"
#include "net/pinned_ca.h"
#include "pki/certificate.h"
#include "pki/csr.h"

namespace meshtrust::client {

std::shared_ptr<grpc::Channel> CreateChannel(
    const std::string& address, const std::string& control_ca_pem, const Identity* identity,
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = control_ca_pem;
  if (identity != nullptr) {
    // gRPC copies the key into its own credentials object.
    tls.pem_private_key = std::string(identity->key_pem.UnsafeSecretString());
    tls.pem_cert_chain = identity->certificate_pem;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(4 * 1024 * 1024);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  // gRPC's own reconnect backoff grows to 120 s by default: a CA away for a
  // minute would stay unreachable for another two after it is back, whatever
  // the caller's retry policy. Capped, the channel tries again within a few
  // seconds (with gRPC's jitter, so a fleet does not reconnect in step).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  std::shared_ptr<grpc::Channel> channel =
      interceptors.empty() ? grpc::CreateCustomChannel(address, grpc::SslCredentials(tls), args)
                           : grpc::experimental::CreateCustomChannelWithInterceptors(
                                 address, grpc::SslCredentials(tls), args, std::move(interceptors));
  if (identity != nullptr) sodium_memzero(tls.pem_private_key.data(), tls.pem_private_key.size());
  return channel;
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::string NewRequestId() {
  unsigned char raw[8];
  randombytes_buf(raw, sizeof(raw));
  char hex[2 * sizeof(raw) + 1];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  return hex;
}

std::unique_ptr<grpc::ClientContext> NewContext(std::chrono::milliseconds timeout,
                                                const std::string& request_id) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  context->AddMetadata("x-request-id", request_id.empty() ? NewRequestId() : request_id);
  return context;
}

absl::StatusOr<EnrolledCertificate> EnrollCsr(const std::string& address, const std::string& pin,
                                              const std::string& token, const std::string& csr_der,
                                              std::chrono::milliseconds timeout,
                                              const std::string& expected_identity) {
  absl::StatusOr<ossl::UniquePtr<X509>> control = net::FetchPinnedCa(address, pin, timeout);
  if (!control.ok()) return control.status();
  std::string control_pem = pki::CertificatePem(control->get());

  auto stub = v1::TrustAuthority::NewStub(CreateChannel(address, control_pem, nullptr));
  v1::EnrollRequest request;
  request.set_token(token);
  request.set_csr_der(csr_der);
  request.set_expected_identity(expected_identity);
  v1::EnrollResponse response;
  auto context = NewContext(timeout);
  grpc::Status status = stub->Enroll(context.get(), request, &response);
  // The request held the token; wipe it now.
  sodium_memzero(request.mutable_token()->data(), request.token().size());
  if (!status.ok()) {
    absl::Status s = FromGrpcStatus(status);
    return absl::Status(s.code(), absl::StrCat("enrollment refused: ", s.message()));
  }
  if (response.control_ca_pem() != control_pem) {
    return absl::DataLossError("the CA returned a control CA other than the pinned one");
  }
  EnrolledCertificate out{response.identity(), response.certificate_pem(), control_pem,
                          response.audit_public_key(), CheckpointFrom(response)};
  if (!out.audit_public_key.empty()) {
    if (out.audit_public_key.size() != 32) {
      return absl::DataLossError(absl::StrCat("the CA returned an audit public key of ",
                                              out.audit_public_key.size(),
                                              " bytes, not an Ed25519 key of 32"));
    }
    if (!out.checkpoint.has_value()) {
      return absl::DataLossError("the CA's enrollment answer carries no audit checkpoint");
    }
    if (absl::Status s = ca::CheckCheckpointSignature(out.audit_public_key, *out.checkpoint);
        !s.ok()) {
      return absl::DataLossError(absl::StrCat("enrollment refused: ", s.message()));
    }
  }
  return out;
}

absl::StatusOr<Identity> Enroll(const std::string& address, const std::string& pin,
                                const std::string& token, pki::KeyAlgorithm algorithm,
                                std::chrono::milliseconds timeout,
                                const std::string& expected_identity) {
  absl::StatusOr<ossl::UniquePtr<EVP_PKEY>> key = pki::GenerateKey(algorithm);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> csr = pki::BuildCsrDer(key->get(), "");
  if (!csr.ok()) return csr.status();
  absl::StatusOr<EnrolledCertificate> enrolled =
      EnrollCsr(address, pin, token, *csr, timeout, expected_identity);
  if (!enrolled.ok()) return enrolled.status();
  absl::StatusOr<ossl::UniquePtr<X509>> cert = pki::ParseCertificatePem(enrolled->certificate_pem);
  if (!cert.ok()) return cert.status();
  if (!pki::SamePublicKey(pki::PublicKeyOf(cert->get()), key->get())) {
    return absl::DataLossError("the CA returned an identity certificate for a different key");
  }
  absl::StatusOr<SecretBytes> key_pem = pki::PrivateKeyToPkcs8Pem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  return Identity{enrolled->identity, enrolled->certificate_pem, *std::move(key_pem),
                  enrolled->control_ca_pem, enrolled->audit_public_key};
}

}  // namespace meshtrust::client
