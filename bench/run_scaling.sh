#!/usr/bin/env bash
# Data-parallel scaling of the AuxViT training step (scaling_bench) on this machine: 2 ranks x 1
# thread against 1 rank x 1 thread, same batch per rank, and the share of the step spent waiting
# for the gradient all-reduce with and without overlap.
# usage: bench/run_scaling.sh BUILD_DIR
#   env: RUNS=2 (one table per run), ARGS="--batch=64 --steps=8" (passed to the program)
# Each run starts 1 rank then 2, the next run 2 then 1, so slow drift of this shared VM hits
# both alike; the load average before each start is printed, since other work on the 2 cores
# takes from the 2-rank case first.
set -euo pipefail
build=${1:?usage: bench/run_scaling.sh BUILD_DIR}
binary=$build/bench/scaling_bench
[[ -x $binary ]] || { echo "run_scaling.sh: $binary not built" >&2; exit 1; }
runs=${RUNS:-2}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
measure() {  # run ranks
  echo "run_scaling: run $1, $2 rank(s)" >&2
  cut -d' ' -f1 /proc/loadavg >"$results/load.$1.$2"
  # shellcheck disable=SC2086  # ARGS is a list of flags
  mpirun -np "$2" "$binary" ${ARGS:-} --benchmark_out="$results/run.$1.$2.json" \
    --benchmark_out_format=json >/dev/null 2>"$results/stderr.log" || { cat "$results/stderr.log" >&2; exit 1; }
}
for ((run = 1; run <= runs; ++run)); do
  if ((run % 2)); then measure $run 1; measure $run 2; else measure $run 2; measure $run 1; fi
done

python3 - "$results" "$runs" <<'PY'
import json, sys
results, runs = sys.argv[1], int(sys.argv[2])
for run in range(1, runs + 1):
    rows = {}
    for ranks in (1, 2):
        for b in json.load(open(f"{results}/run.{run}.{ranks}.json"))["benchmarks"]:
            overlap = int(b["name"].split("/")[2].split(":")[1])
            seconds = b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
            images = b["batch_per_rank"] * ranks
            rows[ranks, overlap] = (seconds, images / seconds, b["comm_wait_fraction"],
                                    float(open(f"{results}/load.{run}.{ranks}").read()), b["bytes_reduced"])
    print(f"run {run}: AuxViT step, batch {int(b['batch_per_rank'])} per rank, "
          f"{rows[2, 1][4] / 2**20:.2f} MiB of gradients all-reduced per step")
    print(f"{'ranks':>6}{'overlap':>9}{'ms/step':>10}{'img/s':>9}{'comm wait':>11}{'load':>7}{'speed-up':>10}")
    for (ranks, overlap), (seconds, rate, wait, load, _) in sorted(rows.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        speedup = f"{rate / rows[1, overlap][1]:.2f}x" if ranks == 2 else ""
        print(f"{ranks:>6}{overlap:>9}{seconds * 1e3:>10.0f}{rate:>9.1f}{wait * 100:>10.1f}%{load:>7.2f}{speedup:>10}")
    print()
print("img/s: all ranks together; comm wait: share of the step inside GradientReducer::finish(),")
print("mean over ranks; overlap 0: every bucket launched by finish(); load: 1-min load average at start")
PY
