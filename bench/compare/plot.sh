#!/usr/bin/env bash
# bench/compare/plot.sh: the comparison's plots, from compare.sh's CSV.
#
# usage: bench/compare/plot.sh RESULTS.csv OUT_DIR
# Writes PNG files (gnuplot, pngcairo if present, else png) into OUT_DIR:
#   compare-throughput.png  msg/s by scenario: warren, RabbitMQ, bare ZeroMQ
#   compare-latency.png     latency percentiles: publish to deliver at a fixed
#                           rate, and the RPC round trip (one call at a time)
#   compare-size.png        msg/s and MB/s against the body size
#   compare-scaling.png     msg/s against queues (fanout), topic bindings and
#                           producer + consumer connections
# Sections missing from the CSV are skipped.
set -euo pipefail

[[ $# -eq 2 ]] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
csv=$1
out=$2
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
[[ -r $csv ]] || { echo "plot.sh: cannot read $csv" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

terminal="pngcairo size 1000,560 font 'DejaVu Sans,10'"
gnuplot -e "set terminal pngcairo" 2>/dev/null </dev/null || terminal="png size 1000,560"

# col KEY: the CSV column of a figure.
col() {
  case $1 in
    rate) echo 4 ;; mb_per_s) echo 5 ;; p50) echo 6 ;; p95) echo 7 ;; p99) echo 8 ;; p999) echo 9 ;;
  esac
}
# field SECTION PARAM SYSTEM KEY: one figure from the CSV ("" if absent).
field() {
  awk -F, -v s="$1" -v p="$2" -v y="$3" -v c="$(col "$4")" \
    '$1 == s && $2 == p && $3 == y { v = $c } END { print v }' "$csv"
}
# has SECTION: whether the CSV has that section.
has() { awk -F, -v s="$1" '$1 == s { found = 1 } END { exit !found }' "$csv"; }
# A missing figure is "-", which gnuplot skips ("set datafile missing").
or_dash() { [[ -n $1 ]] && echo "$1" || echo "-"; }

common="set terminal $terminal; set datafile missing '-'; set grid ytics;
set key top right; set style line 1 lc rgb '#1f77b4'; set style line 2 lc rgb '#d62728';
set style line 3 lc rgb '#7f7f7f'"

# 1. Throughput by scenario (log scale: the systems differ by orders of magnitude).
if has main; then
  {
    for row in "transient-auto-ack:transient\\nauto-ack" \
               "manual-ack-prefetch-100:manual ack\\nprefetch 100" \
               "persistent-confirm-publish:persistent\\n+ confirms" \
               "persistent-drain:persistent\\ndrain" \
               "fanout-10-queues:fanout to 10\\n(deliveries)" \
               "rpc-50:RPC, 50 out-\\nstanding (calls)"; do
      param=${row%%:*}
      printf '"%s" %s %s %s\n' "${row#*:}" "$(or_dash "$(field main "$param" warren rate)")" \
        "$(or_dash "$(field main "$param" rabbitmq rate)")" "$(or_dash "$(field main "$param" zmq rate)")"
    done
  } >"$tmp/throughput.dat"
  gnuplot <<EOF
$common
set output '$out/compare-throughput.png'
set title 'Throughput by scenario (100 B bodies, 1 producer, 1 consumer, loopback)'
set ylabel 'messages per second (log scale)'
set logscale y
set yrange [100:*]
set bmargin 5
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics nomirror
plot '$tmp/throughput.dat' using 2:xtic(1) title 'warren' ls 1, \
     '' using 3 title 'RabbitMQ' ls 2, \
     '' using 4 title 'bare ZeroMQ (ceiling)' ls 3
EOF
fi

# 2. Latency percentiles.
if has main; then
  {
    for p in p50 p95 p99 p999; do
      label=${p/p999/p99.9}
      printf '"%s" %s %s %s\n' "publish->deliver ${label}" \
        "$(or_dash "$(field main latency-at-rate warren "$p")")" \
        "$(or_dash "$(field main latency-at-rate rabbitmq "$p")")" \
        "$(or_dash "$(field main latency-at-rate zmq "$p")")"
    done
    for p in p50 p95 p99 p999; do
      label=${p/p999/p99.9}
      printf '"%s" %s %s %s\n' "RPC round trip ${label}" \
        "$(or_dash "$(field main rpc-1 warren "$p")")" \
        "$(or_dash "$(field main rpc-1 rabbitmq "$p")")" \
        "$(or_dash "$(field main rpc-1 zmq "$p")")"
    done
  } >"$tmp/latency.dat"
  gnuplot <<EOF
$common
set output '$out/compare-latency.png'
set title 'Latency percentiles (100 B; publish->deliver at a fixed rate; RPC one call at a time)'
set ylabel 'microseconds (log scale, lower is better)'
set yrange [10:*]
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -30 nomirror
set key top left
plot '$tmp/latency.dat' using 2:xtic(1) title 'warren' ls 1, \
     '' using 3 title 'RabbitMQ' ls 2, \
     '' using 4 title 'bare ZeroMQ' ls 3
EOF
fi

# 3. Throughput against body size.
if has size; then
  awk -F, '$1 == "size" { print $2 }' "$csv" | sort -n -u >"$tmp/sizes"
  for system in warren rabbitmq zmq; do
    while read -r s; do
      echo "$s $(or_dash "$(field size "$s" "$system" rate)") $(or_dash "$(field size "$s" "$system" mb_per_s)")"
    done <"$tmp/sizes" >"$tmp/size-$system.dat"
  done
  gnuplot <<EOF
$common
set output '$out/compare-size.png'
set multiplot layout 1,2 title 'Throughput against body size (1 producer, 1 consumer, auto-ack)'
set logscale x 2
set logscale y
set xlabel 'body size (bytes)'
set format x '%.0f'
set key bottom left
set ylabel 'messages per second'
plot '$tmp/size-warren.dat' using 1:2 with linespoints ls 1 lw 2 pt 7 title 'warren', \
     '$tmp/size-rabbitmq.dat' using 1:2 with linespoints ls 2 lw 2 pt 5 title 'RabbitMQ', \
     '$tmp/size-zmq.dat' using 1:2 with linespoints ls 3 lw 2 pt 9 title 'bare ZeroMQ'
set key top left
set ylabel 'MB per second (bodies)'
plot '$tmp/size-warren.dat' using 1:3 with linespoints ls 1 lw 2 pt 7 title 'warren', \
     '$tmp/size-rabbitmq.dat' using 1:3 with linespoints ls 2 lw 2 pt 5 title 'RabbitMQ', \
     '$tmp/size-zmq.dat' using 1:3 with linespoints ls 3 lw 2 pt 9 title 'bare ZeroMQ'
unset multiplot
EOF
fi

# 4. Cost against queues, bindings and connections.
panels=()
for section in queues bindings connections; do
  has "$section" || continue
  panels+=("$section")
  awk -F, -v s="$section" '$1 == s { print $2 }' "$csv" | sort -n -u >"$tmp/$section.params"
  for system in warren rabbitmq; do
    while read -r p; do
      echo "$p $(or_dash "$(field "$section" "$p" "$system" rate)")"
    done <"$tmp/$section.params" >"$tmp/$section-$system.dat"
  done
done
if ((${#panels[@]})); then
  {
    echo "$common"
    echo "set output '$out/compare-scaling.png'"
    echo "set multiplot layout 1,${#panels[@]} title 'How throughput changes with queues, bindings and connections (100 B)'"
    echo "set logscale x 10; set logscale y; set format x '%.0f'; set key bottom left"
    echo "set ylabel 'messages per second'"
    for section in "${panels[@]}"; do
      case $section in
        queues) echo "set xlabel 'fanout: queues (deliveries/s, all queues)'" ;;
        bindings) echo "set xlabel 'topic exchange: bindings'" ;;
        connections) echo "set xlabel 'producers + consumers (N each)'" ;;
      esac
      echo "plot '$tmp/$section-warren.dat' using 1:2 with linespoints ls 1 lw 2 pt 7 title 'warren', \
'$tmp/$section-rabbitmq.dat' using 1:2 with linespoints ls 2 lw 2 pt 5 title 'RabbitMQ'"
    done
    echo "unset multiplot"
  } | gnuplot
fi
for f in "$out"/compare-*.png; do [[ -e $f ]] && echo "plot.sh: wrote $f" >&2; done; true
