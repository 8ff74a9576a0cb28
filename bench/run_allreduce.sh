#!/usr/bin/env bash
# All-reduce bus bandwidth of tleg's MPI backend against plain MPI_Allreduce (allreduce_bench,
# both in one program), under mpirun on this machine.
# usage: bench/run_allreduce.sh BUILD_DIR
#   env: RANKS=2, RUNS=2 (one table per run), ARGS="--max_bytes=..." (passed to the program)
# busbw is nccl-tests' definition for all-reduce: algbw * 2(n-1)/n with algbw = bytes / time
# (NVIDIA/nccl-tests doc/PERFORMANCE.md), in GB/s of 1e9 bytes. overhead = tleg time / MPI time - 1.
set -euo pipefail
build=${1:?usage: bench/run_allreduce.sh BUILD_DIR}
binary=$build/bench/allreduce_bench
[[ -x $binary ]] || { echo "run_allreduce.sh: $binary not built" >&2; exit 1; }
ranks=${RANKS:-2} runs=${RUNS:-2}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# Shared memory between the ranks of this machine, no warnings about absent networks; root is
# allowed (containers, CI).
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for ((run = 1; run <= runs; ++run)); do
  echo "run_allreduce: run $run of $runs, $ranks ranks" >&2
  # shellcheck disable=SC2086  # ARGS is a list of flags
  mpirun -np "$ranks" "$binary" ${ARGS:-} --benchmark_out="$results/run.$run.json" \
    --benchmark_out_format=json >/dev/null 2>"$results/stderr.log" || { cat "$results/stderr.log" >&2; exit 1; }
done

python3 - "$results" "$runs" <<'PY'
import json, sys
results, runs = sys.argv[1], int(sys.argv[2])
for run in range(1, runs + 1):
    cases = {}
    for b in json.load(open(f"{results}/run.{run}.json"))["benchmarks"]:
        side = b["name"].split("/")[1]
        seconds = b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        cases.setdefault(int(b["bytes"]), {})[side] = (seconds, int(b["ranks"]))
    print(f"run {run}: all-reduce float32 Sum, in place")
    print(f"{'bytes':>11}{'MPI us':>11}{'tleg us':>11}{'MPI busbw':>11}{'tleg busbw':>12}{'overhead':>10}")
    for size in sorted(cases):
        (t_mpi, n), (t_tleg, _) = cases[size]["mpi"], cases[size]["tleg"]
        busbw = lambda t: size / t * 2 * (n - 1) / n / 1e9
        print(f"{size:>11}{t_mpi * 1e6:>11.1f}{t_tleg * 1e6:>11.1f}{busbw(t_mpi):>11.2f}"
              f"{busbw(t_tleg):>12.2f}{(t_tleg / t_mpi - 1) * 100:>9.1f}%")
    print()
print("busbw in GB/s (1e9 B/s); overhead = tleg time / MPI time - 1")
PY
