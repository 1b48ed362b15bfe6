#!/usr/bin/env bash
# bench/run.sh: warren against the bare-ZeroMQ ceiling, in one go.
#
# Starts warrend on a free loopback port, runs warren-perf (1 producer,
# 1 consumer, auto-ack) and zmq-proxy-baseline with the same size and count,
# stops warrend, and prints a table with both figures and their ratio.
#
# usage: bench/run.sh [--full] [--fanout] [--rpc] [--durable] [BUILD_DIR]
#   BUILD_DIR  where the build is (default: ./build next to bench/); needs the
#              targets warrend, warren-perf and zmq-proxy-baseline
#   --full     also manual ack (prefetch 100; an ack per message, and one
#              multiple-ack per 50 as in issue 3, beside the bare proxy with
#              the same credit window), 1 KiB and 16 KiB bodies
#   --fanout   a fanout exchange to 1, 10 and 100 queues, one consumer each
#   --rpc      RPC round trips, direct reply-to and reply queue, beside a bare
#              REQ -> ROUTER/DEALER proxy -> REP; one call at a time, then 50
#   --durable  persistent 100 B messages with publisher confirms (window 1000)
#              into a durable queue with no consumer (a backlog), then its
#              drain with auto-ack and with an ack per message; warrend's data
#              directory is a scratch directory, fsync before confirm
#   With --fanout, --rpc or --durable alone, only those sections run; add
#   --full for all.
# environment: COUNT (default 1000000 messages), SIZE (default 100 bytes),
#   FANOUT_DELIVERIES (default 2000000 per fanout run), RPC_COUNT (default
#   20000 calls one at a time; 10 times as many with 50 outstanding)
#
# Every process it starts is stopped on exit, also on Ctrl-C or an error.
set -euo pipefail

full=0
fanout=0
rpc=0
durable=0
build=""
for arg in "$@"; do
  case "$arg" in
    --full) full=1 ;;
    --fanout) fanout=1 ;;
    --rpc) rpc=1 ;;
    --durable) durable=1 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) build=$arg ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/warrend.sh
source "$here/warrend.sh"
build=${build:-${BUILD_DIR:-$here/../build}}
count=${COUNT:-1000000}
size=${SIZE:-100}
fanout_deliveries=${FANOUT_DELIVERIES:-2000000}
rpc_count=${RPC_COUNT:-20000}

warrend=$build/devices/broker/warrend
perf=$build/tools/warren-perf
baseline=$build/bench/zmq-proxy-baseline
die() { echo "run.sh: $*" >&2; exit 1; }
for exe in "$warrend" "$perf" "$baseline"; do
  if [[ ! -x $exe ]]; then
    echo "run.sh: $exe not built (make warrend warren-perf zmq-proxy-baseline)" >&2
    exit 2
  fi
done

tmp=$(mktemp -d)
pids=()
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# warrend picks the port (tcp://127.0.0.1:*) and prints the endpoint it bound.
"$warrend" --endpoint 'tcp://127.0.0.1:*' --log-level warning --no-pubsub --data-dir "$tmp/data" \
  >"$tmp/warrend.out" 2>"$tmp/warrend.err" &
warrend_pid=$!
pids+=("$warrend_pid")
endpoint=$(warrend_endpoint "$tmp/warrend.out" "$tmp/warrend.err" "$warrend_pid" 100) || die "no endpoint"

# json KEY < line: the number stored under KEY in one JSON line.
json() { sed -n 's/.*"'"$1"'":\([0-9.]*\).*/\1/p'; }

status=0
last_proxy_rate=""  # the zmq-proxy figure of the last scenario
rows=()
# row NAME SIZE ACK JSON-LINE [PROXY-RATE]
row() {
  local name=$1 sz=$2 ack=$3 line=$4 ref=${5:-}
  local rate mbs p50 p99 lost ratio="-"
  rate=$(json rate <<<"$line"); mbs=$(json mb_per_s <<<"$line")
  p50=$(json p50 <<<"$line"); p99=$(json p99 <<<"$line"); lost=$(json lost <<<"$line")
  [[ -n $ref ]] &&
    ratio=$(awk -v a="$rate" -v b="$ref" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  rows+=("$(printf '%-16s %7s %-14s %10.0f %9.2f %10.0f %10.0f %6s %5s' \
    "$name" "$sz" "$ack" "$rate" "$mbs" "$p50" "$p99" "$lost" "$ratio")")
}

# run_tool OUT ERR COMMAND...: runs COMMAND in the background, so that a
# signal reaches the trap at once and cleanup can stop it, and waits for it.
run_tool() {
  local out=$1 err=$2 pid rc=0
  shift 2
  "$@" >"$out" 2>"$err" &
  pid=$!
  pids+=("$pid")
  wait "$pid" || rc=$?
  pids=("$warrend_pid")  # it has exited: never signal its (reusable) pid
  return "$rc"
}

# scenario SIZE COUNT ACK-LABEL [warren-perf flags...]
scenario() {
  local sz=$1 n=$2 ack=$3
  shift 3
  echo "== $sz B x $n, $ack" >&2
  local base proxy direct warren proxy_rate
  run_tool "$tmp/base.json" "$tmp/base.err" \
    "$baseline" --mode all --size "$sz" --count "$n" --json || status=1
  base=$(cat "$tmp/base.json")
  proxy=$(grep '"zmq-proxy"' <<<"$base" || true)
  direct=$(grep '"zmq-direct"' <<<"$base" || true)
  run_tool "$tmp/perf.json" "$tmp/perf.err" \
    "$perf" --endpoint "$endpoint" --producers 1 --consumers 1 --size "$sz" --count "$n" \
    --json "$@" || { status=1; cat "$tmp/perf.err" >&2; }
  warren=$(cat "$tmp/perf.json")
  kill -0 "$warrend_pid" 2>/dev/null || die "warrend died: $(cat "$tmp/warrend.err")"
  proxy_rate=$(json rate <<<"$proxy")
  last_proxy_rate=$proxy_rate
  [[ -n $warren ]] && row warren "$sz" "$ack" "$warren" "$proxy_rate"
  [[ -n $proxy ]] && row zmq-proxy "$sz" auto "$proxy" "$proxy_rate"
  [[ -n $direct ]] && row zmq-direct "$sz" auto "$direct" "$proxy_rate"
  return 0
}

# window_row SIZE COUNT WINDOW EVERY: the bare proxy with a credit window and
# acks (what a prefetch window costs ZeroMQ alone), after the scenario whose
# proxy figure its ratio is against.
window_row() {
  local sz=$1 n=$2 window=$3 every=$4 line
  echo "== $sz B x $n, bare proxy with window $window, an ack per $every" >&2
  run_tool "$tmp/window.json" "$tmp/window.err" \
    "$baseline" --mode window --window "$window" --ack-every "$every" --size "$sz" --count "$n" --json ||
    { status=1; cat "$tmp/window.err" >&2; }
  line=$(grep '"zmq-window"' "$tmp/window.json" || true)
  [[ -n $line ]] && row zmq-window "$sz" "pf$window/$every" "$line" "$last_proxy_rate"
  return 0
}

# fanout_scenario QUEUES: 1 producer, one consumer per queue, about
# FANOUT_DELIVERIES deliveries in all.
fanout_rows=()
fanout_scenario() {
  local queues=$1 n line
  n=$((fanout_deliveries / queues))
  echo "== fanout to $queues queue(s), $size B x $n" >&2
  run_tool "$tmp/fanout.json" "$tmp/fanout.err" \
    "$perf" --endpoint "$endpoint" --exchange perf-fanout --type fanout --queues "$queues" \
    --producers 1 --size "$size" --count "$n" --json || { status=1; cat "$tmp/fanout.err" >&2; }
  line=$(cat "$tmp/fanout.json")
  kill -0 "$warrend_pid" 2>/dev/null || die "warrend died: $(cat "$tmp/warrend.err")"
  [[ -n $line ]] || return 0
  fanout_rows+=("$(printf '%6s %16.0f %16.0f %10.0f %6s' "$queues" \
    "$(json send_rate <<<"$line")" "$(json receive_rate <<<"$line")" \
    "$(json p50 <<<"$line")" "$(json lost <<<"$line")")")
}

# rpc_row NAME JSON-LINE
rpc_rows=()
rpc_row() {
  local name=$1 line=$2 reply
  reply=$(sed -n 's/.*"reply":"\([^"]*\)".*/\1/p' <<<"$line")
  rpc_rows+=("$(printf '%-12s %-16s %4s %10.0f %9.0f %9.0f %9.0f %6s' "$name" "$reply" \
    "$(json concurrency <<<"$line")" "$(json rate <<<"$line")" "$(json p50 <<<"$line")" \
    "$(json p99 <<<"$line")" "$(json p999 <<<"$line")" "$(json lost <<<"$line")")")
}

# rpc_scenario CONCURRENCY COUNT: the bare REQ/REP proxy, then warren with
# direct reply-to and with a reply queue (1 client, 1 server, prefetch 100).
rpc_scenario() {
  local k=$1 n=$2 line
  echo "== RPC, $size B x $n, $k outstanding" >&2
  run_tool "$tmp/rpc.json" "$tmp/rpc.err" \
    "$baseline" --mode reqrep --size "$size" --count "$n" --concurrency "$k" --json ||
    { status=1; cat "$tmp/rpc.err" >&2; }
  line=$(cat "$tmp/rpc.json")
  [[ -n $line ]] && rpc_row zmq-reqrep "$line"
  local reply_flags
  for reply_flags in "" --reply-queue; do
    # shellcheck disable=SC2086  # reply_flags is empty or one word
    run_tool "$tmp/rpc.json" "$tmp/rpc.err" \
      "$perf" --endpoint "$endpoint" --rpc --producers 1 --consumers 1 --size "$size" \
      --count "$n" --concurrency "$k" --json $reply_flags ||
      { status=1; cat "$tmp/rpc.err" >&2; }
    line=$(cat "$tmp/rpc.json")
    kill -0 "$warrend_pid" 2>/dev/null || die "warrend died: $(cat "$tmp/warrend.err")"
    [[ -n $line ]] && rpc_row warren-rpc "$line"
  done
  return 0
}

# durable_scenario COUNT: a confirmed persistent backlog, then two drains.
durable_rows=()
durable_row() {
  local name=$1 line=$2 rate
  rate=$(json rate <<<"$line")
  durable_rows+=("$(printf '%-40s %10.0f' "$name" "$rate")")
}
durable_scenario() {
  local n=$1 line
  local common=(--endpoint "$endpoint" --size "$size" --count "$n" --persistent --queue perf-durable --json)
  local drains=("auto-ack" "--manual-ack --prefetch 100")
  for drain in "${drains[@]}"; do
    echo "== durable backlog, $size B x $n, then drain ($drain)" >&2
    run_tool "$tmp/durable.json" "$tmp/durable.err" \
      "$perf" "${common[@]}" --producers 1 --consumers 0 --confirm 1000 --keep-queue ||
      { status=1; cat "$tmp/durable.err" >&2; }
    line=$(cat "$tmp/durable.json")
    [[ -n $line ]] && durable_row "publish backlog, confirm window 1000" "$line"
    local flags=()
    [[ $drain != auto-ack ]] && read -r -a flags <<<"$drain"
    run_tool "$tmp/durable.json" "$tmp/durable.err" \
      "$perf" "${common[@]}" --producers 0 --consumers 1 --no-purge "${flags[@]}" ||
      { status=1; cat "$tmp/durable.err" >&2; }
    line=$(cat "$tmp/durable.json")
    kill -0 "$warrend_pid" 2>/dev/null || die "warrend died: $(cat "$tmp/warrend.err")"
    [[ -n $line ]] && durable_row "drain, $drain" "$line"
  done
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "machine: $(nproc) cores, $cpu, load $load; warrend on $endpoint" >&2
if ((full || !(fanout || rpc || durable))); then
  scenario "$size" "$count" auto
fi
if ((full)); then
  scenario "$size" "$count" "manual/pf100" --manual-ack --prefetch 100
  scenario "$size" "$count" "manual/pf100/50" --manual-ack --prefetch 100 --ack-every 50
  window_row "$size" "$count" 100 50
  scenario 1024 "$count" auto
  scenario 16384 $((count / 10)) auto
fi
if ((fanout)); then
  for queues in 1 10 100; do fanout_scenario "$queues"; done
fi
if ((durable || full)); then
  durable_scenario "$count"
fi
if ((rpc)); then
  rpc_scenario 1 "$rpc_count"
  rpc_scenario 50 $((rpc_count * 10))
fi

if ((${#rows[@]})); then
  printf '\n%-16s %7s %-14s %10s %9s %10s %10s %6s %5s\n' \
    scenario size ack msg/s MB/s "p50 us" "p99 us" lost ratio
  printf '%s\n' "${rows[@]}"
  echo "(ratio: msg/s over zmq-proxy msg/s at the same size; latency is publish to deliver)"
fi
if ((${#fanout_rows[@]})); then
  printf '\n%6s %16s %16s %10s %6s\n' queues "published msg/s" "delivered msg/s" "p50 us" lost
  printf '%s\n' "${fanout_rows[@]}"
  echo "(fanout, $size B, auto-ack; delivered: all queues together; latency is publish to deliver)"
fi
if ((${#rpc_rows[@]})); then
  printf '\n%-12s %-16s %4s %10s %9s %9s %9s %6s\n' \
    scenario reply conc calls/s "p50 us" "p99 us" "p99.9 us" lost
  printf '%s\n' "${rpc_rows[@]}"
  echo "(RPC, $size B each way, 1 client, 1 server; latency is the round trip)"
fi
if ((${#durable_rows[@]})); then
  printf '\n%-40s %10s\n' "durable scenario" msg/s
  printf '%s\n' "${durable_rows[@]}"
  echo "(persistent $size B messages, durable queue, fsync before confirm; publish counts to the last confirm)"
fi
exit "$status"
