# Sourced by slurm/stage.sbatch after the settings file that submit.sh wrote: launches tleg over
# the ranks of the job and requeues the job when its time limit is near (it resumes from
# checkpoints). The caller has `set -euo pipefail`.
# shellcheck shell=bash
: "${OUT:?the settings file of submit.sh must be sourced first}"

log() { echo "[$(date +%T)] ${SLURM_JOB_NAME:-tleg}: $*" >&2; }

# tleg names this command when a job of the experiment is cancelled or times out: resubmitting
# resumes every stage where it stopped (finished work is skipped).
export TLEG_RESUME_COMMAND=${RESUME_COMMAND:-}

# How mpirun binds ranks to cores. Open MPI binds each node's ranks to that node's first cores,
# which is right only when the job is confined to its own CPUs (cgroups): on a shared node
# without them, or on virtual nodes of one host, the ranks of several nodes or jobs all land on
# core 0 (half speed, without a word). So: bind to cores (CPUS_PER_TASK each) inside a cpuset
# narrower than the node, leave ranks unbound otherwise; a --bind-to in MPIRUN_ARGS wins.
mpirun_binding() {
  if [[ " $MPIRUN_ARGS " == *" --bind-to"* ]]; then return; fi
  if [ "$(nproc)" -lt "$(getconf _NPROCESSORS_ONLN)" ]; then
    echo --map-by "slot:PE=${SLURM_CPUS_PER_TASK:-1}" --bind-to core
  else
    echo --bind-to none
  fi
}

# Runs tleg over every rank of this job (or array task). srun --mpi=pmix starts the ranks
# directly; Debian's and most sites' Open MPI has PMIx but no PMI-2, hence pmix, not pmi2.
# mpirun reads the allocation from Slurm itself. CPUs per task are passed on because srun does
# not inherit them from sbatch in Slurm 22.05-23.02. tleg logs where each rank runs (its
# placement lines) and run.json keeps it.
launch() {
  case "$LAUNCHER" in
    srun) run_step srun --mpi=pmix --kill-on-bad-exit=1 --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" \
            "$TLEG" "$@" ;;
    # Quiet: a failure is tleg's one line per rank, without mpirun's banner about it.
    mpirun) local binding
            binding=$(mpirun_binding)
            log "mpirun ${binding:-(binding from MPIRUN_ARGS)} $MPIRUN_ARGS"
            # shellcheck disable=SC2086  # MPIRUN_ARGS and the binding are lists of words by design
            OMPI_MCA_orte_execute_quiet=${OMPI_MCA_orte_execute_quiet:-1} \
              run_step mpirun $binding $MPIRUN_ARGS "$TLEG" "$@" ;;
    *) log "unknown LAUNCHER '$LAUNCHER' (srun or mpirun)"; return 2 ;;
  esac
}

# Runs a command in the background and waits for it, so that bash can run the USR1 trap while
# the step is running (a trap waits for a foreground command to finish).
run_step() {
  local pid rc
  "$@" &
  pid=$!
  while :; do
    if wait "$pid"; then return 0; else rc=$?; fi
    # wait returns early (>128) when a trap ran; the step itself may still be going
    kill -0 "$pid" 2>/dev/null || return "$rc"
  done
}

# Slurm sends USR1 to the batch shell SIGNAL_SECONDS before the time limit (submit.sh passes
# --signal=B:USR1@SIGNAL_SECONDS). A job that simply hit its limit would end TIMEOUT, which
# --requeue does not cover, and its dependants would be cancelled. So the job requeues itself:
# Slurm stops the step (checkpoints are written to a temporary file and renamed, so a kill
# never leaves a torn one), puts the job back in the queue with the same script and arguments,
# and the next start resumes from the newest checkpoint. Dependants keep waiting meanwhile.
requeue_on_time_limit() {
  trap on_time_limit USR1
}
on_time_limit() {
  local restarts=${SLURM_RESTART_COUNT:-0}
  if [ "$restarts" -ge "$MAX_REQUEUES" ]; then
    log "time limit near and already requeued $restarts times (MAX_REQUEUES): letting it end"
    return
  fi
  log "time limit near: requeueing job $SLURM_JOB_ID (restart $((restarts + 1)) of at most $MAX_REQUEUES); it resumes from the newest checkpoint"
  scontrol requeue "$SLURM_JOB_ID"
}
