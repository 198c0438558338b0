# shellcheck shell=bash disable=SC2034 # the variables are used by the scripts that source this file
# Shared helpers of the demo scripts (sourced, not run). Everything is configured by environment
# variables; the defaults target the local platform started with `npm start`.
#
#   SENTINEL_DEMO_HOST          edge host                                   (127.0.0.1)
#   SENTINEL_DEMO_PORT          edge port                                   (11883, or 18883 with TLS)
#   SENTINEL_DEMO_TLS=1         connect with TLS (MQTTS)
#   SENTINEL_DEMO_CAFILE        PEM CA that signs the edge certificate     (system CAs)
#   SENTINEL_DEMO_INSECURE=1    do not check the certificate's host name (test certificates only)
#   SENTINEL_DEMO_PASSWORD      password of the demo devices               (a fixed local demo secret)
#   SENTINEL_DEMO_USERNAME      user name of the demo devices              (each device's client id)
#   SENTINEL_DEMO_DEVICE_PREFIX prefix of the demo devices' client ids     (demo)
#   SENTINEL_DEMO_REGISTER=0    do not register the demo devices with `sentinel devices add`
#                               (a remote platform whose device DB you cannot reach: register them
#                               there beforehand with the same ids and password)
#   SENTINEL_DEMO_CLI           how to run the sentinel CLI                (node dist/cli/main.js, or npx sentinel)
#   SENTINEL_DEMO_INGEST_METRICS      edge metrics URL                     (http://127.0.0.1:19101/metrics)
#   SENTINEL_DEMO_PROCESSORS_METRICS  processors metrics URL               (http://127.0.0.1:19111/metrics)
#   SENTINEL_DEMO_BRIDGE_METRICS      bridge metrics URL                   (http://127.0.0.1:19121/metrics)
#   SENTINEL_DEMO_FORENSICS_METRICS   forensics sink metrics URL           (http://127.0.0.1:19131/metrics)
#   SENTINEL_DEMO_PROMETHEUS_URL      Prometheus, optional                 (http://127.0.0.1:19090)
#   SENTINEL_DEMO_VERDICT_TIMEOUT     seconds to wait for a verdict in the forensic store (45)
#   SENTINEL_FORENSICS_URL, _USER, _PASSWORD  the forensic store the CLI queries (see docs/forensics.md)

DEMO_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO_ROOT="$(cd "$DEMO_LIB_DIR/../.." && pwd)"

DEMO_HOST="${SENTINEL_DEMO_HOST:-127.0.0.1}"
DEMO_TLS="${SENTINEL_DEMO_TLS:-0}"
if [ "$DEMO_TLS" = 1 ]; then DEMO_PORT="${SENTINEL_DEMO_PORT:-18883}"; else DEMO_PORT="${SENTINEL_DEMO_PORT:-11883}"; fi
DEMO_CAFILE="${SENTINEL_DEMO_CAFILE:-}"
DEMO_PASSWORD="${SENTINEL_DEMO_PASSWORD:-sentinel-demo-device-secret}"
DEMO_PREFIX="${SENTINEL_DEMO_DEVICE_PREFIX:-demo}"
DEMO_REGISTER="${SENTINEL_DEMO_REGISTER:-1}"
INGEST_METRICS="${SENTINEL_DEMO_INGEST_METRICS:-http://127.0.0.1:19101/metrics}"
PROCESSORS_METRICS="${SENTINEL_DEMO_PROCESSORS_METRICS:-http://127.0.0.1:19111/metrics}"
BRIDGE_METRICS="${SENTINEL_DEMO_BRIDGE_METRICS:-http://127.0.0.1:19121/metrics}"
FORENSICS_METRICS="${SENTINEL_DEMO_FORENSICS_METRICS:-http://127.0.0.1:19131/metrics}"
PROMETHEUS_URL="${SENTINEL_DEMO_PROMETHEUS_URL:-http://127.0.0.1:19090}"
VERDICT_TIMEOUT="${SENTINEL_DEMO_VERDICT_TIMEOUT:-45}"

if [ -t 1 ]; then
  C_BOLD=$'\033[1m' C_DIM=$'\033[2m' C_RED=$'\033[31m' C_GREEN=$'\033[32m' C_YELLOW=$'\033[33m' C_OFF=$'\033[0m'
else
  C_BOLD='' C_DIM='' C_RED='' C_GREEN='' C_YELLOW='' C_OFF=''
fi

say() { printf '%s\n' "$*"; }
step() { printf '\n%s== %s%s\n' "$C_BOLD" "$*" "$C_OFF"; }
run_note() { printf '%s$ %s%s\n' "$C_DIM" "$*" "$C_OFF"; }
ok() { printf '%s  ok%s %s\n' "$C_GREEN" "$C_OFF" "$*"; }
warn() { printf '%s  warning%s %s\n' "$C_YELLOW" "$C_OFF" "$*" >&2; }
fail() { printf '%s  FAILED%s %s\n' "$C_RED" "$C_OFF" "$*" >&2; }
die() {
  printf '%s: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# The id of a demo device: demo_id sensor -> demo-sensor
demo_id() { printf '%s-%s' "$DEMO_PREFIX" "$1"; }
demo_user() { printf '%s' "${SENTINEL_DEMO_USERNAME:-$1}"; }

# --- the sentinel CLI ---------------------------------------------------------------------------------
sentinel_cli() {
  if [ -n "${SENTINEL_DEMO_CLI:-}" ]; then
    # shellcheck disable=SC2086 # a command line given by the user, split on purpose
    ${SENTINEL_DEMO_CLI} "$@"
  elif [ -f "$DEMO_ROOT/dist/cli/main.js" ]; then
    node "$DEMO_ROOT/dist/cli/main.js" "$@"
  else
    (cd "$DEMO_ROOT" && npx --no-install sentinel "$@")
  fi
}

# --- prerequisites ------------------------------------------------------------------------------------
require_tools() {
  local missing=()
  command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto_pub)
  command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto_sub)
  if [ ${#missing[@]} -gt 0 ]; then
    die "${missing[*]} not found: install the MQTT clients (Debian/Ubuntu: sudo apt-get install mosquitto-clients; macOS: brew install mosquitto)"
  fi
  command -v curl >/dev/null 2>&1 || die "curl not found: install it (Debian/Ubuntu: sudo apt-get install curl)"
  if [ "$DEMO_REGISTER" != 0 ] || [ "${1:-}" = cli ]; then
    command -v node >/dev/null 2>&1 || die "node not found: the sentinel CLI needs Node.js 24+ (npm ci installs it on linux-x64; see README.md)"
    if [ -z "${SENTINEL_DEMO_CLI:-}" ] && [ ! -f "$DEMO_ROOT/dist/cli/main.js" ] && [ ! -d "$DEMO_ROOT/node_modules" ]; then
      die "the sentinel CLI is not built: run npm ci in $DEMO_ROOT (or set SENTINEL_DEMO_CLI)"
    fi
  fi
}

# The edge must accept TCP connections, and its metrics must answer.
require_platform() {
  if ! timeout 5 bash -c "exec 3<>/dev/tcp/$DEMO_HOST/$DEMO_PORT" >/dev/null 2>&1; then
    die "the platform does not answer on $DEMO_HOST:$DEMO_PORT. Start it with: npm start (in $DEMO_ROOT), or point SENTINEL_DEMO_HOST / SENTINEL_DEMO_PORT at a running edge"
  fi
  if ! curl -fsS -m 5 -o /dev/null "$INGEST_METRICS"; then
    die "the edge's metrics do not answer at $INGEST_METRICS. Start the platform with: npm start, or set SENTINEL_DEMO_INGEST_METRICS"
  fi
}

# The forensic store answers the CLI (needed by the scripts that check verdicts).
require_forensics() {
  if ! sentinel_cli forensics sql 'SELECT 1 AS n' --json >/dev/null 2>&1; then
    die "the forensic store does not answer (${SENTINEL_FORENSICS_URL:-http://127.0.0.1:18123}). Start the platform with: npm start, or set SENTINEL_FORENSICS_URL"
  fi
}

# --- MQTT ---------------------------------------------------------------------------------------------
# Connection options for mosquitto_pub / mosquitto_sub, MQTT 3.1.1 like the devices.
mqtt_conn_args() {
  MQTT_ARGS=(-h "$DEMO_HOST" -p "$DEMO_PORT" -V mqttv311)
  if [ "$DEMO_TLS" = 1 ]; then
    if [ -n "$DEMO_CAFILE" ]; then MQTT_ARGS+=(--cafile "$DEMO_CAFILE"); else MQTT_ARGS+=(--capath /etc/ssl/certs); fi
    if [ "${SENTINEL_DEMO_INSECURE:-0}" = 1 ]; then MQTT_ARGS+=(--insecure); fi
  fi
}

# pub <client-id> [mosquitto_pub options...]: publish as a demo device with its credentials.
pub() {
  local id="$1"
  shift
  mqtt_conn_args
  mosquitto_pub "${MQTT_ARGS[@]}" -i "$id" -u "$(demo_user "$id")" -P "$DEMO_PASSWORD" "$@"
}

# pub_as <client-id> <password> [options...]: publish with an explicit password (invalid credentials).
pub_as() {
  local id="$1" password="$2"
  shift 2
  mqtt_conn_args
  mosquitto_pub "${MQTT_ARGS[@]}" -i "$id" -u "$(demo_user "$id")" -P "$password" "$@"
}

# --- devices ------------------------------------------------------------------------------------------
# ensure_devices <id>...: register the demo devices that do not exist yet (idempotent). Each device may
# publish under devices/<id>/# and subscribe under clients/<id>/#, as in docs/ingest-auth.md.
ensure_devices() {
  if [ "$DEMO_REGISTER" = 0 ]; then
    say "  (SENTINEL_DEMO_REGISTER=0: using devices $* as registered on the platform)"
    return 0
  fi
  local existing id out
  existing="$(sentinel_cli devices list --json 2>/dev/null | sed -n 's/^ *"clientId": "\(.*\)",$/\1/p')" ||
    die "cannot list devices with the sentinel CLI (device DB ${SENTINEL_MYSQL_URL:-mysql://root@127.0.0.1:3306/sentinel}); is the platform up (npm start)?"
  for id in "$@"; do
    if grep -qxF "$id" <<<"$existing"; then
      say "  device $id already registered"
      continue
    fi
    if ! out="$(printf '%s' "$DEMO_PASSWORD" | sentinel_cli devices add "$id" --username "$(demo_user "$id")" \
      --password-stdin --publish 'devices/%c/#' --subscribe 'clients/%c/#' 2>&1)"; then
      grep -q SNT_DEVICE_EXISTS <<<"$out" || die "registering $id failed: $out"
      out="device $id already registered"
    fi
    say "  $out"
  done
}

# --- metrics ------------------------------------------------------------------------------------------
# metric <url> <name> [label-regex]: sum of the samples of one metric whose labels match the regex
# (0 when none). Reads the Prometheus text format straight from a service's /metrics.
metric() {
  local url="$1" name="$2" labels="${3:-}"
  curl -fsS -m 5 "$url" 2>/dev/null | awk -v name="$name" -v labels="$labels" '
    $0 ~ /^#/ { next }
    {
      split($1, parts, "{")
      if (parts[1] != name) next
      if (labels != "" && $1 !~ labels) next
      sum += $NF
    }
    END { printf "%.15g\n", sum + 0 }'
}

# histogram_quantile <url> <name> <q> [label-regex]: the q-quantile of a histogram (seconds) estimated
# from its cumulative buckets, as Prometheus's histogram_quantile does (linear within the bucket).
histogram_quantile() {
  local url="$1" name="$2" q="$3" labels="${4:-}"
  curl -fsS -m 5 "$url" 2>/dev/null | awk -v name="${name}_bucket" -v q="$q" -v labels="$labels" '
    $0 ~ /^#/ { next }
    {
      split($1, parts, "{")
      if (parts[1] != name) next
      if (labels != "" && $1 !~ labels) next
      if (!match($1, /le="[^"]*"/)) next
      le = substr($1, RSTART + 4, RLENGTH - 5)
      count[le] += $NF
      if (!(le in seen)) { seen[le] = 1; les[n++] = le }
    }
    END {
      if (n == 0) { print "n/a"; exit }
      # sort bucket bounds numerically (+Inf last)
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) {
        a = (les[i] == "+Inf") ? 1e308 : les[i] + 0; b = (les[j] == "+Inf") ? 1e308 : les[j] + 0
        if (b < a) { t = les[i]; les[i] = les[j]; les[j] = t }
      }
      total = count[les[n - 1]]
      if (total == 0) { print "n/a"; exit }
      rank = q * total; prev_le = 0; prev_c = 0
      for (i = 0; i < n; i++) {
        c = count[les[i]]
        if (c >= rank) {
          if (les[i] == "+Inf") { printf "> %s\n", prev_le; exit }
          le = les[i] + 0
          v = (c == prev_c) ? le : prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
          printf "%.6f\n", v; exit
        }
        prev_le = les[i] + 0; prev_c = c
      }
    }'
}

# ms <seconds>: seconds (as printed above) -> milliseconds with one decimal
ms() {
  case "$1" in
    n/a) printf '%s' "$1" ;;
    '>'*) awk -v s="${1#> }" 'BEGIN { printf "> %.1f ms", s * 1000 }' ;;
    *) awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }' ;;
  esac
}

# num <value>: a number with at most two decimals ("n/a" when empty)
num() {
  if [ -z "$1" ]; then printf 'n/a'; else awk -v v="$1" 'BEGIN { printf "%.2f", v }'; fi
}

# prometheus_query <promql>: the first sample value of an instant query, or empty when Prometheus does
# not answer (it is optional: the numbers above come from the services directly).
prometheus_query() {
  curl -fsS -m 5 --get "$PROMETHEUS_URL/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p' | head -n 1
}

# --- forensic queries ---------------------------------------------------------------------------------
# utc_since [seconds]: a time for SQL (UTC), a little in the past to allow for clock skew
utc_since() { date -u -d "@$(($(date +%s) - ${1:-2}))" '+%Y-%m-%d %H:%M:%S'; }

# forensic_count <sql returning one column n>: the number, or empty if the store did not answer
forensic_count() {
  sentinel_cli forensics sql "$1" --json 2>/dev/null | sed -n 's/^ *"n": "\{0,1\}\([0-9]*\)"\{0,1\},\{0,1\}$/\1/p' | head -n 1
}

# wait_for_count <description> <sql> [timeout-seconds] [at-least]: poll until the count reaches at-least (1).
wait_for_count() {
  local what="$1" sql="$2" timeout="${3:-$VERDICT_TIMEOUT}" least="${4:-1}" n deadline
  deadline=$(($(date +%s) + timeout))
  while :; do
    n="$(forensic_count "$sql")"
    if [ -n "$n" ] && [ "$n" -ge "$least" ]; then
      ok "$what ($n found in the forensic store)"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      fail "$what: not found in the forensic store within ${timeout}s"
      return 1
    fi
    sleep 1
  done
}

# --- pauses -------------------------------------------------------------------------------------------
DEMO_INTERACTIVE=1
pause() {
  if [ "$DEMO_INTERACTIVE" = 1 ]; then
    printf '\n%s[press Enter to continue]%s ' "$C_DIM" "$C_OFF"
    read -r _ || true
  fi
}
