#!/usr/bin/env bash
# tleg sweep on 2 ranks as a cluster runs it: groups that finish far more than --dist.timeout
# apart end with exit 0; a failure on one rank of a group ends the job with that rank's own
# message instead of hanging; SIGTERM checkpoints the running depth, does not mark it failed, and
# --resume completes it (removing the failed.txt of an earlier attempt); Pre-Fin takes its
# pre-trained models from another sweep's runs.
# usage: sweep_test.sh TLEG MPIEXEC PYTHON
set -u
tleg=$1 mpiexec=$2 python=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun2() { timeout 300 "$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
json() { "$python" -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
common=(--data.store "$work/fm.h5" --data.val-split "" --data.mean 0.2860 --data.std 0.3530
        --data.threads 1 --model.dim 32 --model.heads 2 --model.patch 7 --model.image 28
        --optim.epochs 1 --optim.batch 32 --optim.warmup-epochs 0 --run.log-interval 1000
        --init scratch --run.seed 3)

# 1. Depth 1 and depth 12 in two single-rank groups, 2 s collective timeout: the depth-1 group
# waits for the other far longer than the timeout (1,000 steps: 300 gave only 5 s apart on an
# idle machine once the step got faster).
mpirun2 "$tleg" sweep "${common[@]}" --depths 1,12 --optim.steps-per-epoch 1000 --dist.timeout 2 \
  --run.dir "$work/apart" >"$work/apart.log" 2>&1 || { cat "$work/apart.log"; fail "sweep with groups finishing apart"; }
apart=$("$python" -c "
import json, sys
a, b = (json.load(open(f'$work/apart/scratch/depth-{d}/run.json'))['wall_seconds'] for d in (1, 12))
print(b - a)")
"$python" -c "import sys; sys.exit(0 if $apart >= 6 else 1)" ||
  fail "the groups finished only $apart s apart (< 3 x the 2 s timeout): make depth 12 longer"
echo "groups finished $apart s apart with --dist.timeout 2: exit 0"

# 2. One group of both ranks; rank 0 alone cannot write the checkpoint of step 3 (a directory is
# in the way): the job ends with rank 0's message, rank 1 does not wait forever.
mkdir -p "$work/onerank/scratch/depth-2/checkpoints/checkpoint-0000000003.pt.partial"
mpirun2 "$tleg" sweep "${common[@]}" --depths 2 --optim.steps-per-epoch 20 --run.checkpoint-every 3 \
  --dist.timeout 10 --run.dir "$work/onerank" >"$work/onerank.log" 2>&1
status=$?
[ $status -eq 0 ] && fail "a failure on one rank must end the sweep non-zero"
[ $status -eq 124 ] && { cat "$work/onerank.log"; fail "the sweep hung after a failure on one rank"; }
grep -q "rank 0: error: depth 2: .*cannot write the checkpoint" "$work/onerank.log" ||
  { cat "$work/onerank.log"; fail "rank 0's own message is missing"; }
grep -q "failed on this rank only" "$work/onerank.log" ||
  { cat "$work/onerank.log"; fail "no word that the failure was on one rank only"; }
echo "a failure on rank 0 only ended the job with its message (exit $status)"

# 3. SIGTERM mid-depth: checkpointed, not failed, and --resume completes the depth; a failed.txt
# from an earlier attempt goes once the depth succeeds.
term=(sweep "${common[@]}" --depths 2 --optim.steps-per-epoch 400 --run.checkpoint-every 5
      --run.dir "$work/term")
mkdir -p "$work/term/scratch/depth-2"
echo "an earlier attempt failed" >"$work/term/scratch/depth-2/failed.txt"
mpirun2 "$tleg" "${term[@]}" >"$work/term.log" 2>&1 &
launcher=$!
for _ in $(seq 3000); do
  [ -f "$work/term/scratch/depth-2/checkpoints/checkpoint-0000000010.pt" ] && break
  sleep 0.02
done
# The ranks get the signal, as Slurm gives it to every task: mpirun, signalled itself, would
# SIGKILL them 1 s later (odls_base_sigkill_timeout), before a loaded machine reaches the stop.
pkill -TERM -f -- "^$tleg .*--run.dir $work/term"
wait $launcher && fail "a sweep stopped by SIGTERM must not end successfully"
[ -f "$work/term/scratch/depth-2/run.json" ] && fail "the depth finished before SIGTERM: make it longer"
grep -q "sweep stopped by SIGTERM.*Resume with: .*--resume" "$work/term.log" || { cat "$work/term.log"; fail "no resume message"; }
grep -q "depth 2 failed" "$work/term.log" && { cat "$work/term.log"; fail "a stopped depth was reported failed"; }
mpirun2 "$tleg" "${term[@]}" --resume >"$work/term2.log" 2>&1 || { cat "$work/term2.log"; fail "resume of the sweep"; }
grep -q "resuming at step" "$work/term2.log" || { cat "$work/term2.log"; fail "the depth did not resume"; }
[ -f "$work/term/scratch/depth-2/run.json" ] || fail "the resumed depth wrote no run.json"
[ -f "$work/term/scratch/depth-2/failed.txt" ] && fail "failed.txt stayed beside a depth that succeeded"
echo "SIGTERM: checkpointed, not failed; --resume completed the depth and removed failed.txt"

# 4. Pre-Fin from another sweep's runs (--prefin-from): a depth that sweep lacks is refused
# before any training, naming it; a depth it has is fine-tuned from that run's model, and its
# run.json says where the pre-training ran.
# (common's --init scratch becomes --init prefin)
prefin=(sweep "${common[@]/scratch/prefin}" --prefin-from "$work/apart/scratch" --optim.steps-per-epoch 3
        --run.dir "$work/prefin")
"$tleg" "${prefin[@]}" --depths 1,2 >"$work/prefin1.log" 2>&1 && fail "prefin from a sweep without depth 2 must fail"
grep -q -- "--prefin-from $work/apart/scratch: no finished run (depth-<d>/run.json) for depth(s) 2;" "$work/prefin1.log" ||
  { cat "$work/prefin1.log"; fail "the refusal does not name the missing depth"; }
[ -e "$work/prefin/prefin/depth-1" ] && fail "a depth was trained before the refusal"
"$tleg" "${prefin[@]}" --depths 1 >"$work/prefin2.log" 2>&1 || { cat "$work/prefin2.log"; fail "prefin from another sweep"; }
[ "$(json "$work/prefin/prefin/depth-1/run.json" "['extra']['pretrained_method']")" = scratch ] ||
  fail "the prefin run does not record its pre-training method"
[ -e "$work/prefin/prefin-pretrain" ] && fail "prefin pre-trained although --prefin-from gave the models"
echo "prefin from another sweep: a missing depth refused before training; depth 1 reused that sweep's model"
echo "4 passed, 0 failed"
