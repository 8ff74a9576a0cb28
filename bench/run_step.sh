#!/usr/bin/env bash
# Training-step throughput side by side: C++ (step_bench) in fp32 and bf16 against eager PyTorch
# (step_bench.py) in fp32 and under CPU autocast bf16, with the matrix-product peak of both
# dtypes measured in the same run; each mode's FLOP rate is given as a fraction of its dtype's
# peak (fp32 modes of the fp32 peak, bf16 modes of the bf16 peak).
# usage: bench/run_step.sh BUILD_DIR
#   env: STEPS=4 WARMUP=1 (steps per case), ROUNDS=1 (the table gives medians over rounds),
#        CONFIGS="64px 28px" MODELS="vit aux" THREADS="1 2" PRECISIONS="fp32 bf16" (a subset),
#        TLEG_VENV=..., DEVICE=cpu|cuda, BATCH=N (override), ARGS="--top_pad=0" (passed to
#        step_bench), STEP_BINARY and PYTHON (the GPU check's own)
# Each case (config, model, threads) runs C++ then Python, the next case Python then C++, so
# slow drift of this noisy 2-core VM hits both sides alike. Prints one table at the end, with
# the 1-minute load average before and after.
set -euo pipefail
build=${1:?usage: bench/run_step.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-${TLEG_VENV:-$HOME/.cache/tleg/venv}/bin/python}
device=${DEVICE:-cpu} batch=${BATCH:-0}
steps=${STEPS:-4} warmup=${WARMUP:-1} rounds=${ROUNDS:-1}
configs=${CONFIGS:-64px 28px} models=${MODELS:-vit aux} thread_counts=${THREADS:-1 2}
precisions=${PRECISIONS:-fp32 bf16}
binary=${STEP_BINARY:-$build/bench/step_bench}
[[ -x $binary ]] || { echo "run_step.sh: $binary not built" >&2; exit 1; }
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
cut -d' ' -f1 /proc/loadavg >"$results/load.start"

precision_filter="($(echo $precisions | tr ' ' '|'))"
run_cpp() {  # config model threads
  # shellcheck disable=SC2086  # ARGS is a list of flags
  "$binary" --benchmark_filter="^step/$1/$2/$precision_filter/threads:$3/" --steps="$steps" \
    --warmup="$warmup" --device="$device" --batch="$batch" ${ARGS:-} \
    --benchmark_out="$results/cpp.$1.$2.$3.$round.json" --benchmark_out_format=json >/dev/null 2>>"$results/cpp.log"
}
run_py() {
  # shellcheck disable=SC2086
  "$python" "$here/step_bench.py" --config "$1" --model "$2" --threads "$3" --steps "$steps" \
    --warmup "$warmup" --device "$device" --batch "$batch" --precision $precisions >>"$results/py.jsonl"
}

flip=0
for ((round = 0; round < rounds; ++round)); do
  if [[ $device == cpu ]]; then
    echo "run_step: matmul peaks" >&2
    "$binary" --benchmark_filter="^peak/" --benchmark_out="$results/peak.$round.json" \
      --benchmark_out_format=json >/dev/null 2>>"$results/cpp.log"
  fi
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
cut -d' ' -f1 /proc/loadavg >"$results/load.end"

"$python" - "$results" <<'PY'
import glob, json, statistics, sys
from collections import defaultdict
results = sys.argv[1]
# rates[metric][config, model, threads, side, precision]: img/s by wall time, and img per
# second of the process's CPU time (all threads), the second robust to other work on the machine.
rates = {"wall": defaultdict(list), "cpu": defaultdict(list)}
peaks, flops = {"wall": defaultdict(list), "cpu": defaultdict(list)}, {}
for path in glob.glob(results + "/cpp.*.json"):
    for b in json.load(open(path))["benchmarks"]:
        _, config, model, precision, threads = b["name"].split("/")[:5]
        key = config, model, int(threads.split(":")[1]), "C++", precision
        rates["wall"][key].append(b["items_per_second"])
        rates["cpu"][key].append(b["batch"] * 1e3 / b["cpu_ms_per_step"])
        flops[config] = b["flops_per_image"]
for path in glob.glob(results + "/peak.*.json"):
    for b in json.load(open(path))["benchmarks"]:
        _, _, dtype, threads = b["name"].split("/")[:4]
        peaks["wall"][dtype, int(threads.split(":")[1])].append(b["items_per_second"])
        peaks["cpu"][dtype, int(threads.split(":")[1])].append(b["cpu_flops_per_second"])
for line in open(results + "/py.jsonl"):
    r = json.loads(line)
    key = r["config"], r["model"], r["threads"], "Py", r["precision"]
    rates["wall"][key].append(r["images_per_s"])
    rates["cpu"][key].append(r["images_per_s"] * r["ms_per_step"] / r["cpu_ms_per_step"])
nan = float("nan")
peaks = {m: {k: statistics.median(v) for k, v in p.items()} for m, p in peaks.items()}
context = json.load(open(sorted(glob.glob(results + "/peak.*.json"))[0]))["context"]
print(f"processor: {context.get('bf16_evidence', '?')} (native bf16: "
      f"{context.get('bf16_native', '?')}), {context.get('num_cpus', '?')} CPUs")
for (dtype, threads), value in sorted(peaks["wall"].items()):
    print(f"matmul peak {dtype} threads={threads}: {value / 1e9:.0f} GFLOP/s, "
          f"{peaks['cpu'][dtype, threads] / 1e9:.0f} GFLOP per CPU-second")
modes = [(side, p) for side in ("C++", "Py") for p in ("fp32", "bf16")]
keys = sorted({k[:3] for k in rates["wall"]}, key=lambda k: (k[0] != "64px", k[1] != "vit", k[2]))
for metric, title in (("wall", "img/s (wall time)"),
                      ("cpu", "img per CPU-second of the process (all threads)")):
    print(f"\n{title}")
    header = "".join(f"{f'{side} {p}':>10}" for side, p in modes)
    print(f"{'config':<7}{'model':<6}{'thr':>4}{header}{'C++/Py32':>9}{'best/best':>10}"
          "   % of peak (C++ fp32, bf16, Py fp32, bf16)")
    for key in keys:
        row = [statistics.median(rates[metric][key + m]) if rates[metric].get(key + m) else nan
               for m in modes]
        best_cpp = max((r for r in row[:2] if r == r), default=nan)
        best_py = max((r for r in row[2:] if r == r), default=nan)
        line = (f"{key[0]:<7}{key[1]:<6}{key[2]:>4}" + "".join(f"{r:>10.1f}" for r in row) +
                f"{best_cpp / row[2]:>9.2f}{best_cpp / best_py:>10.2f}")
        line += "   " + ", ".join(
            f"{r * flops.get(key[0], nan) / peaks[metric].get((p, key[2]), nan) * 100:.1f}"
            for r, (_, p) in zip(row, modes))
        print(line)
print("\nmedians over rounds; C++/Py32: best C++ mode over PyTorch fp32; best/best: best C++ mode"
      " over the best PyTorch mode (fp32 or autocast bf16); % of peak: training FLOP rate over"
      " the matmul peak of the mode's dtype and thread count, by the same clock")
print(f"load average (1 min): {open(results + '/load.start').read().strip()} at start, "
      f"{open(results + '/load.end').read().strip()} at end")
PY
