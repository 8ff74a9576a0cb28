# Shared by the sbatch scripts of slurm/: launches tleg over the ranks of the job and requeues
# the job when its time limit is near (it resumes from checkpoints). Sourced by each script
# after the settings file that submit.sh wrote; the caller has `set -euo pipefail`.
# shellcheck shell=bash
: "${OUT:?the settings file of submit.sh must be sourced first}"

log() { echo "[$(date +%T)] ${SLURM_JOB_NAME:-tleg}: $*" >&2; }

# tleg names this command when a job of the experiment is cancelled or times out: resubmitting
# resumes every stage where it stopped (finished work is skipped).
export TLEG_RESUME_COMMAND=${RESUME_COMMAND:-}

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

# The tleg options of each training stage, as its job runs them and as submit.sh checks them
# (tleg --check) before it submits anything.
teacher_file() { echo "${TEACHER:-$OUT/teacher/model.h5}"; }
teacher_args() {
  # shellcheck disable=SC2178  # a name reference to the caller's array
  local -n into=$1
  into=("${common_args[@]}")
  add_configs "$1" "$TEACHER_CONFIGS"
  into+=("${teacher_extra[@]}")
  add_budget "$1" "$TEACHER_EPOCHS" "$TEACHER_STEPS"
  into+=(--run.dir "$OUT/teacher")
}
distill_args() {
  # shellcheck disable=SC2178
  local -n into=$1
  into=("${common_args[@]}")
  add_configs "$1" "$AUX_CONFIGS"
  into+=("${distill_extra[@]}")
  add_budget "$1" "$DISTILL_EPOCHS" "$DISTILL_STEPS"
  into+=(--distill.teacher "$(teacher_file)" --run.dir "$OUT/aux")
}

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
    mpirun) local binding
            binding=$(mpirun_binding)
            log "mpirun ${binding:-(binding from MPIRUN_ARGS)} $MPIRUN_ARGS"
            # shellcheck disable=SC2086  # MPIRUN_ARGS and the binding are lists of words by design
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

# The options of `tleg sweep` for one method over DEPTHS (default: the experiment's; a job-array
# task passes its one depth).
sweep_args() {
  # shellcheck disable=SC2178
  local -n into=$1
  into=("${common_args[@]}")
  add_stage2 "$1" "$2"
  add_budget "$1" "$FINETUNE_EPOCHS" "$FINETUNE_STEPS"
  if [ "$2" = prefin ] && [ -n "$PRETRAIN_EPOCHS" ]; then into+=(--pretrain-epochs "$PRETRAIN_EPOCHS"); fi
  into+=(--init "$2" --depths "${3:-$DEPTHS}" --run.dir "$OUT/sweep")
}

# `tleg sweep` of one method over every rank of the allocation (or of an array task): it splits
# the ranks into groups by each depth's cost, keeps the run folders (OUT/sweep/<method>/depth-<d>,
# prefin's pre-training in OUT/sweep/prefin-pretrain/depth-<d>) and skips depths whose run.json
# exists. DEPTHS (default: the experiment's) is a range or list; a job-array task passes its one.
sweep_method() {
  local method=$1 depths=${2:-$DEPTHS} args=()
  sweep_args args "$method" "$depths"
  log "sweep --init $method over depths $depths on ${SLURM_NTASKS:-?} rank(s)"
  launch sweep "${args[@]}"
}

# The depths of DEPTHS one by one: 3-5,8 gives 3 4 5 8.
depth_list() {
  local part
  for part in ${1//,/ }; do
    if [[ "$part" == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
  done
}
