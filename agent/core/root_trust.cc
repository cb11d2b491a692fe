#include "agent/core/root_trust.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/logging.h"
#include "pki/certificate.h"
#include "pki/chain.h"

namespace meshtrust::agent {
namespace {

using Certs = std::vector<ossl::UniquePtr<X509>>;

absl::StatusOr<Certs> ParseRoots(const std::string& pem) {
  if (pem.empty()) return Certs{};
  return pki::ParseCertificateChainPem(pem);
}

std::string Describe(X509* root) {
  return absl::StrCat("\"", pki::SubjectString(root),
                      "\" (sha256:", pki::CertificateSha256Hex(root), ")");
}

}  // namespace

absl::StatusOr<std::string> ParseRootFingerprint(absl::string_view text) {
  std::string hex = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (absl::StartsWith(hex, "sha256:")) hex.erase(0, 7);
  hex = absl::StrReplaceAll(hex, {{":", ""}});
  bool ok = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
              return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            });
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("root fingerprint \"", text,
                     "\" is not sha256:<64 hex digits> (meshtrust-ca init prints it)"));
  }
  return hex;
}

absl::StatusOr<std::string> RootTrust::Trusted(const std::string& installed_roots_pem) {
  if (!saved_.has_value()) {
    absl::StatusOr<std::optional<std::string>> loaded = store_->LoadTrustedRoots();
    if (!loaded.ok()) return loaded.status();
    saved_ = loaded->value_or("");
  }
  if (!saved_->empty()) return *saved_;
  if (!installed_roots_pem.empty()) {
    // An agent that installed before it kept its roots, or whose kept roots
    // went with its identity: what it installed is what it trusted. The
    // pins, which may name a root retired since, are for a first install.
    spdlog::warn(
        "no trusted mesh roots are kept yet; starting from the roots of the installed set");
    return installed_roots_pem;
  }
  return std::string();  // The pins decide.
}

absl::StatusOr<std::string> RootTrust::Check(const RootOffer& offer,
                                             const std::string& installed_roots_pem,
                                             const std::string& installed_signing_root_pem) {
  auto refuse = [this](absl::string_view why) {
    ++refusals_;
    std::string message =
        absl::StrCat("refused the CA's trust bundle: ", why, "; nothing was installed");
    spdlog::error("{}", message);
    return absl::PermissionDeniedError(message);
  };
  absl::StatusOr<std::string> trusted_pem = Trusted(installed_roots_pem);
  if (!trusted_pem.ok()) return trusted_pem.status();
  absl::StatusOr<Certs> trusted = ParseRoots(*trusted_pem);
  if (!trusted.ok()) {
    return absl::DataLossError(absl::StrCat(
        "the trusted mesh roots kept by this agent are unreadable: ", trusted.status().message()));
  }
  if (trusted->empty() && pins_.empty()) {
    return absl::FailedPreconditionError(
        "no mesh root is pinned: give --root-fingerprint sha256:<hex> (meshtrust-ca init prints "
        "it) so the agent knows which root to trust");
  }
  absl::StatusOr<Certs> roots = ParseRoots(offer.roots_pem);
  if (!roots.ok())
    return refuse(absl::StrCat("its roots are unreadable: ", roots.status().message()));
  if (roots->empty()) return refuse("it holds no root");
  absl::StatusOr<Certs> endorsements = ParseRoots(offer.endorsements_pem);
  if (!endorsements.ok()) {
    return refuse(
        absl::StrCat("its endorsements are unreadable: ", endorsements.status().message()));
  }

  // Who may endorse: every trusted root (even one the offer no longer
  // holds), then every root accepted through them.
  std::vector<X509*> endorsers;
  std::vector<std::string> trusted_sha;
  for (const auto& t : *trusted) {
    endorsers.push_back(t.get());
    trusted_sha.push_back(pki::CertificateSha256Hex(t.get()));
  }
  auto is_trusted = [&trusted_sha](const std::string& sha) {
    return std::find(trusted_sha.begin(), trusted_sha.end(), sha) != trusted_sha.end();
  };
  std::vector<bool> accepted(roots->size(), false);
  for (size_t i = 0; i < roots->size(); ++i) {
    std::string sha = pki::CertificateSha256Hex((*roots)[i].get());
    if (trusted->empty()) {
      // Nothing kept yet: the pins decide.
      accepted[i] = std::find(pins_.begin(), pins_.end(), sha) != pins_.end();
    } else {
      accepted[i] = is_trusted(sha);
    }
    if (accepted[i] && trusted->empty()) endorsers.push_back((*roots)[i].get());
  }
  if (trusted->empty()) {
    for (const std::string& pin : pins_) {
      bool found = false;
      for (const auto& r : *roots) found |= pki::CertificateSha256Hex(r.get()) == pin;
      if (!found)
        return refuse(absl::StrCat("it does not contain the pinned mesh root sha256:", pin));
    }
  }
  TimePoint now = clock_->Now();
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 0; i < roots->size(); ++i) {
      if (accepted[i]) continue;
      for (const auto& e : *endorsements) {
        for (X509* endorser : endorsers) {
          if (pki::VerifyEndorsement(e.get(), (*roots)[i].get(), endorser, now).ok()) {
            accepted[i] = true;
            break;
          }
        }
        if (accepted[i]) break;
      }
      if (accepted[i]) {
        endorsers.push_back((*roots)[i].get());
        progress = true;
      }
    }
  }
  for (size_t i = 0; i < roots->size(); ++i) {
    if (!accepted[i]) {
      return refuse(absl::StrCat("it adds root ", Describe((*roots)[i].get()),
                                 ", which no trusted root endorsed"));
    }
  }
  auto in_offer = [&roots](const std::string& sha) {
    for (const auto& r : *roots) {
      if (pki::CertificateSha256Hex(r.get()) == sha) return true;
    }
    return false;
  };
  std::string signing_sha;
  if (!offer.signing_root_pem.empty()) {
    absl::StatusOr<ossl::UniquePtr<X509>> signing =
        pki::ParseCertificatePem(offer.signing_root_pem);
    if (!signing.ok()) {
      return refuse(absl::StrCat("its signing root is unreadable: ", signing.status().message()));
    }
    signing_sha = pki::CertificateSha256Hex(signing->get());
    if (!in_offer(signing_sha)) {
      return refuse(absl::StrCat("the root it names as signing, ", Describe(signing->get()),
                                 ", is not one of its roots"));
    }
  }
  if (!installed_signing_root_pem.empty()) {
    absl::StatusOr<ossl::UniquePtr<X509>> ours =
        pki::ParseCertificatePem(installed_signing_root_pem);
    if (ours.ok()) {
      std::string ours_sha = pki::CertificateSha256Hex(ours->get());
      // Dropping it is the retire phase only when another root now signs.
      bool retiring = !signing_sha.empty() && signing_sha != ours_sha;
      if (!in_offer(ours_sha) && !retiring) {
        return refuse(absl::StrCat("it drops root ", Describe(ours->get()),
                                   ", which signs this cluster's installed intermediate, outside "
                                   "the retire phase of a root rotation"));
      }
    }
  }
  return offer.roots_pem;
}

absl::Status RootTrust::Commit(const std::string& roots_pem) {
  if (saved_.has_value() && *saved_ == roots_pem) return absl::OkStatus();
  if (absl::Status s = store_->SaveTrustedRoots(roots_pem); !s.ok()) return s;
  saved_ = roots_pem;
  return absl::OkStatus();
}

}  // namespace meshtrust::agent
