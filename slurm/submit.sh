#!/usr/bin/env bash
# Submits a whole TLEG experiment to Slurm as a graph of jobs chained by dependencies:
# prepare -> [teacher] -> distill -> sweep (tleg) + baselines -> report.
# usage: slurm/submit.sh [--dry-run] [--KEY VALUE]... EXPERIMENT.env   (slurm/submit.sh --help)
# shellcheck disable=SC2034
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

usage() {
  cat <<EOF
usage: slurm/submit.sh [--dry-run] [--KEY VALUE]... EXPERIMENT.env

Submits prepare -> [teacher] -> distill -> sweep(tleg) + baselines -> report, each stage with
--dependency=afterok on the one before (the report with afterany, so it reports what exists) and
--kill-on-invalid-dep=yes, so a failed stage cancels its dependants instead of leaving them
pending. Prints the job ids and writes them to OUT/slurm/jobs.tsv.

Before submitting anything it checks every input (files, folders, the options of every stage
through tleg --check, and each stage's request through sbatch --test-only) and lists every
problem found. When sbatch refuses a stage all the same, the jobs already submitted are
cancelled and listed in jobs.tsv.

EXPERIMENT.env holds KEY=VALUE lines (# comments; quotes optional; no shell expansion). Any key
can also be given as an option, --key-name VALUE for KEY_NAME, and the option wins. Relative
paths are taken from the current directory. See slurm/README.md and slurm/examples/.

  --dry-run            check, print the settings and the sbatch commands, submit nothing
  -h, --help           this text

Experiment (defaults in brackets):
  OUT                  experiment folder: data, runs, logs, report (required)
  DATASET              fashion-mnist | imagenet | folder (required)
  DATA_SRC             source folder for prepare [fashion-mnist: Debian's package]
  DATA_STORE           dataset store [OUT/data/DATASET.h5]; the prepare job skips an existing one
  PREPARE_ARGS         extra options of tleg prepare, e.g. --val-fraction 0.05
  CONFIGS              INI files of every training stage, e.g. experiments/imagenet/common.ini
  TEACHER              an existing teacher (TorchScript .pt or tleg .h5): no teacher stage
  TEACHER_CONFIGS      INI files of the teacher stage (when TEACHER is empty)
  AUX_CONFIGS          INI files of stage 1 (distill)
  DES_CONFIGS          INI files of stage 2 (descendants and baselines)
  DEPTHS               descendant depths, e.g. 3-12 or 3,6,9,12 [3-12]
  METHODS              any of tleg scratch prefin subset [tleg scratch prefin]
  PRETRAINED           the pre-trained model that subset takes its layers from
  SEED                 seed of every run [0]
  TEACHER_EPOCHS, DISTILL_EPOCHS, FINETUNE_EPOCHS, PRETRAIN_EPOCHS
                       epochs per stage [from the INI files; prefin pre-training: FINETUNE_EPOCHS]
  TEACHER_STEPS, DISTILL_STEPS, FINETUNE_STEPS
                       cap on steps per epoch [whole epochs]
  CHECKPOINT_EVERY     steps between checkpoints: what a time-limit requeue can lose [INI files]
  TEACHER_ARGS, DISTILL_ARGS, FINETUNE_ARGS
                       extra tleg options of those stages
  TLEG                 the tleg binary, on a filesystem every node sees [$repo/build/launcher/tleg]

Resources:
  ACCOUNT, PARTITION, QOS      passed to sbatch when set [cluster defaults]
  NODES                nodes of teacher, distill and one-allocation sweeps [1]
  GPUS_PER_NODE        GPUs per node; 0 requests none (CPU runs) [0]
  TASKS_PER_NODE       MPI ranks per node [GPUS_PER_NODE, or 1 without GPUs]
  CPUS_PER_TASK        CPUs per rank (data loading threads need them) [1]
  SWEEP_MODE           array: one array job per method, one depth per task;
                       allocation: tleg sweep over every rank of one job [array]
  ARRAY_RANKS          ranks (and GPUs) of each array task, on one node [TASKS_PER_NODE]
  ARRAY_THROTTLE       at most this many tasks of an array at once [no limit]
  PREPARE_CPUS         CPUs of the prepare job [CPUS_PER_TASK]
  TIME_PREPARE, TIME_TEACHER, TIME_DISTILL, TIME_SWEEP, TIME_FINETUNE (each array task),
  TIME_REPORT          time limits [12:00:00 24:00:00 24:00:00 24:00:00 24:00:00 00:30:00]
  LAUNCHER             srun (srun --mpi=pmix) or mpirun [srun]
  MPIRUN_ARGS          extra mpirun options (LAUNCHER=mpirun); a --bind-to here replaces
                       the scripts' binding (cores inside a cgroup cpuset, else none)
  MAX_REQUEUES         time-limit requeues per job before it is left to time out [10]
  SIGNAL_SECONDS       USR1 this long before the time limit starts the requeue [120]
  NAME                 prefix of the job names [tleg]
  SBATCH_ARGS          extra sbatch options for every job, e.g. "--mail-type=FAIL --constraint=a100"
EOF
}

die() { echo "submit.sh: $*" >&2; exit 2; }

keys=(OUT DATASET DATA_SRC DATA_STORE PREPARE_ARGS CONFIGS TEACHER TEACHER_CONFIGS AUX_CONFIGS
      DES_CONFIGS DEPTHS METHODS PRETRAINED SEED TEACHER_EPOCHS DISTILL_EPOCHS FINETUNE_EPOCHS
      PRETRAIN_EPOCHS TEACHER_STEPS DISTILL_STEPS FINETUNE_STEPS CHECKPOINT_EVERY TEACHER_ARGS
      DISTILL_ARGS FINETUNE_ARGS TLEG ACCOUNT PARTITION QOS NODES GPUS_PER_NODE TASKS_PER_NODE
      CPUS_PER_TASK SWEEP_MODE ARRAY_RANKS ARRAY_THROTTLE PREPARE_CPUS TIME_PREPARE TIME_TEACHER
      TIME_DISTILL TIME_SWEEP TIME_FINETUNE TIME_REPORT LAUNCHER MPIRUN_ARGS MAX_REQUEUES
      SIGNAL_SECONDS NAME SBATCH_ARGS)
is_key() { local k; for k in "${keys[@]}"; do [ "$k" = "$1" ] && return 0; done; return 1; }

# The command that resubmits this experiment: every stage skips finished work and resumes the
# rest, so it is what a cancelled or timed-out job tells its user to run.
resume_command="cd $(printf '%q' "$PWD") &&$(printf ' %q' "$0" "$@")"

# ---------------------------------------------------------------- command line and experiment file
declare -A option=() file=()
dry_run=0 experiment=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dry-run) dry_run=1; shift ;;
    --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    --*) key=${1#--}; key=${key^^}; key=${key//-/_}
         is_key "$key" || die "unknown option $1 (see --help)"
         [ $# -ge 2 ] || die "$1 needs a value"
         option[$key]=$2; shift 2 ;;
    *) [ -z "$experiment" ] || die "one experiment file only ($experiment, $1)"
       experiment=$1; shift ;;
  esac
done
[ -n "$experiment" ] || { usage >&2; exit 2; }
[ -f "$experiment" ] || die "no experiment file $experiment"

# KEY=VALUE lines, read as data (not sourced): a typo in a key is an error, not a silent default.
line_no=0
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  line=${line#"${line%%[![:space:]]*}"}
  case "$line" in ''|'#'*) continue ;; esac
  line=${line#export }
  [[ "$line" =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] || die "$experiment:$line_no: expected KEY=VALUE: $line"
  key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
  is_key "$key" || die "$experiment:$line_no: unknown key $key (see --help)"
  value=${value%"${value##*[![:space:]]}"}
  if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
  file[$key]=$value
done <"$experiment"

# The value of a key: the option, else the experiment file, else the default.
setting() { local key=$1 default=${2:-}; if [ -n "${option[$key]+x}" ]; then echo "${option[$key]}"; elif [ -n "${file[$key]+x}" ]; then echo "${file[$key]}"; else echo "$default"; fi; }
# Absolute path (the jobs run in OUT and on other nodes); empty stays empty.
absolute() { case "$1" in ''|/*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
absolute_list() { local f out=(); for f in $1; do out+=("$(absolute "$f")"); done; echo "${out[*]:-}"; }

# Every key becomes a variable of that name; settings_text writes them all for the jobs (some are
# read only there, through ${!key}: hence SC2034 is off for this file).
OUT=$(absolute "$(setting OUT)")
DATASET=$(setting DATASET)
[ -n "$OUT" ] || die "OUT (the experiment folder) is not set"
DATA_SRC=$(absolute "$(setting DATA_SRC)")
DATA_STORE=$(absolute "$(setting DATA_STORE "$OUT/data/$DATASET.h5")")
PREPARE_ARGS=$(setting PREPARE_ARGS)
CONFIGS=$(absolute_list "$(setting CONFIGS)")
TEACHER=$(absolute "$(setting TEACHER)")
TEACHER_CONFIGS=$(absolute_list "$(setting TEACHER_CONFIGS)")
AUX_CONFIGS=$(absolute_list "$(setting AUX_CONFIGS)")
DES_CONFIGS=$(absolute_list "$(setting DES_CONFIGS)")
DEPTHS=$(setting DEPTHS 3-12)
METHODS=$(setting METHODS "tleg scratch prefin")
PRETRAINED=$(absolute "$(setting PRETRAINED)")
SEED=$(setting SEED 0)
for key in TEACHER_EPOCHS DISTILL_EPOCHS FINETUNE_EPOCHS PRETRAIN_EPOCHS TEACHER_STEPS DISTILL_STEPS \
           FINETUNE_STEPS CHECKPOINT_EVERY TEACHER_ARGS DISTILL_ARGS FINETUNE_ARGS ACCOUNT PARTITION QOS \
           ARRAY_THROTTLE MPIRUN_ARGS SBATCH_ARGS; do
  printf -v "$key" '%s' "$(setting "$key")"
done
TLEG=$(absolute "$(setting TLEG "$repo/build/launcher/tleg")")
NODES=$(setting NODES 1)
GPUS_PER_NODE=$(setting GPUS_PER_NODE 0)
TASKS_PER_NODE=$(setting TASKS_PER_NODE "$([ "$GPUS_PER_NODE" -gt 0 ] 2>/dev/null && echo "$GPUS_PER_NODE" || echo 1)")
CPUS_PER_TASK=$(setting CPUS_PER_TASK 1)
SWEEP_MODE=$(setting SWEEP_MODE array)
ARRAY_RANKS=$(setting ARRAY_RANKS "$TASKS_PER_NODE")
PREPARE_CPUS=$(setting PREPARE_CPUS "$CPUS_PER_TASK")
TIME_PREPARE=$(setting TIME_PREPARE 12:00:00)
TIME_TEACHER=$(setting TIME_TEACHER 24:00:00)
TIME_DISTILL=$(setting TIME_DISTILL 24:00:00)
TIME_SWEEP=$(setting TIME_SWEEP 24:00:00)
TIME_FINETUNE=$(setting TIME_FINETUNE 24:00:00)
TIME_REPORT=$(setting TIME_REPORT 00:30:00)
LAUNCHER=$(setting LAUNCHER srun)
MAX_REQUEUES=$(setting MAX_REQUEUES 10)
SIGNAL_SECONDS=$(setting SIGNAL_SECONDS 120)
NAME=$(setting NAME tleg)

# ---------------------------------------------------------------- checks (before anything is submitted)
# Every input a stage will get is checked here, and every problem found is reported at once:
# nothing is submitted while any is left, so that no stage fails hours into the graph (after
# prepare, say) on an input that was wrong from the start.
problems=()
problem() { problems+=("$*"); }
# The path as the user wrote it, for messages (the jobs get absolute paths).
as_written() { local raw; raw=$(setting "$1"); echo "${raw:-$2}"; }
need_file() { # need_file KEY PATH WHAT [AS-SHOWN]
  local shown=${4:-}
  [ -n "$shown" ] || shown=$(as_written "$1" "$2")
  if [ ! -e "$2" ]; then problem "$1: no such file: $shown ($3)"
  elif [ ! -f "$2" ]; then problem "$1: $shown is not a file ($3)"
  elif [ ! -r "$2" ]; then problem "$1: cannot read $shown"
  fi
}
need_writable_folder() { # need_writable_folder KEY FOLDER : it exists and is writable, or can be made
  local dir=$2
  while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  if [ ! -d "$dir" ]; then problem "$1: cannot make the folder $2: $dir is a file"
  elif [ ! -w "$dir" ]; then problem "$1: cannot write in $dir (to make or fill $2)"
  fi
}

for key in NODES GPUS_PER_NODE TASKS_PER_NODE CPUS_PER_TASK ARRAY_RANKS PREPARE_CPUS MAX_REQUEUES SIGNAL_SECONDS SEED; do
  [[ "${!key}" =~ ^[0-9]+$ ]] || problem "$key must be a whole number (got '${!key}')"
done
case "$DATASET" in fashion-mnist|imagenet|folder) ;; *) problem "DATASET must be fashion-mnist, imagenet or folder (got '$DATASET')" ;; esac
case "$SWEEP_MODE" in array|allocation) ;; *) problem "SWEEP_MODE must be array or allocation (got '$SWEEP_MODE')" ;; esac
case "$LAUNCHER" in srun|mpirun) ;; *) problem "LAUNCHER must be srun or mpirun (got '$LAUNCHER')" ;; esac
[ -n "$METHODS" ] || problem "METHODS is empty"
for method in $METHODS; do
  case "$method" in tleg|scratch|prefin|subset) ;; *) problem "unknown method '$method' in METHODS (tleg scratch prefin subset)" ;; esac
done
# The depths in Slurm's array syntax: the same list, ranges as they are (3-12 or 3,6,9,12).
[[ "$DEPTHS" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || problem "DEPTHS must be like 3-12 or 3,6,9,12 (got '$DEPTHS')"

# files and folders
for key in CONFIGS TEACHER_CONFIGS AUX_CONFIGS DES_CONFIGS; do
  for f in ${!key}; do need_file "$key" "$f" "an INI file of tleg options" "$f"; done
done
[ -z "$TEACHER" ] || need_file TEACHER "$TEACHER" "the teacher: a TorchScript .pt or a tleg model .h5"
if [[ " $METHODS " == *" subset "* ]]; then
  if [ -z "$PRETRAINED" ]; then problem "METHODS has subset: set PRETRAINED (the model it takes its layers from)"
  else need_file PRETRAINED "$PRETRAINED" "the pre-trained model subset takes its layers from"; fi
fi
if [ -e "$DATA_STORE" ]; then
  need_file DATA_STORE "$DATA_STORE" "a dataset store from tleg prepare"
  # HDF5's signature is \211HDF\r\n\032\n
  if [ -f "$DATA_STORE" ] && [ -r "$DATA_STORE" ] && [ "$(head -c 4 "$DATA_STORE" | tail -c 3)" != HDF ]; then
    problem "DATA_STORE: $(as_written DATA_STORE "$DATA_STORE") is not an HDF5 file (a dataset store from tleg prepare)"
  fi
else
  # the prepare job makes it: from its source, into a folder it can write
  if [ "$DATASET" = fashion-mnist ]; then
    source_dir=${DATA_SRC:-/usr/share/datasets/fashion-mnist}
    [ -d "$source_dir" ] || problem "DATA_SRC: no folder $source_dir to import Fashion-MNIST from (apt-get install dataset-fashion-mnist, or set DATA_SRC)"
  elif [ -z "$DATA_SRC" ]; then
    problem "DATASET=$DATASET needs DATA_SRC (the folder to import) or an existing DATA_STORE; there is no $(as_written DATA_STORE "$DATA_STORE")"
  elif [ ! -d "$DATA_SRC" ]; then
    problem "DATA_SRC: no folder $(as_written DATA_SRC "$DATA_SRC") to import"
  fi
  need_writable_folder DATA_STORE "$(dirname "$DATA_STORE")"
fi
need_writable_folder OUT "$OUT"
if [ ! -x "$TLEG" ]; then
  [ "$dry_run" = 1 ] || problem "TLEG: no tleg binary at $(as_written TLEG "$TLEG") (build it: make build; or set TLEG)"
fi

# Open MPI's transports, which sbatch hands the jobs with the rest of this environment: the
# shared-memory ones (vader, sm) reach only ranks of the same node.
if [ "${NODES:-1}" -gt 1 ] 2>/dev/null && [ -n "${OMPI_MCA_btl:-}" ] && [[ "${OMPI_MCA_btl}" != ^* ]] &&
  [[ ! "${OMPI_MCA_pml:-}" =~ ^(ucx|cm)$ ]] && [[ ! ",$OMPI_MCA_btl," =~ ,(tcp|openib|uct|ofi|usnic), ]]; then
  problem "OMPI_MCA_btl=$OMPI_MCA_btl (set in this shell; sbatch passes it to the jobs) reaches only ranks of one node, but NODES=$NODES: unset it to keep the cluster's own transports, or add tcp (OMPI_MCA_btl=self,vader,tcp; OMPI_MCA_btl_tcp_if_include=<the nodes' network>)"
fi

# The options every training stage will get, checked by tleg itself (a typo in an INI file or in
# *_ARGS fails here, not when the stage starts).
if [ -x "$TLEG" ] && [ ${#problems[@]} -eq 0 ]; then
  # shellcheck source=slurm/lib.sh
  source "$here/lib.sh"
  check_options() { # check_options STAGE COMMAND ARGS...
    local stage=$1 command=$2 output
    shift 2
    output=$("$TLEG" "$command" --check "$@" 2>&1) || problem "stage $stage: $output"
  }
  stage_args=()
  if [ -z "$TEACHER" ]; then teacher_args stage_args; check_options teacher teacher "${stage_args[@]}"; fi
  distill_args stage_args
  check_options distill distill "${stage_args[@]}"
  for method in $METHODS; do
    sweep_args stage_args "$method"
    check_options "sweep-$method" sweep "${stage_args[@]}"
  done
fi

# ---------------------------------------------------------------- settings the jobs read
settings_text() {
  echo "# tleg experiment settings, written by slurm/submit.sh $(date -u +%FT%TZ) from $(absolute "$experiment")"
  echo "# Every job of this submission sources this file (a requeued job too); do not edit while they run."
  local key
  for key in "${keys[@]}"; do printf '%s=%q\n' "$key" "${!key}"; done
  printf 'TLEG_SLURM_DIR=%q\n' "$here"
  printf 'RESUME_COMMAND=%q\n' "$resume_command"
}

# ---------------------------------------------------------------- the job graph
logs=$OUT/slurm/logs
settings=$OUT/slurm/settings.env
jobs_file=$OUT/slurm/jobs.tsv

read -ra sbatch_extra <<<"$SBATCH_ARGS"
common=(--parsable --kill-on-invalid-dep=yes --chdir="$OUT" "${sbatch_extra[@]}")
[ -z "$ACCOUNT" ] || common+=(--account="$ACCOUNT")
[ -z "$PARTITION" ] || common+=(--partition="$PARTITION")
[ -z "$QOS" ] || common+=(--qos="$QOS")
# The ranks of teacher, distill and one-allocation sweeps: NODES x TASKS_PER_NODE.
ranks=(--nodes="$NODES" --ntasks-per-node="$TASKS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK")
[ "$GPUS_PER_NODE" = 0 ] || ranks+=(--gpus-per-node="$GPUS_PER_NODE")
# One array task: ARRAY_RANKS ranks on one node, a GPU each when the cluster has GPUs.
task_ranks=(--nodes=1 --ntasks="$ARRAY_RANKS" --cpus-per-task="$CPUS_PER_TASK")
[ "$GPUS_PER_NODE" = 0 ] || task_ranks+=(--gpus-per-node="$ARRAY_RANKS")
# Training jobs get USR1 before their time limit and requeue themselves (slurm/lib.sh).
requeue=(--requeue --signal=B:USR1@"$SIGNAL_SECONDS")

# The graph is walked three ways (mode): "test" asks Slurm whether it would accept each stage's
# request as it will be made (sbatch --test-only; without the dependency, as the jobs it waits
# for do not exist yet), "dry-run" prints the sbatch commands, "submit" submits.
table=() submitted=()
# submit STAGE DEPENDENCY SBATCH-ARGS... -- SCRIPT ARGS... : sets $job.
submit() {
  local stage=$1 dependency=$2; shift 2
  local request=() args output
  while [ "$1" != -- ]; do request+=("$1"); shift; done
  shift
  args=("${common[@]}" --job-name="$NAME-$stage" "${request[@]}")
  case "$mode" in
    test)
      job="<$stage>"
      if ! output=$(sbatch --test-only "${args[@]}" "$@" 2>&1); then
        local shown=() arg
        for arg in "${request[@]}"; do [[ "$arg" == --output=* ]] || shown+=("$arg"); done
        problem "stage $stage: Slurm refuses its request (${shown[*]}): $(grep -v '^sbatch: Job ' <<<"$output" | sed 's/^sbatch: error: //' | paste -sd ';' | sed 's/;/; /g' | tr -s ' ')"
      fi
      return ;;
    dry-run)
      job="<$stage>"
      [ -z "$dependency" ] || args+=(--dependency="$dependency")
      printf '%q ' sbatch "${args[@]}" "$@"; echo ;;
    submit)
      [ -z "$dependency" ] || args+=(--dependency="$dependency")
      if ! job=$(sbatch "${args[@]}" "$@" 2>"$OUT/slurm/sbatch.err"); then
        refused "$stage" "$(sed 's/^sbatch: error: //' "$OUT/slurm/sbatch.err" | paste -sd ';' | sed 's/;/; /g' | tr -s ' ')" \
          "$(printf '%q ' sbatch "${args[@]}" "$@")"
      fi
      job=${job%%;*}  # --parsable prints "id" or "id;cluster"
      submitted+=("$job")
      printf '%s\t%s\t%s\n' "$stage" "$job" "${dependency:--}" >>"$jobs_file" ;;
  esac
  table+=("$stage $job ${dependency:--}")
}
# A stage refused at submission (a limit --test-only does not see, or a change since): no half
# graph is left to run; the jobs already submitted are cancelled and stay listed in jobs.tsv.
refused() {
  echo "submit.sh: sbatch refused stage $1: ${2:-no reason given}" >&2
  echo "submit.sh: the refused request: $3" >&2
  if [ ${#submitted[@]} -gt 0 ]; then
    scancel "${submitted[@]}" ||
      echo "submit.sh: scancel failed; cancel these yourself: scancel ${submitted[*]}" >&2
    echo "submit.sh: cancelled the ${#submitted[@]} job(s) submitted before it (${submitted[*]}), so that no half graph runs; they are listed in $jobs_file" >&2
  fi
  echo "submit.sh: fix the request, then submit again" >&2
  exit 1
}

log_of() { echo --output="$logs/%x-%j.out"; }
graph() {
  submit prepare "" "$(log_of)" --ntasks=1 --cpus-per-task="$PREPARE_CPUS" --time="$TIME_PREPARE" --requeue \
    -- "$here/prepare.sbatch" "$settings"
  local last=$job distill method
  if [ -z "$TEACHER" ]; then
    submit teacher "afterok:$last" "$(log_of)" "${ranks[@]}" "${requeue[@]}" --time="$TIME_TEACHER" \
      -- "$here/teacher.sbatch" "$settings"
    last=$job
  fi
  submit distill "afterok:$last" "$(log_of)" "${ranks[@]}" "${requeue[@]}" --time="$TIME_DISTILL" \
    -- "$here/distill.sbatch" "$settings"
  distill=$job

  local sweeps=() baselines=()
  for method in $METHODS; do [ "$method" = tleg ] || baselines+=("$method"); done
  if [ "$SWEEP_MODE" = array ]; then
    local array=$DEPTHS${ARRAY_THROTTLE:+%$ARRAY_THROTTLE}
    for method in $METHODS; do
      submit "sweep-$method" "afterok:$distill" --output="$logs/%x-%A_%a.out" --array="$array" \
        "${task_ranks[@]}" "${requeue[@]}" --time="$TIME_FINETUNE" \
        -- "$here/sweep-array.sbatch" "$settings" "$method"
      sweeps+=("$job")
    done
  else
    if [[ " $METHODS " == *" tleg "* ]]; then
      submit sweep "afterok:$distill" "$(log_of)" "${ranks[@]}" "${requeue[@]}" --time="$TIME_SWEEP" \
        -- "$here/sweep.sbatch" "$settings" tleg
      sweeps+=("$job")
    fi
    if [ ${#baselines[@]} -gt 0 ]; then
      # The baselines train the learngene's architecture (as tleg sweep does), hence after distill.
      submit baselines "afterok:$distill" "$(log_of)" "${ranks[@]}" "${requeue[@]}" --time="$TIME_SWEEP" \
        -- "$here/baselines.sbatch" "$settings" "${baselines[@]}"
      sweeps+=("$job")
    fi
  fi
  # afterany: the report runs when every sweep has ended, however it ended (also when a sweep
  # was cancelled because distill failed), and reports the runs that exist.
  submit report "afterany$(printf ':%s' "${sweeps[@]}")" "$(log_of)" --ntasks=1 --cpus-per-task=1 \
    --time="$TIME_REPORT" -- "$here/report.sbatch" "$settings"
}

# Whether Slurm would take every request, now, before anything is submitted. A dry run on a
# machine without Slurm still prints the graph, unchecked.
if ! command -v sbatch >/dev/null; then
  [ "$dry_run" = 1 ] || problem "sbatch not found (is this a Slurm login node?)"
elif [ -n "${SLURM_CONF:-}" ] && [ ! -f "$SLURM_CONF" ]; then
  # (the Slurm commands would retry for a minute before saying so)
  problem "SLURM_CONF=$SLURM_CONF: no such file (unset it, or point it at the cluster's slurm.conf)"
elif ! slurm_answer=$(sinfo -h -o %P 2>&1); then
  slurm_answer=$(paste -sd ';' <<<"$slurm_answer" | sed 's/;/; /g')
  if [ "$dry_run" = 1 ]; then
    echo "# Slurm does not answer, the requests are not checked: $slurm_answer"
  else
    problem "Slurm does not answer (sinfo: $slurm_answer); is this a Slurm login node, is SLURM_CONF right?"
  fi
else
  mode="test"
  graph
fi
if [ ${#problems[@]} -gt 0 ]; then
  echo "submit.sh: nothing submitted; ${#problems[@]} problem(s) with $experiment:" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 2
fi

if [ "$dry_run" = 1 ]; then
  echo "# settings ($OUT/slurm/settings-<time>.env):"
  settings_text | sed 's/^/#   /'
  mode=dry-run
else
  mkdir -p "$logs"
  # one file per submission: jobs of an earlier submission still running keep their settings
  settings=$OUT/slurm/settings-$(date +%Y%m%d-%H%M%S)-$$.env
  settings_text >"$settings"
  : >"$jobs_file"
  mode=submit
fi
graph

printf '%-16s %-16s %s\n' stage job dependency
for row in "${table[@]}"; do read -r stage id dependency <<<"$row"; printf '%-16s %-16s %s\n' "$stage" "$id" "$dependency"; done
if [ "$dry_run" = 0 ]; then
  rm -f "$OUT/slurm/sbatch.err"
  echo "settings: $settings"
  echo "logs: $logs; job ids: $jobs_file; report (when done): $OUT/report/report.md"
fi
