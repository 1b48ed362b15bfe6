#!/usr/bin/env bash
# bench/load.sh: the soak load of docs/performance.md ("Load and soak").
#
# Starts warrend on a free loopback port (no data directory: the load uses
# transient queues), runs warren-load against it, stops warrend with SIGTERM
# and checks that it exited cleanly.
#
# usage: bench/load.sh [--heaptrack] [--build DIR] [warren-load flags...]
#   --heaptrack  run warrend under heaptrack (Debian's package) and print its
#                summary: peak heap and the bytes still allocated at exit
#                (leaked), and keep its recording as ./warrend-heaptrack.zst
#                for heaptrack_print or heaptrack_gui. Much slower: give
#                warren-load a shorter load.
#   --build DIR  where the build is (default: ./build next to bench/)
#   Other flags go to warren-load (see warren-load --help); its defaults are
#   1,000 connections, 10,000 queues, 100,000 messages in flight, 300 s.
#
# Every process it starts is stopped on exit, also on Ctrl-C or an error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/warrend.sh
source "$here/warrend.sh"
build=$here/../build
heaptrack=0
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --heaptrack) heaptrack=1 ;;
    --build) build=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
warrend=$build/devices/broker/warrend
load=$build/bench/warren-load
for exe in "$warrend" "$load"; do
  [[ -x $exe ]] || { echo "load.sh: $exe not built (make warrend warren-load)" >&2; exit 2; }
done
if [[ $heaptrack == 1 ]] && ! command -v heaptrack >/dev/null; then
  echo "load.sh: heaptrack is not installed (apt-get install heaptrack)" >&2
  exit 2
fi

tmp=$(mktemp -d)
warrend_pid=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  if [[ -n $warrend_pid ]]; then
    kill "$warrend_pid" 2>/dev/null || true
    wait "$warrend_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A thousand connections need a thousand descriptors in warrend.
ulimit -n "$(ulimit -Hn)"
broker=("$warrend" --endpoint 'tcp://127.0.0.1:*' --log-level warning --no-pubsub --data-dir "")
: >"$tmp/warrend.out"  # exists before the first look at it
[[ $heaptrack == 1 ]] && broker=(heaptrack -o "$tmp/warrend" "${broker[@]}")
"${broker[@]}" >"$tmp/warrend.out" 2>"$tmp/warrend.err" &
warrend_pid=$!
endpoint=$(warrend_endpoint "$tmp/warrend.out" "$tmp/warrend.err" "$warrend_pid" 300) ||
  { echo "load.sh: no endpoint" >&2; exit 1; }
echo "warrend on $endpoint (pid $warrend_pid)"

status=0
"$load" --endpoint "$endpoint" "${args[@]}" || status=$?

if [[ $heaptrack == 1 ]]; then
  # heaptrack is a script that runs warrend as its child: stop warrend itself.
  pkill -TERM -P "$warrend_pid" -x warrend || true
else
  kill -TERM "$warrend_pid"
fi
rc=0
wait "$warrend_pid" || rc=$?
warrend_pid=""
if [[ $rc != 0 ]]; then
  echo "load.sh: warrend exited with status $rc: $(tail -5 "$tmp/warrend.err")" >&2
  status=1
fi
if [[ $heaptrack == 1 ]]; then
  report=""
  for f in "$tmp"/warrend.zst "$tmp"/warrend.gz; do [[ -f $f ]] && report=$f; done
  heaptrack_print -f "$report" 2>/dev/null |
    grep -E '^(total runtime|calls to allocation|peak heap memory consumption|peak RSS|total memory leaked)' || true
  echo "leaks by call site, largest first (heaptrack_print -l):"
  heaptrack_print -f "$report" -l 1 2>/dev/null | sed -n '/^MEMORY LEAKS/,$p' |
    grep -E '^[0-9.]+[KMG]?B? leaked|^ *warren::' | head -20 || true
  cp "$report" "./warrend-heaptrack.${report##*.}"
  echo "recording kept as ./warrend-heaptrack.${report##*.}"
fi
exit "$status"
