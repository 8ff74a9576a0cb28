#!/usr/bin/env bash
# A teacher exported from timm with torch.jit.trace (what a user does with LeViT or RegNetY)
# drives stage 1: tleg distill runs with it and records it in run.json.
# usage: torchscript_teacher_test.sh TLEG PYTHON
set -u
tleg=$1 python=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$python" -W ignore - "$work/teacher.pt" <<'PY' || fail "exporting a timm model"
import sys, timm, torch, torch.utils.flop_counter
model = timm.models.vision_transformer.VisionTransformer(
    img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=32, depth=2, num_heads=2,
    class_token=False, global_pool="avg").eval()
x = torch.randn(1, 1, 28, 28)
with torch.utils.flop_counter.FlopCounterMode(display=False) as flops: model(x)
torch.jit.save(torch.jit.trace(model, x), sys.argv[1], _extra_files={"forward_flops": str(flops.get_total_flops())})
torch.jit.trace(model, x).save(sys.argv[1] + ".undeclared.pt")
PY
"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
"$tleg" distill --data.store "$work/fm.h5" --data.mean 0.2860 --data.std 0.3530 --data.threads 1 \
  --model.dim 32 --model.heads 2 --model.depth 4 --model.patch 7 --model.image 28 \
  --optim.epochs 1 --optim.steps-per-epoch 5 --optim.batch 16 --optim.warmup-epochs 0 \
  --data.val-split "" --distill.teacher "$work/teacher.pt" --run.dir "$work/aux" >"$work/log" 2>&1 ||
  { cat "$work/log"; fail "distill with a TorchScript teacher"; }
grep -q '"teacher": "TorchScript' "$work/aux/run.json" || { cat "$work/aux/run.json"; fail "run.json does not name the teacher"; }
grep -q '"teacher_mode": "live"' "$work/aux/run.json" || fail "teacher mode not recorded"
grep -q '"teacher_flops_source": "declared at TorchScript export"' "$work/aux/run.json" ||
  fail "run.json does not say where the teacher's FLOPs came from"
"$python" - "$work/aux/run.json" <<'PY' || fail "the teacher's FLOPs are not in stage 1's cost"
import json, sys
r = json.load(open(sys.argv[1]))
teacher = float(r["extra"]["teacher_flops_per_image"])
assert teacher > 0 and r["flops"] > r["images"] * teacher, (teacher, r["flops"], r["images"])
print(f"teacher: {teacher:.4g} FLOPs per image declared, counted in stage 1")
PY
# A TorchScript teacher that declares no FLOPs: refused, with the export line that declares them.
"$tleg" distill --data.store "$work/fm.h5" --model.image 28 --model.patch 7 --data.val-split "" \
  --distill.teacher "$work/teacher.pt.undeclared.pt" --run.dir "$work/undeclared" >"$work/log" 2>&1 &&
  fail "a TorchScript teacher without declared FLOPs must be refused"
grep -q "declares no forward FLOPs.*forward_flops" "$work/log" || { cat "$work/log"; fail "no message about the FLOPs"; }
[ -f "$work/aux/learngene.h5" ] || fail "no learngene written"

# Not TorchScript and not a tleg model: one clear line naming the file.
echo "not a model" >"$work/junk.pt"
"$tleg" distill --data.store "$work/fm.h5" --model.image 28 --model.patch 7 --data.val-split "" \
  --distill.teacher "$work/junk.pt" --run.dir "$work/bad" >"$work/bad.log" 2>&1 && fail "a junk teacher must fail"
grep -q "junk.pt: cannot load the teacher as TorchScript" "$work/bad.log" || { cat "$work/bad.log"; fail "unclear message"; }
echo "4 passed, 0 failed"
