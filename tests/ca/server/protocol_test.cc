// The bad-input suite over the wire: the real gRPC server with real mTLS.
// Garbage on the port, missing and out-of-range fields on every RPC, and
// identities that stop being valid on connections, streams and resumed TLS
// sessions that were set up while they still were.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpc/grpc_security.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ca/server/grpc_service.h"
#include "pki/certificate.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::ca {
namespace {

using ::meshtrust::testing::TestCa;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string NewCsr() {
  auto key = *pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  return *pki::BuildCsrDer(key.get(), "");
}

// Sends `bytes` on a plain TCP connection and reads until the server closes
// it (or 5 s pass). Returns how many bytes came back.
size_t SendRaw(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  size_t received = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    (void)!write(fd, bytes.data(), bytes.size());
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) received += static_cast<size_t>(n);
  }
  close(fd);
  return received;
}

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = TestCa::Create();
    admin_ = ca_->EnrollOverGrpc(ca_->init().admin_token);
    admin_stub_ = ca_->AdminStub(admin_);
    agent_ = ca_->EnrollOverGrpc(AddCluster("cluster1"));
    AddCluster("cluster2");
    agent_stub_ = ca_->AgentStub(agent_);
  }

  std::string AddCluster(const std::string& name) { return ca_->AddClusterOverGrpc(admin_, name); }

  grpc::Status Sign(v1::TrustAuthority::Stub* stub, v1::SignIntermediateResponse* resp,
                    const std::string& cluster = "cluster1") {
    v1::SignIntermediateRequest req;
    req.set_cluster(cluster);
    req.set_csr_der(NewCsr());
    auto ctx = client::NewContext();
    return stub->SignIntermediate(ctx.get(), req, resp);
  }

  // Everything a refused call must leave as it was.
  std::string State() {
    std::string out;
    auto certificates = ca_->store()->ListCertificates({"", "", 100000});
    auto clusters = ca_->store()->ListClusters();
    EXPECT_TRUE(certificates.ok() && clusters.ok());
    for (const auto& c : *certificates) absl::StrAppend(&out, c.serial, c.revoked, ";");
    for (const auto& c : *clusters) {
      absl::StrAppend(&out, c.name, c.enabled, c.current_serial, c.acked_serial,
                      c.acked_bundle_sha256, ";");
    }
    return out;
  }

  void ExpectRefused(const std::string& what, const std::function<grpc::Status()>& call,
                     grpc::StatusCode code, const std::string& fragment) {
    SCOPED_TRACE(what);
    std::string before = State();
    uint64_t head = ca_->store()->Head().sequence;
    grpc::Status s = call();
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(fragment));
    EXPECT_EQ(State(), before) << "a refused call changed the CA's state";
    ASSERT_EQ(ca_->store()->Head().sequence, head + 1) << "the refusal must be audited once";
    auto last = *ca_->store()->ReadAudit(head, 1);
    EXPECT_THAT(
        last[0].event.result,
        StartsWith("refused: " + absl::StatusCodeToString(static_cast<absl::StatusCode>(code))));
    ++cases_;
  }

  std::unique_ptr<TestCa> ca_;
  client::Identity admin_, agent_;
  std::unique_ptr<v1::Admin::Stub> admin_stub_;
  std::unique_ptr<v1::TrustAuthority::Stub> agent_stub_;
  int cases_ = 0;
};

TEST_F(ProtocolTest, MissingAndOutOfRangeFieldsOnEveryRpc) {
  using grpc::StatusCode;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  v1::SignIntermediateResponse issued;
  ASSERT_TRUE(Sign(agent_stub_.get(), &issued).ok());
  std::string bundle = issued.bundle().sha256();

  auto sign = [&](std::string cluster, std::string csr, int64_t ttl) {
    return [&, cluster, csr, ttl] {
      v1::SignIntermediateRequest req;
      req.set_cluster(cluster);
      req.set_csr_der(csr);
      req.set_ttl_seconds(ttl);
      v1::SignIntermediateResponse resp;
      return agent_stub_->SignIntermediate(client::NewContext().get(), req, &resp);
    };
  };
  ExpectRefused("sign: no cluster", sign("", NewCsr(), 0), StatusCode::PERMISSION_DENIED,
                "may not request an intermediate for cluster \"\"");
  ExpectRefused("sign: other cluster", sign("cluster2", NewCsr(), 0), StatusCode::PERMISSION_DENIED,
                "for cluster \"cluster2\"");
  ExpectRefused("sign: no CSR", sign("cluster1", "", 0), StatusCode::INVALID_ARGUMENT,
                "CSR is empty");
  ExpectRefused("sign: negative TTL", sign("cluster1", NewCsr(), -1), StatusCode::INVALID_ARGUMENT,
                "requested TTL is negative");
  ExpectRefused("sign: most negative TTL", sign("cluster1", NewCsr(), -kMax - 1),
                StatusCode::INVALID_ARGUMENT, "requested TTL is negative");

  ExpectRefused(
      "renew: no CSR",
      [&] {
        v1::RenewIdentityResponse resp;
        return agent_stub_->RenewIdentity(client::NewContext().get(), {}, &resp);
      },
      StatusCode::INVALID_ARGUMENT, "CSR is empty");

  auto ack = [&](std::string cluster, std::string serial, std::string sha, std::string crl) {
    return [&, cluster, serial, sha, crl] {
      v1::AckRequest req;
      req.set_cluster(cluster);
      req.set_serial(serial);
      req.set_bundle_sha256(sha);
      req.set_intermediate_crl_pem(crl);
      v1::AckResponse resp;
      return agent_stub_->Ack(client::NewContext().get(), req, &resp);
    };
  };
  ExpectRefused("ack: no cluster", ack("", issued.serial(), bundle, ""),
                StatusCode::PERMISSION_DENIED, "may not acknowledge for cluster \"\"");
  ExpectRefused("ack: no serial", ack("cluster1", "", bundle, ""), StatusCode::INVALID_ARGUMENT,
                "serial \"\" is not an intermediate issued to cluster1");
  ExpectRefused("ack: no digest", ack("cluster1", issued.serial(), "", ""),
                StatusCode::INVALID_ARGUMENT, "bundle_sha256 must be the 64 lowercase hex");
  ExpectRefused("ack: digest of the wrong form", ack("cluster1", issued.serial(), bundle + "0", ""),
                StatusCode::INVALID_ARGUMENT, "bundle_sha256 must be");
  ExpectRefused("ack: garbage CRL", ack("cluster1", issued.serial(), bundle, "garbage"),
                StatusCode::INVALID_ARGUMENT, "is not a CRL signed by intermediate");

  ExpectRefused(
      "watch: other cluster",
      [&] {
        v1::WatchRequest req;
        req.set_cluster("cluster2");
        auto ctx = client::NewContext();
        auto reader = agent_stub_->Watch(ctx.get(), req);
        v1::WatchEvent e;
        while (reader->Read(&e)) {
        }
        return reader->Finish();
      },
      StatusCode::PERMISSION_DENIED, "may not watch cluster \"cluster2\"");

  auto enroll = [&](std::string token, std::string csr) {
    return [&, token, csr] {
      v1::EnrollRequest req;
      req.set_token(token);
      req.set_csr_der(csr);
      v1::EnrollResponse resp;
      auto stub = v1::TrustAuthority::NewStub(
          client::CreateChannel(ca_->address(), agent_.control_ca_pem, nullptr));
      return stub->Enroll(client::NewContext().get(), req, &resp);
    };
  };
  ExpectRefused("enroll: no token", enroll("", NewCsr()), StatusCode::INVALID_ARGUMENT,
                "join token is malformed");
  v1::CreateJoinTokenRequest treq;
  treq.set_cluster("cluster2");
  v1::JoinToken token;
  ASSERT_TRUE(admin_stub_->CreateJoinToken(client::NewContext().get(), treq, &token).ok());
  ExpectRefused("enroll: no CSR", enroll(token.token(), ""), StatusCode::INVALID_ARGUMENT,
                "CSR is empty");
  EXPECT_TRUE(enroll(token.token(), NewCsr())().ok()) << "a refused request spent the token";

  auto add = [&](std::function<void(v1::AddClusterRequest*)> edit) {
    return [&, edit] {
      v1::AddClusterRequest req;
      req.set_name("cluster3");
      edit(&req);
      v1::AddClusterResponse resp;
      return admin_stub_->AddCluster(client::NewContext().get(), req, &resp);
    };
  };
  ExpectRefused("add: no name", add([](auto* r) { r->set_name(""); }), StatusCode::INVALID_ARGUMENT,
                "cluster name \"\" is invalid");
  ExpectRefused("add: 64-character name", add([](auto* r) { r->set_name(std::string(64, 'a')); }),
                StatusCode::INVALID_ARGUMENT, "is invalid");
  ExpectRefused("add: NUL in name", add([](auto* r) { r->set_name(std::string("a\0b", 3)); }),
                StatusCode::INVALID_ARGUMENT, "is invalid");
  ExpectRefused("add: negative max TTL",
                add([](auto* r) { r->mutable_policy()->set_max_ttl_seconds(-5); }),
                StatusCode::INVALID_ARGUMENT, "below the minimum");
  ExpectRefused("add: huge max TTL",
                add([&](auto* r) { r->mutable_policy()->set_max_ttl_seconds(kMax); }),
                StatusCode::INVALID_ARGUMENT, "above one year");
  ExpectRefused("add: negative token TTL", add([](auto* r) { r->set_token_ttl_seconds(-1); }),
                StatusCode::INVALID_ARGUMENT, "join token TTL must be between 1s and 7 days");
  ExpectRefused("add: huge token TTL", add([&](auto* r) { r->set_token_ttl_seconds(kMax); }),
                StatusCode::INVALID_ARGUMENT, "join token TTL must be between 1s and 7 days");
  ExpectRefused("add: unknown key algorithm",
                add([](auto* r) { r->mutable_policy()->add_allowed_key_algorithms("dsa-1024"); }),
                StatusCode::INVALID_ARGUMENT, "unknown key algorithm \"dsa-1024\"");
  ExpectRefused("add: trust domain with NUL", add([](auto* r) {
                  r->mutable_policy()->set_trust_domain(std::string("a\0.evil", 7));
                }),
                StatusCode::INVALID_ARGUMENT, "trust domain");

  ExpectRefused(
      "enable: no name",
      [&] {
        v1::SetClusterEnabledRequest req;
        v1::Cluster resp;
        return admin_stub_->SetClusterEnabled(client::NewContext().get(), req, &resp);
      },
      StatusCode::NOT_FOUND, "not registered");
  auto create_token = [&](std::string cluster, int64_t ttl) {
    return [&, cluster, ttl] {
      v1::CreateJoinTokenRequest req;
      req.set_cluster(cluster);
      req.set_ttl_seconds(ttl);
      v1::JoinToken resp;
      return admin_stub_->CreateJoinToken(client::NewContext().get(), req, &resp);
    };
  };
  ExpectRefused("token: no cluster", create_token("", 60), StatusCode::NOT_FOUND, "not registered");
  ExpectRefused("token: negative TTL", create_token("cluster1", -1), StatusCode::INVALID_ARGUMENT,
                "between 1s and 7 days");
  ExpectRefused("token: huge TTL", create_token("cluster1", kMax), StatusCode::INVALID_ARGUMENT,
                "between 1s and 7 days");

  ExpectRefused(
      "certs: unknown kind",
      [&] {
        v1::ListCertificatesRequest req;
        req.set_kind("root-key");
        v1::ListCertificatesResponse resp;
        return admin_stub_->ListCertificates(client::NewContext().get(), req, &resp);
      },
      StatusCode::INVALID_ARGUMENT, "certificate kind \"root-key\" is unknown");
  ExpectRefused(
      "audit: after_sequence beyond any record",
      [&] {
        v1::ListAuditRequest req;
        req.set_after_sequence(std::numeric_limits<uint64_t>::max());
        v1::ListAuditResponse resp;
        return admin_stub_->ListAudit(client::NewContext().get(), req, &resp);
      },
      StatusCode::OUT_OF_RANGE, "is beyond any audit record");

  auto revoke = [&](std::function<void(v1::RevokeRequest*)> edit) {
    return [&, edit] {
      v1::RevokeRequest req;
      edit(&req);
      v1::RevokeResponse resp;
      return admin_stub_->Revoke(client::NewContext().get(), req, &resp);
    };
  };
  ExpectRefused("revoke: no target", revoke([](auto*) {}), StatusCode::INVALID_ARGUMENT,
                "give exactly one of a cluster or a serial");
  ExpectRefused("revoke: unknown reason", revoke([](auto* r) {
                  r->set_cluster("cluster1");
                  r->set_reason("because");
                }),
                StatusCode::INVALID_ARGUMENT, "because");
  ExpectRefused("revoke: unknown serial", revoke([](auto* r) { r->set_serial("00ff"); }),
                StatusCode::NOT_FOUND, "00ff");
  ExpectRefused("revoke: unknown cluster", revoke([](auto* r) { r->set_cluster("cluster9"); }),
                StatusCode::NOT_FOUND, "cluster9");
  auto release = [&](std::string serial) {
    return [&, serial] {
      v1::ReleaseHoldRequest req;
      req.set_serial(serial);
      v1::RevokeResponse resp;
      return admin_stub_->ReleaseHold(client::NewContext().get(), req, &resp);
    };
  };
  ExpectRefused("release: no serial", release(""), StatusCode::INVALID_ARGUMENT,
                "give the serial to release");
  ExpectRefused("release: unknown serial", release("00ff"), StatusCode::NOT_FOUND, "00ff");
  ExpectRefused("release: not revoked", release(issued.serial()), StatusCode::FAILED_PRECONDITION,
                "is not revoked; there is no hold to release");
  ExpectRefused(
      "rotate: no cluster",
      [&] {
        v1::RotateIntermediateResponse resp;
        return admin_stub_->RotateIntermediate(client::NewContext().get(), {}, &resp);
      },
      StatusCode::NOT_FOUND, "not registered");
  ExpectRefused(
      "root rotation: unknown action",
      [&] {
        v1::RootRotationRequest req;
        req.set_action(static_cast<v1::RootRotationRequest::Action>(99));
        v1::RootRotationStatus resp;
        return admin_stub_->RootRotation(client::NewContext().get(), req, &resp);
      },
      StatusCode::INVALID_ARGUMENT, "unknown root rotation action 99");
  EXPECT_EQ(cases_, 38);
}

TEST_F(ProtocolTest, OutOfRangeValuesThatHaveAMeaningAreCapped) {
  v1::SignIntermediateRequest req;
  req.set_cluster("cluster1");
  req.set_csr_der(NewCsr());
  req.set_ttl_seconds(std::numeric_limits<int64_t>::max());
  v1::SignIntermediateResponse resp;
  ASSERT_TRUE(agent_stub_->SignIntermediate(client::NewContext().get(), req, &resp).ok());
  auto cert = *pki::ParseCertificatePem(resp.certificate_pem());
  EXPECT_LE(pki::NotAfter(cert.get()), std::chrono::system_clock::now() +
                                           std::chrono::hours(24 * 30) + std::chrono::minutes(1));

  for (int32_t limit : {-1, 0, std::numeric_limits<int32_t>::max()}) {
    v1::ListAuditRequest audit_req;
    audit_req.set_limit(limit);
    v1::ListAuditResponse audit;
    ASSERT_TRUE(admin_stub_->ListAudit(client::NewContext().get(), audit_req, &audit).ok());
    EXPECT_GT(audit.records_size(), 0);
    EXPECT_LE(audit.records_size(), 1000);
    v1::ListCertificatesRequest certs_req;
    certs_req.set_limit(limit);
    v1::ListCertificatesResponse certs;
    ASSERT_TRUE(admin_stub_->ListCertificates(client::NewContext().get(), certs_req, &certs).ok());
    EXPECT_GT(certs.certificates_size(), 0);
  }
}

TEST_F(ProtocolTest, GarbageOnThePortChangesNothingAndTheServerStaysUp) {
  int port = std::stoi(ca_->address().substr(ca_->address().rfind(':') + 1));
  std::string before = State();
  std::string random(64 * 1024, '\0');
  for (size_t i = 0; i < random.size(); ++i) random[i] = static_cast<char>((i * 7919 + 13) % 251);
  SendRaw(port, random);                                                      // Not TLS at all.
  SendRaw(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");                         // Plain HTTP.
  SendRaw(port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + random.substr(0, 100));  // h2c preface.
  SendRaw(port, std::string("\x16\x03\x01\xff\xff", 5) + random);  // A TLS record that lies.
  // Garbage inside TLS: a real handshake (no client certificate), then noise
  // where HTTP/2 frames belong.
  testing::TempDir dir;
  std::ofstream(dir.Sub("noise")) << random;
  auto noise = testing::RunCommand(absl::StrCat(
      "timeout 10 openssl s_client -connect 127.0.0.1:", port, " -alpn h2 -quiet -no_ign_eof < ",
      dir.Sub("noise"), " > /dev/null 2>&1; echo done"));
  EXPECT_THAT(noise.output, HasSubstr("done"));
  // A connection that sends nothing holds no call hostage.
  int idle = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(connect(idle, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

  EXPECT_EQ(State(), before);
  v1::SignIntermediateResponse resp;
  grpc::Status s = Sign(agent_stub_.get(), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  close(idle);
}

// A revoked identity is refused on the connection it already had open, on
// a Watch stream opened before the revocation, and on a TLS session resumed
// from a ticket issued before it: authorization is decided per call from the
// store, never from the handshake.
TEST_F(ProtocolTest, RevokedIdentityIsRefusedOnOpenConnectionsStreamsAndResumedSessions) {
  grpc_ssl_session_cache* cache = grpc_ssl_session_cache_create_lru(16);
  grpc_arg cache_arg = grpc_ssl_session_cache_create_channel_arg(cache);
  auto channel_with_cache = [&] {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = agent_.control_ca_pem;
    tls.pem_private_key = std::string(agent_.key_pem.UnsafeSecretString());
    tls.pem_cert_chain = agent_.certificate_pem;
    grpc::ChannelArguments args;
    args.SetPointerWithVtable(cache_arg.key, cache_arg.value.pointer.p,
                              cache_arg.value.pointer.vtable);
    return grpc::CreateCustomChannel(ca_->address(), grpc::SslCredentials(tls), args);
  };
  auto first = v1::TrustAuthority::NewStub(channel_with_cache());
  v1::SignIntermediateResponse resp;
  ASSERT_TRUE(Sign(first.get(), &resp).ok());

  v1::WatchRequest wreq;
  wreq.set_cluster("cluster1");
  auto wctx = client::NewContext(std::chrono::seconds(30));
  auto watch = agent_stub_->Watch(wctx.get(), wreq);
  v1::WatchEvent event;
  ASSERT_TRUE(watch->Read(&event));  // The stream is live.

  // A second channel resumes the first one's TLS session.
  auto resumed = v1::TrustAuthority::NewStub(channel_with_cache());
  auto rctx = client::NewContext();
  v1::TrustBundle bundle;
  ASSERT_TRUE(resumed->GetTrustBundle(rctx.get(), {}, &bundle).ok());
  auto reused = rctx->auth_context()->FindPropertyValues(GRPC_SSL_SESSION_REUSED_PROPERTY);
  ASSERT_EQ(reused.size(), 1u);
  EXPECT_EQ(std::string(reused[0].data(), reused[0].size()), "true")
      << "the second channel should have resumed the TLS session";

  std::string identity_serial = testing::CallerOf(agent_.certificate_pem).serial;
  v1::RevokeRequest rreq;
  rreq.set_serial(identity_serial);
  rreq.set_reason("keyCompromise");
  v1::RevokeResponse rresp;
  ASSERT_TRUE(admin_stub_->Revoke(client::NewContext().get(), rreq, &rresp).ok());

  for (auto* stub : {agent_stub_.get(), first.get(), resumed.get()}) {
    grpc::Status s = Sign(stub, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("has been revoked"));
  }
  // The Watch stream opened before the revocation is ended by the CRL
  // change the revocation itself announces.
  while (watch->Read(&event)) {
  }
  grpc::Status ended = watch->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAUTHENTICATED) << ended.error_message();
  EXPECT_THAT(ended.error_message(), HasSubstr("has been revoked"));

  auto issued = *ca_->store()->ListCertificates({"cluster1", "intermediate", 100});
  EXPECT_EQ(issued.size(), 1u) << "only the signing before the revocation";
  first.reset();
  resumed.reset();
  grpc_ssl_session_cache_destroy(cache);
}

// Waits (for the condition, not for a fixed time) up to a generous bound.
template <typename Pred>
bool Eventually(Pred pred) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

int ThreadsOfThisProcess() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Watch streams are callback reactors served by one writer thread: opening
// hundreds of them adds no threads, every one of them still receives what is
// published, and each ends when its agent goes.
TEST(WatchStreamsTest, HundredsOfStreamsHoldNoThreadEachAndAllReceiveEvents) {
  constexpr int kStreams = 200;
  testing::TestCaOptions options;
  options.authority.max_watch_streams_per_cluster = 0;
  auto ca = TestCa::Create(options);
  client::Identity admin = ca->EnrollOverGrpc(ca->init().admin_token);
  client::Identity agent = ca->EnrollOverGrpc(ca->AddClusterOverGrpc(admin, "cluster1"));
  auto stub = ca->AgentStub(agent);

  // An asynchronous client on one completion queue, so that the client side
  // adds no thread per stream either.
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReader<v1::WatchEvent>> reader;
    v1::WatchEvent event;
    std::vector<v1::WatchEvent::Type> received;
  };
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Stream>> streams;
  auto read_until = [&](const std::function<bool()>& done) {
    auto give_up = std::chrono::system_clock::now() + std::chrono::seconds(60);
    while (!done()) {
      void* tag;
      bool ok;
      if (cq.AsyncNext(&tag, &ok, give_up) != grpc::CompletionQueue::GOT_EVENT) return false;
      auto* s = static_cast<Stream*>(tag);
      if (!ok) continue;
      if (s->event.type() != v1::WatchEvent::TYPE_UNSPECIFIED)
        s->received.push_back(s->event.type());
      s->event.Clear();
      s->reader->Read(&s->event, s);
    }
    return true;
  };
  auto count = [&](v1::WatchEvent::Type type) {
    int n = 0;
    for (auto& s : streams) n += std::count(s->received.begin(), s->received.end(), type) > 0;
    return n;
  };
  // One stream first, so the server's fixed threads are all started.
  int threads_with_one = -1;
  for (int i = 0; i < kStreams; ++i) {
    if (i == 1) {
      ASSERT_TRUE(read_until([&] { return count(v1::WatchEvent::CHECKPOINT) == 1; }));
      threads_with_one = ThreadsOfThisProcess();
    }
    auto s = std::make_unique<Stream>();
    s->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    v1::WatchRequest req;
    req.set_cluster("cluster1");
    s->reader = stub->PrepareAsyncWatch(&s->context, req, &cq);
    s->reader->StartCall(s.get());
    streams.push_back(std::move(s));
  }
  ASSERT_TRUE(read_until([&] { return count(v1::WatchEvent::CHECKPOINT) == kStreams; }))
      << "every stream is live";
  EXPECT_EQ(ca->authority()->WatchStreamsOf("cluster1"), kStreams);
  // The sync server this replaced held a thread per stream (199 more).
  EXPECT_LT(ThreadsOfThisProcess() - threads_with_one, 10)
      << "threads added by " << kStreams - 1 << " more Watch streams";

  // A rotation requested of the cluster reaches every stream.
  auto admin_stub = ca->AdminStub(admin);
  v1::RotateIntermediateRequest rotate;
  rotate.set_cluster("cluster1");
  v1::RotateIntermediateResponse rotated;
  auto ctx = client::NewContext();
  ASSERT_TRUE(admin_stub->RotateIntermediate(ctx.get(), rotate, &rotated).ok());
  ASSERT_TRUE(read_until([&] { return count(v1::WatchEvent::ROTATE_NOW) == kStreams; }));

  // Agents that go free their streams.
  for (auto& s : streams) s->context.TryCancel();
  ASSERT_TRUE(Eventually([&] { return ca->authority()->WatchStreamsOf("cluster1") == 0; }));
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

// One agent identity once held 3,000 Watch streams open, a server thread
// each. A cluster may hold a few; the excess is refused, audited once.
TEST_F(ProtocolTest, WatchStreamsAreCappedPerCluster) {
  struct Stream {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader;
  };
  auto open = [](v1::TrustAuthority::Stub* stub, const std::string& cluster) {
    v1::WatchRequest req;
    req.set_cluster(cluster);
    Stream s;
    s.context = client::NewContext(std::chrono::seconds(120));
    s.reader = stub->Watch(s.context.get(), req);
    return s;
  };
  std::vector<Stream> streams;
  for (int i = 0; i < kDefaultMaxWatchStreamsPerCluster; ++i) {
    streams.push_back(open(agent_stub_.get(), "cluster1"));
    v1::WatchEvent live;
    ASSERT_TRUE(streams.back().reader->Read(&live)) << "stream " << i << " should be open";
  }
  EXPECT_EQ(ca_->authority()->WatchStreamsOf("cluster1"), kDefaultMaxWatchStreamsPerCluster);

  uint64_t head = ca_->store()->Head().sequence;
  // The same identity over a second connection counts against the same cap.
  auto other_connection = ca_->AgentStub(agent_);
  for (auto* stub : {agent_stub_.get(), other_connection.get(), agent_stub_.get()}) {
    Stream extra = open(stub, "cluster1");
    v1::WatchEvent e;
    EXPECT_FALSE(extra.reader->Read(&e));
    grpc::Status refused = extra.reader->Finish();
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << refused.error_message();
    EXPECT_THAT(refused.error_message(),
                HasSubstr("too many Watch streams: cluster \"cluster1\" already has 4 open"));
    EXPECT_THAT(refused.error_message(), HasSubstr("--max-watch-streams-per-cluster"));
  }
  ASSERT_EQ(ca_->store()->Head().sequence, head + 1) << "a flood of streams is audited once";
  auto record = (*ca_->store()->ReadAudit(head, 1))[0];
  EXPECT_EQ(record.event.action, "Watch");
  EXPECT_THAT(record.event.result, StartsWith("refused: RESOURCE_EXHAUSTED"));
  EXPECT_EQ(ca_->authority()->WatchStreamsOf("cluster1"), kDefaultMaxWatchStreamsPerCluster);

  // Another cluster's agent is not affected.
  client::Identity agent3 = ca_->EnrollOverGrpc(AddCluster("cluster3"));
  auto agent3_stub = ca_->AgentStub(agent3);
  Stream third = open(agent3_stub.get(), "cluster3");
  v1::WatchEvent e;
  EXPECT_TRUE(third.reader->Read(&e));

  // A stream that ends frees its place.
  streams[0].context->TryCancel();
  (void)streams[0].reader->Finish();
  ASSERT_TRUE(Eventually([&] {
    return ca_->authority()->WatchStreamsOf("cluster1") < kDefaultMaxWatchStreamsPerCluster;
  }));
  streams[0] = open(agent_stub_.get(), "cluster1");
  EXPECT_TRUE(streams[0].reader->Read(&e)) << "the freed place can be taken again";
  for (Stream& s : streams) s.context->TryCancel();
  third.context->TryCancel();
}

// `meshtrustctl rotate intermediate` while the cluster's agent was not
// connected used to fail and be lost. Now the request is kept (across a CA
// restart), delivered as ROTATE_NOW when the agent's Watch connects, and
// done once the cluster acknowledges an intermediate issued after it.
TEST_F(ProtocolTest, ARotationRequestedWhileTheAgentIsAwayReachesItWhenItConnects) {
  v1::SignIntermediateResponse first;
  ASSERT_TRUE(Sign(agent_stub_.get(), &first).ok());
  auto ack = [&](const v1::SignIntermediateResponse& issued) {
    v1::AckRequest req;
    req.set_cluster("cluster1");
    req.set_serial(issued.serial());
    req.set_bundle_sha256(issued.bundle().sha256());
    v1::AckResponse resp;
    return agent_stub_->Ack(client::NewContext().get(), req, &resp);
  };
  ASSERT_TRUE(ack(first).ok());

  v1::RotateIntermediateRequest rotate;
  rotate.set_cluster("cluster1");
  v1::RotateIntermediateResponse rotated;
  grpc::Status requested =
      admin_stub_->RotateIntermediate(client::NewContext().get(), rotate, &rotated);
  ASSERT_TRUE(requested.ok()) << requested.error_message();
  EXPECT_EQ(rotated.agents_notified(), 0);
  auto status = [&] {
    v1::MeshStatus s;
    EXPECT_TRUE(admin_stub_->GetMeshStatus(client::NewContext().get(), {}, &s).ok());
    for (const v1::Cluster& c : s.clusters()) {
      if (c.name() == "cluster1") return c;
    }
    return v1::Cluster();
  };
  EXPECT_NE(status().rotation_requested_at().seconds(), 0);

  ASSERT_THAT(ca_->Reopen(), testing::IsOk());

  // Opens a Watch stream and returns its first event after the "live"
  // checkpoint. To tell "nothing pending" from "nothing yet" without a
  // timeout, `then` publishes a CRL change once the stream is live: a
  // pending rotation is queued before it.
  auto first_event = [&](const std::function<void()>& then) {
    v1::WatchRequest req;
    req.set_cluster("cluster1");
    auto ctx = client::NewContext(std::chrono::seconds(60));
    auto reader = agent_stub_->Watch(ctx.get(), req);
    v1::WatchEvent e;
    EXPECT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.type(), v1::WatchEvent::CHECKPOINT);
    then();
    do {
      if (!reader->Read(&e)) return v1::WatchEvent::TYPE_UNSPECIFIED;
    } while (e.type() == v1::WatchEvent::CHECKPOINT);
    ctx->TryCancel();
    return e.type();
  };
  auto crl_change = [&] {
    ASSERT_THAT(ca_->authority()->RefreshCrls(/*force=*/true), testing::IsOk());
  };
  EXPECT_EQ(first_event(crl_change), v1::WatchEvent::ROTATE_NOW);

  // The agent re-keys; until it acknowledges, a reconnect is told again.
  v1::SignIntermediateResponse second;
  ASSERT_TRUE(Sign(agent_stub_.get(), &second).ok());
  v1::Cluster c = status();
  EXPECT_EQ(c.current_serial(), second.serial()) << "issued";
  EXPECT_EQ(c.acked_serial(), first.serial()) << "but not installed";
  EXPECT_EQ(first_event(crl_change), v1::WatchEvent::ROTATE_NOW);
  ASSERT_TRUE(ack(second).ok());
  c = status();
  EXPECT_EQ(c.acked_serial(), second.serial());
  EXPECT_EQ(c.acked_not_after().seconds(), second.not_after().seconds());
  EXPECT_EQ(c.rotation_requested_at().seconds(), 0);
  EXPECT_EQ(first_event(crl_change), v1::WatchEvent::CRL_CHANGED);
  ASSERT_THAT(ca_->Reopen(), testing::IsOk());
  EXPECT_EQ(first_event(crl_change), v1::WatchEvent::CRL_CHANGED);
}

}  // namespace
}  // namespace meshtrust::ca
