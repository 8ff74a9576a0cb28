#!/usr/bin/env bash
# Training-step throughput, C++ (step_bench) against eager PyTorch (step_bench.py), side by side.
# usage: bench/run_step.sh BUILD_DIR
#   env: STEPS=4 WARMUP=1 (steps per case), ROUNDS=1 (the table gives medians over rounds),
#        CONFIGS="64px 28px" MODELS="vit aux" THREADS="1 2" (a subset), TLEG_VENV=...,
#        DEVICE=cpu|cuda, BATCH=N (override), STEP_BINARY and PYTHON (the GPU check's own)
# Each case (config, model, threads) runs C++ then Python, the next case Python then C++, so
# slow drift of this noisy 2-core VM hits both sides alike. Prints one table at the end.
set -euo pipefail
build=${1:?usage: bench/run_step.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-${TLEG_VENV:-$HOME/.cache/tleg/venv}/bin/python}
device=${DEVICE:-cpu} batch=${BATCH:-0}
steps=${STEPS:-4} warmup=${WARMUP:-1} rounds=${ROUNDS:-1}
configs=${CONFIGS:-64px 28px} models=${MODELS:-vit aux} thread_counts=${THREADS:-1 2}
binary=${STEP_BINARY:-$build/bench/step_bench}
[[ -x $binary ]] || { echo "run_step.sh: $binary not built" >&2; exit 1; }
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

run_cpp() {  # config model threads
  "$binary" --benchmark_filter="^step/$1/$2/threads:$3/" --steps="$steps" --warmup="$warmup" \
    --device="$device" --batch="$batch" \
    --benchmark_out="$results/cpp.$1.$2.$3.$round.json" --benchmark_out_format=json >/dev/null 2>>"$results/cpp.log"
}
run_py() {
  "$python" "$here/step_bench.py" --config "$1" --model "$2" --threads "$3" --steps "$steps" \
    --warmup "$warmup" --device "$device" --batch "$batch" >>"$results/py.jsonl"
}

flip=0
for ((round = 0; round < rounds; ++round)); do
  for config in $configs; do
    for model in $models; do
      for threads in $thread_counts; do
        echo "run_step: $config $model threads=$threads" >&2
        if ((flip)); then run_py $config $model $threads; run_cpp $config $model $threads
        else run_cpp $config $model $threads; run_py $config $model $threads; fi
        flip=$((1 - flip))
      done
    done
  done
done

"$python" - "$results" <<'PY'
import glob, json, statistics, sys
from collections import defaultdict
cpp, py = defaultdict(list), defaultdict(list)
for path in glob.glob(sys.argv[1] + "/cpp.*.json"):
    for b in json.load(open(path))["benchmarks"]:
        _, config, model, threads = b["name"].split("/")[:4]
        cpp[config, model, int(threads.split(":")[1])].append(b["items_per_second"])
for line in open(sys.argv[1] + "/py.jsonl"):
    r = json.loads(line)
    py[r["config"], r["model"], r["threads"]].append(r["images_per_s"])
print(f"{'config':<7}{'model':<6}{'threads':>8}{'C++ img/s':>12}{'Python img/s':>14}{'C++/Py':>8}")
for key in sorted(cpp, key=lambda k: (k[0] != "64px", k[1] != "vit", k[2])):
    c, p = statistics.median(cpp[key]), statistics.median(py[key])
    print(f"{key[0]:<7}{key[1]:<6}{key[2]:>8}{c:>12.1f}{p:>14.1f}{c / p:>8.2f}")
PY
