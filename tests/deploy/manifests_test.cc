// deploy/ as `kubectl kustomize` renders it: every workload hardened (non-root,
// read-only root filesystem, no capabilities, RuntimeDefault seccomp,
// requests and limits, probes on the endpoints the binaries really serve),
// the agent's RBAC no wider than its Secrets (and istiod's Deployment only
// with the restart component), and the images' runtime package lists equal
// to what the binaries link.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "yaml-cpp/yaml.h"

namespace meshtrust {
namespace {

using ::meshtrust::testing::RunCommand;
using ::testing::Contains;
using ::testing::IsEmpty;

const std::string kDeploy = std::string(MESHTRUST_SOURCE_DIR) + "/deploy/";

std::vector<YAML::Node> Render(const std::string& dir) {
  testing::CommandResult r = RunCommand("kubectl kustomize " + dir);
  EXPECT_EQ(r.exit_code, 0) << dir << ":\n" << r.output;
  if (r.exit_code != 0) return {};
  std::vector<YAML::Node> docs;
  for (const YAML::Node& d : YAML::LoadAll(r.output)) {
    if (d.IsMap()) docs.push_back(d);
  }
  EXPECT_FALSE(docs.empty()) << dir;
  return docs;
}

std::string Str(const YAML::Node& n) { return n ? n.as<std::string>() : ""; }
std::string Name(const YAML::Node& d) { return Str(d["kind"]) + "/" + Str(d["metadata"]["name"]); }

std::vector<std::string> Strings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n && n.IsSequence()) {
    for (const auto& s : n) out.push_back(s.as<std::string>());
  }
  return out;
}

bool IsWorkload(const YAML::Node& d) {
  std::string kind = Str(d["kind"]);
  return kind == "Deployment" || kind == "StatefulSet" || kind == "Job";
}

// Every violation of the hardening rules in one rendered set, as sentences.
std::vector<std::string> HardeningProblems(const std::vector<YAML::Node>& docs) {
  std::vector<std::string> problems;
  auto bad = [&](const std::string& what) { problems.push_back(what); };
  for (const YAML::Node& d : docs) {
    if (!IsWorkload(d)) continue;
    const YAML::Node pod = d["spec"]["template"]["spec"];
    const YAML::Node psc = pod["securityContext"];
    if (!psc || !psc["runAsNonRoot"] || !psc["runAsNonRoot"].as<bool>())
      bad(Name(d) + ": pod does not set runAsNonRoot");
    if (!psc || !psc["runAsUser"] || psc["runAsUser"].as<int>() == 0)
      bad(Name(d) + ": no non-zero runAsUser");
    if (Str(psc["seccompProfile"]["type"]) != "RuntimeDefault")
      bad(Name(d) + ": seccomp is not RuntimeDefault");
    if (pod["hostNetwork"] || pod["hostPID"]) bad(Name(d) + ": uses host namespaces");
    std::vector<YAML::Node> containers;
    for (const char* key : {"initContainers", "containers"}) {
      if (pod[key]) {
        for (const auto& c : pod[key]) containers.push_back(c);
      }
    }
    for (const YAML::Node& c : containers) {
      std::string who = Name(d) + " container " + Str(c["name"]);
      const YAML::Node sc = c["securityContext"];
      if (!sc || !sc["allowPrivilegeEscalation"] || sc["allowPrivilegeEscalation"].as<bool>())
        bad(who + ": allowPrivilegeEscalation is not false");
      if (!sc || !sc["readOnlyRootFilesystem"] || !sc["readOnlyRootFilesystem"].as<bool>())
        bad(who + ": root filesystem is not read-only");
      if (sc && sc["privileged"] && sc["privileged"].as<bool>()) bad(who + ": privileged");
      std::vector<std::string> drop =
          sc ? Strings(sc["capabilities"]["drop"]) : std::vector<std::string>{};
      if (std::find(drop.begin(), drop.end(), "ALL") == drop.end())
        bad(who + ": does not drop ALL capabilities");
      if (sc && sc["capabilities"]["add"]) bad(who + ": adds capabilities");
      for (const char* kind : {"requests", "limits"}) {
        for (const char* res : {"cpu", "memory"}) {
          if (!c["resources"][kind][res]) bad(absl::StrCat(who, ": no ", kind, ".", res));
        }
      }
    }
    if (Str(d["kind"]) == "Job") continue;
    // Long-running: probes on the ops port the binary is told to serve.
    const YAML::Node main = pod["containers"][0];
    std::string args;
    for (const std::string& a : Strings(main["args"])) args += a + " ";
    for (const auto& [probe, path] :
         {std::pair{"livenessProbe", "/healthz"}, std::pair{"readinessProbe", "/readyz"}}) {
      const YAML::Node http = main[probe]["httpGet"];
      if (Str(http["path"]) != path) {
        bad(absl::StrCat(Name(d), ": ", probe, " is not an HTTP GET of ", path));
        continue;
      }
      std::string port = Str(http["port"]);
      bool served = false;
      for (const auto& p : main["ports"]) {
        if (Str(p["name"]) == port || Str(p["containerPort"]) == port) {
          served = absl::StrContains(args, "--metrics-listen=0.0.0.0:" + Str(p["containerPort"]));
        }
      }
      if (!served)
        bad(absl::StrCat(Name(d), ": ", probe, " port ", port, " is not --metrics-listen"));
    }
  }
  return problems;
}

// Every grant in an agent's rendered RBAC that goes beyond its Secrets (and,
// with `restart_istiod`, patching istiod's Deployment).
std::vector<std::string> AgentRbacProblems(const std::vector<YAML::Node>& docs,
                                           bool restart_istiod) {
  std::vector<std::string> problems;
  auto bad = [&](const std::string& what) { problems.push_back(what); };
  bool saw_cacerts = false, saw_identity = false, saw_restart = false;
  for (const YAML::Node& d : docs) {
    std::string kind = Str(d["kind"]);
    std::string ns = Str(d["metadata"]["namespace"]);
    if (kind == "ClusterRole" || kind == "ClusterRoleBinding") bad(Name(d) + ": cluster-wide RBAC");
    if (kind == "RoleBinding") {
      if (Str(d["roleRef"]["kind"]) != "Role")
        bad(Name(d) + ": binds a " + Str(d["roleRef"]["kind"]));
      for (const auto& s : d["subjects"]) {
        if (Str(s["kind"]) != "ServiceAccount" || Str(s["name"]) != "meshtrust-agent" ||
            Str(s["namespace"]) != "meshtrust-system") {
          bad(Name(d) + ": binds something other than meshtrust-system/meshtrust-agent");
        }
      }
    }
    if (kind != "Role") continue;
    for (const auto& rule : d["rules"]) {
      std::vector<std::string> resources = Strings(rule["resources"]);
      std::vector<std::string> names = Strings(rule["resourceNames"]);
      std::vector<std::string> verbs = Strings(rule["verbs"]);
      std::string where = absl::StrCat(Name(d), " in ", ns, ": ");
      if (resources == std::vector<std::string>{"deployments"} &&
          Strings(rule["apiGroups"]) == std::vector<std::string>{"apps"}) {
        if (ns != "istio-system" || names != std::vector<std::string>{"istiod"} ||
            verbs != std::vector<std::string>{"patch"}) {
          bad(where + "deployments beyond patching istiod");
        }
        saw_restart = true;
        continue;
      }
      if (resources != std::vector<std::string>{"secrets"} ||
          Strings(rule["apiGroups"]) != std::vector<std::string>{""}) {
        bad(where + "grants " + absl::StrJoin(resources, ","));
        continue;
      }
      if (names.empty()) {
        // Kubernetes cannot restrict create by name; nothing else unnamed.
        if (verbs != std::vector<std::string>{"create"})
          bad(where + "unnamed secrets beyond create");
        continue;
      }
      for (const std::string& v : verbs) {
        if (v != "get" && v != "update") bad(where + "verb " + v + " on named secrets");
      }
      if (ns == "istio-system" && names == std::vector<std::string>{"cacerts"}) {
        saw_cacerts = true;
      } else if (ns == "meshtrust-system" &&
                 names == std::vector<std::string>{"meshtrust-agent-identity"}) {
        saw_identity = true;
      } else {
        bad(where + "secrets " + absl::StrJoin(names, ","));
      }
    }
  }
  if (!saw_cacerts) bad("no get/update of istio-system/cacerts");
  if (!saw_identity) bad("no get/update of meshtrust-system/meshtrust-agent-identity");
  if (saw_restart != restart_istiod) {
    bad(restart_istiod ? "no permission to restart istiod"
                       : "may patch istiod without --restart-istiod");
  }
  return problems;
}

// By name, or by the name a generator gave it (name-<10-character hash>).
const YAML::Node* Find(const std::vector<YAML::Node>& docs, const std::string& kind,
                       const std::string& name) {
  for (const YAML::Node& d : docs) {
    std::string n = Str(d["metadata"]["name"]);
    bool generated = absl::StartsWith(n, name + "-") && n.size() == name.size() + 11;
    if (Str(d["kind"]) == kind && (n == name || generated)) return &d;
  }
  return nullptr;
}

TEST(ManifestsTest, EveryBaseAndOverlayRendersHardened) {
  for (const char* dir :
       {"ca", "agent/deployment", "agent/job", "overlays/cluster1", "overlays/cluster2"}) {
    EXPECT_THAT(HardeningProblems(Render(kDeploy + dir)), IsEmpty()) << dir;
  }
}

TEST(ManifestsTest, TheAgentMayTouchOnlyItsSecrets) {
  EXPECT_THAT(AgentRbacProblems(Render(kDeploy + "agent/deployment"), false), IsEmpty());
  EXPECT_THAT(AgentRbacProblems(Render(kDeploy + "agent/job"), false), IsEmpty());
  for (const char* overlay : {"overlays/cluster1", "overlays/cluster2"}) {
    std::vector<YAML::Node> docs = Render(kDeploy + overlay);
    EXPECT_THAT(AgentRbacProblems(docs, true), IsEmpty()) << overlay;
    const YAML::Node* agent = Find(docs, "Deployment", "meshtrust-agent");
    ASSERT_NE(agent, nullptr);
    EXPECT_THAT(Strings((*agent)["spec"]["template"]["spec"]["containers"][0]["args"]),
                Contains("--restart-istiod"));
    // What the agent is configured from exists beside it.
    ASSERT_NE(Find(docs, "ConfigMap", "meshtrust-agent-config"), nullptr);
    ASSERT_NE(Find(docs, "Secret", "meshtrust-join-token"), nullptr);
    EXPECT_EQ(Str((*Find(docs, "ConfigMap", "meshtrust-agent-config"))["metadata"]["namespace"]),
              "meshtrust-system");
    std::string cluster = absl::StripPrefix(overlay, "overlays/").data();
    EXPECT_EQ(
        Str((*Find(docs, "ConfigMap", "meshtrust-agent-config"))["data"]["MESHTRUST_CLUSTER"]),
        cluster);
  }
}

TEST(ManifestsTest, TheRbacCheckCatchesAMovedRole) {
  // An overlay-wide `namespace:` would silently move the istio-system Role
  // into meshtrust-system; the check must say so.
  testing::TempDir dir;
  // kustomize takes bases by relative path only.
  std::string base = std::filesystem::relative(kDeploy + "agent/deployment", dir.path()).string();
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("kustomization.yaml"),
                                  "namespace: meshtrust-system\nresources:\n  - " + base + "\n",
                                  0644)
                  .ok());
  EXPECT_THAT(AgentRbacProblems(Render(dir.path()), false),
              Contains(::testing::HasSubstr("secrets cacerts")));
}

TEST(ManifestsTest, TheCaKeepsItsStateAndKeyOutOfReach) {
  std::vector<YAML::Node> docs = Render(kDeploy + "ca");
  const YAML::Node* ca = Find(docs, "StatefulSet", "meshtrust-ca");
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ((*ca)["spec"]["replicas"].as<int>(), 1);  // SQLite: one writer.
  EXPECT_TRUE((*ca)["spec"]["volumeClaimTemplates"].IsSequence());
  const YAML::Node pod = (*ca)["spec"]["template"]["spec"];
  EXPECT_FALSE(pod["automountServiceAccountToken"].as<bool>());
  bool kek_from_secret = false;
  for (const auto& v : pod["volumes"]) {
    kek_from_secret |= Str(v["secret"]["secretName"]) == "meshtrust-ca-kek";
  }
  EXPECT_TRUE(kek_from_secret);
  const YAML::Node* service = Find(docs, "Service", "meshtrust-ca");
  ASSERT_NE(service, nullptr);
  for (const auto& p : (*service)["spec"]["ports"]) EXPECT_NE(Str(p["port"]), "9090");
  EXPECT_NE(Find(docs, "NetworkPolicy", "meshtrust-ca"), nullptr);
  EXPECT_NE(Find(docs, "PodDisruptionBudget", "meshtrust-ca"), nullptr);
  EXPECT_NE(Find(docs, "ConfigMap", "meshtrust-ca-config"), nullptr) << "CA configuration";
}

// The packages a binary's direct DT_NEEDED libraries come from.
std::set<std::string> NeededPackages(const std::string& binary) {
  std::set<std::string> out;
  testing::CommandResult needed =
      RunCommand("readelf -d " + binary + " | sed -n 's/.*Shared library: \\[\\(.*\\)\\]/\\1/p'");
  testing::CommandResult ldd = RunCommand("ldd " + binary);
  for (absl::string_view lib : absl::StrSplit(needed.output, '\n', absl::SkipEmpty())) {
    std::string path;
    for (absl::string_view line : absl::StrSplit(ldd.output, '\n')) {
      std::vector<std::string> f = absl::StrSplit(absl::StripAsciiWhitespace(line), ' ');
      if (f.size() >= 3 && f[0] == lib) path = f[2];
    }
    testing::CommandResult pkg =
        RunCommand("dpkg -S \"$(readlink -f " + path + ")\" 2>/dev/null || dpkg -S " + path);
    std::string name(absl::StripAsciiWhitespace(pkg.output.substr(0, pkg.output.find(':'))));
    EXPECT_FALSE(name.empty()) << lib << " at " << path;
    out.insert(name);
  }
  return out;
}

// The packages `apt-get install`ed in the Dockerfile stage `target`.
std::set<std::string> ImagePackages(const std::string& dockerfile, const std::string& target) {
  std::set<std::string> out;
  size_t stage = dockerfile.find("FROM debian:12-slim AS " + target + "\n");
  EXPECT_NE(stage, std::string::npos) << "no Debian 12 slim stage " << target;
  if (stage == std::string::npos) return out;
  size_t start = dockerfile.find("--no-install-recommends", stage);
  size_t end = dockerfile.find("&&", start);
  std::string list = dockerfile.substr(start + 23, end - start - 23);
  for (absl::string_view word : absl::StrSplit(list, absl::ByAnyChar(" \\\n"), absl::SkipEmpty())) {
    out.insert(std::string(word));
  }
  size_t next = dockerfile.find("\nFROM ", stage + 1);
  std::string body = dockerfile.substr(stage, next == std::string::npos ? next : next - stage);
  EXPECT_TRUE(absl::StrContains(body, "USER 65532:65532")) << target << " does not drop root";
  return out;
}

TEST(ManifestsTest, ImagesShipExactlyTheLibrariesTheBinariesLink) {
#ifdef MESHTRUST_SANITIZED_BUILD
  GTEST_SKIP() << "a sanitizer build links more than a release build; the images ship release "
                  "builds, checked by the normal build";
#endif
  std::string dockerfile = ReadFile(kDeploy + "docker/Dockerfile").value_or("");
  ASSERT_FALSE(dockerfile.empty());
  // In every Debian image already; `ca-certificates` is the one extra.
  const std::set<std::string> base = {"libc6", "libgcc-s1", "libstdc++6"};
  for (const auto& [target, binary] :
       {std::pair<std::string, std::string>{"ca", MESHTRUST_CA_BINARY},
        {"agent", MESHTRUST_AGENT_BINARY},
        {"ctl", MESHTRUST_CTL_BINARY}}) {
    std::set<std::string> needed = NeededPackages(binary);
    std::set<std::string> shipped = ImagePackages(dockerfile, target);
    for (const std::string& p : needed) {
      if (!base.count(p)) EXPECT_TRUE(shipped.count(p)) << target << " image lacks " << p;
    }
    for (const std::string& p : shipped) {
      if (p != "ca-certificates")
        EXPECT_TRUE(needed.count(p)) << target << " image ships unneeded " << p;
    }
  }
}

}  // namespace
}  // namespace meshtrust
