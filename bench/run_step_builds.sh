#!/usr/bin/env bash
# What a change to the step is worth on its own: several builds' bench/step_bench run alternately
# in one loop (so drift of a shared machine hits every build alike), C++ side only, and the
# median of each build's process CPU time per step, with each build's gain over the one before.
# usage: bench/run_step_builds.sh NAME=STEP_BINARY NAME=STEP_BINARY ...
#   env: ROUNDS=5 STEPS=8 WARMUP=2, FILTER (default '^step/28px/(vit|aux)/(fp32|bf16)/threads:1/')
set -euo pipefail
(($# >= 1)) || { echo "usage: bench/run_step_builds.sh NAME=STEP_BINARY ..." >&2; exit 1; }
rounds=${ROUNDS:-5} steps=${STEPS:-8} warmup=${WARMUP:-2}
filter=${FILTER:-'^step/28px/(vit|aux)/(fp32|bf16)/threads:1/'}
for build in "$@"; do
  [[ $build == *=* && -x ${build#*=} ]] || { echo "run_step_builds.sh: $build is not NAME=EXECUTABLE" >&2; exit 1; }
done
results=$(mktemp)
trap 'rm -f "$results"' EXIT
load_start=$(cut -d' ' -f1 /proc/loadavg)
for ((round = 0; round < rounds; ++round)); do
  for build in "$@"; do
    "${build#*=}" --benchmark_filter="$filter" --steps="$steps" --warmup="$warmup" 2>/dev/null |
      grep -o '^step/[a-z0-9/]*\|cpu_ms_per_step=[0-9.]*' | paste - - | sed "s|^|${build%%=*} |" >>"$results"
  done
done
python3 - "$results" "$load_start" "$(cut -d' ' -f1 /proc/loadavg)" "$@" <<'PY'
import re, statistics, sys
from collections import defaultdict
path, load_start, load_end, builds = sys.argv[1], sys.argv[2], sys.argv[3], [b.split("=")[0] for b in sys.argv[4:]]
ms = defaultdict(list)
for line in open(path):
    name, case, value = re.match(r"(\S+) (step/[^\t]*)\tcpu_ms_per_step=([\d.]+)", line).groups()
    ms[case.removesuffix("/threads"), name].append(float(value))
print("ms of process CPU time per step, medians; gain: the previous build's time over this one's")
print(f"{'case':<24}" + "".join(f"{b:>12}" for b in builds) + "".join(f"{'gain ' + b:>14}" for b in builds[1:]))
for case in sorted({c for c, _ in ms}):
    med = [statistics.median(ms[case, b]) if ms.get((case, b)) else float("nan") for b in builds]
    print(f"{case:<24}" + "".join(f"{m:>12.1f}" for m in med) +
          "".join(f"{med[i - 1] / med[i]:>14.2f}" for i in range(1, len(med))))
print(f"load average (1 min): {load_start} at start, {load_end} at end")
PY
