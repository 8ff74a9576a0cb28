# Shared by the sbatch scripts of slurm/: launches tleg over the ranks of the job and requeues
# the job when its time limit is near (it resumes from checkpoints). Sourced by each script
# after the settings file that submit.sh wrote; the caller has `set -euo pipefail`.
# shellcheck shell=bash
: "${OUT:?the settings file of submit.sh must be sourced first}"

log() { echo "[$(date +%T)] ${SLURM_JOB_NAME:-tleg}: $*" >&2; }

# Training stages: the shared configs, the store, the seed and (when set) the checkpoint interval.
# Every stage passes --resume: on a first start there is no checkpoint and it starts from step 0;
# after a requeue it continues from the newest valid checkpoint.
common_args=(--data.store "$DATA_STORE" --run.seed "$SEED" --resume)
for config in $CONFIGS; do common_args+=(--config "$config"); done
[ -z "$CHECKPOINT_EVERY" ] || common_args+=(--run.checkpoint-every "$CHECKPOINT_EVERY")

# Extra options per stage, as written in the experiment config (lists of words).
# shellcheck disable=SC2034  # used by teacher.sbatch and distill.sbatch
read -ra teacher_extra <<<"$TEACHER_ARGS"
# shellcheck disable=SC2034
read -ra distill_extra <<<"$DISTILL_ARGS"
read -ra finetune_extra <<<"$FINETUNE_ARGS"

# add_configs ARRAY "FILE..." : appends --config FILE for each file of the list.
add_configs() { local -n into=$1; local f; for f in $2; do into+=(--config "$f"); done; }

# add_budget ARRAY EPOCHS STEPS : a stage's epochs and cap on steps per epoch; empty keeps the
# INI files' values (tleg refuses an option given twice, so each is given once, here).
add_budget() {
  # shellcheck disable=SC2178  # a name reference to the caller's array
  local -n into=$1
  [ -z "$2" ] || into+=(--optim.epochs "$2")
  [ -z "$3" ] || into+=(--optim.steps-per-epoch "$3")
}

# Runs tleg over every rank of this job (or array task). srun --mpi=pmix starts the ranks
# directly; Debian's and most sites' Open MPI has PMIx but no PMI-2, hence pmix, not pmi2.
# mpirun reads the allocation from Slurm itself. CPUs per task are passed on because srun does
# not inherit them from sbatch in Slurm 22.05-23.02.
launch() {
  case "$LAUNCHER" in
    srun) run_step srun --mpi=pmix --kill-on-bad-exit=1 --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" \
            "$TLEG" "$@" ;;
    mpirun) # shellcheck disable=SC2086  # MPIRUN_ARGS is a list of words by design
            run_step mpirun $MPIRUN_ARGS "$TLEG" "$@" ;;
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

# Whether a run folder holds a finished run (tleg writes run.json last).
finished() { [ -f "$1/run.json" ]; }

# add_stage2 ARRAY METHOD : the descendants' configs and extra options, and the learngene for
# every method (baselines train the learngene's architecture, as in `tleg sweep`), the
# pre-trained model for subset.
add_stage2() {
  # shellcheck disable=SC2178  # a name reference to the caller's array
  local -n into=$1
  add_configs "$1" "$DES_CONFIGS"
  into+=("${finetune_extra[@]}" --learngene "$OUT/aux/learngene.h5")
  if [ "$2" = subset ]; then into+=(--pretrained "$PRETRAINED"); fi
}

# `tleg sweep` of one method over every rank of the allocation (or of an array task): it splits
# the ranks into groups by each depth's cost, keeps the run folders (OUT/sweep/<method>/depth-<d>,
# prefin's pre-training in OUT/sweep/prefin-pretrain/depth-<d>) and skips depths whose run.json
# exists. DEPTHS (default: the experiment's) is a range or list; a job-array task passes its one.
sweep_method() {
  local method=$1 depths=${2:-$DEPTHS} args=()
  add_stage2 args "$method"
  add_budget args "$FINETUNE_EPOCHS" "$FINETUNE_STEPS"
  if [ "$method" = prefin ] && [ -n "$PRETRAIN_EPOCHS" ]; then args+=(--pretrain-epochs "$PRETRAIN_EPOCHS"); fi
  log "sweep --init $method over depths $depths on ${SLURM_NTASKS:-?} rank(s)"
  launch sweep "${common_args[@]}" "${args[@]}" --init "$method" --depths "$depths" --run.dir "$OUT/sweep"
}
