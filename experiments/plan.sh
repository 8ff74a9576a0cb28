#!/usr/bin/env bash
# The one description of a TLEG experiment: a profile (experiments/profiles/NAME.env: budgets,
# configs, depths, seeds, resources) turned into a plan, the stages with what each needs, how
# many ranks it takes, its time limit and its tleg command. Both executors run this plan:
# experiments/run.sh on this machine (mpirun, stage by stage, in order) and slurm/submit.sh on
# a cluster (one sbatch job per stage, chained by the needs, arrays over the depths). A new
# stage is one add_stage call below.
#
# Sourced by both (and by slurm/stage.sbatch, which rebuilds the plan from the settings file
# submit.sh wrote); run directly it prints the plan:
#   experiments/plan.sh [--KEY VALUE]... PROFILE      (PROFILE: a name under profiles/ or a file)
# shellcheck disable=SC2034  # the keys are read by name (${!key}) and by the executors
# shellcheck disable=SC2178  # local -n: name references to the callers' arrays

plan_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plan_repo=$(dirname "$plan_here")

plan_keys_help() {
  cat <<'EOF'
Experiment (defaults in brackets; a profile file sets most of them, after a first line
BASE=PROFILE when it is a variant of another profile):
  OUT                  experiment folder: data, runs, logs, report [the profile's]
  EXPERIMENT           pipeline (stage 1, the family of depths, the baselines) or transfer
                       (a source and a target half of the classes) [pipeline]
  DATASET              fashion-mnist | imagenet | folder (required)
  DATA_SRC             source folder for prepare [fashion-mnist: Debian's package]
  DATA_STORE           dataset store [OUT/data/DATASET.h5]; its prepare stage is skipped when
                       it exists
  PREPARE_ARGS         extra options of tleg prepare, e.g. --val-fraction 0.05
  SOURCE_CLASSES, TARGET_CLASSES
                       transfer: the classes of each task (tleg prepare --classes)
  CONFIGS              INI files of every training stage
  TEACHER              an existing teacher (TorchScript .pt or tleg .h5): no teacher stage
  TEACHER_CONFIGS      INI files of the teacher stage (when TEACHER is empty)
  AUX_CONFIGS          INI files of stage 1 (logits and distill)
  DES_CONFIGS          INI files of stage 2 (descendants and baselines)
  LOGITS               stored: the teacher's logits pre-computed by a logits stage, sharded
                       like the store, distill reads them; live: distill runs the teacher [stored]
  LOGITS_VIEWS         stored views per image; training's epoch e, copy r reads view
                       (e x aug.repeats + r) mod LOGITS_VIEWS [DISTILL_EPOCHS]
  LOGITS_TOPK          logits kept per stored view (0: every class) [10]
  DEPTHS               descendant depths, e.g. 3-12 or 3,6,9,12 [3-12]
  METHODS              pipeline: any of tleg scratch scratch-long prefin subset mimetic
                       weight-selection heur-lg auto-lg (prefin is fine-tuned from
                       scratch-long's models when both are named) [tleg scratch scratch-long
                       prefin]; transfer: any of tleg scratch prefin subset mimetic
                       weight-selection heur-lg auto-lg [tleg scratch prefin subset]
  PRETRAINED           the pre-trained model subset, weight-selection, heur-lg and auto-lg take
                       their weights from (pipeline; the transfer uses the source's deepest)
  SEEDS                seeds; each seed is a whole replicate, teacher included [0]
  TEACHER_EPOCHS, DISTILL_EPOCHS, FINETUNE_EPOCHS, LONG_EPOCHS, PRETRAIN_EPOCHS
                       epochs of the teacher, stage 1 (also the stored views), stage 2 (budget
                       B), scratch-long, the transfer's source pre-training [INI files]
  TEACHER_STEPS, DISTILL_STEPS, FINETUNE_STEPS, LONG_STEPS, PRETRAIN_STEPS
                       cap on steps per epoch [whole epochs]
  CHECKPOINT_EVERY     steps between checkpoints: what a time-limit requeue can lose [INI files]
  PRECISION            auto, fp32 or bf16 for every training stage and the logits [INI files]
  TEACHER_ARGS, DISTILL_ARGS, FINETUNE_ARGS
                       extra tleg options of those stages
  TLEG                 the tleg binary, on a filesystem every node sees [REPO/build/launcher/tleg]

Resources (the local runner uses NODES x TASKS_PER_NODE ranks and the CPUs it has):
  NODES                nodes of the data-parallel stages and one-allocation sweeps [1]
  GPUS_PER_NODE        GPUs per node; 0 requests none (CPU runs) [0]
  TASKS_PER_NODE       MPI ranks per node [GPUS_PER_NODE, or 1 without GPUs]
  CPUS_PER_TASK        CPUs per rank (data loading threads need them) [1]
  SWEEP_MODE           array: one array job per sweep, one depth per task; allocation: each
                       sweep over every rank of one job [array]
  ARRAY_RANKS          ranks (and GPUs) of each array task, on one node [TASKS_PER_NODE]
  ARRAY_THROTTLE       at most this many tasks of an array at once [no limit]
  PREPARE_CPUS         CPUs of a prepare job [CPUS_PER_TASK]
  TIME_PREPARE, TIME_TEACHER, TIME_LOGITS, TIME_DISTILL, TIME_SWEEP (one-allocation sweep),
  TIME_FINETUNE (each array task), TIME_REPORT
                       time limits [12:00:00 24:00:00 12:00:00 24:00:00 24:00:00 24:00:00 00:30:00]
  ACCOUNT, PARTITION, QOS      passed to sbatch when set [cluster defaults]
  LAUNCHER             srun (srun --mpi=pmix) or mpirun [srun]
  MPIRUN_ARGS          extra mpirun options (LAUNCHER=mpirun); a --bind-to here replaces
                       the scripts' binding (cores inside a cgroup cpuset, else none)
  MAX_REQUEUES         time-limit requeues per job before it is left to time out [10]
  SIGNAL_SECONDS       USR1 this long before the time limit starts the requeue [120]
  NAME                 prefix of the job names [tleg]
  SBATCH_ARGS          extra sbatch options for every job, e.g. "--mail-type=FAIL --constraint=a100"
EOF
}

plan_keys=(OUT EXPERIMENT DATASET DATA_SRC DATA_STORE PREPARE_ARGS SOURCE_CLASSES TARGET_CLASSES
           CONFIGS TEACHER TEACHER_CONFIGS AUX_CONFIGS DES_CONFIGS LOGITS LOGITS_VIEWS LOGITS_TOPK
           DEPTHS METHODS
           PRETRAINED SEEDS TEACHER_EPOCHS DISTILL_EPOCHS FINETUNE_EPOCHS LONG_EPOCHS
           PRETRAIN_EPOCHS TEACHER_STEPS DISTILL_STEPS FINETUNE_STEPS LONG_STEPS PRETRAIN_STEPS
           CHECKPOINT_EVERY PRECISION TEACHER_ARGS DISTILL_ARGS FINETUNE_ARGS TLEG
           NODES GPUS_PER_NODE TASKS_PER_NODE CPUS_PER_TASK SWEEP_MODE ARRAY_RANKS ARRAY_THROTTLE
           PREPARE_CPUS TIME_PREPARE TIME_TEACHER TIME_LOGITS TIME_DISTILL TIME_SWEEP
           TIME_FINETUNE TIME_REPORT ACCOUNT PARTITION QOS LAUNCHER MPIRUN_ARGS MAX_REQUEUES
           SIGNAL_SECONDS NAME SBATCH_ARGS)
# Keys that name files or folders: absolute in the plan (jobs run elsewhere). From the command
# line they are relative to the current directory, in a profile file to the repository root.
plan_path_keys=(OUT DATA_SRC DATA_STORE TEACHER PRETRAINED TLEG)
plan_path_list_keys=(CONFIGS TEACHER_CONFIGS AUX_CONFIGS DES_CONFIGS)

plan_profile_names() { local f; for f in "$plan_here"/profiles/*.env; do basename "$f" .env; done | paste -sd ' '; }
plan_has_method() { [[ " $METHODS " == *" $1 "* ]]; }
# The methods each experiment has stages for.
plan_pipeline_methods="tleg scratch scratch-long prefin subset mimetic weight-selection heur-lg auto-lg"
plan_transfer_methods="tleg scratch prefin subset mimetic weight-selection heur-lg auto-lg"
plan_is_key() { local k; for k in "${plan_keys[@]}"; do [ "$k" = "$1" ] && return 0; done; return 1; }
plan_in() { local item=$1 k; shift; for k in "$@"; do [ "$k" = "$item" ] && return 0; done; return 1; }
plan_die() { echo "${plan_caller:-plan.sh}: $*" >&2; exit 2; }

# The profile file of a name (smoke, default, imagenet-ti) or a path.
plan_profile_file() {
  case "$1" in
    */*|*.env) echo "$1" ;;
    *) echo "$plan_here/profiles/$1.env" ;;
  esac
}

# plan_read [--KEY VALUE]... PROFILE : every key becomes a variable of that name (the option,
# else the profile file, else the default), paths absolute. Problems with the values are
# collected in plan_problems (plan_check reports them with the rest).
plan_read() {
  declare -gA plan_option=() plan_file=()
  plan_problems=()
  plan_profile=""
  local key value file base
  while [ $# -gt 0 ]; do
    case "$1" in
      --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
      --*) key=${1#--}; key=${key^^}; key=${key//-/_}
           plan_is_key "$key" || plan_die "unknown option $1 (see --help)"
           [ $# -ge 2 ] || plan_die "$1 needs a value"
           plan_option[$key]=$2; shift 2 ;;
      *) [ -z "$plan_profile" ] || plan_die "one profile only ($plan_profile, $1)"
         plan_profile=$1; shift ;;
    esac
  done
  [ -n "$plan_profile" ] || plan_die "no profile given (a name under experiments/profiles/ or a file)"
  file=$(plan_profile_file "$plan_profile")
  [ -f "$file" ] || plan_die "no profile $file (the profiles: $(plan_profile_names))"
  plan_profile_path=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
  plan_read_profile_file "$file"

  for key in "${plan_keys[@]}"; do
    if [ -n "${plan_option[$key]+x}" ]; then value=${plan_option[$key]}; base=$PWD
    else value=${plan_file[$key]:-}; base=$plan_repo; fi
    if plan_in "$key" "${plan_path_keys[@]}"; then value=$(plan_absolute "$base" "$value")
    elif plan_in "$key" "${plan_path_list_keys[@]}"; then
      local f list=()
      for f in $value; do list+=("$(plan_absolute "$base" "$f")"); done
      value=${list[*]:-}
    fi
    printf -v "$key" '%s' "$value"
  done
  plan_defaults
}
# plan_read_profile_file FILE : its KEY=VALUE lines into plan_file, read as data (not sourced): a
# typo in a key is an error, not a silent default. A first line BASE=PROFILE starts from that
# profile's keys (a variant of a profile names only what it changes).
plan_read_profile_file() {
  local file=$1 line line_no=0 key value keys_seen=0
  while IFS= read -r line || [ -n "$line" ]; do
    line_no=$((line_no + 1))
    line=${line#"${line%%[![:space:]]*}"}
    case "$line" in ''|'#'*) continue ;; esac
    [[ "$line" =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] || plan_die "$file:$line_no: expected KEY=VALUE: $line"
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    value=${value%"${value##*[![:space:]]}"}
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    if [ "$key" = BASE ]; then
      [ "$keys_seen" = 0 ] || plan_die "$file:$line_no: BASE must come before every other key"
      local base; base=$(plan_profile_file "$value")
      [ -f "$base" ] || plan_die "$file:$line_no: BASE: no profile $base (the profiles: $(plan_profile_names))"
      [ "$(cd "$(dirname "$base")" && pwd)/$(basename "$base")" != "$(cd "$(dirname "$file")" && pwd)/$(basename "$file")" ] ||
        plan_die "$file:$line_no: BASE names the profile itself"
      plan_read_profile_file "$base"
      continue
    fi
    plan_is_key "$key" || plan_die "$file:$line_no: unknown key $key (see --help)"
    plan_file[$key]=$value keys_seen=1
  done <"$file"
}
# plan_executor_read ARGS... : an executor's command line: -h/--help (the executor's `usage`),
# --dry-run (sets plan_dry_run to 1), the profile and its --KEY VALUE options (plan_read).
plan_executor_read() {
  plan_dry_run=0
  local arg args=()
  for arg in "$@"; do
    case "$arg" in
      -h|--help) usage; exit 0 ;;
      --dry-run) plan_dry_run=1 ;;
      *) args+=("$arg") ;;
    esac
  done
  [ ${#args[@]} -gt 0 ] || { usage >&2; exit 2; }
  plan_read "${args[@]}"
}
plan_absolute() { case "$2" in ''|/*) echo "$2" ;; *) echo "$1/$2" ;; esac; }
# The path of a key as the user wrote it, for messages.
plan_as_written() {
  if [ -n "${plan_option[$1]+x}" ]; then echo "${plan_option[$1]}"
  elif [ -n "${plan_file[$1]:-}" ]; then echo "${plan_file[$1]}"; else echo "$2"; fi
}

plan_defaults() {
  : "${EXPERIMENT:=pipeline}" "${LOGITS:=stored}" "${LOGITS_TOPK:=10}" "${DEPTHS:=3-12}" "${SEEDS:=0}"
  : "${LOGITS_VIEWS:=$DISTILL_EPOCHS}"
  if [ -z "$METHODS" ]; then
    if [ "$EXPERIMENT" = transfer ]; then METHODS="tleg scratch prefin subset"
    else METHODS="tleg scratch scratch-long prefin"; fi
  fi
  : "${TLEG:=$plan_repo/build/launcher/tleg}" "${NODES:=1}" "${GPUS_PER_NODE:=0}"
  if [ -z "$TASKS_PER_NODE" ]; then
    if [ "$GPUS_PER_NODE" -gt 0 ] 2>/dev/null; then TASKS_PER_NODE=$GPUS_PER_NODE; else TASKS_PER_NODE=1; fi
  fi
  : "${CPUS_PER_TASK:=1}" "${SWEEP_MODE:=array}" "${ARRAY_RANKS:=$TASKS_PER_NODE}"
  : "${PREPARE_CPUS:=$CPUS_PER_TASK}" "${TIME_PREPARE:=12:00:00}" "${TIME_TEACHER:=24:00:00}"
  : "${TIME_LOGITS:=12:00:00}" "${TIME_DISTILL:=24:00:00}" "${TIME_SWEEP:=24:00:00}"
  : "${TIME_FINETUNE:=24:00:00}" "${TIME_REPORT:=00:30:00}" "${LAUNCHER:=srun}"
  : "${MAX_REQUEUES:=10}" "${SIGNAL_SECONDS:=120}" "${NAME:=tleg}"
  # (the transfer's two stores are OUT/data/source.h5 and target.h5)
  [ "$EXPERIMENT" = transfer ] || : "${DATA_STORE:=$OUT/data/$DATASET.h5}"
}

# The depths of DEPTHS one by one: 3-5,8 gives 3 4 5 8.
plan_depth_list() {
  local part
  for part in ${1//,/ }; do
    if [[ "$part" == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
  done
}
plan_deepest() { plan_depth_list "$DEPTHS" | sort -n | tail -1; }

# ---------------------------------------------------------------- the stages
# add_stage NAME NEEDS RANKS TIME DONE -- COMMAND...
#   NEEDS  stages that must have finished (space-separated); NAME@depth: only the same depth of
#          that sweep (Slurm: aftercorr between two arrays)
#   RANKS  one (a single process), all (data-parallel over NODES x TASKS_PER_NODE ranks) or
#          sweep (over the depths: a Slurm array or one allocation; locally every rank)
#   TIME   the TIME_* key of its time limit
#   DONE   the file (or run folders' run.json, with {DEPTH}) whose presence says the stage is
#          finished; "-": always run
#   COMMAND the tleg command and its options; {DEPTHS} is the depths it runs (an array task's
#          one), {CPUS} the CPUs of each rank
# The report waits for its needs however they ended (afterany) and says what is missing.
add_stage() {
  local name=$1
  plan_stages+=("$name")
  plan_needs[$name]=$2 plan_ranks[$name]=$3 plan_time[$name]=$4 plan_done[$name]=$5
  shift 6
  plan_command[$name]=$(printf '%q ' "$@")
}

# budget ARRAY EPOCHS STEPS : a stage's epochs and cap on steps per epoch; empty keeps the INI
# files' values (tleg refuses an option given twice, so each is given once, here).
plan_budget() {
  local -n into=$1
  [ -z "$2" ] || into+=(--optim.epochs "$2")
  [ -z "$3" ] || into+=(--optim.steps-per-epoch "$3")
}
plan_configs() { local -n into=$1; local f; for f in $2; do into+=(--config "$f"); done; }

# The options every training stage shares: configs, store, checkpoint interval, precision; every
# training stage resumes (a first start has no checkpoint and starts at step 0).
plan_training() { # plan_training ARRAY STORE SEED EXTRA-CONFIGS
  local -n into=$1
  into=()
  plan_configs "$1" "$CONFIGS $4"
  into+=(--data.store "$2" --run.seed "$3" --resume)
  [ -z "$CHECKPOINT_EVERY" ] || into+=(--run.checkpoint-every "$CHECKPOINT_EVERY")
  [ -z "$PRECISION" ] || into+=(--run.precision "$PRECISION")
}

plan_prepare() { # plan_prepare NAME STORE [--classes LIST]
  local name=$1 store=$2 args
  shift 2
  args=(prepare "$DATASET" --out "$store")
  [ -z "$DATA_SRC" ] || args+=(--src "$DATA_SRC")
  [ "$DATASET" = fashion-mnist ] || args+=(--threads "{CPUS}" --quiet)
  local extra
  read -ra extra <<<"$PREPARE_ARGS"
  add_stage "$name" "" one PREPARE "$store" -- "${args[@]}" "$@" "${extra[@]}"
}

# The teacher (unless one is given), its logits over the views stage 1 will draw (LOGITS=stored)
# and stage 1. Sets plan_learngene and plan_distill (the stage that writes it).
plan_stage1() { # plan_stage1 SUFFIX DIR STORE SEED PREPARE-STAGE
  local suffix=$1 dir=$2 store=$3 seed=$4 prepared=$5 args teacher=$TEACHER teacher_needs=$5
  local extra
  if [ -z "$TEACHER" ]; then
    plan_training args "$store" "$seed" "$TEACHER_CONFIGS"
    read -ra extra <<<"$TEACHER_ARGS"
    args+=("${extra[@]}")
    plan_budget args "$TEACHER_EPOCHS" "$TEACHER_STEPS"
    add_stage "teacher$suffix" "$prepared" all TEACHER "$dir/teacher/run.json" -- \
      teacher "${args[@]}" --run.dir "$dir/teacher"
    teacher=$dir/teacher/model.h5 teacher_needs="teacher$suffix"
  fi
  local teacher_source=(--distill.teacher "$teacher") distill_needs=$teacher_needs
  if [ "$LOGITS" = stored ]; then
    # The views stage 1 will draw (one per epoch by default), rendered as distill renders them
    # (the same INI files set the views).
    args=()
    plan_configs args "$CONFIGS $AUX_CONFIGS"
    args+=(--data.store "$store" --distill.teacher "$teacher" --distill.views "$LOGITS_VIEWS"
           --logits.topk "$LOGITS_TOPK" --run.seed "$seed" --run.threads "{CPUS}")
    [ -z "$PRECISION" ] || args+=(--run.precision "$PRECISION")
    add_stage "logits$suffix" "$teacher_needs" all LOGITS "$dir/logits/run.json" -- \
      logits "${args[@]}" --out "$dir/logits"
    teacher_source=(--distill.logits "$dir/logits" --distill.views "$LOGITS_VIEWS")
    distill_needs="logits$suffix"
  fi
  plan_training args "$store" "$seed" "$AUX_CONFIGS"
  read -ra extra <<<"$DISTILL_ARGS"
  args+=("${extra[@]}")
  plan_budget args "$DISTILL_EPOCHS" "$DISTILL_STEPS"
  add_stage "distill$suffix" "$distill_needs" all DISTILL "$dir/aux/run.json" -- \
    distill "${args[@]}" "${teacher_source[@]}" --run.dir "$dir/aux"
  plan_learngene=$dir/aux/learngene.h5 plan_distill="distill$suffix"
}

# sweep NAME NEEDS STORE SEED RUN-DIR METHOD-FOLDER EPOCHS STEPS -- OPTIONS... : stage 2 over the
# depths; the run folders are RUN-DIR/METHOD-FOLDER/depth-<d>.
plan_sweep() {
  local name=$1 needs=$2 store=$3 seed=$4 run_dir=$5 folder=$6 epochs=$7 steps=$8 args extra
  shift 9
  plan_training args "$store" "$seed" "$DES_CONFIGS"
  read -ra extra <<<"$FINETUNE_ARGS"
  args+=("${extra[@]}")
  plan_budget args "$epochs" "$steps"
  add_stage "$name" "$needs" sweep FINETUNE "$run_dir/$folder/depth-{DEPTH}/run.json" -- \
    sweep "${args[@]}" "$@" --depths "{DEPTHS}" --run.dir "$run_dir"
}

# The paper's experiment: per seed the teacher, its logits, stage 1, then every method over the
# depths (each sweep waits only for what it needs: the baselines need no learngene, their
# architecture is the INI files'), the linearity of the deepest models, the report.
plan_pipeline() {
  local seeds seed suffix dir sweeps=() deepest
  read -ra seeds <<<"$SEEDS"
  deepest=$(plan_deepest)
  plan_prepare prepare "$DATA_STORE"
  for seed in "${seeds[@]}"; do
    suffix=""; [ ${#seeds[@]} -eq 1 ] || suffix=-s$seed
    dir=$OUT/seed-$seed
    plan_stage1 "$suffix" "$dir" "$DATA_STORE" "$seed" prepare
    local method prefin_from=()
    for method in $METHODS; do
      case $method in
        tleg) plan_sweep "sweep-tleg$suffix" "$plan_distill" "$DATA_STORE" "$seed" "$dir/sweep" tleg \
                "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- --init tleg --learngene "$plan_learngene" ;;
        scratch) plan_sweep "sweep-scratch$suffix" prepare "$DATA_STORE" "$seed" "$dir/sweep" scratch \
                   "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- --init scratch ;;
        # scratch for its own long budget: the paper's scratch, and Pre-Fin's pre-training
        scratch-long) plan_sweep "sweep-scratch-long$suffix" prepare "$DATA_STORE" "$seed" "$dir/sweep" \
                        scratch-long "$LONG_EPOCHS" "$LONG_STEPS" -- --init scratch --run.method scratch-long ;;
        prefin)
          if plan_has_method scratch-long; then
            # each depth's scratch-long model, fine-tuned for B (trained once, used by both)
            plan_sweep "sweep-prefin$suffix" "sweep-scratch-long$suffix@depth" "$DATA_STORE" "$seed" \
              "$dir/sweep" prefin "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- \
              --init prefin --prefin-from "$dir/sweep/scratch-long"
          else
            prefin_from=()
            [ -z "$PRETRAIN_EPOCHS" ] || prefin_from=(--pretrain-epochs "$PRETRAIN_EPOCHS")
            plan_sweep "sweep-prefin$suffix" prepare "$DATA_STORE" "$seed" "$dir/sweep" prefin \
              "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- --init prefin "${prefin_from[@]}"
          fi ;;
        # no pre-trained weights: scratch's competitors at the same budget
        mimetic) plan_sweep "sweep-mimetic$suffix" prepare "$DATA_STORE" "$seed" "$dir/sweep" mimetic \
                   "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- --init mimetic ;;
        # the blocks (or elements) of one pre-trained model, PRETRAINED
        subset|weight-selection|heur-lg|auto-lg)
          plan_sweep "sweep-$method$suffix" prepare "$DATA_STORE" "$seed" "$dir/sweep" "$method" \
            "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- --init "$method" --from "$PRETRAINED" ;;
        *) plan_problems+=("METHODS: the pipeline has no stage for method '$method' (it runs $plan_pipeline_methods)") ;;
      esac
      sweeps+=("sweep-$method$suffix")
    done
  done
  # The paper's observation on the deepest models of the first seed: how close to a line across
  # depth the blocks of scratch-long, Pre-Fin and TLEG after fine-tuning lie (docs/linearity.md).
  local first=$OUT/seed-${seeds[0]}/sweep last=""
  suffix=""; [ ${#seeds[@]} -eq 1 ] || suffix=-s${seeds[0]}
  if plan_has_method tleg && plan_has_method prefin && plan_has_method scratch-long; then
    add_stage linearity "sweep-scratch-long$suffix sweep-prefin$suffix sweep-tleg$suffix" one REPORT - -- \
      linearity --out "$OUT/report/linearity" --model "$first/scratch-long/depth-$deepest/model.h5" \
      "$first/prefin/depth-$deepest/model.h5" "$first/tleg/depth-$deepest/model.h5"
    last=linearity
  fi
  local folders=()
  for seed in "${seeds[@]}"; do folders+=("$OUT/seed-$seed"); done
  add_stage report "${sweeps[*]} $last" one REPORT - -- report "${folders[@]}" --out "$OUT/report"
}

# The transfer to a new task, per seed: on the source half of the classes the teacher, stage 1
# and each depth pre-trained (Pre-Fin's starting points; the deepest is the one pre-trained model
# that subset, weight selection and the learngene heuristics take their weights from); on the
# target half every initialiser with the same fine-tuning budget, each from the source with a
# fresh head. The report averages the seeds.
plan_transfer() {
  local seeds seed suffix dir source_store=$OUT/data/source.h5 target_store=$OUT/data/target.h5
  local deepest pretrain method sweeps=() folders=()
  read -ra seeds <<<"$SEEDS"
  deepest=$(plan_deepest)
  plan_prepare prepare-source "$source_store" --classes "$SOURCE_CLASSES"
  plan_prepare prepare-target "$target_store" --classes "$TARGET_CLASSES"
  for seed in "${seeds[@]}"; do
    suffix=""; [ ${#seeds[@]} -eq 1 ] || suffix=-s$seed
    dir=$OUT/seed-$seed
    plan_stage1 "$suffix" "$dir/source" "$source_store" "$seed" prepare-source
    pretrain=$dir/source/sweep/prefin-pretrain
    plan_sweep "sweep-pretrain$suffix" prepare-source "$source_store" "$seed" "$dir/source/sweep" \
      prefin-pretrain "$PRETRAIN_EPOCHS" "$PRETRAIN_STEPS" -- --init scratch --run.method prefin-pretrain
    for method in $METHODS; do
      case $method in
        tleg) plan_sweep "sweep-tleg$suffix" "prepare-target $plan_distill" "$target_store" "$seed" \
                "$dir/target" tleg "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- \
                --init tleg --learngene "$plan_learngene" --new-head ;;
        scratch|mimetic) plan_sweep "sweep-$method$suffix" prepare-target "$target_store" "$seed" \
                           "$dir/target" "$method" "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- --init "$method" ;;
        prefin) plan_sweep "sweep-prefin$suffix" "prepare-target sweep-pretrain$suffix@depth" "$target_store" \
                  "$seed" "$dir/target" prefin "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- \
                  --init prefin --prefin-from "$pretrain" --new-head ;;
        subset|weight-selection|heur-lg|auto-lg)
          plan_sweep "sweep-$method$suffix" "prepare-target sweep-pretrain$suffix" "$target_store" "$seed" \
            "$dir/target" "$method" "$FINETUNE_EPOCHS" "$FINETUNE_STEPS" -- \
            --init "$method" --from "$pretrain/depth-$deepest/model.h5" --new-head ;;
        *) plan_problems+=("METHODS: the transfer has no stage for method '$method' (it runs $plan_transfer_methods)") ;;
      esac
      sweeps+=("sweep-$method$suffix")
    done
    folders+=("$dir/target")
  done
  add_stage report "${sweeps[*]}" one REPORT - -- report "${folders[@]}" --out "$OUT/report"
}

# plan_build : the stages of the experiment the keys describe, in an order that runs (every
# stage after its needs).
plan_build() {
  plan_stages=()
  declare -gA plan_needs=() plan_ranks=() plan_time=() plan_done=() plan_command=()
  case "$EXPERIMENT" in
    pipeline) plan_pipeline ;;
    transfer) plan_transfer ;;
    *) plan_problems+=("EXPERIMENT must be pipeline or transfer (got '$EXPERIMENT')") ;;
  esac
}

# plan_words NAME ARRAY [DEPTHS] [CPUS] : the stage's tleg command as words, placeholders filled.
plan_words() {
  local -n into=$2
  local word depths=${3:-$DEPTHS} cpus=${4:-1}
  eval "into=(${plan_command[$1]})"
  for word in "${!into[@]}"; do
    into[word]=${into[word]//\{DEPTHS\}/$depths}
    into[word]=${into[word]//\{CPUS\}/$cpus}
  done
}

# plan_missing NAME : the outputs of a stage that are not there yet (nothing when it is done);
# a sweep lists its unfinished depths.
plan_missing() {
  local done=${plan_done[$1]} depth missing=()
  [ "$done" != - ] || return 0
  if [[ "$done" == *"{DEPTH}"* ]]; then
    for depth in $(plan_depth_list "$DEPTHS"); do
      [ -f "${done//\{DEPTH\}/$depth}" ] || missing+=("$depth")
    done
    [ ${#missing[@]} -eq 0 ] || echo "at depth ${missing[*]} (${done%%/depth-*})"
  elif [ ! -f "$done" ]; then
    echo "($(dirname "$done"))"
  fi
}
plan_finished() { [ "${plan_done[$1]}" != - ] && [ -z "$(plan_missing "$1")" ]; }

# The logits stage's size on disk: views x images x (top-k values and class indices, 2 bytes
# each; every class's value when top-k is 0).
plan_logits_size() {
  local images classes
  case "$DATASET" in
    fashion-mnist) images=60000 classes=10 ;;
    imagenet) images=1281167 classes=1000 ;;
    *) return 0 ;;
  esac
  if [ "$EXPERIMENT" = transfer ] && [ -n "$SOURCE_CLASSES" ]; then
    local kept; kept=$(tr ',' '\n' <<<"$SOURCE_CLASSES" | grep -c .)
    images=$((images * kept / classes)) classes=$kept
  fi
  local per=$((LOGITS_TOPK > 0 && LOGITS_TOPK < classes ? LOGITS_TOPK * 4 : classes * 2))
  awk -v v="$LOGITS_VIEWS" -v n="$images" -v b="$per" -v k="$LOGITS_TOPK" 'BEGIN {
    bytes = v * n * b; unit = "MB"; size = bytes / 1e6
    if (size >= 1000) { unit = "GB"; size /= 1000 }
    printf "%d view(s) x %d images x %s = %.1f %s on disk\n", v, n,
      (k > 0 ? "top-" k " (value and class, 4 bytes)" : "every class (2 bytes)"), size, unit }'
}

# A command as a reader wants it: words quoted only where a shell needs it, the repository's
# files relative to it, the experiment folder as OUT.
plan_show() {
  local word shown=()
  for word in "$@"; do
    if [[ "$word" =~ ^[][A-Za-z0-9_./,:=@%+{}\<\>-]+$ ]]; then shown+=("$word"); else shown+=("$(printf '%q' "$word")"); fi
  done
  echo "${shown[*]}" | sed -e "s|$OUT/|OUT/|g" -e "s|$plan_repo/||g"
}

# plan_print : the plan as a table, one line per stage, then each stage's command.
plan_print() {
  local name words ranks time_key
  echo "plan of $plan_profile: $EXPERIMENT, depths $DEPTHS, seeds $SEEDS, OUT=$OUT"
  printf '  %-26s %-16s %-9s %s\n' stage ranks time needs
  for name in "${plan_stages[@]}"; do
    time_key=TIME_${plan_time[$name]}
    case ${plan_ranks[$name]} in
      one) ranks=1 ;;
      all) ranks="$((NODES * TASKS_PER_NODE))" ;;
      sweep) if [ "$SWEEP_MODE" = array ]; then ranks="$ARRAY_RANKS per depth"
             else ranks="$((NODES * TASKS_PER_NODE)) in groups" time_key=TIME_SWEEP; fi ;;
    esac
    printf '  %-26s %-16s %-9s %s\n' "$name" "$ranks" "${!time_key}" "${plan_needs[$name]:--}"
  done
  for name in "${plan_stages[@]}"; do
    plan_words "$name" words "{DEPTHS}" "{CPUS}"
    echo "$name: tleg $(plan_show "${words[@]}")"
    [ "${plan_done[$name]}" = - ] || echo "  done when: $(plan_show "${plan_done[$name]}")"
    if [[ "$name" == logits* ]]; then echo "  size: $(plan_logits_size)"; fi
  done
}

# ---------------------------------------------------------------- checks
# Every input a stage will get is checked before anything runs, and every problem found is
# reported at once, so that no stage fails hours into the graph on an input that was wrong from
# the start. Appends to plan_problems.
plan_problem() { plan_problems+=("$*"); }
plan_need_file() { # plan_need_file KEY PATH WHAT
  local shown; shown=$(plan_as_written "$1" "$2")
  if [ ! -e "$2" ]; then plan_problem "$1: no such file: $shown ($3)"
  elif [ ! -f "$2" ]; then plan_problem "$1: $shown is not a file ($3)"
  elif [ ! -r "$2" ]; then plan_problem "$1: cannot read $shown"
  fi
}
plan_need_writable_folder() { # KEY FOLDER : it exists and is writable, or can be made
  local dir=$2
  while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  if [ ! -d "$dir" ]; then plan_problem "$1: cannot make the folder $2: $dir is a file"
  elif [ ! -w "$dir" ]; then plan_problem "$1: cannot write in $dir (to make or fill $2)"
  fi
}
plan_check_store() { # plan_check_store STORE
  if [ -e "$1" ]; then
    plan_need_file DATA_STORE "$1" "a dataset store from tleg prepare"
    # HDF5's signature is \211HDF\r\n\032\n
    if [ -f "$1" ] && [ -r "$1" ] && [ "$(head -c 4 "$1" | tail -c 3)" != HDF ]; then
      plan_problem "DATA_STORE: $(plan_as_written DATA_STORE "$1") is not an HDF5 file (a dataset store from tleg prepare)"
    fi
    return
  fi
  # the prepare stage makes it: from its source, into a folder it can write
  if [ "$DATASET" = fashion-mnist ]; then
    local source_dir=${DATA_SRC:-/usr/share/datasets/fashion-mnist}
    [ -d "$source_dir" ] || plan_problem "DATA_SRC: no folder $source_dir to import Fashion-MNIST from (apt-get install dataset-fashion-mnist, or set DATA_SRC)"
  elif [ -z "$DATA_SRC" ]; then
    plan_problem "DATASET=$DATASET needs DATA_SRC (the folder to import) or an existing DATA_STORE; there is no $(plan_as_written DATA_STORE "$1")"
  elif [ ! -d "$DATA_SRC" ]; then
    plan_problem "DATA_SRC: no folder $(plan_as_written DATA_SRC "$DATA_SRC") to import"
  fi
  plan_need_writable_folder DATA_STORE "$(dirname "$1")"
}

# plan_check tleg-required|tleg-optional : the keys' values, the files, and every stage's options as tleg
# itself reads them (tleg CMD --check-plan: a typo in an INI file or in *_ARGS, or an existing
# input file of the wrong kind, fails here; inputs that earlier stages make are not there yet).
plan_check() {
  local key f name words output
  [ -n "$OUT" ] || plan_problem "OUT (the experiment folder) is not set"
  for key in NODES GPUS_PER_NODE TASKS_PER_NODE CPUS_PER_TASK ARRAY_RANKS PREPARE_CPUS MAX_REQUEUES SIGNAL_SECONDS LOGITS_TOPK; do
    [[ "${!key}" =~ ^[0-9]+$ ]] || plan_problem "$key must be a whole number (got '${!key}')"
  done
  for key in $SEEDS; do [[ "$key" =~ ^[0-9]+$ ]] || plan_problem "SEEDS must be whole numbers (got '$SEEDS')"; done
  case "$DATASET" in fashion-mnist|imagenet|folder) ;; *) plan_problem "DATASET must be fashion-mnist, imagenet or folder (got '$DATASET')" ;; esac
  case "$SWEEP_MODE" in array|allocation) ;; *) plan_problem "SWEEP_MODE must be array or allocation (got '$SWEEP_MODE')" ;; esac
  case "$LAUNCHER" in srun|mpirun) ;; *) plan_problem "LAUNCHER must be srun or mpirun (got '$LAUNCHER')" ;; esac
  case "$LOGITS" in stored|live) ;; *) plan_problem "LOGITS must be stored or live (got '$LOGITS')" ;; esac
  [ -n "$METHODS" ] || plan_problem "METHODS is empty"
  [[ "$DEPTHS" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || plan_problem "DEPTHS must be like 3-12 or 3,6,9,12 (got '$DEPTHS')"
  if [ "$LOGITS" = stored ] && ! [[ "$LOGITS_VIEWS" =~ ^[1-9][0-9]*$ ]]; then
    plan_problem "LOGITS=stored needs LOGITS_VIEWS or DISTILL_EPOCHS (the stored views: one per epoch of stage 1 by default; got '$LOGITS_VIEWS')"
  fi
  if [ -z "$TEACHER" ] && [ -z "$TEACHER_CONFIGS" ]; then
    plan_problem "TEACHER is not set and the profile has no teacher stage (TEACHER_CONFIGS): give the teacher, --teacher FILE (a TorchScript .pt or a tleg model .h5)"
  fi
  if [ "$EXPERIMENT" = transfer ]; then
    if [ -z "$SOURCE_CLASSES" ] || [ -z "$TARGET_CLASSES" ]; then
      plan_problem "EXPERIMENT=transfer needs SOURCE_CLASSES and TARGET_CLASSES"
    fi
  fi
  for key in CONFIGS TEACHER_CONFIGS AUX_CONFIGS DES_CONFIGS; do
    for f in ${!key}; do plan_need_file "$key" "$f" "an INI file of tleg options"; done
  done
  [ -z "$TEACHER" ] || plan_need_file TEACHER "$TEACHER" "the teacher: a TorchScript .pt or a tleg model .h5"
  if [ "$EXPERIMENT" = pipeline ]; then
    local from_methods=()
    for key in subset weight-selection heur-lg auto-lg; do plan_has_method "$key" && from_methods+=("$key"); done
    if [ ${#from_methods[@]} -gt 0 ]; then
      if [ -z "$PRETRAINED" ]; then plan_problem "METHODS has ${from_methods[*]}: set PRETRAINED (the pre-trained model they take their weights from)"
      else plan_need_file PRETRAINED "$PRETRAINED" "the pre-trained model ${from_methods[*]} take their weights from"; fi
    fi
  fi
  if [ "$EXPERIMENT" = pipeline ]; then plan_check_store "$DATA_STORE"
  else plan_need_writable_folder OUT "$OUT/data"; fi
  plan_need_writable_folder OUT "$OUT"
  if [ ! -x "$TLEG" ]; then
    [ "$1" = tleg-optional ] || plan_problem "TLEG: no tleg binary at $(plan_as_written TLEG "$TLEG") (build it: make build; or give --tleg PATH)"
    return
  fi
  # the method names as tleg knows them (its methods table)
  local known method
  known=$("$TLEG" methods | awk 'NR > 1 {print $1}' | paste -sd ' ')
  for method in $METHODS; do
    [[ " $known " == *" $method "* ]] || plan_problem "METHODS: tleg has no method '$method' (tleg methods lists: $known)"
  done
  [ ${#plan_problems[@]} -eq 0 ] || return 0
  for name in "${plan_stages[@]}"; do
    plan_words "$name" words
    output=$("$TLEG" "${words[0]}" --check-plan "${words[@]:1}" 2>&1) || plan_problem "stage $name: $output"
  done
  plan_check_teacher
}

# plan_check_teacher : a given TEACHER against the dataset it will see, before the store exists
# (an existing store is checked by each stage's --check-plan with the same forward): the classes
# it predicts for one blank image of the dataset's channels at the size of the stage that runs it.
plan_check_teacher() {
  [ -n "$TEACHER" ] && [ -f "$TEACHER" ] && [ "$EXPERIMENT" = pipeline ] && [ ! -e "$DATA_STORE" ] ||
    return 0
  # A class selection (prepare --classes) is checked once the store exists.
  [[ " $PREPARE_ARGS " != *" --classes "* ]] || return 0
  local channels classes name words word image="" output
  case "$DATASET" in
    fashion-mnist) channels=1 classes=10 ;;
    imagenet) channels=3 classes=1000 ;;
    folder)  # DIR/train/<class>/ (with val/ or test/), or DIR/<class>/
      local classes_dir=$DATA_SRC
      [ ! -d "$DATA_SRC/train" ] || classes_dir=$DATA_SRC/train
      channels=3 classes=$(find "$classes_dir" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l) ;;
    *) return 0 ;;
  esac
  [ "$classes" -gt 0 ] || return 0
  for name in "${plan_stages[@]}"; do
    plan_words "$name" words
    for word in "${words[@]}"; do
      [ "$word" = "$TEACHER" ] || continue
      # the image size as that stage resolves its options (INI files, then the command line)
      image=$("$TLEG" "${words[0]}" --print-config "${words[@]:1}" 2>/dev/null |
        awk -F ' = ' '/^\[/ {section = $0} section == "[model]" && $1 == "image" {print $2}')
      break 2
    done
  done
  [ -n "$image" ] || return 0
  local status=0
  output=$("$TLEG" inspect "$TEACHER" --forward "${channels}x$image" 2>&1) || status=$?
  output=${output##*$'\n'}  # the forward's line (a model file's description comes first)
  if [ "$status" != 0 ]; then
    plan_problem "TEACHER: ${output#tleg inspect: error: } (DATASET=$DATASET has ${channels}-channel images, ${image} px in this experiment)"
  elif [[ "$output" =~ forward\ [0-9x]+:\ ([0-9]+)\ classes ]] && [ "${BASH_REMATCH[1]}" != "$classes" ]; then
    plan_problem "TEACHER: $(plan_as_written TEACHER "$TEACHER") predicts ${BASH_REMATCH[1]} classes, but DATASET=$DATASET has $classes; give a teacher trained for this dataset"
  fi
}

# plan_report_problems WHAT : lists the problems and fails when there are any.
plan_report_problems() {
  [ ${#plan_problems[@]} -gt 0 ] || return 0
  echo "${plan_caller:-plan.sh}: nothing $1; ${#plan_problems[@]} problem(s) with $plan_profile:" >&2
  printf '  - %s\n' "${plan_problems[@]}" >&2
  exit 2
}

# plan_settings_text : every key's resolved value, for jobs that rebuild the plan elsewhere.
plan_settings_text() {
  local key
  for key in "${plan_keys[@]}"; do printf '%s=%q\n' "$key" "${!key}"; done
  printf 'plan_profile=%q\n' "$plan_profile"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    -h|--help|"")
      echo "usage: experiments/plan.sh [--KEY VALUE]... PROFILE   (prints the stages of the experiment)"
      echo "PROFILE: $(plan_profile_names) or a file"
      echo; plan_keys_help; exit 0 ;;
  esac
  plan_read "$@"
  plan_build
  plan_print
fi
