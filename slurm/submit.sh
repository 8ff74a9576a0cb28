#!/usr/bin/env bash
# Submits an experiment's plan (experiments/plan.sh) to Slurm: one job per stage (a job array
# over the depths for a sweep), each waiting for the stages it needs, every job running its
# stage's tleg command through slurm/stage.sbatch. The same plan is what experiments/run.sh runs
# on one machine.
# usage: slurm/submit.sh [--dry-run] [--KEY VALUE]... PROFILE   (slurm/submit.sh --help)
# shellcheck disable=SC2153  # the profile's keys (SBATCH_ARGS, ...) are set by plan_read
# shellcheck disable=SC2178  # local -n: name references to the callers' arrays
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plan_caller=submit.sh
# shellcheck source=experiments/plan.sh
source "$here/../experiments/plan.sh"

usage() {
  cat <<EOF
usage: slurm/submit.sh [--dry-run] [--KEY VALUE]... PROFILE

Submits the stages of the experiment PROFILE describes (a name: $(plan_profile_names),
or a profile file), each with --dependency=afterok on the stages it needs (aftercorr between two
sweeps that need only the same depth; the report afterany, so it reports what exists) and
--kill-on-invalid-dep=yes, so a failed stage cancels its dependants instead of leaving them
pending. Prints the job ids and writes them to OUT/slurm/jobs.tsv. Any key of the profile can be
given as an option, --key-name VALUE for KEY_NAME, and the option wins; relative paths of
options are taken from the current directory, those of a profile file from the repository root.

Before submitting anything it checks every input (files, folders, every stage's options through
tleg --check, and each stage's request through sbatch --test-only) and lists every problem found.
When sbatch refuses a stage all the same, the jobs already submitted are cancelled and listed in
jobs.tsv. Submitting the same command again resumes: finished stages end at once, training
resumes from its checkpoints.

  --dry-run            check, print the plan and the sbatch commands, submit nothing
  -h, --help           this text

$(plan_keys_help)
EOF
}

die() { echo "submit.sh: $*" >&2; exit 2; }

# The command that resubmits this experiment: every stage skips finished work and resumes the
# rest, so it is what a cancelled or timed-out job tells its user to run.
resume_command="cd $(printf '%q' "$PWD") &&$(printf ' %q' "$0" "$@")"

plan_executor_read "$@"
plan_build
if [ "$plan_dry_run" = 1 ]; then plan_check tleg-optional; else plan_check tleg-required; fi

# Open MPI's transports, which sbatch hands the jobs with the rest of this environment: the
# shared-memory ones (vader, sm) reach only ranks of the same node.
if [ "${NODES:-1}" -gt 1 ] 2>/dev/null && [ -n "${OMPI_MCA_btl:-}" ] && [[ "${OMPI_MCA_btl}" != ^* ]] &&
  [[ ! "${OMPI_MCA_pml:-}" =~ ^(ucx|cm)$ ]] && [[ ! ",$OMPI_MCA_btl," =~ ,(tcp|openib|uct|ofi|usnic), ]]; then
  plan_problem "OMPI_MCA_btl=$OMPI_MCA_btl (set in this shell; sbatch passes it to the jobs) reaches only ranks of one node, but NODES=$NODES: unset it to keep the cluster's own transports, or add tcp (OMPI_MCA_btl=self,vader,tcp; OMPI_MCA_btl_tcp_if_include=<the nodes' network>)"
fi

# ---------------------------------------------------------------- the job graph
logs=$OUT/slurm/logs
settings=$OUT/slurm/settings.env
jobs_file=$OUT/slurm/jobs.tsv

read -ra sbatch_extra <<<"$SBATCH_ARGS"
common=(--parsable --kill-on-invalid-dep=yes --chdir="$OUT" "${sbatch_extra[@]}")
[ -z "$ACCOUNT" ] || common+=(--account="$ACCOUNT")
[ -z "$PARTITION" ] || common+=(--partition="$PARTITION")
[ -z "$QOS" ] || common+=(--qos="$QOS")
# The ranks of data-parallel stages and one-allocation sweeps: NODES x TASKS_PER_NODE.
ranks=(--nodes="$NODES" --ntasks-per-node="$TASKS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK")
[ "$GPUS_PER_NODE" = 0 ] || ranks+=(--gpus-per-node="$GPUS_PER_NODE")
# One array task: ARRAY_RANKS ranks on one node, a GPU each when the cluster has GPUs.
task_ranks=(--nodes=1 --ntasks="$ARRAY_RANKS" --cpus-per-task="$CPUS_PER_TASK")
[ "$GPUS_PER_NODE" = 0 ] || task_ranks+=(--gpus-per-node="$ARRAY_RANKS")
# Training jobs get USR1 before their time limit and requeue themselves (slurm/lib.sh).
requeue=(--requeue --signal=B:USR1@"$SIGNAL_SECONDS")

# The sbatch request of a stage, from its ranks and time in the plan.
request_of() { # request_of NAME ARRAY
  local -n into=$2
  local name=$1 time_key=TIME_${plan_time[$1]}
  case ${plan_ranks[$name]} in
    one)
      into=(--output="$logs/%x-%j.out" --ntasks=1 --requeue)
      if [ "${plan_time[$name]}" = PREPARE ]; then into+=(--cpus-per-task="$PREPARE_CPUS")
      else into+=(--cpus-per-task=1); fi ;;
    all) into=(--output="$logs/%x-%j.out" "${ranks[@]}" "${requeue[@]}") ;;
    sweep)
      if [ "$SWEEP_MODE" = array ]; then
        into=(--output="$logs/%x-%A_%a.out" --array="$DEPTHS${ARRAY_THROTTLE:+%$ARRAY_THROTTLE}"
              "${task_ranks[@]}" "${requeue[@]}")
      else
        into=(--output="$logs/%x-%j.out" "${ranks[@]}" "${requeue[@]}")
        time_key=TIME_SWEEP
      fi ;;
  esac
  into+=(--time="${!time_key}")
}

# The dependency of a stage on the jobs of the stages it needs: afterok (aftercorr from one
# array to another where it needs only the same depth), afterany for the report.
declare -A job_of=()
dependency_of() { # dependency_of NAME
  local need ok=() corr=() any=()
  for need in ${plan_needs[$1]}; do
    if [ "$1" = report ]; then any+=("${job_of[$need]}")
    elif [[ "$need" == *@depth ]]; then
      need=${need%@depth}
      if [ "$SWEEP_MODE" = array ]; then corr+=("${job_of[$need]}"); else ok+=("${job_of[$need]}"); fi
    else ok+=("${job_of[$need]}"); fi
  done
  local parts=()
  [ ${#ok[@]} -eq 0 ] || parts+=("afterok$(printf ':%s' "${ok[@]}")")
  [ ${#corr[@]} -eq 0 ] || parts+=("aftercorr$(printf ':%s' "${corr[@]}")")
  [ ${#any[@]} -eq 0 ] || parts+=("afterany$(printf ':%s' "${any[@]}")")
  local IFS=,
  echo "${parts[*]}"
}

# The graph is walked three ways (mode): "test" asks Slurm whether it would accept each stage's
# request as it will be made (sbatch --test-only; without the dependency, as the jobs it waits
# for do not exist yet), "dry-run" prints the sbatch commands, "submit" submits.
table=() submitted=()
submit() { # submit NAME : sets job_of[NAME]
  local name=$1 request dependency output job
  request_of "$name" request
  dependency=$(dependency_of "$name")
  local sbatch_args=("${common[@]}" --job-name="$NAME-$name" "${request[@]}")
  local script=("$here/stage.sbatch" "$settings" "$name")
  case "$mode" in
    test)
      job_of[$name]="<$name>"
      if ! output=$(sbatch --test-only "${sbatch_args[@]}" "${script[@]}" 2>&1); then
        local shown=() arg
        for arg in "${request[@]}"; do [[ "$arg" == --output=* ]] || shown+=("$arg"); done
        plan_problem "stage $name: Slurm refuses its request (${shown[*]}): $(grep -v '^sbatch: Job ' <<<"$output" | sed 's/^sbatch: error: //' | paste -sd ';' | sed 's/;/; /g' | tr -s ' ')"
      fi
      return ;;
    dry-run)
      job_of[$name]="<$name>"
      [ -z "$dependency" ] || sbatch_args+=(--dependency="$dependency")
      echo "sbatch $(plan_show "${sbatch_args[@]}" "${script[@]}")" ;;
    submit)
      [ -z "$dependency" ] || sbatch_args+=(--dependency="$dependency")
      if ! job=$(sbatch "${sbatch_args[@]}" "${script[@]}" 2>"$OUT/slurm/sbatch.err"); then
        refused "$name" "$(sed 's/^sbatch: error: //' "$OUT/slurm/sbatch.err" | paste -sd ';' | sed 's/;/; /g' | tr -s ' ')" \
          "$(printf '%q ' sbatch "${sbatch_args[@]}" "${script[@]}")"
      fi
      job=${job%%;*}  # --parsable prints "id" or "id;cluster"
      job_of[$name]=$job
      submitted+=("$job")
      printf '%s\t%s\t%s\n' "$name" "$job" "${dependency:--}" >>"$jobs_file" ;;
  esac
  table+=("$name ${job_of[$name]} ${dependency:--}")
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
graph() { local name; for name in "${plan_stages[@]}"; do submit "$name"; done; }

# Whether Slurm would take every request, now, before anything is submitted. A dry run on a
# machine without Slurm still prints the graph, unchecked.
if ! command -v sbatch >/dev/null; then
  [ "$plan_dry_run" = 1 ] || plan_problem "sbatch not found (is this a Slurm login node?)"
elif [ -n "${SLURM_CONF:-}" ] && [ ! -f "$SLURM_CONF" ]; then
  # (the Slurm commands would retry for a minute before saying so)
  plan_problem "SLURM_CONF=$SLURM_CONF: no such file (unset it, or point it at the cluster's slurm.conf)"
elif ! slurm_answer=$(sinfo -h -o %P 2>&1); then
  slurm_answer=$(paste -sd ';' <<<"$slurm_answer" | sed 's/;/; /g')
  if [ "$plan_dry_run" = 1 ]; then
    echo "# Slurm does not answer, the requests are not checked: $slurm_answer"
  else
    plan_problem "Slurm does not answer (sinfo: $slurm_answer); is this a Slurm login node, is SLURM_CONF right?"
  fi
else
  mode="test"
  graph
fi
plan_report_problems submitted

# The settings every job of this submission reads (a requeued job too): the plan's keys, from
# which stage.sbatch rebuilds the plan, and the command that resubmits.
settings_text() {
  echo "# tleg experiment settings, written by slurm/submit.sh $(date -u +%FT%TZ) from $plan_profile_path"
  echo "# Every job of this submission sources this file; do not edit while they run."
  plan_settings_text
  printf 'TLEG_SLURM_DIR=%q\n' "$here"
  printf 'RESUME_COMMAND=%q\n' "$resume_command"
}

plan_print
echo
if [ "$plan_dry_run" = 1 ]; then
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

printf '%-20s %-22s %s\n' stage job dependency
for row in "${table[@]}"; do read -r name id dependency <<<"$row"; printf '%-20s %-22s %s\n' "$name" "$id" "$dependency"; done
if [ "$plan_dry_run" = 0 ]; then
  rm -f "$OUT/slurm/sbatch.err"
  echo "settings: $settings"
  echo "logs: $logs; job ids: $jobs_file; report (when done): $OUT/report/report.md"
fi
