#!/usr/bin/env bash
# bench/compare/compare.sh: warren and RabbitMQ side by side, beside the bare
# ZeroMQ ceiling, in one run on this machine.
#
# Starts a private RabbitMQ node and a warrend, both on loopback only, runs
# the same scenarios against both (warren-perf and amqp-perf take the same
# flags), runs the bare ZeroMQ baseline (zmq-proxy-baseline) with the same
# sizes and counts, stops everything it started, and prints a table:
# scenario, warren, RabbitMQ, bare ZeroMQ and the ratios.
#
# usage: bench/compare/compare.sh [--quick | --full] [--csv FILE] [--json FILE]
#                                 [--plots DIR] [--no-install] [BUILD_DIR]
#   BUILD_DIR     where the build is (default: ./build); needs warrend,
#                 warren-perf, zmq-proxy-baseline and amqp-perf (which is
#                 built only when librabbitmq-dev is installed)
#   --quick       small counts, few sweep points (the default; about 3 min)
#   --full        the counts behind docs/performance.md (10 to 15 min)
#   --csv FILE    every measurement as CSV (bench/compare/plot.sh reads it)
#   --json FILE   every tool's JSON summary line, one per line, each with
#                 "section", "param" and "system" added
#   --plots DIR   then draw the PNG plots into DIR (needs gnuplot)
#   --no-install  do not install missing Debian packages; fail instead
#   --sections L  only these comma-separated sections: main, size, queues,
#                 bindings, connections (default: all)
#
# environment: COUNT (messages per run: quick 200000, full 500000),
#   DURABLE_COUNT (the persistent backlog: 100000 / 300000), RPC_COUNT (calls
#   one at a time: 5000 / 20000; 10 times as many with 50 outstanding),
#   SIZE_BYTES (body bytes per size-sweep run), LATENCY_RATE (5000 msg/s)
#
# Scenarios (1 producer, 1 consumer, 100-byte bodies unless said):
#   transient, auto-ack
#   transient, manual ack each message, prefetch 100
#   persistent, publisher confirms (window 1000) into a durable queue with no
#     consumer (a backlog), then its drain with auto-ack
#   fanout to 10 queues, one consumer each (deliveries/s, all queues)
#   publish-to-deliver latency at a fixed rate (LATENCY_RATE, 5000 msg/s)
#   RPC round trip, one call at a time (p50 and p99 latency) and 50 at a time
#   sweeps: body size 16 B to 64 KiB; fanout to 1..100 queues; a topic
#     exchange with 10 to 100 000 bindings; 1 to 64 producer and consumer
#     connections on one queue
#
# Packages: rabbitmq-server, librabbitmq-dev and gnuplot-nox come from
# Debian's archive (apt-get, as root or with sudo) unless --no-install.
# Installing rabbitmq-server must not start Debian's system service: a
# policy-rc.d that denies starts is put in place for the install, and a
# running system node is reported, never used.
#
# The private node: its own node name, Erlang cookie (HOME in a scratch
# directory), configuration, database and logs, an AMQP listener on
# 127.0.0.1:<free port>, Erlang distribution on 127.0.0.1:<free port>, and
# its own epmd on 127.0.0.1:<free port>. No plugins. Everything it started is
# stopped on exit, also on Ctrl-C or an error.
# shellcheck disable=SC2317  # functions reached through the trap and run_tool
set -euo pipefail

mode=quick
csv=""
json_out=""
plots=""
install=1
sections="main,size,queues,bindings,connections"
build=""
while (($#)); do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --csv) csv=$2; shift ;;
    --json) json_out=$2; shift ;;
    --plots) plots=$2; shift ;;
    --no-install) install=0 ;;
    --sections) sections=$2; shift ;;
    -h|--help) sed -n '2,53p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) build=$1 ;;
  esac
  shift
done
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/warrend.sh
source "$here/../warrend.sh"
root=$(cd "$here/../.." && pwd)
build=$(cd "${build:-$root/build}" && pwd)
die() { echo "compare.sh: $*" >&2; exit 1; }
has_section() { [[ ",$sections," == *",$1,"* ]]; }

if [[ $mode == full ]]; then
  count=${COUNT:-500000}
  durable_count=${DURABLE_COUNT:-300000}
  rpc_count=${RPC_COUNT:-20000}
  latency_seconds=10
  size_bytes=${SIZE_BYTES:-200000000}  # body bytes per size-sweep run
  sizes=(16 64 256 1024 4096 16384 65536)
  queue_counts=(1 10 100)
  binding_counts=(10 1000 10000 100000)
  connection_counts=(1 4 16 64)
else
  count=${COUNT:-200000}
  durable_count=${DURABLE_COUNT:-100000}
  rpc_count=${RPC_COUNT:-5000}
  latency_seconds=4
  size_bytes=${SIZE_BYTES:-50000000}
  sizes=(16 1024 65536)
  queue_counts=(1 10)
  binding_counts=(10 1000)
  connection_counts=(1 16)
fi
size=100
latency_rate=${LATENCY_RATE:-5000}  # msg/s for the publish-to-deliver latency run

# --- packages ----------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in rabbitmq-server librabbitmq-dev gnuplot-nox; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  ((install)) || die "missing Debian packages: ${missing[*]} (run without --no-install)"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "installing ${missing[*]} needs root or sudo"
    sudo=sudo
  fi
  echo "compare.sh: installing ${missing[*]} from Debian's packages" >&2
  # Deny service starts during the install, so Debian's rabbitmq-server
  # postinst does not start a system node (listening on all interfaces).
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" ||
    { ((policy_added)) && $sudo rm -f /usr/sbin/policy-rc.d; die "apt-get install failed"; }
  ((policy_added)) && $sudo rm -f /usr/sbin/policy-rc.d
  # Under systemd the unit may still be enabled: stop and disable it.
  if [[ -d /run/systemd/system ]] && systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
    $sudo systemctl disable --now rabbitmq-server
  fi
  if [[ " ${missing[*]} " == *" librabbitmq-dev "* ]]; then
    echo "compare.sh: librabbitmq-dev installed: reconfiguring $build to build amqp-perf" >&2
    cmake "$build" >/dev/null
  fi
fi
if pgrep -u rabbitmq -x beam.smp >/dev/null 2>&1; then
  echo "compare.sh: note: a system RabbitMQ node (user rabbitmq) is running; it is not used" >&2
fi

warrend=$build/devices/broker/warrend
warren_perf=$build/tools/warren-perf
amqp_perf=$build/bench/amqp-perf
baseline=$build/bench/zmq-proxy-baseline
if [[ ! -x $amqp_perf ]]; then
  echo "compare.sh: building amqp-perf warrend warren-perf zmq-proxy-baseline in $build" >&2
  nice cmake --build "$build" -j2 --target amqp-perf warrend warren-perf zmq-proxy-baseline >&2
fi
for exe in "$warrend" "$warren_perf" "$amqp_perf" "$baseline"; do
  [[ -x $exe ]] || die "$exe not built (cmake --build $build --target $(basename "$exe"))"
done

# --- processes ---------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/warren-compare.XXXXXX")
pids=()      # long-running: warrend, epmd, RabbitMQ
tool_pid=""  # the tool running now
rabbit_pid=""
cleanup() {
  set +e
  [[ -n $tool_pid ]] && kill "$tool_pid" 2>/dev/null && wait "$tool_pid" 2>/dev/null
  if [[ -n $rabbit_pid ]] && kill -0 "$rabbit_pid" 2>/dev/null; then
    stop_rabbit
  fi
  # The Erlang VM itself, should the wrapper have gone without it.
  local beam
  beam=$(cat "$tmp/rabbit/pid" 2>/dev/null)
  [[ -n $beam ]] && kill -0 "$beam" 2>/dev/null && kill -KILL "$beam"
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1: nothing accepts a connection to it.
used_ports=" "
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 20000))
    [[ $used_ports == *" $port "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      used_ports+="$port "
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}
wait_for_port() {  # PORT PID NAME SECONDS
  local deadline=$((SECONDS + $4))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# warrend: a scratch data directory (fsync before confirm), a port it picks.
"$warrend" --endpoint 'tcp://127.0.0.1:*' --log-level warning --no-pubsub --data-dir "$tmp/warren" \
  >"$tmp/warrend.out" 2>"$tmp/warrend.err" &
warrend_pid=$!
pids+=("$warrend_pid")
warren_ep=$(warrend_endpoint "$tmp/warrend.out" "$tmp/warrend.err" "$warrend_pid" 100) || die "no endpoint"

# The private RabbitMQ node.
amqp_port=$(free_port)
dist_port=$(free_port)
epmd_port=$(free_port)
mkdir -p "$tmp/rabbit/home" "$tmp/rabbit/mnesia" "$tmp/rabbit/log"
cat >"$tmp/rabbit/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$amqp_port
loopback_users.guest = true
disk_free_limit.absolute = 100MB
log.console = false
log.file.level = warning
EOF
echo "[]." >"$tmp/rabbit/enabled_plugins"
: >"$tmp/rabbit/rabbitmq-env.conf"
rabbit_env=(
  HOME="$tmp/rabbit/home"
  RABBITMQ_NODENAME="warren-compare-$$@localhost"
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  RABBITMQ_NODE_PORT="$amqp_port"
  RABBITMQ_DIST_PORT="$dist_port"
  ERL_EPMD_ADDRESS=127.0.0.1
  ERL_EPMD_PORT="$epmd_port"
  RABBITMQ_CONF_ENV_FILE="$tmp/rabbit/rabbitmq-env.conf"
  RABBITMQ_CONFIG_FILE="$tmp/rabbit/rabbitmq.conf"
  RABBITMQ_ADVANCED_CONFIG_FILE="$tmp/rabbit/advanced.config"
  RABBITMQ_ENABLED_PLUGINS_FILE="$tmp/rabbit/enabled_plugins"
  RABBITMQ_MNESIA_BASE="$tmp/rabbit/mnesia"
  RABBITMQ_LOG_BASE="$tmp/rabbit/log"
  RABBITMQ_PID_FILE="$tmp/rabbit/pid"
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
)
rabbit_version=$(dpkg-query -W -f='${Version}' rabbitmq-server)
erlang_version=$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || echo "?")
# Our own epmd, on loopback, so the node registers nowhere else.
env "${rabbit_env[@]}" epmd -address 127.0.0.1 -port "$epmd_port" >"$tmp/rabbit/epmd.log" 2>&1 &
pids+=("$!")
env "${rabbit_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server \
  >"$tmp/rabbit/server.out" 2>&1 </dev/null &
rabbit_pid=$!
stop_rabbit() {
  # The wrapper turns TERM into `rabbitmqctl stop`, a clean shutdown.
  kill -TERM "$rabbit_pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 "$rabbit_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -KILL "$rabbit_pid" 2>/dev/null || true
  wait "$rabbit_pid" 2>/dev/null || true
  rabbit_pid=""
}
wait_for_port "$amqp_port" "$rabbit_pid" RabbitMQ 120 ||
  die "RabbitMQ did not start: $(tail -20 "$tmp/rabbit/server.out")"
rabbit_ep="amqp://guest:guest@127.0.0.1:$amqp_port"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "machine: $(nproc) cores, $cpu, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "warren: warrend on $warren_ep; RabbitMQ $rabbit_version (Erlang $erlang_version) on $rabbit_ep" >&2

# --- measurements -------------------------------------------------------------
# json KEY < line: the number stored under KEY in one JSON line.
json() { sed -n 's/.*"'"$1"'":\([0-9.]*\).*/\1/p' | head -1; }

status=0
results=$tmp/results.jsonl
: >"$results"
# run_tool SECTION PARAM SYSTEM COMMAND...: runs a tool in the background
# (so a signal reaches the trap at once), keeps its JSON line tagged with
# SECTION, PARAM and SYSTEM, and echoes that line.
run_tool() {
  local section=$1 param=$2 system=$3 rc=0 line
  shift 3
  "$@" --json >"$tmp/tool.out" 2>"$tmp/tool.err" &
  tool_pid=$!
  wait "$tool_pid" || rc=$?
  tool_pid=""
  if ((rc)); then
    status=1
    echo "compare.sh: $section/$param/$system failed (exit $rc): $(tail -3 "$tmp/tool.err")" >&2
  fi
  kill -0 "$warrend_pid" 2>/dev/null || die "warrend died: $(cat "$tmp/warrend.err")"
  [[ -n $rabbit_pid ]] && { kill -0 "$rabbit_pid" 2>/dev/null || die "RabbitMQ died"; }
  line=$(grep '^{' "$tmp/tool.out" | tail -1 || true)
  [[ -n $line ]] || return 0
  line="{\"section\":\"$section\",\"param\":\"$param\",\"system\":\"$system\",${line#\{}"
  echo "$line" >>"$results"
  echo "$line"
}
warren() { "$warren_perf" --endpoint "$warren_ep" "$@"; }
rabbit() { "$amqp_perf" --endpoint "$rabbit_ep" "$@"; }

# both SECTION PARAM FLAGS...: the same warren-perf/amqp-perf flags against
# both brokers.
both() {
  local section=$1 param=$2
  shift 2
  echo "== $section $param: $*" >&2
  run_tool "$section" "$param" warren warren "$@" >/dev/null
  run_tool "$section" "$param" rabbitmq rabbit "$@" >/dev/null
}
bare() {
  local section=$1 param=$2
  shift 2
  run_tool "$section" "$param" zmq "$baseline" "$@" >/dev/null
}

if has_section main; then
  both main transient-auto-ack -x 1 -y 1 -s $size -C "$count"
  bare main transient-auto-ack --mode proxy -s $size -C "$count"
  both main manual-ack-prefetch-100 -x 1 -y 1 -s $size -C "$count" --manual-ack --prefetch 100
  bare main manual-ack-prefetch-100 --mode proxy -s $size -C "$count"
  # A persistent backlog, then its drain: two runs on one durable queue.
  for system in warren rabbit; do
    tag=$([[ $system == warren ]] && echo warren || echo rabbitmq)
    echo "== main persistent backlog + drain ($tag)" >&2
    run_tool main persistent-confirm-publish "$tag" "$system" -x 1 -y 0 -s $size -C "$durable_count" \
      --persistent --confirm 1000 --queue perf-durable --keep-queue >/dev/null
    run_tool main persistent-drain "$tag" "$system" -x 0 -y 1 -s $size -C "$durable_count" \
      --persistent --queue perf-durable --no-purge >/dev/null
  done
  both main fanout-10-queues --exchange perf-fanout --type fanout --queues 10 -x 1 -s $size \
    -C $((count / 10))
  # Publish-to-deliver latency at a rate both sustain (no queueing).
  both main latency-at-rate -x 1 -y 1 -s $size -C $((latency_rate * latency_seconds)) --rate "$latency_rate"
  bare main latency-at-rate --mode proxy -s $size -C $((latency_rate * latency_seconds)) --rate "$latency_rate"
  both main rpc-1 --rpc -x 1 -y 1 -s $size -C "$rpc_count"
  bare main rpc-1 --mode reqrep -s $size -C "$rpc_count"
  both main rpc-50 --rpc -x 1 -y 1 -s $size -C $((rpc_count * 10)) --concurrency 50
  bare main rpc-50 --mode reqrep -s $size -C $((rpc_count * 10)) --concurrency 50
fi
if has_section size; then
  for s in "${sizes[@]}"; do
    n=$((size_bytes / s))
    ((n > count)) && n=$count
    ((n < 2000)) && n=2000
    both size "$s" -x 1 -y 1 -s "$s" -C "$n"
    bare size "$s" --mode proxy -s "$s" -C "$n"
  done
fi
if has_section queues; then
  for q in "${queue_counts[@]}"; do
    both queues "$q" --exchange perf-fanout --type fanout --queues "$q" -x 1 -s $size -C $((count / q))
  done
fi
if has_section bindings; then
  for b in "${binding_counts[@]}"; do
    both bindings "$b" --exchange perf-topic --type topic --routing-key stock.nyse.ibm \
      --binding-key 'stock.nyse.*' --bindings $((b - 1)) -x 1 -y 1 -s $size -C "$count"
  done
fi
if has_section connections; then
  for c in "${connection_counts[@]}"; do
    both connections "$c" -x "$c" -y "$c" -s $size -C $((count / c))
  done
fi

# --- report --------------------------------------------------------------------
# value SECTION PARAM SYSTEM KEY: one figure of one run ("" when absent).
value() {
  grep "^{\"section\":\"$1\",\"param\":\"$2\",\"system\":\"$3\"," "$results" | tail -1 | json "$4" || true
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
fmt() { [[ -z $1 ]] && echo "-" || printf '%.0f' "$1"; }
table_row() {  # LABEL WARREN RABBIT BARE
  printf '%-58s %10s %10s %11s %10s %7s\n' "$1" "$(fmt "$2")" "$(fmt "$3")" "$(fmt "$4")" \
    "$(ratio "$2" "$3")" "$(ratio "$2" "$4")"
}
main_row() {  # LABEL PARAM KEY [NO-BARE]
  local bare_value=""
  [[ -z ${4:-} ]] && bare_value=$(value main "$2" zmq "$3")
  table_row "$1" "$(value main "$2" warren "$3")" "$(value main "$2" rabbitmq "$3")" "$bare_value"
}

echo
printf '%-58s %10s %10s %11s %10s %7s\n' scenario warren RabbitMQ "bare ZeroMQ" "w/RabbitMQ" "w/bare"
if has_section main; then
  main_row "transient, auto-ack (msg/s)" transient-auto-ack rate
  main_row "transient, manual ack, prefetch 100 (msg/s)" manual-ack-prefetch-100 rate
  main_row "persistent + confirms, backlog publish (msg/s)" persistent-confirm-publish rate no-bare
  main_row "persistent, drain the backlog (msg/s)" persistent-drain rate no-bare
  main_row "fanout to 10 queues (deliveries/s)" fanout-10-queues rate no-bare
  main_row "publish->deliver at $latency_rate msg/s, p50 (us, lower better)" latency-at-rate p50
  main_row "publish->deliver at $latency_rate msg/s, p99 (us, lower better)" latency-at-rate p99
  main_row "RPC, 1 outstanding (calls/s)" rpc-1 rate
  main_row "RPC, 1 outstanding, p50 (us, lower better)" rpc-1 p50
  main_row "RPC, 1 outstanding, p99 (us, lower better)" rpc-1 p99
  main_row "RPC, 50 outstanding (calls/s)" rpc-50 rate
fi
for s in "${sizes[@]}"; do
  has_section size || break
  table_row "size $s B, auto-ack (msg/s)" "$(value size "$s" warren rate)" \
    "$(value size "$s" rabbitmq rate)" "$(value size "$s" zmq rate)"
done
for q in "${queue_counts[@]}"; do
  has_section queues || break
  table_row "fanout to $q queue(s) (deliveries/s)" "$(value queues "$q" warren rate)" \
    "$(value queues "$q" rabbitmq rate)" ""
done
for b in "${binding_counts[@]}"; do
  has_section bindings || break
  table_row "topic, $b bindings (msg/s)" "$(value bindings "$b" warren rate)" \
    "$(value bindings "$b" rabbitmq rate)" ""
done
for c in "${connection_counts[@]}"; do
  has_section connections || break
  table_row "$c producer(s) + $c consumer(s) (msg/s)" "$(value connections "$c" warren rate)" \
    "$(value connections "$c" rabbitmq rate)" ""
done
echo "($size-byte bodies unless said; bare ZeroMQ: zmq-proxy-baseline, the same frames through a"
echo " ROUTER/DEALER proxy, or REQ -> proxy -> REP for RPC; w/...: warren's figure over the other)"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- output files --------------------------------------------------------------
if [[ -n $json_out ]]; then
  cp "$results" "$json_out"
fi
if [[ -n $csv || -n $plots ]]; then
  out_csv=${csv:-$tmp/results.csv}
  {
    echo "section,param,system,rate,mb_per_s,p50_us,p95_us,p99_us,p999_us,sent,received,lost"
    while IFS= read -r line; do
      section=$(sed -n 's/^{"section":"\([^"]*\)".*/\1/p' <<<"$line")
      param=$(sed -n 's/.*"param":"\([^"]*\)".*/\1/p' <<<"$line")
      system=$(sed -n 's/.*"system":"\([^"]*\)".*/\1/p' <<<"$line")
      printf '%s,%s,%s' "$section" "$param" "$system"
      for key in rate mb_per_s p50 p95 p99 p999 sent received lost; do
        printf ',%s' "$(json "$key" <<<"$line")"
      done
      echo
    done <"$results"
  } >"$out_csv"
  if [[ -n $plots ]]; then
    bash "$here/plot.sh" "$out_csv" "$plots" || status=1
  fi
fi
exit "$status"
