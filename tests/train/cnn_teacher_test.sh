#!/usr/bin/env bash
# The CNN teacher end to end on Fashion-MNIST, 2 ranks, smoke-sized: trained by tleg teacher
# (killed with SIGKILL and resumed: bit-identical, BatchNorm statistics included); shown by tleg
# inspect; tleg evaluate of its file gives the top-1 its run recorded, on 1 and on 2 ranks; it
# drives tleg distill live and tleg logits; the depth-L descendant of the learngene scores what
# the auxiliary net scored; a CNN file is refused where a ViT or a learngene is needed.
# usage: cnn_teacher_test.sh TLEG MPIEXEC PYTHON
set -u
tleg=$1 mpiexec=$2 python=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun2() { "$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
passed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
# The evaluation views of every run and of tleg evaluate: the same normalisation and crop.
views=(--data.mean 0.2860 --data.std 0.3530 --aug.eval-crop-fraction 1 --model.image 28)
common=(--data.store "$work/fm.h5" "${views[@]}" --data.threads 1 --aug.recipe basic
        --aug.mixup 0 --aug.cutmix 0 --optim.batch 64 --run.log-interval 10 --run.seed 3)
cnn=(--model.arch cnn --model.cnn-widths 8,16 --model.cnn-convs 1 --optim.epochs 2
     --optim.steps-per-epoch 12 --optim.lr 2e-2 --optim.warmup-epochs 0 --run.checkpoint-every 3)

mpirun2 "$tleg" teacher "${common[@]}" "${cnn[@]}" --run.dir "$work/straight" >"$work/straight.log" 2>&1 ||
  { cat "$work/straight.log"; fail "CNN teacher run"; }
grep -q "teacher: CNN widths 8,16" "$work/straight.log" || { cat "$work/straight.log"; fail "not a CNN"; }
# metrics.jsonl counts epochs from 1, as the console does, and records each evaluation's loss.
"$python" - "$work/straight/metrics.jsonl" <<'PY' || fail "metrics.jsonl"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
evals = [r for r in rows if "top1" in r]
assert [r["epoch"] for r in evals] == [1, 2], [r["epoch"] for r in evals]
assert all(0 < r["loss"] < 10 for r in evals), evals
assert all(1 <= r["epoch"] <= 2 for r in rows if "top1" not in r), rows
print("evaluation losses", [round(r["loss"], 4) for r in evals])
PY
ok "metrics.jsonl: epochs from 1, evaluation loss"

# Killed once the checkpoint of step 6 (mid-epoch 1) exists, resumed: identical tensors.
mpirun2 "$tleg" teacher "${common[@]}" "${cnn[@]}" --run.dir "$work/killed" >"$work/killed.log" 2>&1 &
launcher=$!
for _ in $(seq 3000); do
  [ -f "$work/killed/checkpoints/checkpoint-0000000006.pt" ] && break
  kill -0 $launcher 2>/dev/null || break
  sleep 0.02
done
kill -9 $launcher 2>/dev/null
pkill -9 -f "$work/killed" 2>/dev/null
wait $launcher 2>/dev/null
[ -f "$work/killed/run.json" ] && fail "the run finished before it could be killed; make it longer"
mpirun2 "$tleg" teacher "${common[@]}" "${cnn[@]}" --run.dir "$work/killed" --resume >"$work/resumed.log" 2>&1 ||
  { cat "$work/resumed.log"; fail "resumed run"; }
grep -q "resuming at step" "$work/resumed.log" || { cat "$work/resumed.log"; fail "did not resume"; }
"$python" - "$work/straight/model.h5" "$work/killed/model.h5" <<'PY' || fail "resumed CNN differs"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
names = sorted(a["tensors"].keys())
assert names == sorted(b["tensors"].keys())
assert any(n.endswith("running_var") for n in names), "BatchNorm statistics not stored"
worst = max(float(np.abs(a["tensors"][n][()] - b["tensors"][n][()]).max()) for n in names)
print(f"{len(names)} tensors, max |uninterrupted - resumed| = {worst}")
sys.exit(0 if worst == 0.0 else 1)
PY
ok "kill and resume: bit-identical"

"$tleg" inspect "$work/straight/model.h5" >"$work/inspect.log" 2>&1 || { cat "$work/inspect.log"; fail "inspect"; }
# widths 8,16, one conv each, 28 px, 10 classes: 2*784*8*9 + 2*196*16*8*9 + 2*16*10 FLOPs
grep -q "kind:         cnn" "$work/inspect.log" && grep -q "architecture: CNN widths 8,16" "$work/inspect.log" &&
  grep -q "FLOPs:        564,800 per image" "$work/inspect.log" ||
  { cat "$work/inspect.log"; fail "inspect does not show the CNN"; }
ok "inspect"

# tleg evaluate of the file = the run's last evaluation, on 1 and on 2 ranks.
recorded=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['top1'])" "$work/straight/run.json")
"$tleg" evaluate --model "$work/straight/model.h5" --data.store "$work/fm.h5" "${views[@]}" \
  --out "$work/eval1.json" >"$work/eval1.log" 2>&1 || { cat "$work/eval1.log"; fail "evaluate, 1 rank"; }
mpirun2 "$tleg" evaluate --model "$work/straight/model.h5" --data.store "$work/fm.h5" "${views[@]}" \
  --out "$work/eval2.json" >"$work/eval2.log" 2>&1 || { cat "$work/eval2.log"; fail "evaluate, 2 ranks"; }
grep -q "evaluate: top-1 .* on 10000 images" "$work/eval1.log" || { cat "$work/eval1.log"; fail "no result line"; }
"$python" - "$recorded" "$work/eval1.json" "$work/eval2.json" <<'PY' || fail "evaluate differs from the run"
import sys, json
recorded = float(sys.argv[1])
one, two = (json.load(open(p)) for p in sys.argv[2:])
print(f"run.json top-1 {recorded}, evaluate 1 rank {one['top1']}, 2 ranks {two['top1']}")
assert one["samples"] == two["samples"] == 10000 and one["ranks"] == 1 and two["ranks"] == 2
# The same counts over the same 10,000 images: equal, not close.
sys.exit(0 if one["top1"] == two["top1"] == recorded and one["top5"] == two["top5"] else 1)
PY
ok "evaluate = the run's top-1 on 1 and 2 ranks"
# Without the view options (the README's form), evaluate takes the normalisation, crop and
# precision the run evaluated with from the model file, and gives the same number; an option
# given overrides the file.
"$tleg" evaluate --model "$work/straight/model.h5" --data.store "$work/fm.h5" --out "$work/eval0.json" \
  >"$work/eval0.log" 2>&1 || { cat "$work/eval0.log"; fail "evaluate without the view options"; }
grep -q "evaluate: as its run evaluated it (recorded in the file): data.mean=0.286, data.std=0.353, aug.eval-crop-fraction=1, run.precision=" \
  "$work/eval0.log" || { cat "$work/eval0.log"; fail "evaluate does not say what it took from the file"; }
"$tleg" evaluate --model "$work/straight/model.h5" --data.store "$work/fm.h5" --aug.eval-crop-fraction 0.875 \
  --out "$work/eval-crop.json" >"$work/eval-crop.log" 2>&1 || { cat "$work/eval-crop.log"; fail "evaluate with a crop"; }
"$python" - "$recorded" "$work/eval0.json" "$work/eval-crop.json" <<'PY' || fail "evaluate from the file's record"
import sys, json
recorded = float(sys.argv[1])
plain, cropped = (json.load(open(p)) for p in sys.argv[2:])
print(f"run.json top-1 {recorded}, evaluate without options {plain['top1']}, with crop 0.875 {cropped['top1']}")
sys.exit(0 if plain["top1"] == recorded and cropped["top1"] != recorded else 1)
PY
ok "evaluate without the view options = the run's top-1 (taken from the model file)"
# The training stages' INI files are accepted: their view keys apply, their training keys are
# skipped.
printf '[data]\ntrain-split = train\nmean = 0.2860\nstd = 0.3530\n[optim]\nepochs = 3\n[aug]\neval-crop-fraction = 1\n' >"$work/common.ini"
"$tleg" evaluate --model "$work/straight/model.h5" --data.store "$work/fm.h5" --config "$work/common.ini" \
  --out "$work/eval-ini.json" >"$work/eval-ini.log" 2>&1 || { cat "$work/eval-ini.log"; fail "evaluate --config"; }
"$python" -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['top1'] == float(sys.argv[2]) else 1)" \
  "$work/eval-ini.json" "$recorded" || fail "evaluate --config common.ini differs from the run"
ok "evaluate --config with a training INI file = the run's top-1"

# The CNN as the live teacher of stage 1 (a tiny auxiliary net, L = 3): its FLOPs in the ledger.
mpirun2 "$tleg" distill "${common[@]}" --distill.teacher "$work/straight/model.h5" \
  --model.dim 32 --model.heads 2 --model.depth 3 --model.patch 7 --model.drop-path 0 \
  --optim.epochs 1 --optim.steps-per-epoch 6 --optim.warmup-epochs 0 \
  --run.dir "$work/aux" >"$work/aux.log" 2>&1 || { cat "$work/aux.log"; fail "distill from the CNN"; }
"$python" - "$work/aux/run.json" <<'PY' || fail "the ledger does not count the CNN teacher"
import sys, json
r = json.load(open(sys.argv[1]))
e = r["extra"]
print("teacher:", e["teacher"], "flops/image", e["teacher_flops_per_image"])
assert "CNN widths 8,16" in e["teacher"] and float(e["teacher_flops_per_image"]) == 564800
PY
ok "distill --distill.teacher cnn.h5"

# The depth-L descendant of its learngene scores exactly what the auxiliary net scored.
aux_top1=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['top1'])" "$work/aux/run.json")
mpirun2 "$tleg" evaluate --learngene "$work/aux/learngene.h5" --depth 3 --data.store "$work/fm.h5" "${views[@]}" \
  --out "$work/eval-lg.json" >"$work/eval-lg.log" 2>&1 || { cat "$work/eval-lg.log"; fail "evaluate a learngene"; }
"$python" - "$aux_top1" "$work/eval-lg.json" <<'PY' || fail "depth-L descendant differs from the aux net"
import sys, json
r = json.load(open(sys.argv[2]))
print(f"aux net top-1 {sys.argv[1]}, its depth-3 descendant {r['top1']}")
sys.exit(0 if float(sys.argv[1]) == r["top1"] and r["depth"] == 3 else 1)
PY
ok "evaluate --learngene --depth L = the auxiliary net"

# tleg logits with the CNN (one view of the test split).
mpirun2 "$tleg" logits --data.store "$work/fm.h5" --distill.teacher "$work/straight/model.h5" \
  --data.train-split val --distill.views 1 --logits.topk 5 --data.mean 0.2860 --data.std 0.3530 \
  --model.image 28 --aug.recipe basic --run.threads 1 \
  --out "$work/logits" >"$work/logits.log" 2>&1 || { cat "$work/logits.log"; fail "logits from the CNN"; }
ls "$work/logits" | grep -q "shard-" || fail "no logits shards"
ok "logits --distill.teacher cnn.h5"

# A CNN file where a learngene or a ViT is needed: refused, naming the file and the kind.
"$tleg" expand --learngene "$work/straight/model.h5" --depth 3 --out "$work/x.h5" >"$work/expand.log" 2>&1 &&
  fail "expand accepted a CNN"
grep -q "model.h5: this is a 'cnn' file, a 'learngene' file is needed" "$work/expand.log" ||
  { cat "$work/expand.log"; fail "expand's message"; }
"$tleg" export --model "$work/straight/model.h5" --out "$work/x.pt" >"$work/export.log" 2>&1 &&
  fail "export accepted a CNN"
grep -q "this is a 'cnn' file, a trained ViT ('vit') is needed" "$work/export.log" ||
  { cat "$work/export.log"; fail "export's message"; }
"$tleg" evaluate --model "$work/aux/learngene.h5" --data.store "$work/fm.h5" >"$work/evlg.log" 2>&1 &&
  fail "evaluate --model accepted a learngene"
grep -q "this is a learngene, not a trained model; expand it first" "$work/evlg.log" ||
  { cat "$work/evlg.log"; fail "evaluate's message for a learngene"; }
ok "a CNN or learngene file where it does not belong is refused"

# The built-in defaults are ImageNet's (224 px, ViT-Ti): on the 28-px store they are refused
# before any step, naming both sizes and the fix.
"$tleg" finetune --data.store "$work/fm.h5" --run.dir "$work/defaults" >"$work/defaults.log" 2>&1 &&
  fail "finetune with ImageNet's defaults trained on a 28-px store"
grep -q "fm.h5: its images are 28x28 but the model takes 224x224 (model.image): every image would be upsampled 8x. Give the model this store's size, --model.image 28" \
  "$work/defaults.log" || { cat "$work/defaults.log"; fail "the size mismatch is not explained"; }
[ ! -e "$work/defaults/checkpoints" ] || fail "the refused run left checkpoints"
ok "a model far larger than the store's images is refused"

echo "$passed passed, 0 failed"
