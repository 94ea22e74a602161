#!/bin/sh
# forensics.sh - issue 17 item 3: who broke safety?  Collects N simulator runs in which
# f+1 = 2 liars (twins at replicas 0 and 3 whose cores serve two halves of the correct
# replicas: --twins-split, every network fault, crashes and pauses) broke agreement at
# f = 1, and runs the CCS'21 analysis (replica/core/forensics.h) on the correct
# replicas' transcripts after each: the share of runs naming >= 1 and >= f+1 culprits,
# split by whether the two conflicting commits were of one view or of two, and that no
# correct replica is ever named (docs/TESTING.md, "Forensics").
#   experiments/forensics.sh [N] [K] [M] [L]
#     N violating runs (default 1000) with transcripts of the last K checkpoints
#     (default 2); M violating runs (default 300) with K = 16 (what the bound costs);
#     L seeds (default 300) with at most f liars, where nobody correct may be named.
set -eu
N=${1:-1000}
K=${2:-2}
M=${3:-300}
L=${4:-300}
SIM=${BYZLAB_BUILD:-build}/bin/byzlab-sim
COMMON="--f 1 --auth sig --faults all --crash-restart --pauses --keep-going -q"
TWINS="--byz 0=twins --byz 3=twins --twins-split --ops 20"
echo "== $N runs that broke agreement, K = $K"
"$SIM" $COMMON $TWINS --forensics --forensics-k "$K" --violations "$N" --seeds 1-1000000 |
	grep -E '^(summary|forensics):' || true
echo "== $M runs that broke agreement, K = 16"
"$SIM" $COMMON $TWINS --forensics --forensics-k 16 --violations "$M" --seeds 1-1000000 |
	grep -E '^(summary|forensics):' || true
echo "== at most f liars (--random-liars 1), seeds 1-$L: a correct replica named fails the run"
"$SIM" $COMMON --random-liars 1 --ops 30 --forensics --seeds "1-$L" |
	grep -E '^(summary|seed [0-9]+ FAIL)' || true
