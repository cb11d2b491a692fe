#include "keystore/pkcs11_uri.h"

#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace meshtrust::keystore {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Re-encodes bytes outside RFC 3986's unreserved set, for Describe().
std::string PercentEncode(absl::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out.push_back(value[i]);
      continue;
    }
    if (i + 2 >= value.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("truncated percent escape at offset ", i, " in \"", value, "\""));
    }
    int hi = HexValue(value[i + 1]);
    int lo = HexValue(value[i + 2]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed percent escape at offset ", i, " in \"", value, "\""));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string Pkcs11Uri::Describe() const {
  std::vector<std::string> parts;
  if (!token.empty()) parts.push_back(absl::StrCat("token=", PercentEncode(token)));
  if (!manufacturer.empty()) {
    parts.push_back(absl::StrCat("manufacturer=", PercentEncode(manufacturer)));
  }
  if (!serial.empty()) parts.push_back(absl::StrCat("serial=", PercentEncode(serial)));
  if (!model.empty()) parts.push_back(absl::StrCat("model=", PercentEncode(model)));
  if (slot_id.has_value()) parts.push_back(absl::StrCat("slot-id=", *slot_id));
  if (!object.empty()) parts.push_back(absl::StrCat("object=", PercentEncode(object)));
  if (!id.empty()) parts.push_back(absl::StrCat("id=", PercentEncode(id)));
  if (!type.empty()) parts.push_back(absl::StrCat("type=", type));
  return absl::StrCat("pkcs11:", absl::StrJoin(parts, ";"));
}

absl::StatusOr<Pkcs11Uri> ParsePkcs11Uri(absl::string_view uri) {
  constexpr absl::string_view kScheme = "pkcs11:";
  if (uri.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(uri.substr(0, kScheme.size()), kScheme)) {
    return absl::InvalidArgumentError(
        "a PKCS#11 key location must be an RFC 7512 URI starting with \"pkcs11:\"");
  }
  absl::string_view rest = uri.substr(kScheme.size());
  absl::string_view path = rest;
  absl::string_view query;
  if (size_t q = rest.find('?'); q != absl::string_view::npos) {
    path = rest.substr(0, q);
    query = rest.substr(q + 1);
  }
  if (path.find('#') != absl::string_view::npos || query.find('#') != absl::string_view::npos) {
    return absl::InvalidArgumentError("a pkcs11: URI has no fragment ('#')");
  }

  Pkcs11Uri out;
  std::set<std::string> seen;
  auto parse_list = [&](absl::string_view list, char separator, bool is_query) -> absl::Status {
    if (list.empty()) return absl::OkStatus();
    for (absl::string_view attr : absl::StrSplit(list, separator)) {
      if (attr.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("empty attribute in the pkcs11: URI ", is_query ? "query" : "path"));
      }
      size_t eq = attr.find('=');
      if (eq == absl::string_view::npos || eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("pkcs11: URI attribute \"", attr, "\" is not name=value"));
      }
      std::string name = absl::AsciiStrToLower(attr.substr(0, eq));
      absl::StatusOr<std::string> value = PercentDecode(attr.substr(eq + 1));
      if (!value.ok()) return value.status();
      if (!seen.insert(name).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("pkcs11: URI attribute \"", name, "\" appears twice"));
      }
      if (name.rfind("x-", 0) == 0) continue;  // Vendor attributes: none we use.
      if (!is_query) {
        if (name == "token") {
          out.token = *value;
        } else if (name == "manufacturer") {
          out.manufacturer = *value;
        } else if (name == "serial") {
          out.serial = *value;
        } else if (name == "model") {
          out.model = *value;
        } else if (name == "slot-id") {
          uint64_t slot = 0;
          if (!absl::SimpleAtoi(*value, &slot) || value->empty() ||
              !absl::ascii_isdigit((*value)[0])) {
            return absl::InvalidArgumentError(
                absl::StrCat("pkcs11: URI slot-id \"", *value, "\" is not a decimal number"));
          }
          out.slot_id = slot;
        } else if (name == "object") {
          out.object = *value;
        } else if (name == "id") {
          out.id = *value;
        } else if (name == "type") {
          if (*value != "private" && *value != "public" && *value != "cert" &&
              *value != "secret-key" && *value != "data") {
            return absl::InvalidArgumentError(
                absl::StrCat("pkcs11: URI type \"", *value,
                             "\" is none of private, public, cert, secret-key, data"));
          }
          out.type = *value;
        } else if (name == "library-manufacturer" || name == "library-description" ||
                   name == "library-version" || name == "slot-manufacturer" ||
                   name == "slot-description") {
          // Selects a module or slot we were told to load by path; nothing to add.
        } else if (name == "pin-value" || name == "pin-source" || name == "module-path" ||
                   name == "module-name") {
          return absl::InvalidArgumentError(absl::StrCat("pkcs11: URI attribute \"", name,
                                                         "\" belongs in the query (after '?')"));
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("unknown pkcs11: URI path attribute \"", name, "\""));
        }
      } else {
        if (name == "pin-value") {
          return absl::InvalidArgumentError(
              "a PIN in the pkcs11: URI (pin-value) is refused: command lines and config files "
              "are readable by others. Put the PIN in a 0600 file and give "
              "pin-source=file:/path, or in an environment variable and give "
              "pin-source=env:NAME");
        } else if (name == "pin-source") {
          if (value->rfind("file:", 0) != 0 && value->rfind("env:", 0) != 0) {
            return absl::InvalidArgumentError(absl::StrCat(
                "pkcs11: URI pin-source \"", *value, "\" is neither file:/path nor env:NAME"));
          }
          absl::string_view target = absl::string_view(*value).substr(value->find(':') + 1);
          if (target.empty()) {
            return absl::InvalidArgumentError("pkcs11: URI pin-source names no file or variable");
          }
          out.pin_source = *value;
        } else if (name == "module-path") {
          if (value->empty() || (*value)[0] != '/') {
            return absl::InvalidArgumentError(
                absl::StrCat("pkcs11: URI module-path \"", *value, "\" must be an absolute path"));
          }
          out.module_path = *value;
        } else if (name == "module-name") {
          return absl::InvalidArgumentError(
              "pkcs11: URI module-name is not supported; give module-path=/absolute/path.so");
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("unknown pkcs11: URI query attribute \"", name, "\""));
        }
      }
    }
    return absl::OkStatus();
  };
  if (absl::Status s = parse_list(path, ';', false); !s.ok()) return s;
  if (absl::Status s = parse_list(query, '&', true); !s.ok()) return s;
  return out;
}

}  // namespace meshtrust::keystore
