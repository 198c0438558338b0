#!/usr/bin/env bash
# Registers the load test's devices with the sentinel CLI (idempotent: existing ones are kept).
set -euo pipefail
# shellcheck source=demo/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

usage() {
  cat <<EOF
Usage: $(basename "$0") [--count N] [--publishers K] [--parallel P]

Registers the devices the Locust fan-out test connects as, with 'sentinel devices add':
  subscribers  \$SENTINEL_LOADTEST_PREFIX-0 .. -(N-1)  (load-0, load-1, ...)
               publish devices/%c/#, subscribe clients/%c/# and the broadcast topic
  publishers   \$SENTINEL_LOADTEST_PREFIX-pub-0 .. -(K-1), only for SENTINEL_LOADTEST_PUBLISH_VIA=edge
               publish clients/+/alerts and the broadcast topic
Devices that already exist are skipped (one 'devices list' call), so a second run is instant. Each add is
one CLI process (~0.35 s of Node start-up; the scrypt hash itself is ~3 ms), run P at a time.

Options:
  --count N        subscriber devices (default 100); Locust's -u counts users, so use N >= -u
  --publishers K   publisher devices for --publish-via edge (default 0)
  --parallel P     CLI processes at once (default: the number of CPUs)
  -h, --help       this text

Environment: SENTINEL_LOADTEST_PREFIX (load), SENTINEL_LOADTEST_PASSWORD (the locustfile's default),
SENTINEL_LOADTEST_BROADCAST_TOPIC (fleet/alerts), and the CLI's own settings (SENTINEL_MYSQL_URL,
SENTINEL_REDIS_URL) to register them in another platform's device DB.
EOF
}

count=100
publishers=0
parallel="$(nproc 2>/dev/null || echo 2)"
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --count | --publishers | --parallel)
      [ $# -ge 2 ] || die "$1 needs a number"
      case "$2" in '' | *[!0-9]*) die "$1 needs a whole number" ;; esac
      case "$1" in
        --count) count="$2" ;;
        --publishers) publishers="$2" ;;
        --parallel) parallel="$2" ;;
      esac
      shift 2
      ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ "$parallel" -ge 1 ] || parallel=1

prefix="${SENTINEL_LOADTEST_PREFIX:-load}"
export LOADTEST_PASSWORD="${SENTINEL_LOADTEST_PASSWORD:-sentinel-loadtest-device-secret}"
export LOADTEST_BROADCAST="${SENTINEL_LOADTEST_BROADCAST_TOPIC-fleet/alerts}"
require_tools cli

started="$(date +%s%3N)"
existing="$(sentinel_cli devices list --json | sed -n 's/^ *"clientId": "\(.*\)",$/\1/p')" ||
  die "cannot list devices (device DB ${SENTINEL_MYSQL_URL:-mysql://root@127.0.0.1:3306/sentinel}); is the platform up (npm start)?"

todo="$(mktemp)"
trap 'rm -f "$todo"' EXIT
for ((i = 0; i < count; i++)); do printf 'sub %s-%d\n' "$prefix" "$i"; done >"$todo.all"
for ((i = 0; i < publishers; i++)); do printf 'pub %s-pub-%d\n' "$prefix" "$i"; done >>"$todo.all"
grep -vxFf <(awk '{ print "sub " $0; print "pub " $0 }' <<<"$existing") "$todo.all" >"$todo" || true
rm -f "$todo.all"
to_add="$(wc -l <"$todo")"
say "devices: $((count + publishers)) wanted, $to_add to register ($parallel at a time)"

# add_one <kind> <id>: one CLI call; an existing device (a concurrent run) is fine
add_one() {
  local kind="$1" id="$2" out
  local -a acl
  if [ "$kind" = sub ]; then
    acl=(--publish 'devices/%c/#' --subscribe 'clients/%c/#')
    [ -n "$LOADTEST_BROADCAST" ] && acl+=(--subscribe "$LOADTEST_BROADCAST")
  else
    acl=(--publish 'clients/+/alerts')
    [ -n "$LOADTEST_BROADCAST" ] && acl+=(--publish "$LOADTEST_BROADCAST")
  fi
  if ! out="$(printf '%s' "$LOADTEST_PASSWORD" | sentinel_cli devices add "$id" --username "$id" --password-stdin "${acl[@]}" 2>&1)"; then
    grep -q SNT_DEVICE_EXISTS <<<"$out" || {
      printf 'failed: %s: %s\n' "$id" "$out" >&2
      return 1
    }
  fi
}
export -f add_one sentinel_cli
export DEMO_ROOT SENTINEL_DEMO_CLI="${SENTINEL_DEMO_CLI:-}"

if [ "$to_add" -gt 0 ]; then
  # shellcheck disable=SC2016 # $0 and $1 are the arguments xargs gives the inner bash
  xargs -P "$parallel" -L 1 bash -c 'add_one "$0" "$1"' <"$todo"
fi
say "done in $((($(date +%s%3N) - started) / 1000)) s: subscribers $prefix-0..$prefix-$((count - 1))$([ "$publishers" -gt 0 ] && printf ', publishers %s-pub-0..%s-pub-%d' "$prefix" "$prefix" $((publishers - 1)))"
