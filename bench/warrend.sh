# Sourced by the bench scripts (run.sh, load.sh, compare/compare.sh).

# warrend_endpoint OUT ERR PID TRIES: waits, 0.1 s a try, until the warrend
# with pid PID, whose stdout is in OUT, prints the endpoint it bound
# ("listening on tcp://..."), and prints that endpoint. Fails, saying why on
# stderr (with warrend's stderr, ERR), when warrend exits first or TRIES run out.
warrend_endpoint() {
  local out=$1 err=$2 pid=$3 tries=$4 endpoint
  for _ in $(seq "$tries"); do
    endpoint=$(sed -n 's/.* listening on \(tcp:[^ ]*\).*/\1/p' "$out" 2>/dev/null)
    if [[ -n $endpoint ]]; then
      echo "$endpoint"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "warrend exited: $(cat "$err")" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "warrend did not start within $((tries / 10)) s" >&2
  return 1
}
