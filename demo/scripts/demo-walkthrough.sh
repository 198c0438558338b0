#!/usr/bin/env bash
# The interactive walk through MQTT Sentinel's capabilities, with numbers from the live platform.
set -euo pipefail
# shellcheck source=demo/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
Usage: $(basename "$0") [--non-interactive]

Walks through MQTT Sentinel's capabilities against a running platform, pausing between steps:
  1. Platform health and connection metrics
  2. Device authentication (valid + invalid credentials)
  3. Rate limiting under burst traffic
  4. Security inspection catching malicious payloads
  5. Grafana dashboard visualization
  6. Scale metrics (connections, throughput, latency)
Each step says what it does, does it with mosquitto_pub, and prints what the platform answered: the
edge's replies, its live metrics (/metrics of each service, and Prometheus when it answers) and the
forensic store's queries (sentinel forensics ...). It registers its demo devices ($(demo_id sensor),
$(demo_id burst)) with 'sentinel devices add' when they are missing.

Options:
  --non-interactive   do not wait for Enter between steps (unattended runs, CI)
  -h, --help          this text

Environment (defaults: the local platform of 'npm start'):
  SENTINEL_DEMO_HOST, SENTINEL_DEMO_PORT     edge address (127.0.0.1, 11883; 18883 with TLS)
  SENTINEL_DEMO_TLS=1, SENTINEL_DEMO_CAFILE  MQTTS and the CA of the edge certificate
  SENTINEL_DEMO_PASSWORD, SENTINEL_DEMO_USERNAME, SENTINEL_DEMO_DEVICE_PREFIX, SENTINEL_DEMO_REGISTER=0
                                             demo device credentials (see demo/scripts/lib.sh)
  SENTINEL_DEMO_INGEST_METRICS, _PROCESSORS_METRICS, _BRIDGE_METRICS, _FORENSICS_METRICS
                                             the services' /metrics (127.0.0.1:19101, 19111, 19121, 19131)
  SENTINEL_DEMO_PROMETHEUS_URL               Prometheus (http://127.0.0.1:19090), optional
  SENTINEL_FORENSICS_URL                     the forensic store (http://127.0.0.1:18123)
Prerequisites: mosquitto-clients, curl, Node.js (the sentinel CLI), a running platform (npm start).
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --non-interactive | -y)
      DEMO_INTERACTIVE=0
      shift
      ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -t 0 ] || DEMO_INTERACTIVE=0

require_tools cli
require_platform
require_forensics

SENSOR="$(demo_id sensor)"
BURST="$(demo_id burst)"
# The burst test drains its device's PUBLISH bucket: a fresh client id per run keeps reruns comparable.

say "${C_BOLD}MQTT Sentinel demo walkthrough${C_OFF} against mqtt$([ "$DEMO_TLS" = 1 ] && printf s)://$DEMO_HOST:$DEMO_PORT"
say "registering the demo devices (idempotent):"
ensure_devices "$SENSOR" "$BURST"
pause

# --- 1 --------------------------------------------------------------------------------------------------
step "1. Platform health and connection metrics"
say "Each service answers /readyz when it can do its work (Kafka, registry, Redis, device DB, origin):"
for entry in "edge (ingest)|$INGEST_METRICS" "processors|$PROCESSORS_METRICS" "bridge|$BRIDGE_METRICS" "forensics sink|$FORENSICS_METRICS"; do
  name="${entry%%|*}"
  url="${entry#*|}"
  readyz="${url%/metrics}/readyz"
  if code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$readyz")" && [ "$code" = 200 ]; then
    printf '  %-16s %-40s %sready%s\n' "$name" "$readyz" "$C_GREEN" "$C_OFF"
  else
    printf '  %-16s %-40s %snot ready (%s)%s\n' "$name" "$readyz" "$C_RED" "${code:-no answer}" "$C_OFF"
  fi
done
say "The edge's own view ($INGEST_METRICS):"
printf '  %-44s %s\n' \
  "open device connections" "$(metric "$INGEST_METRICS" sentinel_ingest_connections_active)" \
  "active MQTT sessions" "$(metric "$INGEST_METRICS" sentinel_ingest_sessions_active)" \
  "connections accepted since start" "$(metric "$INGEST_METRICS" sentinel_ingest_connections_opened_total)" \
  "connections refused since start" "$(metric "$INGEST_METRICS" sentinel_ingest_connections_rejected_total)" \
  "Kafka reachable (1 = yes)" "$(metric "$INGEST_METRICS" sentinel_ingest_kafka_up)" \
  "device DB reachable" "$(metric "$INGEST_METRICS" sentinel_auth_device_db_up)" \
  "auth cache (Redis) reachable" "$(metric "$INGEST_METRICS" sentinel_auth_cache_up)" \
  "bridge connected to the origin (connections)" "$(metric "$BRIDGE_METRICS" sentinel_bridge_origin_connected)"
targets="$(prometheus_query 'count(up == 1)')"
if [ -n "$targets" ]; then
  say "Prometheus ($PROMETHEUS_URL) scrapes $targets healthy targets of $(prometheus_query 'count(up)')."
else
  say "Prometheus does not answer at $PROMETHEUS_URL (optional; the numbers above come from the services)."
fi
pause

# --- 2 --------------------------------------------------------------------------------------------------
step "2. Device authentication (valid + invalid credentials)"
allowed_before="$(metric "$INGEST_METRICS" sentinel_auth_requests_total 'result="(allowed|cache_hit)"')"
denied_before="$(metric "$INGEST_METRICS" sentinel_auth_requests_total 'result="denied"')"
say "A registered device connects with its password and publishes one reading (QoS 1):"
run_note "mosquitto_pub -i $SENSOR -u $(demo_user "$SENSOR") -P '***' -t devices/$SENSOR/telemetry -q 1 -m '{\"temp\":21.5}' -d"
if answer="$(pub "$SENSOR" -t "devices/$SENSOR/telemetry" -q 1 -m '{"temp":21.5}' -d 2>&1)"; then
  grep -E 'CONNACK|PUBACK' <<<"$answer" | sed 's/^/  edge: /'
  ok "accepted: CONNACK (0), and the PUBACK came once Kafka had stored the event (acks=all)"
else
  printf "%s\n" "$answer" | sed "s/^/  edge: /"
  die "the valid device was refused: if $SENSOR was registered earlier with another password, set SENTINEL_DEMO_PASSWORD or use another SENTINEL_DEMO_DEVICE_PREFIX"
fi
say "The same device with a wrong password:"
run_note "mosquitto_pub -i $SENSOR -u $(demo_user "$SENSOR") -P wrong-password -t devices/$SENSOR/telemetry -m x -d"
if answer="$(pub_as "$SENSOR" wrong-password -t "devices/$SENSOR/telemetry" -m x -d 2>&1)"; then
  die "the edge accepted a wrong password"
fi
grep -E 'CONNACK|refused|not authorised' <<<"$answer" | head -n 2 | sed 's/^/  edge: /'
ok "refused: CONNACK (5) not authorized, connection closed"
sleep 1
printf '  %-58s %s -> %s\n' \
  "auth allowed (incl. cache hits), sentinel_auth_requests_total" "$allowed_before" "$(metric "$INGEST_METRICS" sentinel_auth_requests_total 'result="(allowed|cache_hit)"')" \
  "auth denied, sentinel_auth_requests_total{result=denied}" "$denied_before" "$(metric "$INGEST_METRICS" sentinel_auth_requests_total 'result="denied"')"
say "Auth latency on this edge: P50 $(ms "$(histogram_quantile "$INGEST_METRICS" sentinel_auth_duration_seconds 0.5)"), P99 $(ms "$(histogram_quantile "$INGEST_METRICS" sentinel_auth_duration_seconds 0.99)")"
say "The forensic store has the refusal (sentinel forensics auth-failures-by-ip --since 10m):"
sleep 2
sentinel_cli forensics auth-failures-by-ip --since 10m --limit 5 2>&1 | sed 's/^/    /'
pause

# --- 3 --------------------------------------------------------------------------------------------------
step "3. Rate limiting under burst traffic"
say "$BURST sends 1,000 QoS 0 PUBLISHes as fast as it can. The edge's PUBLISH tier allows 100/s per"
say "client with a burst of 500 (docs/rate-limiting.md); what is over it is dropped (QoS 0) or"
say "acknowledged and dropped (QoS 1), and recorded."
limited_before="$(metric "$INGEST_METRICS" sentinel_ratelimit_events_total 'outcome="limited"')"
publish_limited_before="$(metric "$INGEST_METRICS" sentinel_ratelimit_events_total 'tier="(publish|client)",outcome="limited"')"
inbound_before="$(metric "$INGEST_METRICS" sentinel_ingest_packets_total 'type="PUBLISH",direction="inbound"')"
since="$(utc_since 2)"
run_note "seq 1 1000 | sed 's/.*/{\"seq\":&}/' | mosquitto_pub -i $BURST -t devices/$BURST/telemetry -q 0 -l"
seq 1 1000 | sed 's/.*/{"seq":&}/' | pub "$BURST" -t "devices/$BURST/telemetry" -q 0 -l
sleep 1
limited_after="$(metric "$INGEST_METRICS" sentinel_ratelimit_events_total 'outcome="limited"')"
publish_limited_after="$(metric "$INGEST_METRICS" sentinel_ratelimit_events_total 'tier="(publish|client)",outcome="limited"')"
inbound_after="$(metric "$INGEST_METRICS" sentinel_ingest_packets_total 'type="PUBLISH",direction="inbound"')"
printf '  %-62s %s -> %s (+%s)\n' \
  "PUBLISH packets received, sentinel_ingest_packets_total" "$inbound_before" "$inbound_after" "$((inbound_after - inbound_before))" \
  "refused by the PUBLISH/client tiers, sentinel_ratelimit_events_total" "$publish_limited_before" "$publish_limited_after" "$((publish_limited_after - publish_limited_before))" \
  "refused by any tier" "$limited_before" "$limited_after" "$((limited_after - limited_before))"
if [ $((publish_limited_after - publish_limited_before)) -gt 0 ]; then
  ok "the burst was cut at the edge: $((publish_limited_after - publish_limited_before)) of 1000 messages refused"
else
  warn "no refusal counted (the burst may have been slower than the bucket refills)"
fi
say "Per tier since the edge started (sentinel_ratelimit_events_total{outcome=limited}):"
for tier in global ip connect publish subscribe client; do
  printf '    %-10s %s\n' "$tier" "$(metric "$INGEST_METRICS" sentinel_ratelimit_events_total "tier=\"$tier\",outcome=\"limited\"")"
done
say "What got through was still too fast for a sensor: the processors' rate anomaly rule (over 100 msg/s"
say "per device) quarantined the rest of the burst:"
wait_for_count "ANOM-RATE-ABSOLUTE verdicts for $BURST" \
  "SELECT count() AS n FROM verdicts WHERE client_id = '$BURST' AND decided_at >= toDateTime64('$since', 3, 'UTC') AND has(findings.rule_id, 'ANOM-RATE-ABSOLUTE')" ||
  warn "no rate anomaly verdict yet"
pause

# --- 4 --------------------------------------------------------------------------------------------------
step "4. Security inspection catching malicious payloads"
say "$SENSOR (a valid, authenticated device) publishes four payloads; the processors decode JSON,"
say "URL and HTML encodings and match SQL injection, XSS, command injection and path traversal rules."
since="$(utc_since 2)"
declare -a attacks=(
  '{"name":"x'"'"' UNION SELECT password FROM users--"}'
  '{"label":"<script>alert(document.cookie)</script>"}'
  '{"host":"8.8.8.8; cat /etc/passwd"}'
  '{"file":"..%2f..%2f..%2fetc%2fshadow"}'
)
for payload in "${attacks[@]}"; do
  run_note "mosquitto_pub -i $SENSOR -t devices/$SENSOR/telemetry -q 1 -m '$payload'"
  pub "$SENSOR" -t "devices/$SENSOR/telemetry" -q 1 -m "$payload"
done
wait_for_count "all 4 payloads blocked" \
  "SELECT count() AS n FROM verdicts WHERE client_id = '$SENSOR' AND decided_at >= toDateTime64('$since', 3, 'UTC') AND decision = 'block'" "$VERDICT_TIMEOUT" 4 ||
  warn "not every verdict arrived yet"
say "The verdicts (sentinel forensics sql ...):"
sentinel_cli forensics sql "SELECT decided_at, decision, arrayStringConcat(arrayDistinct(findings.class), ',') AS classes, arrayStringConcat(findings.rule_id, ',') AS rules, substring(findings.evidence[1], 1, 50) AS evidence, processing_latency_ms AS ms FROM verdicts WHERE client_id = '$SENSOR' AND decided_at >= toDateTime64('$since', 3, 'UTC') AND length(findings.rule_id) > 0 ORDER BY decided_at" 2>&1 |
  sed 's/^/    /'
say "Blocked messages never reach the origin (sentinel.approved only carries allowed ones)."
say "Top offenders of the last 15 minutes (sentinel forensics top-offenders --since 15m):"
sentinel_cli forensics top-offenders --since 15m --limit 5 2>&1 | sed 's/^/    /'
pause

# --- 5 --------------------------------------------------------------------------------------------------
step "5. Grafana dashboard visualization"
dashboard="$DEMO_ROOT/dashboards/mqtt-security.json"
if [ -f "$dashboard" ]; then
  say "The MQTT Security Dashboard: $dashboard ($(grep -c '"type": *"\(stat\|gauge\|timeseries\|table\|bargauge\|piechart\)"' "$dashboard") panels)"
else
  say "The MQTT Security Dashboard: dashboards/mqtt-security.json in the project"
fi
say "Import it into Grafana:"
say "  1. Connections -> Data sources -> Add: Prometheus, URL $PROMETHEUS_URL"
say "  2. Dashboards -> New -> Import: upload dashboards/mqtt-security.json, pick that data source"
say "  or provision it: deploy/grafana/provisioning (README.md, section Dashboards)."
if [ -n "$(prometheus_query 'vector(1)')" ]; then
  say "Prometheus answers at $PROMETHEUS_URL; some of the panels' queries, live:"
  say "  (the panels' own PromQL, with \$__rate_interval = 5m)"
  printf '    %-40s %s\n' \
    "Connection Rate (conn/s)" "$(num "$(prometheus_query 'sum(rate(sentinel_ingest_connections_opened_total[5m]))')")" \
    "Active Proxy Connections" "$(num "$(prometheus_query 'sum(sentinel_ingest_connections_active)')")" \
    "Auth Success Rate (%)" "$(num "$(prometheus_query '100 * (1 - ((sum(rate(sentinel_auth_denials_total[5m]))) or vector(0)) / sum(rate(sentinel_auth_requests_total[5m])))')")" \
    "Rate Limit Rejection (%)" "$(num "$(prometheus_query 'clamp_max(100 * sum(rate(sentinel_ratelimit_events_total{outcome="limited"}[5m])) / sum(rate(sentinel_ingest_packets_total{direction="inbound"}[5m])), 100)')")" \
    "Blocked verdicts/s" "$(num "$(prometheus_query 'sum(rate(sentinel_processor_verdicts_total{decision="block"}[5m]))')")"
  say "  (graph them at $PROMETHEUS_URL/graph; alert rules at $PROMETHEUS_URL/alerts)"
else
  say "Prometheus does not answer at $PROMETHEUS_URL: start the stack (npm start) or set SENTINEL_DEMO_PROMETHEUS_URL."
fi
say "To light the panels up, run: ./demo/scripts/simulate-bad-traffic.sh --duration 120"
pause

# --- 6 --------------------------------------------------------------------------------------------------
step "6. Scale metrics"
say "$SENSOR publishes 40 messages/s for 5 s (under its 50/s client tier) while we sample the edge:"
packets_before="$(metric "$INGEST_METRICS" sentinel_ingest_packets_total 'direction="inbound"')"
verdicts_before="$(metric "$PROCESSORS_METRICS" sentinel_processor_verdicts_total)"
deliveries_before="$(metric "$BRIDGE_METRICS" sentinel_bridge_deliveries_total)"
t0="$(date +%s%3N)"
for i in $(seq 1 200); do
  printf '{"temp":%d.%d,"seq":%d}\n' $((20 + i % 5)) $((i % 10)) "$i"
  sleep 0.025
done | pub "$SENSOR" -t "devices/$SENSOR/telemetry" -q 1 -l
sleep 2
t1="$(date +%s%3N)"
packets_after="$(metric "$INGEST_METRICS" sentinel_ingest_packets_total 'direction="inbound"')"
verdicts_after="$(metric "$PROCESSORS_METRICS" sentinel_processor_verdicts_total)"
deliveries_after="$(metric "$BRIDGE_METRICS" sentinel_bridge_deliveries_total)"
rate() { awk -v d="$1" -v t="$2" 'BEGIN { printf "%.1f/s", d * 1000 / t }'; }
say "Throughput over the last $(((t1 - t0) / 1000)) s (live counters):"
printf '    %-50s %6s  %s\n' \
  "packets into the edge" "$((packets_after - packets_before))" "$(rate $((packets_after - packets_before)) $((t1 - t0)))" \
  "verdicts by the processors" "$((verdicts_after - verdicts_before))" "$(rate $((verdicts_after - verdicts_before)) $((t1 - t0)))" \
  "deliveries acknowledged by the origin (bridge)" "$((deliveries_after - deliveries_before))" "$(rate $((deliveries_after - deliveries_before)) $((t1 - t0)))"
say "Connections: $(metric "$INGEST_METRICS" sentinel_ingest_connections_active) open, $(metric "$INGEST_METRICS" sentinel_ingest_sessions_active) sessions on this edge; $(metric "$INGEST_METRICS" sentinel_ingest_connections_opened_total) accepted since it started."
say "Latency since start (histograms of the live services; P50 / P99):"
lat() {
  printf '    %-50s %12s / %s\n' "$1" "$(ms "$(histogram_quantile "$2" "$3" 0.5 "${4:-}")")" "$(ms "$(histogram_quantile "$2" "$3" 0.99 "${4:-}")")"
}
lat "edge preread (parse, validate, limit, auth)" "$INGEST_METRICS" sentinel_ingest_preread_seconds
lat "edge -> Kafka acks=all" "$INGEST_METRICS" sentinel_ingest_kafka_ack_seconds
lat "CONNECT accepted -> CONNACK" "$INGEST_METRICS" sentinel_ingest_connection_setup_seconds
lat "processors: inspection per message" "$PROCESSORS_METRICS" sentinel_processor_inspect_duration_seconds
lat "end to end: edge receipt -> origin PUBACK" "$BRIDGE_METRICS" sentinel_bridge_delivery_latency_seconds
say "End to end over the last 5 minutes, from the forensic store (deliveries):"
sentinel_cli forensics sql "SELECT count() AS delivered, round(quantile(0.5)(end_to_end_ms), 1) AS p50_ms, round(quantile(0.99)(end_to_end_ms), 1) AS p99_ms, max(end_to_end_ms) AS max_ms FROM deliveries WHERE delivered_at > now() - INTERVAL 5 MINUTE" 2>&1 |
  sed 's/^/    /'
p=$(prometheus_query 'sum(rate(sentinel_ingest_packets_total{direction="inbound"}[1m]))')
[ -n "$p" ] && say "Prometheus: $(num "$p") packets/s into the edges over the last minute."
say "Capacity figures measured on this machine (throughput, 100k idle connections, auth and delivery"
say "P99): see README.md (Benchmarks); the fan-out load test: demo/loadtest (Locust)."

step "Done"
say "Next: ./demo/scripts/inject-security.sh all   |   ./demo/scripts/simulate-bad-traffic.sh"
