#!/usr/bin/env bash
# Nothing lost: a 2-rank training killed (SIGKILL) mid-epoch and resumed ends with parameters
# identical to an uninterrupted run; a loss that becomes NaN stops every rank with a message
# naming the step and keeps the last good checkpoint. A run folder is never reused silently: a
# finished run is refused without --resume and left alone with it, a folder with checkpoints is
# refused without --resume, and --resume without checkpoints says it starts at step 0.
# usage: resume_test.sh TLEG MPIEXEC PYTHON
set -u
tleg=$1 mpiexec=$2 python=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun2() { "$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
common=(--data.store "$work/fm.h5" --data.val-split "" --data.mean 0.2860 --data.std 0.3530
        --data.threads 1 --model.dim 64 --model.heads 2 --model.depth 3 --model.patch 7
        --model.image 28 --model.drop-path 0.1 --optim.epochs 2 --optim.steps-per-epoch 150
        --optim.batch 64 --run.log-interval 50 --run.seed 5)
schedule=(--optim.lr 1e-3 --optim.warmup-epochs 1 --run.checkpoint-every 3)

# --resume in a folder without checkpoints starts at step 0 and says so (the executors always
# pass --resume).
mpirun2 "$tleg" teacher "${common[@]}" "${schedule[@]}" --run.dir "$work/straight" --resume >"$work/straight.log" 2>&1 ||
  { cat "$work/straight.log"; fail "uninterrupted run"; }
grep -q -- "--resume: no checkpoint in $work/straight/checkpoints yet; starting at step 0" "$work/straight.log" ||
  { cat "$work/straight.log"; fail "a --resume without checkpoints does not say it starts at step 0"; }
# A finished run is never trained again: without --resume the folder is refused, with --resume
# nothing is done and run.json stays as it was.
before=$(md5sum <"$work/straight/run.json")
mpirun2 "$tleg" teacher "${common[@]}" "${schedule[@]}" --run.dir "$work/straight" >"$work/again.log" 2>&1 &&
  fail "a finished run folder was trained again"
grep -q "$work/straight holds a finished run (run.json): give another --run.dir" "$work/again.log" ||
  { cat "$work/again.log"; fail "the refusal of a finished run folder does not say why"; }
mpirun2 "$tleg" teacher "${common[@]}" "${schedule[@]}" --run.dir "$work/straight" --resume >"$work/again.log" 2>&1 ||
  { cat "$work/again.log"; fail "--resume of a finished run"; }
grep -q "$work/straight: finished already (run.json); nothing to do" "$work/again.log" ||
  { cat "$work/again.log"; fail "--resume of a finished run does not say it is finished"; }
[ "$(md5sum <"$work/straight/run.json")" = "$before" ] || fail "--resume of a finished run changed its run.json"

# Start the same run and kill it once the checkpoint of step 6 (mid-epoch 1) exists.
mpirun2 "$tleg" teacher "${common[@]}" "${schedule[@]}" --run.dir "$work/killed" \
  >"$work/killed.log" 2>&1 &
launcher=$!
for _ in $(seq 3000); do
  [ -f "$work/killed/checkpoints/checkpoint-0000000006.pt" ] && break
  kill -0 $launcher 2>/dev/null || break
  sleep 0.02
done
kill -9 $launcher 2>/dev/null
pkill -9 -f "$work/killed" 2>/dev/null
wait $launcher 2>/dev/null
[ -f "$work/killed/run.json" ] && fail "the run finished before it could be killed; make it longer"
ls "$work/killed/checkpoints" 2>/dev/null | grep -q checkpoint- ||
  { cat "$work/killed.log"; fail "no checkpoint before the kill"; }

# Without --resume, a folder with checkpoints of an unfinished run is refused, not overwritten.
mpirun2 "$tleg" teacher "${common[@]}" "${schedule[@]}" --run.dir "$work/killed" >"$work/over.log" 2>&1 &&
  fail "a folder with checkpoints was trained over without --resume"
grep -q "$work/killed holds checkpoints of an unfinished run: continue it with --resume" "$work/over.log" ||
  { cat "$work/over.log"; fail "the refusal of a folder with checkpoints does not say why"; }
# A resume under other settings is refused, naming each key with its old and new value: here a
# view option and the precision (auto's choice on this processor, and the other one).
if grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo; then made=bf16 other=fp32; else made=fp32 other=bf16; fi
mpirun2 "$tleg" teacher "${common[@]}" "${schedule[@]}" --run.dir "$work/killed" --resume \
  --run.precision $other --aug.scale-min 0.9 >"$work/precision.log" 2>&1 &&
  fail "a resume under other settings must be refused"
for said in "precision=$made (now $other)" "aug.scale-min=0.08 (now 0.9)"; do
  grep -qF "$said" "$work/precision.log" || { cat "$work/precision.log"; fail "the refusal does not say $said"; }
done

# Options that cannot change the result may differ on resume: here the log interval, the
# checkpoints kept and the loader's threads.
neutral=()
for ((i = 0; i < ${#common[@]}; i++)); do
  case "${common[i]}" in
    --run.log-interval) neutral+=(--run.log-interval 7); i=$((i + 1)) ;;
    --data.threads) neutral+=(--data.threads 2); i=$((i + 1)) ;;
    *) neutral+=("${common[i]}") ;;
  esac
done
mpirun2 "$tleg" teacher "${neutral[@]}" "${schedule[@]}" --run.keep 5 --run.dir "$work/killed" --resume \
  >"$work/resumed.log" 2>&1 ||
  { cat "$work/resumed.log"; fail "resumed run"; }
grep -q "resuming at step" "$work/resumed.log" || { cat "$work/resumed.log"; fail "did not resume"; }

"$python" - "$work/straight/model.h5" "$work/killed/model.h5" <<'PY' || fail "parameters differ"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
names = sorted(a["tensors"].keys())
assert names == sorted(b["tensors"].keys())
worst = max(float(np.abs(a["tensors"][n][()] - b["tensors"][n][()]).max()) for n in names)
print(f"{len(names)} tensors, max |uninterrupted - resumed| = {worst}")
sys.exit(0 if worst == 0.0 else 1)
PY

# SIGTERM (what Slurm sends at a time limit or a requeue): every rank stops at the same step
# after writing a checkpoint of that step, says so, and the resumed run is again identical.
mpirun2 "$tleg" teacher "${common[@]}" "${schedule[@]}" --run.dir "$work/term" >"$work/term.log" 2>&1 &
launcher=$!
for _ in $(seq 3000); do
  [ -f "$work/term/checkpoints/checkpoint-0000000006.pt" ] && break
  sleep 0.02
done
pkill -TERM -f -- "--run.dir $work/term"
wait $launcher && fail "a run stopped by SIGTERM must not end successfully"
# one message, from rank 0, with the command that resumes; no rank ends the job by force
[ "$(grep -c "stopped by SIGTERM after step" "$work/term.log")" = 1 ] ||
  { cat "$work/term.log"; fail "not one message about the signal"; }
grep -q "Resume with: .*tleg teacher .*--resume" "$work/term.log" ||
  { cat "$work/term.log"; fail "no resume command"; }
! grep -q "MPI_ABORT" "$work/term.log" || { cat "$work/term.log"; fail "a stop by a signal aborted the job"; }
mpirun2 "$tleg" teacher "${common[@]}" "${schedule[@]}" --run.dir "$work/term" --resume >"$work/term2.log" 2>&1 ||
  { cat "$work/term2.log"; fail "resume after SIGTERM"; }
"$python" - "$work/straight/model.h5" "$work/term/model.h5" <<'PY' || fail "parameters differ after SIGTERM"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
worst = max(float(np.abs(a["tensors"][n][()] - b["tensors"][n][()]).max()) for n in a["tensors"])
print(f"after SIGTERM and resume: max |uninterrupted - resumed| = {worst}")
sys.exit(0 if worst == 0.0 else 1)
PY

# NaN: an absurd learning rate; every rank must stop, naming the step; checkpoints stay.
mpirun2 "$tleg" teacher "${common[@]}" --optim.lr 1e30 --optim.warmup-epochs 0 --run.checkpoint-every 1 \
  --run.dir "$work/nan" >"$work/nan.log" 2>&1 && fail "a NaN loss must fail the run"
grep -Eq "loss became (nan|inf|-nan).* at step [0-9]+" "$work/nan.log" || { cat "$work/nan.log"; fail "no NaN message"; }
ls "$work/nan/checkpoints" | grep -q checkpoint- || fail "the last good checkpoint is gone"
[ -f "$work/nan/run.json" ] && fail "a failed run must not write run.json"
echo "8 passed, 0 failed"
