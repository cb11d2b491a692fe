#include "pki/pem.h"

#include <sodium.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace meshtrust::pki {
namespace {

constexpr absl::string_view kBegin = "-----BEGIN ";
constexpr absl::string_view kEnd = "-----END ";
constexpr absl::string_view kDashes = "-----";
constexpr const char* kBase64Ignore = " \t\r\n";

struct RawBlock {
  absl::string_view label;
  absl::string_view base64;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

size_t SkipSpace(absl::string_view s, size_t pos) {
  while (pos < s.size() && IsSpace(s[pos])) ++pos;
  return pos;
}

bool IsLabelChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '#' || c == '-';
}

absl::StatusOr<std::vector<RawBlock>> ScanBlocks(absl::string_view pem) {
  std::vector<RawBlock> blocks;
  size_t pos = SkipSpace(pem, 0);
  if (pos == pem.size()) return absl::InvalidArgumentError("PEM input is empty");
  while (pos < pem.size()) {
    if (pem.substr(pos, kBegin.size()) != kBegin) {
      return absl::InvalidArgumentError(
          blocks.empty() ? "PEM input does not start with a -----BEGIN line"
                         : absl::StrCat("PEM input has unexpected data after block ", blocks.size(),
                                        " (only whitespace may follow an END line)"));
    }
    size_t label_start = pos + kBegin.size();
    size_t label_end = pem.find(kDashes, label_start);
    if (label_end == absl::string_view::npos) {
      return absl::InvalidArgumentError("PEM BEGIN line is not terminated");
    }
    absl::string_view label = pem.substr(label_start, label_end - label_start);
    if (label.empty() || label.size() > 64) {
      return absl::InvalidArgumentError("PEM block label is empty or too long");
    }
    for (char c : label) {
      if (!IsLabelChar(c))
        return absl::InvalidArgumentError("PEM block label has invalid characters");
    }
    size_t body_start = label_end + kDashes.size();
    std::string end_line = absl::StrCat(kEnd, label, kDashes);
    size_t end_pos = pem.find(end_line, body_start);
    if (end_pos == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("PEM block \"", label, "\" has no END line"));
    }
    absl::string_view body = pem.substr(body_start, end_pos - body_start);
    if (body.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PEM block \"", label, "\" has headers; encrypted or annotated PEM is not accepted"));
    }
    if (body.find(kDashes) != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("PEM block \"", label, "\" is malformed"));
    }
    blocks.push_back({label, body});
    pos = SkipSpace(pem, end_pos + end_line.size());
  }
  return blocks;
}

size_t MaxDecodedSize(absl::string_view base64) { return base64.size() / 4 * 3 + 3; }

// Decodes into `out` (at least MaxDecodedSize bytes); returns the length.
absl::StatusOr<size_t> DecodeBase64Into(absl::string_view label, absl::string_view base64,
                                        unsigned char* out, size_t out_cap) {
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out, out_cap, base64.data(), base64.size(), kBase64Ignore, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != base64.data() + base64.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PEM block \"", label, "\" has invalid base64 content"));
  }
  if (len == 0) {
    return absl::InvalidArgumentError(absl::StrCat("PEM block \"", label, "\" is empty"));
  }
  return len;
}

absl::StatusOr<std::string> DecodeBase64(absl::string_view label, absl::string_view base64) {
  std::string out(MaxDecodedSize(base64), '\0');
  absl::StatusOr<size_t> len =
      DecodeBase64Into(label, base64, reinterpret_cast<unsigned char*>(out.data()), out.size());
  if (!len.ok()) return len.status();
  out.resize(*len);
  return out;
}

void AppendBase64Lines(absl::string_view der, char* out, size_t* written) {
  constexpr size_t kLine = 48;  // 48 bytes -> 64 base64 characters.
  size_t pos = 0;
  for (size_t i = 0; i < der.size(); i += kLine) {
    size_t chunk = std::min(kLine, der.size() - i);
    size_t enc_len = sodium_base64_encoded_len(chunk, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(out + pos, enc_len, reinterpret_cast<const unsigned char*>(der.data()) + i,
                      chunk, sodium_base64_VARIANT_ORIGINAL);
    pos += enc_len - 1;  // Drop the NUL.
    out[pos++] = '\n';
  }
  *written = pos;
}

size_t EncodedPemSize(size_t der_size, absl::string_view label) {
  size_t lines = (der_size + 47) / 48;
  return kBegin.size() + kEnd.size() + 2 * (label.size() + kDashes.size() + 1) + lines * 65;
}

}  // namespace

absl::StatusOr<std::vector<PemBlock>> DecodePemBlocks(absl::string_view pem) {
  absl::StatusOr<std::vector<RawBlock>> raw = ScanBlocks(pem);
  if (!raw.ok()) return raw.status();
  std::vector<PemBlock> out;
  for (const RawBlock& block : *raw) {
    absl::StatusOr<std::string> der = DecodeBase64(block.label, block.base64);
    if (!der.ok()) return der.status();
    out.push_back({std::string(block.label), *std::move(der)});
  }
  return out;
}

absl::StatusOr<std::string> DecodeSinglePem(absl::string_view pem, absl::string_view label) {
  absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  if (blocks->size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected exactly one PEM block \"", label, "\", found ", blocks->size()));
  }
  if ((*blocks)[0].label != label) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a PEM block \"", label, "\", found \"", (*blocks)[0].label, "\""));
  }
  return std::move((*blocks)[0].der);
}

absl::StatusOr<std::vector<std::string>> DecodePemSequence(absl::string_view pem,
                                                           absl::string_view label) {
  absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(pem);
  if (!blocks.ok()) return blocks.status();
  std::vector<std::string> out;
  for (PemBlock& block : *blocks) {
    if (block.label != label) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected only PEM blocks \"", label, "\", found \"", block.label, "\""));
    }
    out.push_back(std::move(block.der));
  }
  return out;
}

std::string EncodePem(absl::string_view der, absl::string_view label) {
  std::string out(EncodedPemSize(der.size(), label), '\0');
  std::string head = absl::StrCat(kBegin, label, kDashes, "\n");
  std::memcpy(out.data(), head.data(), head.size());
  size_t written = 0;
  AppendBase64Lines(der, out.data() + head.size(), &written);
  std::string tail = absl::StrCat(kEnd, label, kDashes, "\n");
  std::memcpy(out.data() + head.size() + written, tail.data(), tail.size());
  out.resize(head.size() + written + tail.size());
  return out;
}

absl::StatusOr<PemSecretBlock> DecodeSecretPem(const SecretBytes& pem) {
  absl::StatusOr<std::vector<RawBlock>> raw = ScanBlocks(pem.UnsafeSecretString());
  if (!raw.ok()) return raw.status();
  if (raw->size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected exactly one PEM block, found ", raw->size()));
  }
  const RawBlock& block = (*raw)[0];
  SecretBytes der(MaxDecodedSize(block.base64));
  absl::StatusOr<size_t> len =
      DecodeBase64Into(block.label, block.base64, der.UnsafeSecretView().data(), der.size());
  if (!len.ok()) return len.status();
  der.Truncate(*len);
  return PemSecretBlock{std::string(block.label), std::move(der)};
}

SecretBytes SecretDerToPem(const SecretBytes& der, absl::string_view label) {
  SecretBytes out(EncodedPemSize(der.size(), label));
  char* dst = reinterpret_cast<char*>(out.UnsafeSecretView().data());
  std::string head = absl::StrCat(kBegin, label, kDashes, "\n");
  std::memcpy(dst, head.data(), head.size());
  size_t written = 0;
  AppendBase64Lines(der.UnsafeSecretString(), dst + head.size(), &written);
  std::string tail = absl::StrCat(kEnd, label, kDashes, "\n");
  std::memcpy(dst + head.size() + written, tail.data(), tail.size());
  out.Truncate(head.size() + written + tail.size());
  return out;
}

}  // namespace meshtrust::pki
