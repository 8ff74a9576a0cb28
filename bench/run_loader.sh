#!/usr/bin/env bash
# Loader throughput, C++ (loader_bench) against Pillow + torchvision (loader_bench.py) on the
# same 500 synthetic 256-px JPEG q90 scenes, for the basic pipeline (bilinear, bicubic) and the
# DeiT recipe (timm's create_transform as DeiT's main.py builds it), plus read MB/s of
# DatasetReader vs plain read().
# usage: bench/run_loader.sh BUILD_DIR     (env: DATA_DIR=<cache of the images and stores>,
#        SECONDS_PER_CASE=5, TLEG_VENV=...)
# "per core" is images per CPU second of the process(es): wall-clock rates on a shared 2-core
# machine move with whatever else runs, CPU time much less.
set -euo pipefail
build=${1:?usage: bench/run_loader.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
python=${TLEG_VENV:-$HOME/.cache/tleg/venv}/bin/python
binary=$build/bench/loader_bench
[[ -x $binary ]] || { echo "run_loader.sh: $binary not built" >&2; exit 1; }
data=${DATA_DIR:-${TMPDIR:-/tmp}/tleg-loader-bench}
seconds=${SECONDS_PER_CASE:-5}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
mkdir -p "$data"

echo "run_loader: C++ loader_bench" >&2
"$binary" --data_dir="$data" --benchmark_format=json --benchmark_min_time="$seconds" \
  >"$results/cpp.json" 2>"$results/cpp.err" || { cat "$results/cpp.err" >&2; exit 1; }
for processes in 1 2; do
  for interpolation in bilinear bicubic; do
    echo "run_loader: Python processes=$processes $interpolation" >&2
    "$python" "$here/loader_bench.py" --images "$data/images" --processes $processes \
      --seconds "$seconds" --interpolation $interpolation >>"$results/py.jsonl"
  done
  echo "run_loader: Python processes=$processes DeiT recipe" >&2
  "$python" "$here/loader_bench.py" --images "$data/images" --processes $processes \
    --seconds "$seconds" --interpolation bicubic --recipe deit >>"$results/py.jsonl"
done

"$python" - "$results" <<'PY'
import json, re, sys
results = sys.argv[1]
cpp = {re.sub(r"/min_time:[^/]*", "", b["name"]): b for b in json.load(open(f"{results}/cpp.json"))["benchmarks"]}
py = [json.loads(line) for line in open(f"{results}/py.jsonl")]

def py_row(processes, interpolation, recipe="basic"):
    return next(r for r in py if r["processes"] == processes and r["interpolation"] == interpolation
                and r.get("recipe", "basic") == recipe)

print("\nTraining pipeline, 224 px from 256-px JPEG q90 (decode + RandomResizedCrop + flip + normalise;"
      " DeiT adds RandAugment rand-m9-mstd0.5-inc1 and erasing 0.25); Python = Pillow + torchvision/timm")
print(f"{'pipeline':<34}{'threads':>8}{'img/s':>10}{'img/s/core':>12}{'Python img/s':>14}{'Python /core':>14}{'ratio/core':>12}")
for interpolation, name in (("bilinear", "BM_TrainPipelineBilinear"), ("bicubic", "BM_TrainPipelineBicubic")):
    for threads in (1, 2):
        c = cpp[f"{name}/{threads}/real_time"]
        p = py_row(threads, interpolation)
        print(f"{'tleg Loader, ' + interpolation:<34}{threads:>8}{c['items_per_second']:>10.0f}"
              f"{c['per_cpu_second']:>12.0f}{p['images_per_second']:>14.0f}"
              f"{p['images_per_cpu_second']:>14.0f}{c['per_cpu_second'] / p['images_per_cpu_second']:>12.2f}")
for threads in (1, 2):
    c = cpp[f"BM_DeitRecipe/{threads}/real_time"]
    p = py_row(threads, "bicubic", "deit")
    print(f"{'tleg Loader, DeiT (+RandAug, erase)':<34}{threads:>8}{c['items_per_second']:>10.0f}"
          f"{c['per_cpu_second']:>12.0f}{p['images_per_second']:>14.0f}"
          f"{p['images_per_cpu_second']:>14.0f}{c['per_cpu_second'] / p['images_per_cpu_second']:>12.2f}")
one = cpp["BM_RenderOneView"]
print(f"{'one view, no loader (bilinear)':<34}{1:>8}{one['items_per_second']:>10.0f}")
print("\nRead throughput (page cache warm), a rank's half of the shards")
for name, label in (("BM_ReadShardRuns/real_time", "DatasetReader::read_run per shard"),
                    ("BM_PlainSequentialRead/real_time", "plain read() of as many bytes")):
    print(f"{label:<40}{cpp[name]['bytes_per_second'] / 1e6:>10.0f} MB/s")
PY
