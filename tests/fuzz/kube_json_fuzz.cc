// Secret objects as the Kubernetes API server returns them to the agent.
#include "agent/kube/kube_secrets.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  absl::StatusOr<agent::KubeSecret> secret = agent::ParseSecret(
      absl::string_view(reinterpret_cast<const char*>(data), size), "istio-system", "cacerts");
  fuzz::Require(secret.ok() || secret.status().code() == absl::StatusCode::kDataLoss,
                "a bad Secret is kDataLoss");
  return 0;
}
