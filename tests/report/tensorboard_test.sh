#!/usr/bin/env bash
# Training curves of a real run and TensorBoard: tleg report's figure data of a (briefly) trained
# ViT hold the numbers of its metrics.jsonl; report/metrics_to_tensorboard.py writes event files
# whose records (framing and CRC-32C checked as TensorBoard reads them) hold, per run folder, a
# scalar for every number of the log: the real run's, and a hand-made log's with a resumed run's
# repeated step (the last one kept), a line cut by a kill (left out), a NaN (null, no point) and
# the accuracy as inherited (step 0). Converting again replaces the event files.
# usage: tensorboard_test.sh TLEG PYTHON SOURCE_DIR
set -u
tleg=$1 python=$2 source=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
# 2 epochs of 12 steps, a log line every 4 steps, evaluated at each epoch's end.
"$tleg" teacher --data.store "$work/fm.h5" --data.mean 0.2860 --data.std 0.3530 --data.threads 1 \
  --model.dim 32 --model.heads 2 --model.depth 2 --model.patch 7 --model.image 28 \
  --optim.epochs 2 --optim.steps-per-epoch 12 --optim.batch 32 --optim.warmup-epochs 1 \
  --run.log-interval 4 --run.seed 4 --run.dir "$work/runs/teacher" >"$work/teacher.log" 2>&1 ||
  { cat "$work/teacher.log"; fail "train"; }

"$tleg" report "$work/runs/teacher" --out "$work/report" >"$work/report.log" 2>&1 ||
  { cat "$work/report.log"; fail "tleg report"; }
for f in teacher.png teacher.svg teacher.gp teacher.dat; do
  [ -s "$work/report/curves/$f" ] || fail "no curves/$f"
done
grep -q "| teacher | teacher | 2 | 6 | 2 | \[PNG\](curves/teacher.png)" "$work/report/report.md" ||
  { cat "$work/report/report.md"; fail "report.md does not link the curves"; }

"$python" - "$work/runs/teacher/metrics.jsonl" "$work/report/curves/teacher.dat" <<'PY' || fail "the curves' data"
import json, math, sys
lines = [json.loads(text) for text in open(sys.argv[1])]
blocks = [[[float(x) for x in row.split()] for row in block.splitlines() if row and row[0] != "#"]
          for block in open(sys.argv[2]).read().split("\n\n\n") if block.strip()]
train = [[l["step"], l["epoch"], l["loss"], l["lr"]] for l in lines if l["phase"] == "train"]
evals = [[l["step"], l["epoch"], 100 * l["top1"], 100 * l["top5"], l["loss"]]
         for l in lines if l["phase"] == "eval"]
assert [row[0] for row in train] == [4, 8, 12, 16, 20, 24], train
assert [row[0] for row in evals] == [12, 24], evals
assert len(blocks) == 2, blocks
# The .dat has 10 significant digits (%.10g).
for want, got in ((train, blocks[0]), (evals, blocks[1])):
    assert len(want) == len(got), (want, got)
    for a, b in zip(want, got):
        assert all(math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a, b)), (a, b)
PY

# A log as a killed and resumed run leaves it.
mkdir -p "$work/runs/hand"
cat >"$work/runs/hand/metrics.jsonl" <<'EOF'
{"epoch":1.0,"loss":2.0,"lr":0.001,"phase":"train","step":5.0}
{"epoch":1.0,"loss":1.5,"lr":0.002,"phase":"train","step":10.0}
{"epoch":1.0,"phase":"eval","step":10.0,"top1":0.5,"top5":0.9}
{"epoch":2.0,"loss":1.2,"lr":0.002,"phase":"train","step":15.0}
{"epoch":2.0,"loss":1.25,"lr":0.002,"phase":"train","step":15.0}
{"epoch":2.0,"loss":1.1,"l{"epoch":2.0,"loss":1.05,"lr":0.001,"phase":"train","step":20.0}
{"epoch":2.0,"loss":1.0,"lr":0.001,"phase":"train","step":20.0}
{"epoch":2.0,"loss":0.9,"phase":"eval","step":20.0,"top1":0.7,"top5":0.95}
{"epoch":3.0,"loss":null,"lr":0.001,"phase":"train","step":25.0}
EOF
echo '{"initial_top1": 0.4, "initial_top5": 0.8}' >"$work/runs/hand/run.json"

for attempt in 1 2; do
  "$python" "$source/report/metrics_to_tensorboard.py" "$work/runs" --out "$work/tb" \
    >"$work/tb.log" 2>&1 || { cat "$work/tb.log"; fail "convert (attempt $attempt)"; }
done
grep -q "^hand: 5 log line(s), 2 evaluation(s), 1 unreadable line(s)" "$work/tb.log" ||
  { cat "$work/tb.log"; fail "the converter's summary"; }

"$python" - "$work/tb" "$work/runs/teacher/metrics.jsonl" <<'PY' || fail "the event files"
import glob, json, math, os, struct, sys
from tensorboardX.proto import event_pb2

def crc32c(data):  # CRC-32C (Castagnoli), bit by bit: independent of the writer's table
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF

def masked(crc):  # TFRecord's masked CRC
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

def scalars(run):
    files = glob.glob(os.path.join(run, "events.out.tfevents.*"))
    assert len(files) == 1, f"{run}: {files} (a second conversion must replace the first)"
    data, at, found = open(files[0], "rb").read(), 0, {}
    while at < len(data):
        header = data[at:at + 8]
        (length,), (header_crc,) = struct.unpack("<Q", header), struct.unpack("<I", data[at + 8:at + 12])
        body = data[at + 12:at + 12 + length]
        (body_crc,) = struct.unpack("<I", data[at + 12 + length:at + 16 + length])
        assert header_crc == masked(crc32c(header)) and body_crc == masked(crc32c(body)), at
        at += 16 + length
        event = event_pb2.Event.FromString(body)
        for value in event.summary.value:
            steps = found.setdefault(value.tag, {})
            assert event.step not in steps, (value.tag, event.step)
            steps[event.step] = value.simple_value
    return found

def check(run, want):
    got = scalars(run)
    assert set(got) == set(want), (run, sorted(got), sorted(want))
    for tag in want:
        assert sorted(got[tag]) == sorted(want[tag]), (run, tag, got[tag], want[tag])
        for step, value in want[tag].items():
            # simple_value is a float32: 2^-24 relative, so 1e-6 is room and still tight.
            assert math.isclose(got[tag][step], value, rel_tol=1e-6), (run, tag, step, got[tag][step], value)

tb, metrics = sys.argv[1:]
want = {}
for line in map(json.loads, open(metrics)):
    for name, value in line.items():
        if name not in ("step", "epoch", "phase"):
            want.setdefault(f"{line['phase']}/{name}", {})[int(line["step"])] = value
assert {"train/loss", "train/lr", "eval/top1", "eval/top5", "eval/loss"} <= set(want), sorted(want)
check(os.path.join(tb, "teacher"), want)
check(os.path.join(tb, "hand"), {
    "train/loss": {5: 2.0, 10: 1.5, 15: 1.25, 20: 1.0},
    "train/lr": {5: 0.001, 10: 0.002, 15: 0.002, 20: 0.001, 25: 0.001},
    "eval/top1": {0: 0.4, 10: 0.5, 20: 0.7},
    "eval/top5": {0: 0.8, 10: 0.9, 20: 0.95},
    "eval/loss": {20: 0.9},
})
PY

"$python" "$source/report/metrics_to_tensorboard.py" "$work/runs/hand/run.json" >"$work/bad.log" 2>&1 &&
  fail "a file instead of a folder must be refused"
grep -q "run.json: no such folder" "$work/bad.log" || { cat "$work/bad.log"; fail "the refusal"; }
echo "PASS"
