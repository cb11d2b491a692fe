// Writes the seed corpus of every fuzz target, made by code at test time:
//   meshtrust-fuzz-seeds OUT_DIR   ->  OUT_DIR/<target>/<seed files>
// Seeds are valid inputs and near misses, so each fuzzer starts deep inside
// its parser instead of at its first length check.
#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "agent/core/installer.h"
#include "agent/files/file_identity_store.h"
#include "base/files.h"
#include "base/hex.h"
#include "ca/audit/audit_chain.h"
#include "keystore/sealed_file_keystore.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/digest.h"
#include "pki/key.h"
#include "pki/pem.h"
#include "tests/fuzz/audit_records.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/testing/hostile_inputs.h"
#include "tests/testing/temp_dir.h"

namespace meshtrust::fuzz {
namespace {

using Seeds = std::vector<std::pair<std::string, std::string>>;  // name, bytes

std::string Base64(absl::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // The NUL.
  return out;
}

ossl::UniquePtr<EVP_PKEY> NewKey(pki::KeyAlgorithm alg) { return *pki::GenerateKey(alg); }

pki::CertificateTemplate IntermediateProfile() {
  pki::CertificateTemplate t;
  t.subject = {{"O", "meshtrust"}, {"OU", "cluster1"}, {"CN", "cluster1 intermediate CA 1"}};
  t.not_before = std::chrono::system_clock::now() - std::chrono::minutes(5);
  t.not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 30);
  t.is_ca = true;
  t.path_len = 0;
  t.key_usage = pki::kKeyCertSign | pki::kCrlSign | pki::kDigitalSignature;
  t.permitted_uri_domains = {"cluster.local"};
  t.crl_distribution_point = "http://meshtrust-ca:8080/crl/mesh-root-1.der";
  return t;
}

Seeds CsrSeeds() {
  using testing::CsrWithExtensions;
  auto p256 = NewKey(pki::KeyAlgorithm::kEcdsaP256);
  std::string der = *pki::BuildCsrDer(p256.get(), "cluster1");
  return {
      {"p256.der", der},
      {"p256.pem", pki::EncodePem(der, "CERTIFICATE REQUEST")},
      {"p384.der", *pki::BuildCsrDer(NewKey(pki::KeyAlgorithm::kEcdsaP384).get(), "")},
      {"rsa2048.der", *pki::BuildCsrDer(NewKey(pki::KeyAlgorithm::kRsa2048).get(), "x")},
      {"secp256k1.der", *pki::BuildCsrDer(testing::EcKeyOnCurve("secp256k1").get(), "")},
      {"explicit.der", *pki::BuildCsrDer(testing::ExplicitParamsP256Key().get(), "")},
      {"ca-request.der",
       CsrWithExtensions(p256.get(), {{"basicConstraints", "critical,CA:TRUE,pathlen:5"},
                                      {"nameConstraints", "critical,permitted;URI:.evil"}})},
      {"nul-uri.der",
       testing::CsrWithRawUriSan(p256.get(), std::string("spiffe://cluster.local\0.evil", 28))},
      {"challenge.der", testing::CsrWithChallengePassword(p256.get())},
      {"unknown-critical.der", testing::CsrWithUnknownCriticalExtension(p256.get())},
      {"bad-signature.der", testing::FlipLastBit(der)},
      {"sha1.der", testing::CsrSignedWith(p256.get(), EVP_sha1())},
      {"compressed-point.der", testing::CsrWithCompressedKey(testing::EcKeyOnCurve("P-256").get())},
      {"ber-outer.der", testing::WithNonMinimalOuterLength(der)},
      {"ber-indefinite.der", testing::WithIndefiniteOuterLength(der)},
      {"ber-signed-part.der", testing::CsrWithBerInSignedPart(p256.get())},
      {"version3.der", testing::CsrWithVersion(p256.get(), 3)},
      {"printable-star.der",
       testing::CsrWithRawSubject(p256.get(), {{"O", "evil*corp"}}, V_ASN1_PRINTABLESTRING)},
      {"unnamed-attribute.der", testing::CsrWithAttribute(p256.get(), "1.3.6.1.4.1.99999.7")},
  };
}

Seeds PemSeeds() {
  auto root_key = FixedKey("root");
  auto root = FixedCa("root");
  std::string cert = pki::CertificatePem(root.get());
  std::string crlf = cert;
  for (size_t at = 0; (at = crlf.find('\n', at)) != std::string::npos; at += 2)
    crlf.insert(at, "\r");
  auto throwaway = NewKey(pki::KeyAlgorithm::kEcdsaP256);
  return {
      {"cert.pem", cert},
      {"chain.pem", cert + cert},
      {"crlf.pem", crlf},
      {"key.pem", std::string(pki::PrivateKeyToPkcs8Pem(throwaway.get())->UnsafeSecretString())},
      {"header.pem", "-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END X-----\n"},
      {"text-around.pem", "hello\n" + cert + "bye\n"},
  };
}

Seeds X509Seeds() {
  auto root_key = FixedKey("root");
  auto root = FixedCa("root");
  auto inter_key = FixedKey("intermediate");
  auto inter =
      *pki::IssueCertificate(IntermediateProfile(), inter_key.get(), root.get(), root_key.get());
  pki::CertificateTemplate client;
  client.not_before = std::chrono::system_clock::now();
  client.not_after = client.not_before + std::chrono::hours(1);
  client.key_usage = pki::kDigitalSignature;
  client.extended_key_usage = {pki::ExtendedKeyUsage::kClientAuth};
  client.uris = {"spiffe://meshtrust/cluster/cluster1"};
  auto identity = *pki::IssueCertificate(client, NewKey(pki::KeyAlgorithm::kEcdsaP256).get(),
                                         root.get(), root_key.get());
  pki::CrlTemplate crl;
  crl.number = 7;
  crl.this_update = std::chrono::system_clock::now();
  crl.next_update = crl.this_update + std::chrono::hours(24);
  crl.revoked = {{pki::SerialHex(inter.get()), crl.this_update, 1}, {"01", crl.this_update, 4}};
  auto signed_crl = *pki::IssueCrl(crl, root.get(), root_key.get());
  return {
      {"intermediate.der", pki::CertificateDer(inter.get())},
      {"chain.pem", pki::CertificatePem(inter.get()) + pki::CertificatePem(root.get())},
      {"identity.pem", pki::CertificatePem(identity.get())},
      {"crl.der", pki::CrlDer(signed_crl.get())},
      {"crl.pem", pki::CrlPem(signed_crl.get()) + pki::CrlPem(signed_crl.get())},
  };
}

Seeds CaAnswerSeeds() {
  auto root_key = FixedKey("root");
  auto root = FixedCa("root");
  auto inter = *pki::IssueCertificate(IntermediateProfile(), FixedKey("intermediate").get(),
                                      root.get(), root_key.get());
  std::string cert = pki::CertificatePem(inter.get());
  std::string roots = pki::CertificatePem(root.get());
  auto other = FixedCa("other");
  // Near misses of the profile, each with one defect, so the fuzzer starts
  // next to every refusal.
  auto with = [&](auto change) {
    pki::CertificateTemplate t = IntermediateProfile();
    change(t);
    auto c = *pki::IssueCertificate(t, FixedKey("intermediate").get(), root.get(), root_key.get());
    std::string pem = pki::CertificatePem(c.get());
    return JoinParts({pem, pem + roots, roots, pki::Sha256Hex(roots)});
  };
  auto second = *pki::IssueCertificate(IntermediateProfile(), FixedKey("intermediate").get(),
                                       root.get(), root_key.get());
  Seeds seeds = {
      {"valid", JoinParts({cert, cert + roots, roots, pki::Sha256Hex(roots)})},
      {"wrong-digest", JoinParts({cert, cert + roots, roots, std::string(64, '0')})},
      {"other-root", JoinParts({cert, cert + roots, pki::CertificatePem(other.get()),
                                pki::Sha256Hex(pki::CertificatePem(other.get()))})},
      {"root-as-leaf", JoinParts({roots, roots, roots, pki::Sha256Hex(roots)})},
      {"pathlen-1", with([](pki::CertificateTemplate& t) { t.path_len = 1; })},
      {"no-crl-sign",
       with([](pki::CertificateTemplate& t) { t.key_usage &= ~uint32_t{pki::kCrlSign}; })},
      {"with-eku", with([](pki::CertificateTemplate& t) {
         t.extended_key_usage = {pki::ExtendedKeyUsage::kServerAuth};
       })},
      {"chain-of-another",
       JoinParts({cert, pki::CertificatePem(second.get()) + roots, roots, pki::Sha256Hex(roots)})},
  };
  // The seeds are only useful if each reaches the check it is named for: the
  // valid one must be accepted, and each near miss refused for its defect.
  const std::vector<std::pair<std::string, std::string>> verdicts = {
      {"valid", ""},
      {"wrong-digest", "digest does not match"},
      {"other-root", "does not chain to the trust bundle"},
      {"root-as-leaf", "not for the key this agent generated"},
      {"pathlen-1", "not a CA with pathlen:0"},
      {"no-crl-sign", "lacks keyCertSign or cRLSign"},
      {"with-eku", "has an extendedKeyUsage"},
      {"chain-of-another", "the chain does not start with the certificate"},
  };
  auto our_key = FixedKey("intermediate");
  for (const auto& [name, expected] : verdicts) {
    std::string bytes;
    for (const auto& [n, b] : seeds)
      if (n == name) bytes = b;
    std::vector<absl::string_view> parts =
        SplitParts(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 4);
    agent::SignedIntermediate answer{std::string(parts[0]), std::string(parts[1]),
                                     std::string(parts[2]), std::string(parts[3])};
    absl::Status verdict =
        agent::VerifySignedIntermediate(answer, our_key.get(), std::chrono::system_clock::now());
    if (expected.empty() ? !verdict.ok() : verdict.message().find(expected) == std::string::npos) {
      std::fprintf(stderr, "ca_answer seed %s: expected %s, got: %s\n", name.c_str(),
                   expected.empty() ? "acceptance" : expected.c_str(), verdict.ToString().c_str());
      Require(false, "every ca_answer seed reaches the check it is named for");
    }
  }
  return seeds;
}

Seeds KeystoreSeeds() {
  testing::TempDir dir;
  std::string kek_file = dir.Sub("kek");
  Require(WriteFileAtomically(kek_file, std::string(32, '\x17'), 0600).ok(), "kek file");
  ::mkdir(dir.Sub("keys").c_str(), 0700);
  auto store =
      keystore::SealedFileKeyStore::Create(dir.Sub("keys"), keystore::KekSource::KeyFile(kek_file));
  Require(store.ok(), "keystore");
  Require((*store)->PutKey("mesh-root-1", FixedKey("root").get()).ok(), "seal root");
  Require((*store)->PutKey("mesh-root-2", FixedKey("other").get()).ok(), "seal other");
  std::string sealed = *ReadFile((*store)->PathFor("mesh-root-1"));
  std::string swapped = *ReadFile((*store)->PathFor("mesh-root-2"));
  std::string flipped = sealed;
  flipped[flipped.size() / 2] ^= 0x01;
  // The fuzzer's invariant (only the key sealed under the id opens) must be
  // reachable: the genuine file opens, the swapped one does not.
  auto kek = SecretBytes::CopyOf(absl::string_view(std::string(32, '\x17')));
  Require(keystore::OpenSealedKey(kek, "mesh-root-1", sealed, "seed").ok(),
          "the keystore seed opens");
  Require(!keystore::OpenSealedKey(kek, "mesh-root-1", swapped, "seed").ok(),
          "the swapped keystore seed is refused");
  return {{"sealed", sealed},
          {"swapped", swapped},
          {"flipped", flipped},
          {"truncated", sealed.substr(0, sealed.size() - 9)}};
}

Seeds KubeconfigSeeds() {
  auto root = FixedCa("root");
  std::string ca = Base64(pki::CertificatePem(root.get()));
  auto key = NewKey(pki::KeyAlgorithm::kEcdsaP256);
  std::string key_b64 = Base64(pki::PrivateKeyToPkcs8Pem(key.get())->UnsafeSecretString());
  auto config = [&](const std::string& server, const std::string& user) {
    return absl::StrCat(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: k\n  cluster:\n    server: ",
        server, "\n    certificate-authority-data: ", ca,
        "\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n"
        "users:\n- name: u\n  user:\n",
        user);
  };
  return {
      {"token", config("https://127.0.0.1:6443", "    token: abc\n")},
      {"token-file", config("https://[::1]:6443", "    tokenFile: /nonexistent/token\n")},
      {"client-cert",
       config("https://k8s.example:443", absl::StrCat("    client-certificate-data: ", ca,
                                                      "\n    client-key-data: ", key_b64, "\n"))},
      {"http", config("http://127.0.0.1:8080", "    token: abc\n")},
      {"flow",
       "{current-context: c, contexts: [{name: c, context: {cluster: k, user: u}}], "
       "clusters: [{name: k, cluster: {server: 'https://a'}}], users: [{name: u, user: "
       "{token: t}}]}"},
      {"anchors", "a: &x [*x]\ncurrent-context: *x\n"},
  };
}

Seeds KubeJsonSeeds() {
  std::string pem = pki::CertificatePem(FixedCa("root").get());
  std::string b64 = Base64(pem);
  return {
      {"cacerts",
       absl::StrCat(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"cacerts",)",
                    R"("namespace":"istio-system","resourceVersion":"1234","labels":)",
                    R"({"app.kubernetes.io/managed-by":"meshtrust"},"annotations":)",
                    R"({"meshtrust.io/serial":"abcd"}},"type":"Opaque","data":{"ca-cert.pem":")",
                    b64, R"(","root-cert.pem":")", b64, R"("}})")},
      {"not-base64", R"({"metadata":{"name":"cacerts"},"data":{"ca-cert.pem":"%%%"}})"},
      {"wrong-types", R"({"metadata":{"labels":[1,2],"resourceVersion":7},"data":{"k":5}})"},
      {"nested", std::string(64, '[') + std::string(64, ']')},
      {"unicode", R"({"metadata":{"annotations":{"\u0000\ud83d\ude00":"x"}},"data":{}})"},
      // Once a null pointer handed to the base64 decoder (an empty value).
      {"empty-value", R"({"metadata":{"name":"cacerts"},"data":{"ca-cert.pem":""}})"},
  };
}

Seeds IdentityFileSeeds() {
  client::Identity id;
  id.identity = "spiffe://meshtrust/cluster/cluster1";
  id.certificate_pem = pki::CertificatePem(FixedCa("agent").get());
  id.control_ca_pem = pki::CertificatePem(FixedCa("control").get());
  id.key_pem = *pki::PrivateKeyToPkcs8Pem(FixedKey("agent").get());
  std::string whole(agent::EncodeIdentityFile(id).UnsafeSecretString());
  return {
      {"whole", whole},
      {"no-key", R"({"identity":"i","tls.crt":"c","ca.crt":"a"})"},
      {"wrong-types", R"({"identity":1,"tls.crt":[],"ca.crt":null,"tls.key":{}})"},
      {"escapes", R"({"identity":"\u0000","tls.crt":"\ud83d\ude00","ca.crt":"","tls.key":""})"},
  };
}

Seeds AuditSeeds() {
  const ca::AuditSigner& signer = AuditFixtureSigner();
  std::vector<ca::AuditRecord> records;
  std::string previous(ca::kAuditHashBytes, '\0');
  const char* actions[] = {"CreateRoot", "AddCluster", "Enroll", "SignIntermediate", "Revoke"};
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    ca::AuditEvent e;
    e.time = std::chrono::system_clock::now();
    e.caller = "spiffe://meshtrust/cluster/cluster1";
    e.action = actions[seq - 1];
    e.target = "cluster1";
    e.request_sha256 = pki::Sha256Hex(e.action);
    e.result = seq == 3 ? "refused: UNAUTHENTICATED: join token is not valid" : "ok";
    e.serial = seq == 4 ? "7f3a" : "";
    records.push_back(*signer.Seal(seq, e, previous));
    previous = records.back().hash;
  }
  std::vector<ca::AuditRecord> reordered = records;
  std::swap(reordered[1], reordered[2]);
  std::vector<ca::AuditRecord> edited = records;
  edited[3].event.target = "cluster2";
  return {{"chain", EncodeAuditRecords(records)},
          {"reordered", EncodeAuditRecords(reordered)},
          {"edited", EncodeAuditRecords(edited)},
          {"hex", HexEncode(records[0].hash)}};
}

void Write(const std::string& dir, const Seeds& seeds) {
  ::mkdir(dir.c_str(), 0755);
  for (const auto& [name, bytes] : seeds) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  }
}

}  // namespace
}  // namespace meshtrust::fuzz

int main(int argc, char** argv) {
  using namespace meshtrust::fuzz;  // NOLINT(build/namespaces)
  if (argc != 2) {
    std::fprintf(stderr, "usage: meshtrust-fuzz-seeds OUT_DIR\n");
    return 2;
  }
  std::string out = argv[1];
  ::mkdir(out.c_str(), 0755);
  Write(out + "/csr_fuzz", CsrSeeds());
  Write(out + "/pem_fuzz", PemSeeds());
  Write(out + "/x509_fuzz", X509Seeds());
  Write(out + "/ca_answer_fuzz", CaAnswerSeeds());
  Write(out + "/keystore_fuzz", KeystoreSeeds());
  Write(out + "/kubeconfig_fuzz", KubeconfigSeeds());
  Write(out + "/kube_json_fuzz", KubeJsonSeeds());
  Write(out + "/audit_fuzz", AuditSeeds());
  Write(out + "/identity_file_fuzz", IdentityFileSeeds());
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
