#!/usr/bin/env bash
# Regenerates docs/configuration.md from the binaries' --help output.
#   scripts/gen-config-reference.sh [BUILD_DIR]
# tests/docs/configuration_doc_test.cc checks that the page still lists every
# flag of every command.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
commands=(
  "ca/meshtrust-ca" "ca/meshtrust-ca init" "ca/meshtrust-ca serve" "ca/meshtrust-ca admin-token"
  "ca/meshtrust-ca audit verify"
  "agent/meshtrust-agent" "agent/meshtrust-agent once" "agent/meshtrust-agent run"
  "ctl/meshtrustctl" "ctl/meshtrustctl login" "ctl/meshtrustctl status"
  "ctl/meshtrustctl cluster add" "ctl/meshtrustctl cluster list" "ctl/meshtrustctl cluster disable"
  "ctl/meshtrustctl cluster enable" "ctl/meshtrustctl cluster limit" "ctl/meshtrustctl token create"
  "ctl/meshtrustctl certs list"
  "ctl/meshtrustctl rotate intermediate" "ctl/meshtrustctl root status"
  "ctl/meshtrustctl root rotate begin" "ctl/meshtrustctl root rotate activate"
  "ctl/meshtrustctl root rotate finish" "ctl/meshtrustctl revoke" "ctl/meshtrustctl revoke release" "ctl/meshtrustctl audit list"
  "ctl/meshtrustctl audit verify" "ctl/meshtrustctl audit checkpoint"
)
{
  echo "# Configuration reference"
  echo
  echo "Every command's flags, as its \`--help\` prints them (regenerate with"
  echo "\`scripts/gen-config-reference.sh\`). Flags marked \`(Env:NAME)\` may be given"
  echo "as that environment variable instead. Durations are written like \`24h\`,"
  echo "\`90m\` or \`1h30m\`."
  echo
  echo "## Configuration files"
  echo
  echo "\`meshtrust-ca\` and \`meshtrust-agent\` also read their flags from a YAML file"
  echo "given with \`--config FILE\`. Top-level keys are the program's own flags; a"
  echo "section named after a subcommand holds that subcommand's flags, written"
  echo "without their dashes. Values are scalars or lists; boolean flags take"
  echo "\`true\` or \`false\`. A flag on the command line or in the environment wins"
  echo "over the file. An unknown section or field, a map where a value belongs, or"
  echo "YAML that does not parse stops the program with an error naming the file and"
  echo "the field; values are checked as on the command line."
  echo
  echo '```yaml'
  echo "# meshtrust-agent --config /etc/meshtrust/agent.yaml run"
  echo "log-format: json"
  echo "run:"
  echo "  ca: meshtrust-ca.meshtrust-system.svc:8443"
  echo "  cluster: cluster1"
  echo "  reconcile-seconds: 30"
  echo "  restart-istiod: false"
  echo '```'
  echo
  echo '```yaml'
  echo "# meshtrust-ca --config /etc/meshtrust/ca.yaml serve"
  echo "serve:"
  echo "  state-dir: /var/lib/meshtrust"
  echo "  kek-file: /etc/meshtrust/kek/kek"
  echo "  listen: 0.0.0.0:8443"
  echo "  metrics-listen: 0.0.0.0:9090"
  echo "  # Newest audit checkpoints, one JSON line each, for a log shipper (docs/operations.md)."
  echo "  checkpoint-log: /var/log/meshtrust/audit-checkpoints.jsonl"
  echo '```'

  for c in "${commands[@]}"; do
    read -r bin sub <<<"$c"
    name="$(basename "$bin")${sub:+ $sub}"
    echo
    echo "## \`$name\`"
    echo
    echo '```text'
    # shellcheck disable=SC2086
    COLUMNS=100 "$B/$bin" $sub --help 2>&1 | sed -e 's/[[:space:]]*$//' -e 's|^Usage: [^ ]*/|Usage: |'
    echo '```'
  done
} >docs/configuration.md
echo "wrote docs/configuration.md"
