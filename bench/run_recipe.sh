#!/usr/bin/env bash
# What a change of the Fashion-MNIST recipe (experiments/fashion-mnist/*.ini) does to the speed
# of each stage it trains: the recipe of git revision OLD_REV against the working tree's, side by
# side in one run, each stage as the default profile runs it: stage 1 (`tleg distill`, 2 ranks,
# the teacher live: a CNN trained for 5 steps costs what a trained one costs) and stage 2
# (`tleg sweep --depths 3,12`, one rank per depth, both at once, as the sweeps' groups run).
# images/s is run.json's images over its wall seconds (start-up included, no evaluation).
# usage: bench/run_recipe.sh BUILD_DIR OLD_REV
#   env: RUNS=2 (the order alternates between runs), STEPS=200 (steps of each stage),
#        WORK=BUILD_DIR/bench-recipe (keeps the store and the teacher between calls)
set -euo pipefail
build=${1:?usage: bench/run_recipe.sh BUILD_DIR OLD_REV}
old_rev=${2:?usage: bench/run_recipe.sh BUILD_DIR OLD_REV}
tleg=$build/launcher/tleg
[[ -x $tleg ]] || { echo "run_recipe.sh: $tleg not built" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-2} steps=${STEPS:-200} work=${WORK:-$build/bench-recipe}
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_orte_execute_quiet=1

store=$work/fashion-mnist.h5 teacher=$work/teacher/model.h5
mkdir -p "$work"
[[ -f $store ]] || "$tleg" prepare fashion-mnist --out "$store" >&2
[[ -f $teacher ]] || "$tleg" teacher --config "$repo/experiments/fashion-mnist/common.ini" \
  --config "$repo/experiments/fashion-mnist/teacher-cnn.ini" --data.store "$store" \
  --data.val-split "" --optim.epochs 1 --optim.steps-per-epoch 5 --run.dir "$work/teacher" >&2

# The two recipes' INI files: OLD_REV's, and the working tree's.
rm -rf "$work/recipes" "$work/runs"
mkdir -p "$work/recipes/old" "$work/recipes/new"
for file in common aux des; do
  git -C "$repo" show "$old_rev:experiments/fashion-mnist/$file.ini" >"$work/recipes/old/$file.ini" ||
    { echo "run_recipe.sh: no experiments/fashion-mnist/$file.ini at $old_rev" >&2; exit 1; }
  cp "$repo/experiments/fashion-mnist/$file.ini" "$work/recipes/new/$file.ini"
done

measure() {  # measure RUN RECIPE: stage 1, then the two stage-2 depths
  local dir=$work/runs/$1/$2 recipe=$work/recipes/$2
  echo "run_recipe: run $1, recipe $2, load $(cut -d' ' -f1 /proc/loadavg)" >&2
  cut -d' ' -f1 /proc/loadavg >"$work/runs/$1.$2.load"
  mpirun -np 2 "$tleg" distill --config "$recipe/common.ini" --config "$recipe/aux.ini" \
    --data.store "$store" --data.val-split "" --distill.teacher "$teacher" --optim.epochs 1 \
    --optim.steps-per-epoch "$steps" --run.dir "$dir/aux" >"$dir.log" 2>&1 ||
    { tail -20 "$dir.log" >&2; exit 1; }
  mpirun -np 2 "$tleg" sweep --config "$recipe/common.ini" --config "$recipe/des.ini" \
    --data.store "$store" --data.val-split "" --init scratch --depths 3,12 --optim.epochs 1 \
    --optim.steps-per-epoch "$steps" --run.dir "$dir/sweep" >>"$dir.log" 2>&1 ||
    { tail -20 "$dir.log" >&2; exit 1; }
}
mkdir -p "$work/runs"
for ((run = 1; run <= runs; ++run)); do
  mkdir -p "$work/runs/$run"
  if ((run % 2)); then measure "$run" old; measure "$run" new; else measure "$run" new; measure "$run" old; fi
done

python3 - "$work/runs" "$runs" "$old_rev" <<'PY'
import json, sys
root, runs, old_rev = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rate(path):
    r = json.load(open(path))
    return r["images"] / r["wall_seconds"]
stages = [("stage 1: aux net, 2 ranks", "aux/run.json"),
          ("stage 2: depth 3, 1 rank", "sweep/scratch/depth-3/run.json"),
          ("stage 2: depth 12, 1 rank", "sweep/scratch/depth-12/run.json")]
def recipe(r):
    keys = ("model.heads", "optim.batch", "model.drop-path", "aug.scale-min", "aug.flip")
    return ", ".join(f"{k.split('.')[1]} {r['recipe'].get(k, '-')}" for k in keys)
for run in range(1, runs + 1):
    load = {v: open(f"{root}/{run}.{v}.load").read().strip() for v in ("old", "new")}
    print(f"run {run} (load at start: old {load['old']}, new {load['new']})")
    print(f"{'stage':<28}{'old img/s':>10}{'new img/s':>10}{'new/old':>9}")
    for name, file in stages:
        o, n = rate(f"{root}/{run}/old/{file}"), rate(f"{root}/{run}/new/{file}")
        print(f"{name:<28}{o:>10.0f}{n:>10.0f}{n / o:>8.2f}x")
    print()
print(f"old ({old_rev}):", "; ".join(recipe(json.load(open(f"{root}/1/old/{f}"))) for _, f in stages[:2]))
print("new (working tree):", "; ".join(recipe(json.load(open(f"{root}/1/new/{f}"))) for _, f in stages[:2]))
PY
