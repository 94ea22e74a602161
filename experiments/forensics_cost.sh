#!/bin/bash
# forensics_cost.sh - issue 17 item 3: what the forensic transcript costs a real cluster.
# Two PBFT f=1 clusters, auth sig, side by side: A keeps transcripts (forensics_k = 2),
# B does not (forensics_k = 0).  A warm-up round, then ROUNDS rounds of a closed-loop
# bench (16 clients, OPS operations), A then B, interleaved so that the machine's load
# falls on both alike; prints each round and the ratio A / B of means and of medians
# (docs/EXPERIMENTS.md §9.1).
#   experiments/forensics_cost.sh [ROUNDS] [OPS] [BASE_PORT]   defaults 8 3000 23000
# (A uses BASE_PORT.., B BASE_PORT+300..; each needs 300 ports: P+i, P+100+i, P+200+i.)
set -euo pipefail
ROUNDS=${1:-8}
OPS=${2:-3000}
PORT=${3:-23000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BYZLAB_BIN:-$ROOT/build/bin}
DIR=$(mktemp -d)
trap '"$ROOT/byzlab" cluster down "$DIR/A" >/dev/null 2>&1 || true
      "$ROOT/byzlab" cluster down "$DIR/B" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
for v in A B; do
	k=2 p=$PORT
	[ $v = B ] && k=0 p=$((PORT + 300))
	"$ROOT/byzlab" cluster init "$DIR/$v" --protocol pbft --f 1 --auth sig --base-port $p \
		--set forensics_k=$k >/dev/null
	"$ROOT/byzlab" cluster up "$DIR/$v" >/dev/null
done
bench() {
	"$BIN/byzlab-client" --config "$DIR/$1/cluster.ini" --timeout 20000 bench --clients 16 \
		--ops "$OPS" 2>/dev/null | grep -o '"throughput":[0-9.]*' | cut -d: -f2
}
a=() b=()
for r in $(seq 0 "$ROUNDS"); do
	x=$(bench A) y=$(bench B)
	note=""
	[ "$r" -eq 0 ] && note=" (warm-up, not counted)"
	echo "round $r: A (forensics_k 2) $x ops/s, B (forensics_k 0) $y ops/s$note"
	if [ "$r" -gt 0 ]; then
		a+=("$x")
		b+=("$y")
	fi
done
python3 - "${a[*]}" "${b[*]}" <<'PY'
import statistics as st, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
print("A mean %.1f, B mean %.1f ops/s: A/B %.3f (medians %.3f)" % (
    st.mean(a), st.mean(b), st.mean(a) / st.mean(b), st.median(a) / st.median(b)))
PY
uptime
