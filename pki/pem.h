// Strict PEM encoding and decoding.
//
// Unlike OpenSSL's PEM reader, which skips any text around a block, these
// functions accept only PEM blocks separated by whitespace: text before the
// first block, after the last one or between blocks, RFC 1421 headers,
// invalid base64 and a label other than the one expected are all errors.
#ifndef MESHTRUST_PKI_PEM_H_
#define MESHTRUST_PKI_PEM_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/secret_bytes.h"

namespace meshtrust::pki {

struct PemBlock {
  std::string label;  // e.g. "CERTIFICATE"
  std::string der;
};

// Every block in `pem` (at least one).
absl::StatusOr<std::vector<PemBlock>> DecodePemBlocks(absl::string_view pem);
// Exactly one block, whose label must be `label`.
absl::StatusOr<std::string> DecodeSinglePem(absl::string_view pem, absl::string_view label);
// One or more blocks, all labelled `label`, in order.
absl::StatusOr<std::vector<std::string>> DecodePemSequence(absl::string_view pem,
                                                           absl::string_view label);
// A PEM block with 64-column base64 lines and a final newline.
std::string EncodePem(absl::string_view der, absl::string_view label);

// The same for secret material: the decoded bytes never leave wiped memory.
struct PemSecretBlock {
  std::string label;
  SecretBytes der;
};
absl::StatusOr<PemSecretBlock> DecodeSecretPem(const SecretBytes& pem);
SecretBytes SecretDerToPem(const SecretBytes& der, absl::string_view label);

}  // namespace meshtrust::pki

#endif  // MESHTRUST_PKI_PEM_H_
