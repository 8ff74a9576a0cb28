#!/usr/bin/env bash
# tleg linearity end to end on a (briefly) trained ViT: the report's files; the learngene it
# writes equals the one written from the same model's tleg export; tleg expand of it reproduces
# the fitted line; tleg distill --init-learngene starts from it (learning rate 0 leaves it as it
# is), refuses one of another architecture, and resumes exactly.
# usage: linearity_cli_test.sh TLEG PYTHON
set -u
tleg=$1 python=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
data=(--data.store "$work/fm.h5" --data.mean 0.2860 --data.std 0.3530 --data.threads 1
      --data.val-split "" --model.dim 32 --model.heads 2 --model.patch 7 --model.image 28
      --optim.batch 32 --optim.warmup-epochs 0 --run.log-interval 1000 --run.seed 4)
"$tleg" teacher "${data[@]}" --model.depth 4 --optim.epochs 1 --optim.steps-per-epoch 20 \
  --run.dir "$work/vit" >"$work/vit.log" 2>&1 || { cat "$work/vit.log"; fail "train a ViT"; }

"$tleg" linearity --model "$work/vit/model.h5" --out "$work/report" \
  --write-learngene "$work/g.h5" >"$work/lin.log" 2>&1 || { cat "$work/lin.log"; fail "linearity"; }
for f in linearity.md linearity.csv linearity_r2.png linearity_r2.svg linearity_elements_0.png; do
  [ -s "$work/report/$f" ] || { cat "$work/lin.log"; fail "no $f"; }
done
grep -q "| mlp.fc1.weight |" "$work/report/linearity.md" || fail "no table row in linearity.md"
grep -q "the line explains" "$work/lin.log" || { cat "$work/lin.log"; fail "no statement"; }

"$tleg" export --model "$work/vit/model.h5" --out "$work/vit.pt" >/dev/null || fail "export"
"$tleg" linearity --model "$work/vit.pt" --out "$work/report-pt" --write-learngene "$work/g-pt.h5" \
  >"$work/lin-pt.log" 2>&1 && fail "a learngene from a state dict without --heads must be refused"
grep -q -- "--heads" "$work/lin-pt.log" || { cat "$work/lin-pt.log"; fail "the refusal does not name --heads"; }
"$tleg" linearity --model "$work/vit.pt" --heads 2 --out "$work/report-pt" \
  --write-learngene "$work/g-pt.h5" >"$work/lin-pt.log" 2>&1 || { cat "$work/lin-pt.log"; fail "linearity of the export"; }
"$tleg" linearity --model "$work/vit/model.h5" "$work/vit.pt" --out "$work/report-2" \
  --write-learngene "$work/g2.h5" >"$work/lin-2.log" 2>&1 && fail "--write-learngene with two models must be refused"

"$tleg" expand --learngene "$work/g.h5" --depth 4 --out "$work/expanded.h5" >/dev/null || fail "expand"
"$python" - "$work/g.h5" "$work/g-pt.h5" "$work/expanded.h5" <<'PY' || fail "fitted learngene"
import sys, h5py, numpy as np
g, gpt, e = (h5py.File(p)["tensors"] for p in sys.argv[1:])
assert sorted(g.keys()) == sorted(gpt.keys())
assert all(np.array_equal(g[n][()], gpt[n][()]) for n in g), "the .h5 and the export fit differently"
worst = 0.0
for l in range(4):
    for name in (k[len("theta_B."):] for k in g if k.startswith("theta_B.")):
        line = g["theta_B." + name][()] + (l / 4) * g["theta_A." + name][()]
        worst = max(worst, float(np.abs(e[f"blocks.{l}.{name}"][()] - line).max()))
print(f"max |expanded - fitted line| = {worst}")
sys.exit(0 if worst <= 1e-14 else 1)
PY

distill=(distill "${data[@]}" --distill.teacher "$work/vit/model.h5"
         --optim.epochs 1 --optim.steps-per-epoch 6 --init-learngene "$work/g.h5")
"$tleg" "${distill[@]}" --model.depth 4 --optim.lr 1e-12 --optim.min-lr 0 --optim.warmup-lr 0 --optim.weight-decay 0 \
  --run.dir "$work/aux0" >"$work/aux0.log" 2>&1 || { cat "$work/aux0.log"; fail "distill from the learngene"; }
"$python" - "$work/g.h5" "$work/aux0/learngene.h5" <<'PY' || fail "distill did not start from the learngene"
import sys, h5py, numpy as np
g, a = (h5py.File(p)["tensors"] for p in sys.argv[1:])
assert sorted(g.keys()) == sorted(a.keys())
# the auxiliary net trains in float32: the float64 learngene rounded once, then 6 AdamW steps of
# at most about lr = 1e-12 each (a learning rate must be > 0); a random start differs by ~1e-2
worst = max(float(np.abs(a[n][()] - g[n][()].astype(np.float32)).max()) for n in g)
print(f"max |start - learngene (float32)| = {worst}")
sys.exit(0 if worst <= 1e-9 else 1)
PY
grep -q '"init": *"learngene ' "$work/aux0/run.json" || fail "run.json does not record the learngene start"

"$tleg" "${distill[@]}" --model.depth 6 --run.dir "$work/wrong" >"$work/wrong.log" 2>&1 &&
  fail "a learngene of another depth must be refused"
grep -q -- "--init-learngene .*g.h5.*cannot start" "$work/wrong.log" || { cat "$work/wrong.log"; fail "the refusal does not name the learngene"; }

# Resume: stopped after 3 steps and resumed, it ends where the uninterrupted run ends.
"$tleg" "${distill[@]}" --model.depth 4 --run.checkpoint-every 1 --run.dir "$work/straight" >"$work/s.log" 2>&1 || { cat "$work/s.log"; fail "straight"; }
"$tleg" "${distill[@]}" --model.depth 4 --run.checkpoint-every 1 --run.dir "$work/parts" --run.stop-after-steps 3 >"$work/p1.log" 2>&1 || { cat "$work/p1.log"; fail "part 1"; }
"$tleg" "${distill[@]}" --model.depth 4 --run.checkpoint-every 1 --run.dir "$work/parts" --resume >"$work/p2.log" 2>&1 || { cat "$work/p2.log"; fail "part 2"; }
"$python" - "$work/straight/learngene.h5" "$work/parts/learngene.h5" "$work/g.h5" <<'PY' || fail "resume is not exact"
import sys, h5py, numpy as np
a, b, g = (h5py.File(p)["tensors"] for p in sys.argv[1:])
worst = max(float(np.abs(a[n][()] - b[n][()]).max()) for n in a)
moved = max(float(np.abs(a[n][()] - g[n][()]).max()) for n in a)
print(f"max |straight - resumed| = {worst}; moved from the start by {moved}")
sys.exit(0 if worst == 0.0 and moved > 0 else 1)
PY
echo "linearity CLI: all checks passed"
