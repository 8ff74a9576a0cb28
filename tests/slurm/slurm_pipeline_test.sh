#!/usr/bin/env bash
# The Fashion-MNIST pipeline (smoke budgets) through slurm/submit.sh on a real one-node Slurm on
# loopback: prepare -> teacher -> distill -> one job array per method (one depth per task) ->
# report, chained by dependencies, ranks started by srun --mpi=pmix. Checks that every job
# completed and the report holds every method at every depth in the layout of `tleg sweep`, and
# that a requeue near the time limit says it resumes by itself; then that a failing stage
# (distill pointed at a file that is no teacher) cancels its dependants while the report says
# which stages left nothing; then that a cancelled distill names the command that resumes it,
# and that this command does.
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
experiment=$work/experiment.env
sed "s|^OUT=.*|OUT=$work/pipeline|" "$source/slurm/examples/fashion-mnist-smoke.env" >"$experiment"
cd "$source"  # the example's config paths are relative to the repository root

# --dry-run submits nothing
"$source/slurm/submit.sh" --dry-run --tleg "$tleg" "$experiment" >"$work/dry-run.txt"
[ -z "$(squeue -h -o %i)" ] || fail "--dry-run submitted jobs"
grep -q -- "--kill-on-invalid-dep=yes" "$work/dry-run.txt" || fail "dry run: no --kill-on-invalid-dep"
checks=2

# checkpoints every 10 steps, so that the teacher can be requeued with one to resume from
"$source/slurm/submit.sh" --tleg "$tleg" --partition debug --sweep-mode array --checkpoint-every 10 \
  "$experiment" | tee "$work/submit.txt"
jobs=$work/pipeline/slurm/jobs.tsv
[ -s "$jobs" ] || fail "submit.sh wrote no jobs.tsv"
id_of() { awk -v s="$1" '$1 == s {print $2}' "$jobs"; }
for stage in prepare teacher distill sweep-tleg sweep-scratch sweep-prefin report; do
  [ -n "$(id_of "$stage")" ] || fail "no $stage job"
done
# the graph as submitted (read right after submission: these jobs wait for the teacher to train)
[[ "$(job_field "$(id_of distill)" Dependency)" == "afterok:$(id_of teacher)"* ]] ||
  fail "distill does not depend on teacher: $(job_field "$(id_of distill)" Dependency)"
[ "$(job_field "$(id_of sweep-tleg)" ArrayTaskId)" = "3,6" ] ||
  fail "sweep-tleg is not an array over depths 3,6: $(job_field "$(id_of sweep-tleg)" ArrayTaskId)"
dependency=$(job_field "$(id_of report)" Dependency)
for stage in sweep-tleg sweep-scratch sweep-prefin; do
  [[ "$dependency" == afterany:*"$(id_of "$stage")"* ]] || fail "report does not wait for $stage: $dependency"
done
echo "graph: $(squeue -h -o '%i %j %T %E' | tr '\n' ';')"
checks=$((checks + 5))

# Requeue: USR1 is what Slurm sends near the time limit (--signal=B:USR1@...); the job must
# requeue itself and its next start resume from the teacher's checkpoint. (Slurm holds a
# requeued job for about two minutes before it starts again.)
checkpoints=$work/pipeline/teacher/checkpoints
deadline=$(($(date +%s) + 600))
until compgen -G "$checkpoints/checkpoint-*" >/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || { show_logs "$work/pipeline"; fail "the teacher wrote no checkpoint"; }
  sleep 0.5
done
scancel --signal=USR1 --batch "$(id_of teacher)"

wait_queue_empty 900
[ "$(job_field "$(id_of teacher)" Restarts)" = 1 ] || fail "the teacher was not requeued once"
grep -Eq '"resumed_from": *"?[1-9]' "$work/pipeline/teacher/run.json" ||
  { cat "$work/pipeline/teacher/run.json"; fail "the requeued teacher did not resume from its checkpoint"; }
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
for stage in prepare teacher distill report; do
  state=$(job_field "$(id_of "$stage")" JobState)
  [ "$state" = COMPLETED ] || { show_logs "$work/pipeline"; fail "$stage ended $state"; }
done
for method in tleg scratch prefin; do
  n=$(grep -c " Name=tleg-sweep-$method JobState=COMPLETED " "$cluster/log/jobcomp.txt" || true)
  [ "$n" = 2 ] || { show_logs "$work/pipeline"; fail "sweep-$method: $n of 2 array tasks completed"; }
done
checks=$((checks + 7))

# the run folders of tleg sweep, and the report with every method at every depth
runs=$work/pipeline/sweep
for depth in 3 6; do
  for method in tleg scratch prefin prefin-pretrain; do
    [ -f "$runs/$method/depth-$depth/run.json" ] || fail "no $runs/$method/depth-$depth/run.json"
    grep -Eq "^$method,$depth," "$work/pipeline/report/runs.csv" ||
      { cat "$work/pipeline/report/runs.csv"; fail "report: no $method at depth $depth"; }
    checks=$((checks + 2))
  done
done
[ -s "$work/pipeline/report/report.md" ] || fail "no report.md"
grep -q "TLEG vs Pre-Fin: parameters stored" "$work/pipeline/report/totals.md" || fail "no Pre-Fin ratio"
# the array tasks ran one rank each, distill both ranks of its allocation (srun --mpi=pmix)
grep -q '"ranks": *2' "$work/pipeline/aux/run.json" || fail "distill did not run on 2 ranks"
checks=$((checks + 3))
echo "pipeline through Slurm: $(($(date +%s) - started)) s"

# ---------------------------------------------------------------- 2. a failing stage
# distill pointed at a teacher file that is no model (submit.sh sees only that it exists): it
# fails, and --kill-on-invalid-dep=yes must cancel the sweeps (this cluster does not set
# kill_invalid_depend); the report (afterany) runs and says which stages left nothing.
sed -e "s|^OUT=.*|OUT=$work/failing|" "$experiment" >"$work/failing.env"
echo "not a model" >"$work/junk-teacher.pt"
{ echo "DATA_STORE=$work/pipeline/data/fashion-mnist.h5"; echo "TEACHER=$work/junk-teacher.pt"; } >>"$work/failing.env"
"$source/slurm/submit.sh" --tleg "$tleg" "$work/failing.env" | tee "$work/submit-failing.txt"
jobs=$work/failing/slurm/jobs.tsv
[ -z "$(id_of teacher)" ] || fail "a teacher stage although TEACHER is given"
wait_queue_empty 300
state=$(job_field "$(id_of distill)" JobState)
[ "$state" = FAILED ] || fail "distill with a missing teacher ended $state, not FAILED"
for method in tleg scratch prefin; do
  id=$(id_of "sweep-$method")
  state=$(job_field "$id" JobState) reason=$(job_field "$id" Reason)
  [ "$state/$reason" = CANCELLED/DependencyNeverSatisfied ] ||
    fail "sweep-$method after a failed distill: $state ($reason), not CANCELLED (DependencyNeverSatisfied)"
  checks=$((checks + 1))
done
state=$(job_field "$(id_of report)" JobState)
[ "$state" = COMPLETED ] || fail "the report after a failed distill ended $state, not COMPLETED"
report_log=$(ls "$work"/failing/slurm/logs/tleg-report-*.out)
for stage in "distill ($work/failing/aux)" "tleg at depth 3 6" "nothing to report"; do
  grep -qF "$stage" "$report_log" || { cat "$report_log"; fail "the report does not say: $stage"; }
done
echo "report after the failed distill says:"; grep -E "no finished run|nothing to report" "$report_log"
checks=$((checks + 6))

# ---------------------------------------------------------------- 3. a cancelled stage
# scancel of a running distill: it stops at a step with a checkpoint and names the command that
# resumes the experiment; running that command resumes distill from its checkpoint.
sed -e "s|^OUT=.*|OUT=$work/cancelled|" -e "s|^DISTILL_STEPS=.*|DISTILL_STEPS=400|" "$experiment" \
  >"$work/cancelled.env"
{ echo "DATA_STORE=$work/pipeline/data/fashion-mnist.h5"; echo "TEACHER=$work/pipeline/teacher/model.h5"; } >>"$work/cancelled.env"
"$source/slurm/submit.sh" --tleg "$tleg" --checkpoint-every 10 "$work/cancelled.env" | tee "$work/submit-cancelled.txt"
jobs=$work/cancelled/slurm/jobs.tsv
deadline=$(($(date +%s) + 300))
until compgen -G "$work/cancelled/aux/checkpoints/checkpoint-*" >/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || { show_logs "$work/cancelled"; fail "distill wrote no checkpoint"; }
  sleep 0.5
done
scancel "$(id_of distill)"
wait_queue_empty 300
distill_log=$(ls "$work"/cancelled/slurm/logs/tleg-distill-*.out)
resume=$(sed -n "s/.*Job $(id_of distill) was cancelled or reached its time limit; resume with: //p" "$distill_log")
[ -n "$resume" ] || { cat "$distill_log"; fail "the cancelled distill did not say how to resume"; }
echo "cancelled distill says: $(grep "^tleg distill: stopped by" "$distill_log")"
[[ "$resume" == *"submit.sh"*"--checkpoint-every 10"*"cancelled.env" ]] ||
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
