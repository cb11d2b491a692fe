#include "ca/server/public_http.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ca/server/spiffe_bundle.h"
#include "pki/crl.h"
#include "pki/pem.h"

namespace meshtrust::ca {
namespace {

HttpResponse Text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body)};
}

}  // namespace

HttpResponse HandlePublicHttp(Authority* authority, const HttpRequest& request) {
  if (request.method != "GET") return Text(405, "only GET is served here\n");
  if (request.path == "/healthz") return Text(200, "ok\n");
  if (request.path == "/spiffe-bundle") {
    absl::StatusOr<std::string> bundle =
        SpiffeBundleJson(authority->CurrentBundle(), kSpiffeRefreshHint);
    if (!bundle.ok()) return Text(500, absl::StrCat(bundle.status().message(), "\n"));
    return {200, "application/json", *bundle};
  }
  if (request.path == "/crl") {
    std::string all;
    for (const std::string& id : authority->RootKeyIds()) {
      absl::StatusOr<std::string> pem = authority->RootCrlPem(id);
      if (pem.ok()) all += *pem;
    }
    if (all.empty()) return Text(503, "no CRL has been signed yet\n");
    return {200, "application/x-pem-file", all};
  }
  constexpr absl::string_view kPrefix = "/crl/";
  if (absl::StartsWith(request.path, kPrefix)) {
    absl::string_view name = absl::string_view(request.path).substr(kPrefix.size());
    bool der = absl::EndsWith(name, ".der");
    if (!der && !absl::EndsWith(name, ".pem")) return Text(404, "use /crl/<root>.der or .pem\n");
    std::string id(name.substr(0, name.size() - 4));
    absl::StatusOr<std::string> pem = authority->RootCrlPem(id);
    if (!pem.ok()) return Text(404, absl::StrCat("no CRL for root \"", id, "\"\n"));
    if (!der) return {200, "application/x-pem-file", *pem};
    absl::StatusOr<std::string> bytes = pki::DecodeSinglePem(*pem, "X509 CRL");
    if (!bytes.ok()) return Text(500, "stored CRL is unreadable\n");
    return {200, "application/pkix-crl", *bytes};
  }
  return Text(404, "not found\n");
}

}  // namespace meshtrust::ca
