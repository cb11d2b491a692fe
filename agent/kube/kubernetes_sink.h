// The `cacerts` Secret in the Istio namespace.
#ifndef MESHTRUST_AGENT_KUBE_KUBERNETES_SINK_H_
#define MESHTRUST_AGENT_KUBE_KUBERNETES_SINK_H_

#include "agent/core/secret_sink.h"
#include "agent/kube/kube_secrets.h"

namespace meshtrust::agent {

inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "meshtrust";
inline constexpr char kSerialAnnotation[] = "meshtrust.io/serial";
inline constexpr char kNotAfterAnnotation[] = "meshtrust.io/not-after";
inline constexpr char kBundleAnnotation[] = "meshtrust.io/bundle-sha256";
inline constexpr char kCrlSetAnnotation[] = "meshtrust.io/crl-set-sha256";

class KubernetesSink final : public SecretSink {
 public:
  KubernetesSink(KubeClient* client, std::string ns, std::string name = "cacerts")
      : secrets_(client), ns_(std::move(ns)), name_(std::move(name)) {}
  absl::StatusOr<std::optional<InstalledCaCerts>> Read() override;
  absl::Status Write(const CaCerts& certs, const std::string& expected_version) override;
  absl::Status CheckWritable() override;
  std::string Describe() const override;

 private:
  KubeSecrets secrets_;
  std::string ns_;
  std::string name_;
};

}  // namespace meshtrust::agent

#endif  // MESHTRUST_AGENT_KUBE_KUBERNETES_SINK_H_
