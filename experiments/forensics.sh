#!/bin/sh
# forensics.sh - issue 17 item 3: who broke safety?  Collects N simulator runs in which
# f+1 = 2 liars (twins at replicas 0 and 3 whose cores serve two halves of the correct
# replicas: --twins-split, every network fault, crashes and pauses) broke agreement at
# f = 1, and runs the CCS'21 analysis (replica/core/forensics.h) on the correct
# replicas' transcripts after each: the share of runs naming >= 1 and >= f+1 culprits,
# and that no correct replica is ever named (docs/TESTING.md, "Forensics").
#   experiments/forensics.sh [N] [K] [M]  N violating runs (default 1000), K checkpoints
#   kept (default 2), M violating runs for the omission variant (default 300)
# Then the same with omission findings counted as accusations (unsound in byzlab: it
# shows correct replicas named), and with at most f liars (nobody correct named).
set -eu
N=${1:-1000}
K=${2:-2}
M=${3:-300}
SIM=${BYZLAB_BUILD:-build}/bin/byzlab-sim
COMMON="--f 1 --auth sig --faults all --crash-restart --pauses --keep-going -q"
TWINS="--byz 0=twins --byz 3=twins --twins-split --ops 20 --forensics-k $K"
echo "== $N runs that broke agreement, equivocation proofs only (the default)"
"$SIM" $COMMON $TWINS --forensics --violations "$N" --seeds 1-1000000 | grep -E '^(summary|forensics):' || true
echo "== the same runs, omission findings named too (--forensics-omissions)"
"$SIM" $COMMON $TWINS --forensics-omissions --violations "$M" --seeds 1-1000000 | grep -E '^(summary|forensics):' || true
echo "== at most f liars (--random-liars 1): a correct replica named fails the run"
"$SIM" $COMMON --random-liars 1 --ops 30 --forensics --seeds 1-100 | grep -E '^(summary|seed [0-9]+ FAIL)' || true
