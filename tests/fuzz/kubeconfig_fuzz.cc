// kubeconfig files as the agent reads them (--kubeconfig).
#include "agent/kube/kube_client.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshtrust;  // NOLINT(build/namespaces): a fuzz entry point.
  absl::StatusOr<agent::KubeConfig> config = agent::ParseKubeconfig(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz.kubeconfig");
  if (config.ok()) {
    fuzz::Require(config->server.rfind("https://", 0) == 0, "only https API servers");
  }
  return 0;
}
