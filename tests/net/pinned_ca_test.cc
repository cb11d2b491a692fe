// The pin and address parsing in front of the pinned bootstrap connection.
#include "net/pinned_ca.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "net/tls.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_http_server.h"

namespace meshtrust::net {
namespace {

using ::meshtrust::testing::IsOk;
using ::meshtrust::testing::StatusIs;
using ::meshtrust::testing::TlsHttpServer;
using ::testing::_;
using ::testing::HasSubstr;

TEST(PinnedCaTest, AcceptsOnlySha256AndSixtyFourLowercaseHexDigits) {
  const std::string hex(64, 'a');
  EXPECT_THAT(ValidatePin("sha256:" + hex), IsOk());
  EXPECT_THAT(ValidatePin("sha256:" + std::string(64, 'A')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64 lowercase hex")));
  EXPECT_THAT(ValidatePin("sha256:" + hex.substr(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(ValidatePin("sha512:" + hex), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(ValidatePin(""), StatusIs(absl::StatusCode::kInvalidArgument, _));
}

TEST(PinnedCaTest, SplitsHostPortAndBracketedIpv6) {
  std::string host, port;
  ASSERT_THAT(SplitHostPort("ca.example:8443", &host, &port), IsOk());
  EXPECT_EQ(host, "ca.example");
  EXPECT_EQ(port, "8443");
  ASSERT_THAT(SplitHostPort("[::1]:443", &host, &port), IsOk());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, "443");
  for (const char* bad : {"ca.example", ":443", "ca.example:"}) {
    EXPECT_THAT(SplitHostPort(bad, &host, &port),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not host:port")))
        << bad;
  }
}

TEST(PinnedCaTest, FetchRefusesABadPinBeforeConnecting) {
  EXPECT_THAT(FetchPinnedCa("127.0.0.1:1", "sha256:nope", std::chrono::milliseconds(100)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CA pin")));
}

// A control CA made here, and a TLS server on loopback presenting a
// certificate it issued, shaped by the test.
class PinnedServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    ASSERT_TRUE(key.ok()) << key.status();
    ca_key_ = std::move(*key);
    pki::CertificateTemplate ca;
    ca.subject = {{"CN", "test control CA"}};
    ca.not_before = pki::Clock::now() - std::chrono::hours(1);
    ca.not_after = pki::Clock::now() + std::chrono::hours(24);
    ca.is_ca = true;
    ca.path_len = 0;
    ca.key_usage = pki::kKeyCertSign | pki::kCrlSign;
    auto cert = pki::IssueCertificate(ca, ca_key_.get(), nullptr, ca_key_.get());
    ASSERT_TRUE(cert.ok()) << cert.status();
    ca_cert_ = std::move(*cert);
    auto pin = pki::SpkiSha256Pin(ca_key_.get());
    ASSERT_TRUE(pin.ok()) << pin.status();
    pin_ = *pin;
  }

  // Serves a leaf issued by the control CA with these EKUs and SANs.
  void Serve(std::vector<pki::ExtendedKeyUsage> eku, std::vector<std::string> dns,
             std::vector<std::string> ips) {
    auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
    ASSERT_TRUE(key.ok()) << key.status();
    pki::CertificateTemplate t;
    t.subject = {{"CN", "meshtrust-ca"}};
    t.not_before = pki::Clock::now() - std::chrono::hours(1);
    t.not_after = pki::Clock::now() + std::chrono::hours(1);
    t.key_usage = pki::kDigitalSignature;
    t.extended_key_usage = std::move(eku);
    t.dns_names = std::move(dns);
    t.ip_addresses = std::move(ips);
    auto leaf = pki::IssueCertificate(t, key->get(), ca_cert_.get(), ca_key_.get());
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    auto ctx = NewTlsServerContext(
        pki::CertificatePem(leaf->get()) + pki::CertificatePem(ca_cert_.get()), key->get());
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    auto server = TlsHttpServer::Start("127.0.0.1:0", std::move(*ctx),
                                       [](const HttpRequest&) { return HttpResponse{}; });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  absl::StatusOr<ossl::UniquePtr<X509>> Fetch(const std::string& host) {
    return FetchPinnedCa(absl::StrCat(host, ":", server_->port()), pin_, std::chrono::seconds(5));
  }

  ossl::UniquePtr<EVP_PKEY> ca_key_;
  ossl::UniquePtr<X509> ca_cert_;
  std::string pin_;
  std::unique_ptr<TlsHttpServer> server_;
};

TEST_F(PinnedServerTest, AcceptsAServerCertificateForTheHostConnectedTo) {
  Serve({pki::ExtendedKeyUsage::kServerAuth}, {"localhost"}, {"127.0.0.1"});
  auto ca = Fetch("127.0.0.1");
  ASSERT_THAT(ca.status(), IsOk());
  EXPECT_EQ(pki::CertificateSha256Hex(ca->get()), pki::CertificateSha256Hex(ca_cert_.get()));
  EXPECT_THAT(Fetch("localhost").status(), IsOk());
}

TEST_F(PinnedServerTest, RefusesACertificateOfTheControlCaWithoutServerAuth) {
  // A client identity the control CA issued, presented as the server.
  Serve({pki::ExtendedKeyUsage::kClientAuth}, {"localhost"}, {"127.0.0.1"});
  EXPECT_THAT(Fetch("127.0.0.1").status(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("is not for a TLS server (no serverAuth extended key usage)")));
  Serve({}, {"localhost"}, {"127.0.0.1"});
  EXPECT_THAT(Fetch("127.0.0.1").status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("no serverAuth")));
}

TEST_F(PinnedServerTest, RefusesAServerCertificateForAnotherHost) {
  Serve({pki::ExtendedKeyUsage::kServerAuth}, {"other.example"}, {"10.0.0.1"});
  EXPECT_THAT(Fetch("127.0.0.1").status(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("is not for 127.0.0.1 (no matching DNS or IP subjectAltName)")));
  EXPECT_THAT(Fetch("localhost").status(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("is not for localhost")));
}

}  // namespace
}  // namespace meshtrust::net
