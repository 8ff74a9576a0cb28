#!/usr/bin/env bash
# Stops within seconds, whatever the log and checkpoint intervals: a 2-rank run with log lines
# and checkpoints far apart (--run.log-interval 1000 --run.checkpoint-every 0, epochs of 60 slow
# steps) gets SIGTERM mid-epoch and must write the checkpoint of the step it stopped at and the
# resume line within a few steps; SIGTERM during the epoch-end evaluation stops it too (the
# evaluation is done again on resume); each resumed run ends bit-identical to an uninterrupted
# one, with the same accuracy. Ctrl-C (SIGINT) of a one-process run stops it the same way.
# usage: stop_test.sh TLEG MPIEXEC PYTHON
set -u
tleg=$1 mpiexec=$2 python=$3
work=$(mktemp -d)
trap 'pkill -9 -f -- "$work/" 2>/dev/null; rm -rf "$work"' EXIT
mpirun2() { "$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
now() { date +%s.%N; }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
# An 8-block ViT at 28 px: steps of ~0.1-0.3 s and an evaluation of the 10,000 test images of
# several seconds on this kind of machine, so both can be interrupted.
common=(--data.store "$work/fm.h5" --data.mean 0.2860 --data.std 0.3530 --data.threads 1
        --model.dim 128 --model.heads 2 --model.depth 8 --model.patch 7 --model.image 28
        --model.drop-path 0.1 --aug.recipe basic --aug.mixup 0 --aug.cutmix 0
        --optim.epochs 2 --optim.steps-per-epoch 60 --optim.batch 32 --optim.lr 1e-3
        --optim.warmup-epochs 0 --run.precision fp32 --run.seed 7
        --run.log-interval 1000 --run.checkpoint-every 0)

started=$(now)
mpirun2 "$tleg" teacher "${common[@]}" --run.dir "$work/straight" >"$work/straight.log" 2>&1 ||
  { cat "$work/straight.log"; fail "uninterrupted run"; }
step_seconds=$("$python" -c "import sys; print((float(sys.argv[2]) - float(sys.argv[1])) / 120)" "$started" "$(now)")

# Waits until the run of $1 has written $2 into its log (or ended); 0 when it has.
wait_for_line() {
  for _ in $(seq 6000); do
    grep -q -- "$2" "$work/$1.log" 2>/dev/null && return 0
    kill -0 "$launcher" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}
# Signal $1 to every process of the run in $work/$2, then waits for the run to end. Prints the
# seconds from the signal to its checkpoint and to its end.
stop_run() {
  local sent; sent=$(now)
  pkill "-$1" -f -- "--run.dir $work/$2( |$)"
  local written=""
  while kill -0 "$launcher" 2>/dev/null; do
    [ -z "$written" ] && ls "$work/$2/checkpoints" 2>/dev/null | grep -q "checkpoint-" && written=$(now)
    sleep 0.01
  done
  wait "$launcher" && fail "a run stopped by $1 must not end successfully"
  [ -z "$written" ] && written=$(now)
  "$python" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f} {float(sys.argv[3]) - float(sys.argv[1]):.2f}')" \
    "$sent" "$written" "$(now)"
}
# Checks the stopped run's messages, resumes it, and compares it with the uninterrupted run.
resume_and_compare() {
  local name=$1 signal=$2
  [ "$(grep -c "stopped by $signal after step" "$work/$name.log")" = 1 ] ||
    { cat "$work/$name.log"; fail "$name: not one message about $signal"; }
  grep -q "Resume with: .*tleg teacher .*--resume" "$work/$name.log" ||
    { cat "$work/$name.log"; fail "$name: no resume command"; }
  ! grep -q "MPI_ABORT" "$work/$name.log" || { cat "$work/$name.log"; fail "$name: the stop aborted the job"; }
  mpirun2 "$tleg" teacher "${common[@]}" --run.dir "$work/$name" --resume >"$work/$name.resumed.log" 2>&1 ||
    { cat "$work/$name.resumed.log"; fail "$name: resume"; }
  "$python" - "$work/straight" "$work/$name" <<'PY' || fail "$name: the resumed run differs from the uninterrupted one"
import json, sys, h5py, numpy as np
a, b = (h5py.File(f"{d}/model.h5") for d in sys.argv[1:])
worst = max(float(np.abs(a["tensors"][n][()] - b["tensors"][n][()]).max()) for n in a["tensors"])
ra, rb = (json.load(open(f"{d}/run.json")) for d in sys.argv[1:])
print(f"max |uninterrupted - resumed| = {worst}; top-1 {ra['top1']} / {rb['top1']}, "
      f"best {ra['best_top1']} (epoch {ra['best_epoch']}) / {rb['best_top1']} (epoch {rb['best_epoch']})")
sys.exit(0 if worst == 0.0 and all(ra[k] == rb[k] for k in ("top1", "best_top1", "best_epoch")) else 1)
PY
}

# SIGTERM mid-epoch, two seconds after the first step: no log line or checkpoint is due before
# the epoch's end, 60 steps later.
mpirun2 "$tleg" teacher "${common[@]}" --run.dir "$work/term" >"$work/term.log" 2>&1 &
launcher=$!
wait_for_line term "teacher: ViT" || { cat "$work/term.log"; fail "the run did not start"; }
sleep 2
read -r to_checkpoint to_end < <(stop_run TERM term)
stopped_at=$(grep -o "stopped by SIGTERM after step [0-9]*" "$work/term.log" | grep -o "[0-9]*$")
echo "SIGTERM mid-epoch: stopped after step $stopped_at of 120; checkpoint ${to_checkpoint} s and" \
     "exit ${to_end} s after the signal (an uninterrupted step takes ${step_seconds} s)"
[ -n "$stopped_at" ] && [ "$stopped_at" -lt 60 ] ||
  { cat "$work/term.log"; fail "the run did not stop mid-epoch"; }
"$python" -c "import sys; sys.exit(float(sys.argv[1]) > 5 + 3 * float(sys.argv[2]))" "$to_checkpoint" "$step_seconds" ||
  fail "the checkpoint came ${to_checkpoint} s after SIGTERM (steps take ${step_seconds} s)"
resume_and_compare term SIGTERM

# SIGTERM during the evaluation at the end of epoch 1 (its progress line is written before it).
mpirun2 "$tleg" teacher "${common[@]}" --run.dir "$work/eval" >"$work/eval.log" 2>&1 &
launcher=$!
wait_for_line eval "step 60/120" || { cat "$work/eval.log"; fail "the run did not reach its first evaluation"; }
read -r to_checkpoint to_end < <(stop_run TERM eval)
echo "SIGTERM during the evaluation: checkpoint ${to_checkpoint} s and exit ${to_end} s after the signal"
grep -q "epoch 1/2: top-1" "$work/eval.log" &&
  { cat "$work/eval.log"; fail "the evaluation ended before the stop (make it longer)"; }
grep -q "stopped by SIGTERM after step 60 " "$work/eval.log" ||
  { cat "$work/eval.log"; fail "the stop during the evaluation did not checkpoint step 60"; }
resume_and_compare eval SIGTERM
grep -q "epoch 1/2: top-1" "$work/eval.resumed.log" ||
  { cat "$work/eval.resumed.log"; fail "the resumed run did not redo the interrupted evaluation"; }

# Ctrl-C of a one-process run: SIGINT stops it with a checkpoint, exit code 130.
"$tleg" teacher "${common[@]}" --run.dir "$work/interrupt" >"$work/interrupt.log" 2>&1 &
launcher=$!
wait_for_line interrupt "teacher: ViT" || { cat "$work/interrupt.log"; fail "the run did not start"; }
sleep 2
kill -INT $launcher
wait $launcher
rc=$?
[ $rc = 130 ] || { cat "$work/interrupt.log"; fail "Ctrl-C ended the run with $rc, not 130"; }
grep -q "stopped by SIGINT after step" "$work/interrupt.log" ||
  { cat "$work/interrupt.log"; fail "Ctrl-C: no message"; }
ls "$work/interrupt/checkpoints" | grep -q "checkpoint-" || fail "Ctrl-C: no checkpoint"
echo "stop test passed"
