#!/usr/bin/env bash
# run.json of a resumed run: a run stopped twice and resumed records the images and FLOPs of an
# uninterrupted run and the time of all its segments; a run resumed from the checkpoint of its
# last step (killed during its final evaluation) evaluates and records its real accuracy; a
# resume under another global batch is refused. tleg logits reads the training stages' shared INI
# file, and a re-run of an interrupted tleg logits records the time of every segment.
# usage: ledger_test.sh TLEG PYTHON
set -u
tleg=$1 python=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
run=(teacher --data.store "$work/fm.h5" --data.mean 0.2860 --data.std 0.3530 --data.threads 1
     --model.dim 32 --model.heads 2 --model.depth 2 --model.patch 7 --model.image 28
     --optim.epochs 2 --optim.steps-per-epoch 30 --optim.batch 32 --optim.warmup-epochs 0
     --run.log-interval 1000 --run.seed 4)

"$tleg" "${run[@]}" --run.dir "$work/straight" >"$work/straight.log" 2>&1 || { cat "$work/straight.log"; fail "uninterrupted run"; }
# Three segments: stopped after 20 and 25 more steps, then resumed to the end.
"$tleg" "${run[@]}" --run.dir "$work/parts" --run.stop-after-steps 20 >"$work/p1.log" 2>&1 || { cat "$work/p1.log"; fail "segment 1"; }
"$tleg" "${run[@]}" --run.dir "$work/parts" --run.stop-after-steps 25 --resume >"$work/p2.log" 2>&1 || { cat "$work/p2.log"; fail "segment 2"; }
[ -f "$work/parts/run.json" ] && fail "the run ended before its third segment"
# A resume under another global batch would not continue exactly: refused, naming the difference.
other=("${run[@]}")
for i in "${!other[@]}"; do [ "${other[$i]}" = "--optim.batch" ] && other[$((i + 1))]=16; done
"$tleg" "${other[@]}" --run.dir "$work/parts" --resume >"$work/other.log" 2>&1 &&
  fail "a resume with another global batch must be refused"
grep -q "global_batch=32 (now 16)" "$work/other.log" || { cat "$work/other.log"; fail "the refusal does not name the global batch"; }
"$tleg" "${run[@]}" --run.dir "$work/parts" --resume >"$work/p3.log" 2>&1 || { cat "$work/p3.log"; fail "segment 3"; }

"$python" - "$work/straight/run.json" "$work/parts/run.json" <<'PY' || fail "the ledger of the resumed run"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["images"] == b["images"] and a["flops"] == b["flops"], (a["images"], b["images"], a["flops"], b["flops"])
assert a["top1"] == b["top1"], (a["top1"], b["top1"])
assert b["extra"]["segments"] == "3", b["extra"]["segments"]
segment = float(b["extra"]["segment_wall_seconds"])
# The last segment ran 15 of 60 steps; the total adds the two segments before it.
assert b["wall_seconds"] > segment, (b["wall_seconds"], segment)
assert b["device_seconds"] == b["wall_seconds"] * b["ranks"]
print(f"3 segments: images {b['images']} and FLOPs {b['flops']:.3g} as uninterrupted; "
      f"wall {b['wall_seconds']:.2f} s summed over segments (last alone {segment:.2f} s; "
      f"uninterrupted {a['wall_seconds']:.2f} s)")
PY

# Killed after the checkpoint of the last step, before run.json: the resumed run evaluates.
rm "$work/straight/run.json" "$work/straight/model.h5"
cp "$work/parts/run.json" "$work/expected.json"
"$tleg" "${run[@]}" --run.dir "$work/straight" --resume >"$work/last.log" 2>&1 || { cat "$work/last.log"; fail "resume at the last step"; }
grep -q "resuming at step 60 of 60" "$work/last.log" || { cat "$work/last.log"; fail "did not resume at the last step"; }
"$python" - "$work/expected.json" "$work/straight/run.json" <<'PY' || fail "accuracy after resuming at the last step"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert b["top1"] > 0 and b["top1"] == a["top1"] and b["top5"] == a["top5"], (a["top1"], b["top1"])
print(f"resumed at the last step: top-1 {b['top1']:.4f} as the run itself")
PY

# tleg logits with the Fashion-MNIST configs the training stages share: the view keys apply, the
# training keys are skipped; a key no command has is refused, naming the file.
config=$(cd "$(dirname "$0")/../../experiments/fashion-mnist" && pwd)/common.ini
logits=(logits --config "$config" --data.store "$work/fm.h5" --distill.teacher "$work/parts/model.h5"
        --distill.views 1 --run.seed 4 --run.threads 1 --out "$work/logits")
"$tleg" "${logits[@]}" >"$work/logits1.log" 2>&1 || { cat "$work/logits1.log"; fail "logits with common.ini"; }
cp "$work/logits/run.json" "$work/logits-first.json"
printf '[data]\ntrain-splt = train\n' >"$work/typo.ini"
"$tleg" "${logits[@]}" --config "$work/typo.ini" >"$work/typo.log" 2>&1 && fail "a misspelt config key must be refused"
grep -q "typo.ini:2: unrecognised key 'data.train-splt' (did you mean data.train-split?)" "$work/typo.log" || { cat "$work/typo.log"; fail "the refusal does not name the file and key"; }
# An interrupted job: its index and one shard were never written; the re-run writes them and
# counts the first segment's time too.
rm "$work/logits/index.h5" "$(ls "$work"/logits/shard-*.h5 | tail -1)"
"$tleg" "${logits[@]}" >"$work/logits2.log" 2>&1 || { cat "$work/logits2.log"; fail "logits re-run"; }
"$python" - "$work/logits-first.json" "$work/logits/run.json" <<'PY' || fail "the ledger of a re-run tleg logits"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["extra"]["segments"] == "1" and b["extra"]["segments"] == "2", (a["extra"], b["extra"])
segment = float(b["extra"]["segment_wall_seconds"])
assert b["wall_seconds"] >= a["wall_seconds"] + segment - 0.05, (a["wall_seconds"], segment, b["wall_seconds"])
assert b["images"] == a["images"] and b["flops"] == a["flops"]
# Its provenance, as a training stage's: the command as given and the INI files read.
assert b["command"].startswith("tleg logits ") and "--distill.views 1" in b["command"], b["command"]
assert b["config"].strip().endswith("common.ini"), b["config"]
print(f"logits re-run: wall {b['wall_seconds']:.2f} s = first segment {a['wall_seconds']:.2f} s + second {segment:.2f} s")
PY
echo "5 passed, 0 failed"
