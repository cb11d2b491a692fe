# Sourced by demo.sh --lifecycle once three clusters hold their first cacerts:
# long-running agents, an intermediate rotation, a full root rotation and a
# revocation, with cross-cluster mTLS (real openssl) checked after each step.
# Uses demo.sh's variables and functions; not meant to run on its own.

step "9. Start each cluster's long-running agent (Watch stream to the CA, renewal, repair)"
for cluster in $CLUSTERS; do
  "$AGENT" run --ca "$CA_ADDR" --cluster "$cluster" --kubeconfig "$WORK/$cluster/admin.kubeconfig" \
    --status-file "$WORK/$cluster/status.json" 2>>"$WORK/$cluster/agent.log" &
  PIDS+=($!)
done
for cluster in $CLUSTERS; do
  wait_until "$cluster's agent is connected" grep -q '"watch_connected": true' "$WORK/$cluster/status.json"
done
echo "three agents connected; their status files: $WORK/<cluster>/status.json"

# Fresh workloads from each cluster's current intermediate, kept in $WORK/wl.
workloads() {  # label
  for cluster in $CLUSTERS; do
    read_cacerts "$cluster" "$WORK/now/$cluster"
    make_workload "$WORK/wl" "$WORK/now/$cluster" "$1-$cluster"
  done
}
# Every pair of clusters, each trusting only what its own cacerts holds now.
mesh_check() {  # what label-of-workloads...
  local what=$1; shift
  local a b la lb
  for a in $CLUSTERS; do read_cacerts "$a" "$WORK/now/$a"; done
  for a in $CLUSTERS; do
    for b in $CLUSTERS; do
      [[ "$a" < "$b" ]] || continue
      for la in "$@"; do
        for lb in "$@"; do
          handshake "$WORK/wl" "$la-$a" "$WORK/now/$a" "$WORK/wl" "$lb-$b" "$WORK/now/$b" ||
            { cat "$WORK/last-handshake.log" >&2; fail "$what: $la-$a <-> $lb-$b"; }
        done
      done
    done
  done
  echo "OK ($what): every pair of clusters completed mutual TLS ($* workloads)"
}
root_status_json() { "$CTL" root status -o json; }
rotation_unblocked() { root_status_json | grep -q '"blocking": ""'; }
mkdir -p "$WORK/wl" "$WORK/now"
workloads gen0
mesh_check "before any rotation" gen0

step "10. Rotate cluster1's intermediate (e.g. after suspected key exposure)"
before=$(installed_serial cluster1)
"$CTL" rotate intermediate --cluster cluster1
serial_changed() { [ "$(installed_serial cluster1)" != "$before" ]; }
wait_until "cluster1 re-keyed" serial_changed
echo "cluster1: intermediate $before -> $(installed_serial cluster1), with a new key generated in cluster1"
workloads gen1
mesh_check "after rotating cluster1's intermediate" gen0 gen1

step "11. Root rotation, phase 1: begin (new root B appended to the bundle; A still signs)"
"$CTL" root rotate begin
wait_until "every agent acknowledged the A+B bundle" rotation_unblocked
"$CTL" root status
for cluster in $CLUSTERS; do
  read_cacerts "$cluster" "$WORK/now/$cluster"
  [ "$(grep -c 'BEGIN CERTIFICATE' "$WORK/now/$cluster/root-cert.pem")" = 2 ] || fail "$cluster lacks A+B"
  cmp -s -n "$(stat -c %s "$OUT/$cluster/root-cert.pem")" "$OUT/$cluster/root-cert.pem" "$WORK/now/$cluster/root-cert.pem" ||
    fail "$cluster's new bundle does not start with the old one byte-for-byte"
done
echo "every cluster's root-cert.pem is the old root followed byte-exactly by the new one"
mesh_check "root rotation begun" gen1

step "12. Root rotation, phase 2: activate (B signs; every agent re-keys onto B)"
"$CTL" root rotate activate
wait_until "every agent runs an intermediate from B" rotation_unblocked
for cluster in $CLUSTERS; do
  read_cacerts "$cluster" "$WORK/now/$cluster"
  echo "$cluster: $(openssl x509 -noout -issuer -in "$WORK/now/$cluster/ca-cert.pem")"
done
workloads gen2
mesh_check "root B active, workloads from A and B intermediates" gen1 gen2

step "13. Root rotation, phase 3: finish (after the soak time the bundle becomes B only)"
until "$CTL" root rotate finish >"$WORK/finish.txt" 2>&1; do
  grep -q "soak time" "$WORK/finish.txt" || { cat "$WORK/finish.txt" >&2; fail "root rotate finish"; }
  sleep 0.5
done
cat "$WORK/finish.txt"
trusts_one_root() {  # cluster
  read_cacerts "$1" "$WORK/now/$1" && [ "$(grep -c 'BEGIN CERTIFICATE' "$WORK/now/$1/root-cert.pem")" = 1 ]
}
for cluster in $CLUSTERS; do wait_until "$cluster trusts B only" trusts_one_root "$cluster"; done
mesh_check "root rotation finished" gen2

step "14. Revoke cluster3 (key compromise): its intermediate lands in every cluster's ca-crl.pem"
REVOKED=$(installed_serial cluster3)
"$CTL" revoke --cluster cluster3 --reason keyCompromise
crl_lists_revoked() {  # cluster: any CRL in its ca-crl.pem lists $REVOKED
  local d=$WORK/crl/$1
  rm -rf "$d" && read_cacerts "$1" "$d" || return 1
  awk -v d="$d" '/BEGIN X509 CRL/ {n++} {print > (d "/one-" n ".crl")}' "$d/ca-crl.pem"
  # Every CRL must parse (a failure in the loop is not masked by the last
  # one), and grep reads to the end so the writer never dies of SIGPIPE.
  for f in "$d"/one-*.crl; do openssl crl -noout -text -in "$f" || exit 1; done |
    grep -i "Serial Number: $REVOKED" >/dev/null
}
for cluster in cluster1 cluster2; do
  wait_until "$cluster's ca-crl.pem lists $REVOKED" crl_lists_revoked "$cluster"
done
echo "cluster1 and cluster2 both list cluster3's intermediate $REVOKED as revoked"
for cluster in $CLUSTERS; do read_cacerts "$cluster" "$WORK/now/$cluster"; done
handshake "$WORK/wl" gen2-cluster1 "$WORK/now/cluster1" "$WORK/wl" gen2-cluster2 "$WORK/now/cluster2" crl ||
  { cat "$WORK/last-handshake.log" >&2; fail "CRL-checking handshake cluster1 <-> cluster2"; }
echo "OK: cluster1 <-> cluster2 still complete mutual TLS with CRL checks"
if handshake "$WORK/wl" gen2-cluster1 "$WORK/now/cluster1" "$WORK/wl" gen2-cluster3 "$WORK/now/cluster3" crl; then
  fail "cluster1 accepted a workload of revoked cluster3"
fi
grep -q "certificate revoked" "$WORK/last-handshake.log" || { cat "$WORK/last-handshake.log" >&2; fail "no revocation reported"; }
echo "OK: cluster1 refuses cluster3's workload: certificate revoked"
"$CTL" cluster list

# Every cluster's final set, the revoked cluster's too.
for cluster in $CLUSTERS; do read_cacerts "$cluster" "$OUT/$cluster"; done
LAST_STEP=15
