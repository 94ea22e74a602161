#!/usr/bin/env bash
# ab_speed.sh OLD_BIN NEW_BIN [ROUNDS] [SECONDS]: old against new binaries, PBFT and VR
# f=1 (auth mac, 64 clients, the bench defaults), alternating runs in one session so that
# a shared machine's noise falls on both; prints each run and the new/old median ratio.
# BYZLAB_AB_PROTOCOLS="vr" limits the protocols.  Used for issue 15's "no loss of speed" check (docs/EXPERIMENTS.md).  Ports 18400-18703
# (BYZLAB_AB_BASE_PORT=P: P..P+303 instead).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OLD=${1:?usage: ab_speed.sh OLD_BIN NEW_BIN [ROUNDS] [SECONDS]}
NEW=${2:?usage: ab_speed.sh OLD_BIN NEW_BIN [ROUNDS] [SECONDS]}
ROUNDS=${3:-3}
SECONDS_PER_RUN=${4:-4}
TMP=$(mktemp -d /tmp/ab_speed.XXXXXX)
trap 'for d in "$TMP"/*/; do [ -d "$d" ] && "$ROOT/byzlab" cluster down "$d" >/dev/null 2>&1; done; rm -rf "$TMP"' EXIT

one_run() { # ARM BIN PROTOCOL -> prints ops/s
	local arm=$1 bin=$2 proto=$3 dir="$TMP/$1-$3"
	"$NEW/byzlab-keygen" --cluster "$dir" --protocol "$proto" --f 1 --auth mac \
		--base-port "${BYZLAB_AB_BASE_PORT:-18400}" --set batch_max=128 --force >/dev/null
	BYZLAB_BIN=$bin "$ROOT/byzlab" cluster up "$dir" >/dev/null
	"$bin/byzlab-client" --config "$dir/cluster.ini" bench --clients 64 \
		--seconds "$SECONDS_PER_RUN" --warmup 1 2>&1 | sed -n 's/.* \([0-9.]*\) ops\/s.*/\1/p' | tail -1
	BYZLAB_BIN=$bin "$ROOT/byzlab" cluster down "$dir" >/dev/null
}

declare -A runs
PROTOS=${BYZLAB_AB_PROTOCOLS:-pbft vr}
for r in $(seq 1 "$ROUNDS"); do
	for proto in $PROTOS; do
		# alternate which arm goes first, so that drift in the machine's load is shared
		arms="old new"
		[ $((r % 2)) -eq 0 ] && arms="new old"
		for arm in $arms; do
			[ "$arm" = old ] && bin=$OLD || bin=$NEW
			ops=$(one_run "$arm" "$bin" "$proto")
			echo "round $r $proto $arm: $ops ops/s"
			runs[$proto-$arm]="${runs[$proto-$arm]:-} $ops"
		done
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for proto in $PROTOS; do
	o=$(echo "${runs[$proto-old]}" | median)
	n=$(echo "${runs[$proto-new]}" | median)
	echo "$proto: median old $o, new $n ops/s, new/old $(awk -v a="$n" -v b="$o" 'BEGIN {printf "%.2f", a / b}')"
done
