#!/usr/bin/env bash
# The smoke profile's plan through slurm/submit.sh on a real one-node Slurm on loopback: prepare
# -> teacher -> the teacher's logits -> distill from them -> one job array per method (one depth
# per task; Pre-Fin's task d after scratch-long's task d) -> linearity -> report, chained by
# dependencies, ranks started by srun --mpi=pmix. Checks that both executors' dry runs print the
# same plan, that each stage waits only for what it needs, that every job completed and the
# report holds every method at every depth and every verdict, and that a requeue near the time
# limit says it resumes by itself; then that a failing stage (logits of a file that is no
# teacher) cancels its dependants while the report says which stages left nothing; then that a
# cancelled distill names the command that resumes it, and that this command does.
# usage: slurm_pipeline_test.sh TLEG SOURCE_DIR      (root: it starts slurmctld and slurmd)
set -euo pipefail
tleg=$1 source=$2
fail() { echo "FAIL: $*"; exit 1; }
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root to run slurmd"; exit 77; fi

work=$(mktemp -d /tmp/tleg-slurm-test.XXXXXX)
cluster=$work/cluster
cleanup() {
  "$source/tests/slurm/local_cluster.sh" stop "$cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT
started=$(date +%s)

"$source/tests/slurm/local_cluster.sh" start "$cluster"
# shellcheck source=/dev/null
source "$cluster/etc/env.sh"
# Open MPI for this one machine only (sbatch passes the environment into the jobs): shared memory
# and loopback, no warnings about absent fabrics, root allowed. A real cluster keeps its own.
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# wait_queue_empty SECONDS : polls the queue until no job of this cluster is left (bounded).
wait_queue_empty() {
  local deadline=$(($(date +%s) + $1))
  while [ -n "$(squeue -h -o %i)" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      squeue -o '%.12i %.20j %.10T %R'
      fail "jobs still queued after $1 s"
    fi
    sleep 2
  done
}
# job_field JOBID FIELD : a field of `scontrol show job` (the first record: an array's record
# when the array was never split into tasks)
job_field() { scontrol show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
show_logs() { tail -n 30 "$1"/slurm/logs/*.out 2>/dev/null || true; }

# ---------------------------------------------------------------- 1. the pipeline
cd "$source"
# Both executors print the same plan in their dry runs, and submit nothing / run nothing.
"$source/slurm/submit.sh" --dry-run --tleg "$tleg" --out "$work/pipeline" smoke >"$work/dry-run.txt"
"$source/experiments/run.sh" --dry-run --tleg "$tleg" --out "$work/pipeline" smoke >"$work/dry-run-local.txt"
[ -z "$(squeue -h -o %i)" ] || fail "--dry-run submitted jobs"
[ ! -e "$work/pipeline" ] || fail "a dry run made the experiment folder"
plan_of() { sed -n '/^plan of /,/^$/p' "$1"; }
[ -n "$(plan_of "$work/dry-run.txt")" ] || { cat "$work/dry-run.txt"; fail "submit.sh --dry-run printed no plan"; }
diff <(plan_of "$work/dry-run.txt") <(plan_of "$work/dry-run-local.txt") ||
  fail "the two executors' dry runs print different plans"
mapfile -t stages < <(plan_of "$work/dry-run.txt" | sed -n 's/^\([a-z0-9-]*\): tleg .*/\1/p')
[ "${stages[*]}" = "prepare teacher logits distill sweep-tleg sweep-scratch sweep-scratch-long sweep-prefin sweep-mimetic linearity report" ] ||
  fail "the smoke plan's stages: ${stages[*]}"
[ "$(sed -n 's/^sbatch .*--job-name=tleg-\([a-z0-9-]*\) .*/\1/p' "$work/dry-run.txt" | paste -sd ' ')" = "${stages[*]}" ] ||
  fail "submit.sh --dry-run's sbatch commands are not the plan's stages in its order"
grep -q -- "--kill-on-invalid-dep=yes" "$work/dry-run.txt" || fail "dry run: no --kill-on-invalid-dep"
checks=5

# checkpoints every 10 steps, so that the teacher can be requeued with one to resume from
"$source/slurm/submit.sh" --tleg "$tleg" --partition debug --sweep-mode array --checkpoint-every 10 \
  --out "$work/pipeline" smoke | tee "$work/submit.txt"
jobs=$work/pipeline/slurm/jobs.tsv
[ -s "$jobs" ] || fail "submit.sh wrote no jobs.tsv"
id_of() { awk -v s="$1" '$1 == s {print $2}' "$jobs"; }
dependency_of() { awk -v s="$1" '$1 == s {print $3}' "$jobs"; }
[ "$(cut -f1 "$jobs" | paste -sd ' ')" = "${stages[*]}" ] || { cat "$jobs"; fail "jobs.tsv is not one job per stage of the plan"; }
# The graph as submitted: each stage waits for what it needs only; the baselines need no
# learngene, so they do not wait for stage 1; Pre-Fin's depth d waits for scratch-long's depth d.
for edge in "logits afterok:$(id_of teacher)" "distill afterok:$(id_of logits)" \
  "sweep-tleg afterok:$(id_of distill)" "sweep-scratch afterok:$(id_of prepare)" \
  "sweep-scratch-long afterok:$(id_of prepare)" "sweep-prefin aftercorr:$(id_of sweep-scratch-long)" \
  "sweep-mimetic afterok:$(id_of prepare)" \
  "linearity afterok:$(id_of sweep-scratch-long):$(id_of sweep-prefin):$(id_of sweep-tleg)" \
  "report afterany:$(id_of sweep-tleg):$(id_of sweep-scratch):$(id_of sweep-scratch-long):$(id_of sweep-prefin):$(id_of sweep-mimetic):$(id_of linearity)"; do
  read -r stage dependency <<<"$edge"
  [ "$(dependency_of "$stage")" = "$dependency" ] || fail "$stage waits for $(dependency_of "$stage"), not $dependency"
  checks=$((checks + 1))
done
# as Slurm holds it (read right after submission: distill waits for the teacher's logits)
[[ "$(job_field "$(id_of distill)" Dependency)" == "afterok:$(id_of logits)"* ]] ||
  fail "Slurm does not hold distill after logits: $(job_field "$(id_of distill)" Dependency)"
[ "$(job_field "$(id_of sweep-tleg)" ArrayTaskId)" = "3,12" ] ||
  fail "sweep-tleg is not an array over depths 3,12: $(job_field "$(id_of sweep-tleg)" ArrayTaskId)"
echo "graph: $(squeue -h -o '%i %j %T %E' | tr '\n' ';')"
checks=$((checks + 3))

# Requeue: USR1 is what Slurm sends near the time limit (--signal=B:USR1@...); the job must
# requeue itself and its next start resume from the teacher's checkpoint. (Slurm holds a
# requeued job for about two minutes before it starts again.)
checkpoints=$work/pipeline/seed-0/teacher/checkpoints
deadline=$(($(date +%s) + 600))
until compgen -G "$checkpoints/checkpoint-*" >/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || { show_logs "$work/pipeline"; fail "the teacher wrote no checkpoint"; }
  sleep 0.5
done
scancel --signal=USR1 --batch "$(id_of teacher)"

wait_queue_empty 900
[ "$(job_field "$(id_of teacher)" Restarts)" = 1 ] || fail "the teacher was not requeued once"
grep -Eq '"resumed_from": *"?[1-9]' "$work/pipeline/seed-0/teacher/run.json" ||
  { cat "$work/pipeline/seed-0/teacher/run.json"; fail "the requeued teacher did not resume from its checkpoint"; }
# the stop reads as a requeue: one line saying it resumes by itself, no error, no MPI_ABORT
teacher_log=$(ls "$work"/pipeline/slurm/logs/tleg-teacher-*.out)
grep -q "stopped by SIGTERM after step .*Slurm requeued job $(id_of teacher): it resumes from this checkpoint when it starts again; nothing to do" \
  "$teacher_log" || { cat "$teacher_log"; fail "the requeued teacher did not say it was requeued"; }
echo "requeued teacher says: $(grep "^tleg teacher: stopped by" "$teacher_log")"
# (Slurm's own lines about the requeue stay: "slurmstepd: error: *** JOB ... DUE TO JOB REQUEUE")
! grep -Eq "MPI_ABORT|tleg teacher: error|rank [0-9]+: error" "$teacher_log" ||
  { cat "$teacher_log"; fail "the requeue reads as an error"; }
checks=$((checks + 4))
# every job and array task completed (jobcomp lists each one when it ends)
for stage in prepare teacher logits distill linearity report; do
  state=$(job_field "$(id_of "$stage")" JobState)
  [ "$state" = COMPLETED ] || { show_logs "$work/pipeline"; fail "$stage ended $state"; }
done
for method in tleg scratch scratch-long prefin mimetic; do
  n=$(grep -c " Name=tleg-sweep-$method JobState=COMPLETED " "$cluster/log/jobcomp.txt" || true)
  [ "$n" = 2 ] || { show_logs "$work/pipeline"; fail "sweep-$method: $n of 2 array tasks completed"; }
done
checks=$((checks + 11))

# the run folders of the plan, and the report with every method at every depth and every verdict
runs=$work/pipeline/seed-0/sweep
report=$work/pipeline/report
for depth in 3 12; do
  for method in tleg scratch scratch-long prefin mimetic; do
    [ -f "$runs/$method/depth-$depth/run.json" ] || fail "no $runs/$method/depth-$depth/run.json"
    grep -Eq "^$method,$depth," "$report/runs.csv" ||
      { cat "$report/runs.csv"; fail "report: no $method at depth $depth"; }
    checks=$((checks + 2))
  done
done
grep -q '"pretrained_method": "scratch-long"' "$runs/prefin/depth-12/run.json" ||
  fail "Pre-Fin was not fine-tuned from scratch-long's model"
[ "$(grep -Ec "(holds here|does not hold here)$" "$report/verdicts.md")" = 8 ] ||
  { cat "$report/verdicts.md"; fail "not every verdict of the report is decided"; }
[ -s "$report/linearity/linearity.md" ] || fail "no linearity report"
# stage 1 from the stored logits, both written and read over 2 ranks (srun --mpi=pmix)
grep -q '"teacher_mode": "stored-logits"' "$work/pipeline/seed-0/aux/run.json" || fail "distill did not read stored logits"
grep -q '"ranks": *2' "$work/pipeline/seed-0/logits/run.json" || fail "logits did not run on 2 ranks"
grep -q '"ranks": *2' "$work/pipeline/seed-0/aux/run.json" || fail "distill did not run on 2 ranks"
checks=$((checks + 6))
echo "pipeline through Slurm: $(($(date +%s) - started)) s"

# ---------------------------------------------------------------- 2. a failing stage
# A store whose first training image has a flipped byte: submit.sh's checks open it (its index is
# sound) and pass, and the logits job fails on the image's checksum when it reads it;
# --kill-on-invalid-dep=yes must cancel distill and the TLEG sweep (this cluster does not set
# kill_invalid_depend); the report (afterany) runs and says which stages left nothing.
python3 - "$work/pipeline/data/fashion-mnist.h5" "$work/damaged.h5" <<'PYTHON'
import gzip, sys
first = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()[16:16 + 784]
data = bytearray(open(sys.argv[1], "rb").read())
at = data.find(first)
assert at >= 0 and data.find(first, at + 1) < 0, "the first image is not found once in the store"
data[at + 400] ^= 0xFF
open(sys.argv[2], "wb").write(data)
PYTHON
"$source/slurm/submit.sh" --tleg "$tleg" --out "$work/failing" --methods tleg \
  --data-store "$work/damaged.h5" --teacher "$work/pipeline/seed-0/teacher/model.h5" smoke |
  tee "$work/submit-failing.txt"
jobs=$work/failing/slurm/jobs.tsv
[ -z "$(id_of teacher)" ] || fail "a teacher stage although TEACHER is given"
wait_queue_empty 300
state=$(job_field "$(id_of logits)" JobState)
[ "$state" = FAILED ] || fail "logits of a damaged store ended $state, not FAILED"
grep -q "image 0 does not match its checksum" "$work"/failing/slurm/logs/tleg-logits-*.out ||
  { show_logs "$work/failing"; fail "the logits job does not name the damaged image"; }
for stage in distill sweep-tleg; do
  id=$(id_of "$stage")
  state=$(job_field "$id" JobState) reason=$(job_field "$id" Reason)
  [ "$state/$reason" = CANCELLED/DependencyNeverSatisfied ] ||
    fail "$stage after a failed logits stage: $state ($reason), not CANCELLED (DependencyNeverSatisfied)"
  checks=$((checks + 1))
done
state=$(job_field "$(id_of report)" JobState)
[ "$state" = COMPLETED ] || fail "the report after a failed logits stage ended $state, not COMPLETED"
report_log=$(ls "$work"/failing/slurm/logs/tleg-report-*.out)
for said in "no finished run: logits ($work/failing/seed-0/logits)" \
  "no finished run: distill ($work/failing/seed-0/aux)" \
  "no finished run: sweep-tleg at depth 3 12 ($work/failing/seed-0/sweep/tleg)" "nothing to report"; do
  grep -qF "$said" "$report_log" || { cat "$report_log"; fail "the report does not say: $said"; }
done
echo "report after the failed logits stage says:"; grep -E "no finished run|nothing to report" "$report_log"
checks=$((checks + 6))

# ---------------------------------------------------------------- 3. a cancelled stage
# scancel of a running distill: it stops at a step with a checkpoint and names the command that
# resumes the experiment; running that command resumes distill from its checkpoint.
"$source/slurm/submit.sh" --tleg "$tleg" --checkpoint-every 10 --out "$work/cancelled" --methods tleg \
  --distill-steps 400 --data-store "$work/pipeline/data/fashion-mnist.h5" \
  --teacher "$work/pipeline/seed-0/teacher/model.h5" smoke | tee "$work/submit-cancelled.txt"
jobs=$work/cancelled/slurm/jobs.tsv
deadline=$(($(date +%s) + 300))
until compgen -G "$work/cancelled/seed-0/aux/checkpoints/checkpoint-*" >/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || { show_logs "$work/cancelled"; fail "distill wrote no checkpoint"; }
  sleep 0.5
done
scancel "$(id_of distill)"
wait_queue_empty 300
distill_log=$(ls "$work"/cancelled/slurm/logs/tleg-distill-*.out)
resume=$(sed -n "s/.*Job $(id_of distill) was cancelled or reached its time limit; resume with: //p" "$distill_log")
[ -n "$resume" ] || { cat "$distill_log"; fail "the cancelled distill did not say how to resume"; }
echo "cancelled distill says: $(grep "^tleg distill: stopped by" "$distill_log")"
[[ "$resume" == *"submit.sh"*"--checkpoint-every 10"*"smoke" ]] ||
  fail "the resume command is not the submission's: $resume"
! grep -q "MPI_ABORT" "$distill_log" || { cat "$distill_log"; fail "the cancel reads as a crash"; }
grep -qF "no finished run: distill" "$work"/cancelled/slurm/logs/tleg-report-*.out ||
  fail "the report after a cancelled distill does not say distill left nothing"
(eval "$resume") | tee "$work/resubmit.txt"
deadline=$(($(date +%s) + 300))
until grep -qs "resuming at step [1-9]" "$work"/cancelled/slurm/logs/tleg-distill-*.out; do
  [ "$(date +%s)" -lt "$deadline" ] || { show_logs "$work/cancelled"; fail "the resubmitted distill did not resume"; }
  sleep 1
done
scancel --user=root
wait_queue_empty 120
checks=$((checks + 6))

echo "$checks passed, 0 failed ($(($(date +%s) - started)) s)"
