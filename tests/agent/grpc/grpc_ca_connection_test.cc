// The agent's CA connection: every call carries a request id that appears in
// the agent's error and in the CA's log line for the same call.
#include "agent/grpc/grpc_ca_connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "base/logging.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "spdlog/sinks/ostream_sink.h"
#include "tests/testing/test_ca.h"

namespace meshtrust::agent {
namespace {

using ::testing::HasSubstr;

TEST(GrpcCaConnectionTest, RequestIdsTieAgentErrorsToCaLogLines) {
  auto ca = testing::TestCa::Create();
  client::Identity id = ca->EnrollOverGrpc(ca->AddCluster("cluster1"));
  GrpcCaConnection connection(client::CreateChannel(ca->address(), id.control_ca_pem, &id),
                              std::chrono::seconds(5));
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  auto key = pki::GenerateKey(pki::KeyAlgorithm::kEcdsaP256);
  absl::StatusOr<SignedIntermediate> refused = connection.SignIntermediate(
      "cluster2", *pki::BuildCsrDer(key->get(), ""), std::chrono::seconds(0));
  spdlog::set_default_logger(previous);

  ASSERT_FALSE(refused.ok());
  std::smatch m;
  std::string message(refused.status().message());
  ASSERT_TRUE(std::regex_search(message, m, std::regex("request ([0-9a-f]{16})"))) << message;
  EXPECT_THAT(log.str(), HasSubstr("grpc /meshtrust.v1.TrustAuthority/SignIntermediate by "
                                   "spiffe://meshtrust/cluster/cluster1: PERMISSION_DENIED"));
  EXPECT_THAT(log.str(), HasSubstr("(request " + m[1].str() + ")"));
}

}  // namespace
}  // namespace meshtrust::agent
