#include "tests/fuzz/audit_records.h"

#include "tests/fuzz/fuzz_input.h"

namespace meshtrust::fuzz {
namespace {

void PutInt(uint64_t v, int bytes, std::string* out) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool TakeInt(absl::string_view* in, int bytes, uint64_t* v) {
  if (in->size() < static_cast<size_t>(bytes)) return false;
  *v = 0;
  for (int i = 0; i < bytes; ++i) *v = (*v << 8) | static_cast<uint8_t>((*in)[i]);
  in->remove_prefix(bytes);
  return true;
}

bool TakeField(absl::string_view* in, int length_bytes, std::string* out) {
  uint64_t n = 0;
  if (!TakeInt(in, length_bytes, &n) || in->size() < n) return false;
  out->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

std::vector<std::string*> TextFields(ca::AuditEvent* e) {
  return {&e->caller, &e->action, &e->target, &e->request_sha256, &e->result, &e->serial};
}

}  // namespace

std::string EncodeAuditRecords(const std::vector<ca::AuditRecord>& records) {
  std::string out;
  for (ca::AuditRecord r : records) {
    PutInt(r.sequence, 8, &out);
    PutInt(static_cast<uint64_t>(UnixMillis(r.event.time)), 8, &out);
    for (std::string* field : TextFields(&r.event)) {
      PutInt(field->size(), 2, &out);
      out += *field;
    }
    PutInt(r.hash.size(), 1, &out);
    out += r.hash;
    PutInt(r.signature.size(), 1, &out);
    out += r.signature;
  }
  return out;
}

std::vector<ca::AuditRecord> DecodeAuditRecords(absl::string_view in) {
  std::vector<ca::AuditRecord> out;
  while (!in.empty()) {
    ca::AuditRecord r;
    uint64_t millis = 0;
    if (!TakeInt(&in, 8, &r.sequence) || !TakeInt(&in, 8, &millis)) break;
    r.event.time = FromUnixMillis(static_cast<int64_t>(millis));
    bool complete = true;
    for (std::string* field : TextFields(&r.event)) complete = complete && TakeField(&in, 2, field);
    if (!complete || !TakeField(&in, 1, &r.hash) || !TakeField(&in, 1, &r.signature)) break;
    out.push_back(std::move(r));
  }
  return out;
}

const ca::AuditSigner& AuditFixtureSigner() {
  static const ca::AuditSigner* signer = [] {
    absl::StatusOr<std::unique_ptr<ca::AuditSigner>> s =
        ca::AuditSigner::FromSeed(SecretBytes::CopyOf(absl::string_view(std::string(32, '\x42'))));
    Require(s.ok(), "audit fixture signer");
    return s->release();  // Lives for the process.
  }();
  return *signer;
}

}  // namespace meshtrust::fuzz
