#!/usr/bin/env bash
# Runs an experiment's plan (experiments/plan.sh) on this machine: every stage in the plan's
# order, data-parallel stages and sweeps with mpirun over NODES x TASKS_PER_NODE ranks, stages
# whose outputs exist skipped, every training stage resumed from its checkpoints. The same plan
# is what slurm/submit.sh submits to a cluster.
# usage: experiments/run.sh [--dry-run] [--KEY VALUE]... PROFILE   (experiments/run.sh --help)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plan_caller=run.sh
# shellcheck source=experiments/plan.sh
source "$here/plan.sh"

usage() {
  cat <<EOF
usage: experiments/run.sh [--dry-run] [--KEY VALUE]... PROFILE

Runs the experiment PROFILE describes (a name: $(plan_profile_names),
or a profile file) on this machine, stage by stage in the order of its plan; a stage whose
outputs exist is skipped and a training stage resumes from its checkpoints, so running the same
command again after a failure or a Ctrl-C goes on where it stopped. Any key of the profile can
be given as an option, --key-name VALUE for KEY_NAME, and the option wins; relative paths of
options are taken from the current directory, those of a profile file from the repository root.

  --dry-run            check, print the plan and the commands, run nothing
  -h, --help           this text

$(plan_keys_help)
EOF
}

plan_executor_read "$@"
plan_build
if [ "$plan_dry_run" = 1 ]; then plan_check tleg-optional; else plan_check tleg-required; fi
plan_report_problems run

ranks=$((NODES * TASKS_PER_NODE))
# Each rank's CPUs: this machine's cores shared by the ranks (what a Slurm job's CPUS_PER_TASK is).
cpus=$(( $(nproc) / ranks )); [ "$cpus" -ge 1 ] || cpus=1
# Open MPI on one machine: shared memory and loopback only, no warnings about absent high-speed
# networks; root is allowed (containers, CI); quiet: a failing stage's error is tleg's one line
# per rank, without mpirun's banner about a non-zero exit.
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_MCA_orte_execute_quiet=${OMPI_MCA_orte_execute_quiet:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# The command line of a stage on this machine.
command=()
stage_command() { # stage_command NAME ARRAY
  # shellcheck disable=SC2178  # a name reference to the caller's array
  local -n into=$2
  local words
  plan_words "$1" words "$DEPTHS" "$cpus"
  case ${plan_ranks[$1]} in
    one) into=("$TLEG" "${words[@]}") ;;
    *) into=(mpirun -np "$ranks" "$TLEG" "${words[@]}") ;;
  esac
}

plan_print
echo
if [ "$plan_dry_run" = 1 ]; then
  echo "commands on this machine ($ranks rank(s), $cpus CPU(s) each):"
  for name in "${plan_stages[@]}"; do
    stage_command "$name" command
    echo "$name: $(plan_show "${command[@]}")"
  done
  exit 0
fi

started=$(date +%s)
mkdir -p "$OUT/data"
[ -z "$DATA_STORE" ] || mkdir -p "$(dirname "$DATA_STORE")"
for name in "${plan_stages[@]}"; do
  echo
  if plan_finished "$name"; then echo "== $name: done ($(plan_show "${plan_done[$name]}"))"; continue; fi
  echo "== $name"
  stage_command "$name" command
  rc=0 stage_started=$(date +%s)
  if [ "$name" = report ]; then
    # The report's tables go to its folder; its first line (the cost summary) is printed below.
    "${command[@]}" >"$OUT/report.log" || rc=$?
  elif [ "$name" = linearity ]; then
    "${command[@]}" >"$OUT/linearity.log" || rc=$?
  else
    "${command[@]}" || rc=$?
  fi
  if [ "$rc" != 0 ]; then
    echo "run.sh: stage $name failed (exit $rc); its output is above. Run the same command again to" \
      "go on from here (finished stages are skipped, training resumes from its checkpoints):" >&2
    echo "  $(printf '%q ' "$0" "$@")" >&2
    exit "$rc"
  fi
  echo "== $name finished in $(( $(date +%s) - stage_started )) s"
done

# What the report says, for the terminal: the accuracy table, the ledger's totals, the verdicts,
# the linearity (pipeline) or the transfer section.
report=$OUT/report
echo
[ ! -f "$OUT/report.log" ] || head -1 "$OUT/report.log"
if [ "$EXPERIMENT" = transfer ]; then
  echo
  sed -n '/^## Transfer/,$p' "$report/report.md"
else
  echo
  sed -n '/^## Accuracy/,/^## Runs/p' "$report/report.md" | sed '1d;$d'
  grep -E "parameters stored|total training cost \(FLOPs\)|pre-training cost \(FLOPs\)" \
    "$report/totals.md" | grep "^| TLEG" | cut -d'|' -f2,3 | sed 's/^ /  /; s/ *| */: /'
  echo
  sed -n '/^- /p' "$report/verdicts.md"
  if [ -f "$report/linearity/linearity.md" ]; then
    echo
    echo "linearity of the depth-$(plan_deepest) blocks across depth ($report/linearity/linearity.md):"
    sed -n '/^## What the numbers say/,/^## R/p' "$report/linearity/linearity.md" | grep '^- ' |
      sed 's/^- /  /'
  fi
fi
echo
echo "$plan_profile finished in $(( $(date +%s) - started )) s; report: $report/report.md"
