#!/usr/bin/env bash
# A 2-rank distill killed (kill -9 of one rank, chosen at random) at 3 random steps, resumed each
# time, ends bit-identical to the uninterrupted run. Asserts only that identity and that each kill
# ended the job; the time from each kill to the job's end is printed, not asserted.
# usage: kill_test.sh TLEG MPIEXEC PYTHON [SEED]
set -u
tleg=$1 mpiexec=$2 python=$3
RANDOM=${4:-$$}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun2() { "$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
data=(--data.store "$work/fm.h5" --data.val-split "" --data.mean 0.2860 --data.std 0.3530
      --data.threads 1 --model.patch 7 --model.image 28 --optim.batch 32 --run.log-interval 1000)
"$tleg" teacher "${data[@]}" --model.dim 32 --model.heads 2 --model.depth 2 --optim.epochs 1 \
  --optim.steps-per-epoch 20 --run.dir "$work/teacher" >"$work/teacher.log" 2>&1 ||
  { cat "$work/teacher.log"; fail "teacher"; }
total=80
distill=(distill "${data[@]}" --model.dim 32 --model.heads 2 --model.depth 4 --model.drop-path 0.1
         --optim.epochs 2 --optim.steps-per-epoch $((total / 2)) --optim.warmup-epochs 1
         --run.checkpoint-every 1 --run.keep $total --run.seed 11 --distill.teacher "$work/teacher/model.h5")

mpirun2 "$tleg" "${distill[@]}" --run.dir "$work/straight" >"$work/straight.log" 2>&1 ||
  { cat "$work/straight.log"; fail "uninterrupted distill"; }

# Checkpoints are all kept (--run.keep), so the newest one on disk is the step a run resumes from.
newest_checkpoint() {
  local files=("$work"/killed/checkpoints/checkpoint-*.pt) step=0
  [ -e "${files[0]}" ] && { step=${files[-1]##*checkpoint-}; step=$((10#${step%.pt})); }
  echo $step
}

# Three distinct random steps in [5, total - 5), in order; each run is killed at its step, or at
# the first step it writes if a killed run got past that step before it died (the kill lands a
# few steps after the checkpoint it waits for, and a step takes milliseconds here).
points=$("$python" -c "import random; random.seed($RANDOM); print(*sorted(random.sample(range(5, $total - 5), 3)))")
resume=()
for point in $points; do
  point=$(( point > $(newest_checkpoint) ? point : $(newest_checkpoint) + 1 ))
  mpirun2 "$tleg" "${distill[@]}" --run.dir "$work/killed" "${resume[@]}" >"$work/run-$point.log" 2>&1 &
  launcher=$!
  checkpoint=$(printf "%s/killed/checkpoints/checkpoint-%010d.pt" "$work" "$point")
  until [ -f "$checkpoint" ] || ! kill -0 $launcher 2>/dev/null; do sleep 0.01; done
  [ -f "$checkpoint" ] || { cat "$work/run-$point.log"; fail "the run ended before step $point"; }
  ranks=($(pgrep -f -- "^$tleg distill .*--run.dir $work/killed"))
  [ ${#ranks[@]} -eq 2 ] || { cat "$work/run-$point.log"; fail "expected 2 rank processes at step $point, found ${#ranks[@]}"; }
  victim=$((RANDOM % 2))
  start=$(date +%s.%N)
  kill -9 "${ranks[$victim]}"
  wait $launcher && fail "the job survived the kill of a rank at step $point"
  end=$(date +%s.%N)
  [ -f "$work/killed/learngene.h5" ] && fail "the run finished before the kill at step $point: make it longer"
  echo "killed rank $victim at step $point: the job ended $("$python" -c "print(f'{$end - $start:.2f}')") s later"
  resume=(--resume)
done
mpirun2 "$tleg" "${distill[@]}" --run.dir "$work/killed" --resume >"$work/final.log" 2>&1 ||
  { cat "$work/final.log"; fail "the last resume"; }
grep -q "resuming at step" "$work/final.log" || fail "the last run did not resume"

"$python" - "$work/straight/learngene.h5" "$work/killed/learngene.h5" <<'PY' || fail "the resumed learngene differs"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
names = sorted(a["tensors"].keys())
assert names == sorted(b["tensors"].keys())
same = all(np.array_equal(a["tensors"][n][()], b["tensors"][n][()]) for n in names)
print(f"{len(names)} tensors bit-identical to the uninterrupted run: {same}")
sys.exit(0 if same else 1)
PY
echo "1 passed, 0 failed"
