#!/usr/bin/env bash
# The recipe search of docs/recipe-search.md, by its rule: a Fashion-MNIST store with 5,000
# training images held out, a teacher trained without them, then a coordinate-wise search of
# stage 1 (the auxiliary net's holdout top-1) and of stage 2 (the mean holdout top-1 of TLEG
# descendants and scratch at depths 3, 6, 9, 12 at budget B), knob by knob in the rule's order.
# The test split is never evaluated. Every run keeps its folder; a rerun reuses finished runs, so
# the search resumes where it stopped. Every score goes to OUT/search.tsv, and the tables (each
# run's score and time) to OUT/search.md; --table writes search.md again from the runs.
# usage: experiments/recipe_search.sh [--dry-run] [--table] [--tleg PATH] [--out DIR] [--stage 1|2|all]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
tleg=$repo/build/launcher/tleg
out=$repo/runs/recipe-search
stages=all
dry_run=0 table_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --tleg) tleg=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --stage) stages=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --table) table_only=1; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "recipe_search.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $stages in 1|2|all) ;; *) echo "recipe_search.sh: --stage must be 1, 2 or all" >&2; exit 2 ;; esac

# The rule's budgets, in training images, and its machine: 2 ranks. Stage 1 trains on both
# (153,600 images: 3 epochs of 400 steps of 2 x 64); the stage-2 sweeps split them into 2 groups
# of 1 rank, one depth each, as the default profile's sweeps do, so each stage-2 run trains on
# one rank: 560 steps of 64, 35,840 images (budget B; docs/recipe-search.md says why its rule
# first wrote 71,680).
readonly ranks=2 stage1_images=153600 stage2_images=35840 tie=0.3
readonly configs=$repo/experiments/fashion-mnist
store=$out/data/fashion-mnist-holdout.h5
teacher=$out/teacher/model.h5
export OMPI_MCA_orte_execute_quiet=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0

# The knobs in the rule's order: "name option value..." (the current recipe's value first).
stage1_knobs=(
  "heads model.heads 2 4"
  "crop aug.scale-min 0.35 0.6 0.9"
  "flips aug.flip 0.5 0"
  "drop-path model.drop-path 0 0.1"
  "lr optim.lr 2e-3 4e-3 1e-3"
  "warm-up optim.warmup-epochs 1 0"
  "batch optim.batch 64 32 128"
  "temperature distill.tau 1 2 4"
)
stage2_knobs=(
  "crop aug.scale-min 0.35 0.6 0.9"
  "flips aug.flip 0.5 0"
  "drop-path model.drop-path 0.1 0.05 0"
  "smoothing aug.smoothing 0.1 0"
  "lr optim.lr 2e-3 4e-3 1e-3"
  "batch optim.batch 64 32 128"
)

# The current recipe's value of each option, per stage (each knob's first value).
declare -A current1 current2
for knob in "${stage1_knobs[@]}"; do read -r _ option value _ <<<"$knob"; current1[$option]=$value; done
for knob in "${stage2_knobs[@]}"; do read -r _ option value _ <<<"$knob"; current2[$option]=$value; done
current2[model.heads]=2

# effective STAGE SETTINGS: the settings that differ from the current recipe, sorted: runs with
# the same effective settings are the same run (one folder, trained once).
effective() {
  local -n current="current$1"
  local pair kept=()
  for pair in $2; do [ "${current[${pair%%=*}]:-}" = "${pair#*=}" ] || kept+=("$pair"); done
  printf '%s\n' "${kept[@]}" | sort | paste -sd ' '
}

# Commands printed so far in a dry run (a run the search reuses is printed once).
printed=$(mktemp)
trap 'rm -f "$printed"' EXIT

run() {  # the command, printed; run unless --dry-run
  if [ "$dry_run" = 1 ]; then
    grep -qxF -- "+ $*" "$printed" || echo "+ $*" | tee -a "$printed" >&2
    return
  fi
  echo "+ $*" >&2
  "$@"
}

# steps_per_epoch IMAGES EPOCHS BATCH RANKS: the steps that give IMAGES over EPOCHS at BATCH per
# rank on RANKS ranks.
steps_per_epoch() { echo $(( $1 / ($2 * $3 * $4) )); }

# The holdout top-1 (percent) a finished run recorded.
top1_of() {
  python3 -c "import json, sys; print(round(100 * json.load(open(sys.argv[1]))['top1'], 2))" "$1"
}

# Settings as options: "option=value ..." -> --option value ...
options_of() {
  local pair words=()
  for pair in $1; do words+=("--${pair%%=*}" "${pair#*=}"); done
  echo "${words[@]}"
}

# A name for a set of settings, the same for the same effective settings (the run folder).
key_of() { echo "$(effective "$1" "$2") ${3:-}" | md5sum | cut -c1-10; }

# with SETTINGS OPTION VALUE: the settings with OPTION set to VALUE.
with() {
  local pair result=""
  for pair in $1; do [ "${pair%%=*}" = "$2" ] || result+="$pair "; done
  echo "${result}$2=$3"
}

setting_of() {  # setting_of SETTINGS OPTION [DEFAULT]
  local pair
  for pair in $1; do [ "${pair%%=*}" = "$2" ] && { echo "${pair#*=}"; return; }; done
  echo "${3:-}"
}

# The store and the teacher, trained on the 55,000 images of train and evaluated on holdout.
prepare() {
  [ -f "$store" ] || run "$tleg" prepare fashion-mnist --hold-out 5000 --out "$store"
  [ -f "$out/teacher/run.json" ] ||
    run mpirun -np "$ranks" "$tleg" teacher --config "$configs/common.ini" \
      --config "$configs/teacher-cnn.ini" --data.store "$store" --data.val-split holdout \
      --optim.epochs 3 --run.dir "$out/teacher" --resume
}

# The folder of the run(s) of STAGE under SETTINGS (stage 2: from LEARNGENE).
run_dir() { echo "$out/stage$1/$(key_of "$1" "$2" "${3:-}")"; }

# Stage 1 under SETTINGS: the folder of its run (trained unless already there).
stage1_run() {
  local settings=$1 dir batch
  dir=$(run_dir 1 "$settings")
  batch=$(setting_of "$settings" optim.batch 64)
  if [ ! -f "$dir/run.json" ]; then
    [ "$dry_run" = 1 ] || { mkdir -p "$dir"; echo "$settings" >"$dir/settings.txt"; }
    # shellcheck disable=SC2046  # the options are words by design
    run mpirun -np "$ranks" "$tleg" distill --config "$configs/common.ini" --config "$configs/aux.ini" \
      --data.store "$store" --data.val-split holdout --distill.teacher "$teacher" \
      --optim.epochs 3 --optim.steps-per-epoch "$(steps_per_epoch $stage1_images 3 "$batch" "$ranks")" \
      $(options_of "$(effective 1 "$settings")") --run.dir "$dir" --resume >&2
  fi
  echo "$dir"
}

# Stage 2 under SETTINGS from LEARNGENE: the mean holdout top-1 of its 8 runs.
stage2_score() {
  local settings=$1 learngene=$2 dir batch method depth sum=0 runs=0
  dir=$(run_dir 2 "$settings" "$learngene")
  batch=$(setting_of "$settings" optim.batch 64)
  [ "$dry_run" = 1 ] || { mkdir -p "$dir"; echo "$settings" >"$dir/settings.txt"; }
  for method in tleg scratch; do
    local init=(--init "$method")
    [ "$method" = scratch ] || init+=(--learngene "$learngene")
    # shellcheck disable=SC2046
    run mpirun -np "$ranks" "$tleg" sweep --config "$configs/common.ini" --config "$configs/des.ini" \
      --data.store "$store" --data.val-split holdout --depths 3,6,9,12 "${init[@]}" \
      --optim.epochs 1 --optim.steps-per-epoch "$(steps_per_epoch $stage2_images 1 "$batch" 1)" \
      $(options_of "$(effective 2 "$settings")") --run.dir "$dir" --resume >&2
    for depth in 3 6 9 12; do
      [ "$dry_run" = 1 ] && continue
      sum=$(python3 -c "print($sum + $(top1_of "$dir/$method/depth-$depth/run.json"))")
      runs=$((runs + 1))
    done
  done
  [ "$dry_run" = 1 ] && { echo 0; return; }
  python3 -c "print(round($sum / $runs, 2))"
}

table_row() {  # stage knob value score chosen settings folder
  [ "$dry_run" = 0 ] || return 0
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$out/search.tsv"
}

# OUT/search.md from OUT/search.tsv: per stage, each knob's values with their score and the
# rank-seconds their run(s) took (device_seconds of run.json), and the value kept.
write_table() {
  python3 - "$out" <<'PY'
import collections, glob, json, os, sys
out = sys.argv[1]
rows = [line.rstrip("\n").split("\t") for line in open(os.path.join(out, "search.tsv")) if line.strip()]
def seconds(folder):
    runs = [folder + "/run.json"] if os.path.exists(folder + "/run.json") else glob.glob(folder + "/*/depth-*/run.json")
    return sum(json.load(open(r))["device_seconds"] for r in runs)
lines = []
for stage, what in (("1", "the auxiliary net's holdout top-1"),
                    ("2", "the mean holdout top-1 of TLEG and scratch at depths 3, 6, 9, 12")):
    tried, kept = collections.OrderedDict(), {}
    for row in rows:
        if row[0] != stage: continue
        if row[4] == "chosen": kept[row[1]] = row[2]
        else: tried.setdefault(row[1], []).append(row)
    if not tried: continue
    lines += [f"Stage {stage}: score = {what} (%); rank-seconds of the run(s) in brackets.", "",
              "| knob | values → score (rank-seconds) | kept |", "|---|---|---|"]
    for knob, values in tried.items():
        cells = ", ".join(f"{r[2]} → {r[3]} ({seconds(r[6]):,.0f})" if len(r) > 6 else f"{r[2]} → {r[3]}"
                          for r in values)
        lines.append(f"| {knob} | {cells} | {kept.get(knob, '(searching)')} |")
    lines.append("")
open(os.path.join(out, "search.md"), "w").write("\n".join(lines))
print("\n".join(lines))
PY
}

# search STAGE SETTINGS KNOB...: the coordinate-wise search; prints the chosen settings.
search() {
  local stage=$1 settings=$2 knob name option value best_value best_score score candidate
  shift 2
  for knob in "$@"; do
    read -r name option first rest <<<"$knob"
    best_value=$first best_score=""
    for value in $first $rest; do
      candidate=$(with "$settings" "$option" "$value")
      if [ "$stage" = 1 ]; then
        local dir
        dir=$(stage1_run "$candidate")
        score=0; [ "$dry_run" = 1 ] || score=$(top1_of "$dir/run.json")
      else
        score=$(stage2_score "$candidate" "$learngene")
      fi
      # A later value replaces the chosen one only when higher by more than the tie margin.
      if [ -z "$best_score" ] ||
        python3 -c "import sys; sys.exit(0 if $score > $best_score + $tie else 1)"; then
        best_value=$value best_score=$score
      fi
      table_row "$stage" "$name" "$value" "$score" "" "$candidate" "$(run_dir "$stage" "$candidate" "${learngene:-}")"
    done
    settings=$(with "$settings" "$option" "$best_value")
    table_row "$stage" "$name" "$best_value" "$best_score" chosen "$settings" -
  done
  echo "$settings"
}

if [ "$table_only" = 1 ]; then write_table; exit 0; fi
[ "$dry_run" = 1 ] || { mkdir -p "$out"; : >"$out/search.tsv"; }
prepare
stage1_settings=$(with "" model.heads 2)
if [ "$stages" != 2 ]; then
  stage1_settings=$(search 1 "$stage1_settings" "${stage1_knobs[@]}")
  [ "$dry_run" = 1 ] || echo "$stage1_settings" >"$out/stage1-chosen.txt"
fi
[ "$stages" = 1 ] && exit 0
[ -f "$out/stage1-chosen.txt" ] && stage1_settings=$(cat "$out/stage1-chosen.txt")
learngene=$(stage1_run "$stage1_settings")/learngene.h5
# The baselines share the learngene's architecture (its heads), so that only the start differs.
stage2_settings=$(search 2 "model.heads=$(setting_of "$stage1_settings" model.heads)" "${stage2_knobs[@]}")
[ "$dry_run" = 1 ] || echo "$stage2_settings" >"$out/stage2-chosen.txt"
[ "$dry_run" = 1 ] || write_table
echo "stage 1: $stage1_settings"
echo "stage 2: $stage2_settings"
