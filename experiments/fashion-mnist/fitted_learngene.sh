#!/usr/bin/env bash
# Does stage 1 start better from a learngene fitted to a trained deep ViT (tleg linearity
# --write-learngene) than from random values? On Fashion-MNIST, one process: a teacher and a
# depth-12 ViT trained from scratch (the default demo profile's teacher budget for both), the
# linearity report of that ViT and its fitted learngene, then the auxiliary net (L = 12) distilled
# twice from the same teacher with the same seed and budget: (a) random start, (b) from the fitted
# learngene, evaluated after every epoch; then a fine-tuned depth-12 TLEG descendant's linearity
# next to the scratch ViT's. Ends with the table of top-1 against stage-1 steps and
# what each part cost (run.json), also written to OUT/summary.md.
# usage: fitted_learngene.sh [OUT]   (TLEG=path/to/tleg, EPOCHS=6, STEPS=50 per epoch, SEED=0)
set -euo pipefail
out=${1:-runs/fitted-learngene}
here=$(cd "$(dirname "$0")" && pwd)
tleg=${TLEG:-$here/../../build/launcher/tleg}
epochs=${EPOCHS:-6} steps=${STEPS:-50} seed=${SEED:-0}
mkdir -p "$out"
data=$out/fashion-mnist.h5
[ -f "$data" ] || "$tleg" prepare fashion-mnist --out "$data"
common=(--config "$here/common.ini" --data.store "$data" --run.seed "$seed" --resume)

[ -f "$out/teacher/run.json" ] ||
  "$tleg" teacher "${common[@]}" --config "$here/teacher.ini" --optim.epochs 2 \
    --optim.steps-per-epoch 300 --run.dir "$out/teacher"
# The deep ViT the learngene is fitted from: depth 12, the student's width, trained from scratch
# like the teacher (cross-entropy), same budget.
[ -f "$out/vit12/run.json" ] ||
  "$tleg" teacher "${common[@]}" --model.depth 12 --model.drop-path 0.1 --optim.epochs 2 \
    --optim.steps-per-epoch 300 --run.method scratch-vit12 --run.dir "$out/vit12"
"$tleg" linearity --model "$out/vit12/model.h5" --out "$out/linearity" \
  --write-learngene "$out/fitted-learngene.h5"

for arm in random fitted; do
  start=()
  [ "$arm" = fitted ] && start=(--init-learngene "$out/fitted-learngene.h5")
  [ -f "$out/aux-$arm/run.json" ] ||
    "$tleg" distill "${common[@]}" --config "$here/aux.ini" --optim.epochs "$epochs" \
      --optim.steps-per-epoch "$steps" --distill.teacher "$out/teacher/model.h5" \
      --run.dir "$out/aux-$arm" "${start[@]}"
done

# How far fine-tuning moves a TLEG descendant off its line: the depth-12 descendant of the
# random-start learngene, fine-tuned with the demo's default budget, next to the scratch ViT.
[ -f "$out/tleg12/run.json" ] ||
  "$tleg" finetune "${common[@]}" --config "$here/des.ini" --init tleg \
    --learngene "$out/aux-random/learngene.h5" --depth 12 --optim.epochs 1 \
    --optim.steps-per-epoch 250 --run.dir "$out/tleg12"
"$tleg" linearity --model "$out/vit12/model.h5" "$out/tleg12/model.h5" --out "$out/linearity-compare"

python3 - "$out" <<'PY' | tee "$out/summary.md"
import json, sys
out = sys.argv[1]
def evals(arm):
    rows = [json.loads(l) for l in open(f"{out}/aux-{arm}/metrics.jsonl")]
    return {int(r["step"]): 100 * r["top1"] for r in rows if "top1" in r}
random, fitted = evals("random"), evals("fitted")
print("| stage-1 steps | top-1 %, random start | top-1 %, fitted learngene | difference |")
print("|---:|---:|---:|---:|")
for step in sorted(random):
    print(f"| {step} | {random[step]:.2f} | {fitted[step]:.2f} | {fitted[step] - random[step]:+.2f} |")
print()
print("| run | steps | images | training FLOPs | wall s | top-1 % (last) |")
print("|---|---:|---:|---:|---:|---:|")
for name in ("teacher", "vit12", "aux-random", "aux-fitted", "tleg12"):
    r = json.load(open(f"{out}/{name}/run.json"))
    print(f"| {name} | {r['steps']} | {r['images']} | {r['flops']:.3g} | {r['wall_seconds']:.0f} | {100 * r['top1']:.2f} |")
PY
