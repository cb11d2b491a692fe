#!/usr/bin/env bash
# One mutual-TLS handshake between two workloads with the real openssl
# s_server/s_client, each side verifying the other's chain. Exit 0 when both
# sides verified, 1 otherwise; the transcript goes to $HANDSHAKE_LOG if set.
#
#   mtls-handshake.sh SERVER_CERT SERVER_KEY SERVER_CHAIN SERVER_TRUST \
#                     CLIENT_CERT CLIENT_KEY CLIENT_CHAIN CLIENT_TRUST [crl]
#
# *_CHAIN is the workload's issuing intermediate (ca-cert.pem); *_TRUST is the
# trust file (root-cert.pem). With "crl", both sides also check revocation of
# every certificate in the peer's chain (-crl_check_all) against the CRLs in
# their trust file (root-cert.pem followed by ca-crl.pem).
set -uo pipefail
[ $# -ge 8 ] || { echo "usage: $0 SCERT SKEY SCHAIN STRUST CCERT CKEY CCHAIN CTRUST [crl]" >&2; exit 2; }
crl_flags=()
[ "${9:-}" = "crl" ] && crl_flags=(-crl_check_all)
tmp=$(mktemp -d /tmp/meshtrust-handshake.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# -rev: a server that never reads stdin, so it waits for the client.
timeout 15 openssl s_server -rev -accept 127.0.0.1:0 -naccept 1 -cert "$1" -key "$2" \
  -cert_chain "$3" -CAfile "$4" -Verify 3 -verify_return_error "${crl_flags[@]}" \
  >"$tmp/server" 2>&1 &
spid=$!
for _ in $(seq 1 100); do grep -q '^ACCEPT' "$tmp/server" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$tmp/server")
rc=0
echo Q | timeout 15 openssl s_client -connect "127.0.0.1:$port" -cert "$5" -key "$6" \
  -cert_chain "$7" -CAfile "$8" -verify 3 -verify_return_error "${crl_flags[@]}" -brief \
  >"$tmp/client" 2>&1 || rc=1
wait "$spid" 2>/dev/null || rc=1
grep -q "Verification: OK" "$tmp/client" || rc=1
grep -q "Verification: OK" "$tmp/server" || rc=1
if [ -n "${HANDSHAKE_LOG:-}" ]; then
  { echo "--- client"; cat "$tmp/client"; echo "--- server"; cat "$tmp/server"; } >"$HANDSHAKE_LOG"
fi
exit $rc
