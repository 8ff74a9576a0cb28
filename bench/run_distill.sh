#!/usr/bin/env bash
# The stage-1 distillation step on 2 ranks (distill_bench): images/s and the share of the step
# spent waiting for data, for the teacher and for the gradient all-reduce, on a real
# Fashion-MNIST store with a tleg teacher.
# usage: bench/run_distill.sh BUILD_DIR
#   env: RANKS=2, RUNS=2 (one table row per run), ARGS="--steps=40" (passed to the program),
#        WORK=BUILD_DIR/bench-distill (keeps the store and the teacher between calls)
# The store comes from `tleg prepare fashion-mnist`; the teacher is `tleg teacher` with the
# pipeline's teacher.ini trained for 5 steps: its forward pass costs what a fully trained one
# costs, which is all the benchmark needs of it.
set -euo pipefail
build=${1:?usage: bench/run_distill.sh BUILD_DIR}
binary=$build/bench/distill_bench tleg=$build/launcher/tleg
for program in "$binary" "$tleg"; do
  [[ -x $program ]] || { echo "run_distill.sh: $program not built" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")" && pwd)
config=$here/../experiments/fashion-mnist
ranks=${RANKS:-2} runs=${RUNS:-2}
work=${WORK:-$build/bench-distill}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
store=$work/fashion-mnist.h5 teacher=$work/teacher/model.h5
mkdir -p "$work"
if [[ ! -f $store ]]; then
  echo "run_distill: tleg prepare fashion-mnist -> $store" >&2
  "$tleg" prepare fashion-mnist --out "$store" >"$results/prepare.log" 2>&1 || { cat "$results/prepare.log" >&2; exit 1; }
fi
if [[ ! -f $teacher ]]; then
  echo "run_distill: tleg teacher (5 steps) -> $teacher" >&2
  mpirun -np "$ranks" "$tleg" teacher --config "$config/common.ini" --config "$config/teacher.ini" \
    --data.store "$store" --data.val-split "" --optim.epochs 1 --optim.steps-per-epoch 5 \
    --run.dir "$work/teacher" >"$results/teacher.log" 2>&1 || { cat "$results/teacher.log" >&2; exit 1; }
fi

for ((run = 1; run <= runs; ++run)); do
  echo "run_distill: run $run of $runs, $ranks ranks" >&2
  cut -d' ' -f1 /proc/loadavg >"$results/load.$run"
  # shellcheck disable=SC2086  # ARGS is a list of flags
  mpirun -np "$ranks" "$binary" --store="$store" --teacher="$teacher" ${ARGS:-} \
    --benchmark_out="$results/run.$run.json" --benchmark_out_format=json \
    >/dev/null 2>"$results/stderr.log" || { cat "$results/stderr.log" >&2; exit 1; }
done

python3 - "$results" "$runs" <<'PY'
import json, sys
results, runs = sys.argv[1], int(sys.argv[2])
print(f"{'run':>4}{'ranks':>6}{'batch/rank':>11}{'ms/step':>9}{'img/s':>9}{'data wait':>11}"
      f"{'teacher':>9}{'comm wait':>11}{'load':>7}")
for run in range(1, runs + 1):
    (b,) = json.load(open(f"{results}/run.{run}.json"))["benchmarks"]
    seconds = b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    ranks, batch = int(b["ranks"]), int(b["batch_per_rank"])
    load = float(open(f"{results}/load.{run}").read())
    print(f"{run:>4}{ranks:>6}{batch:>11}{seconds * 1e3:>9.1f}{batch * ranks / seconds:>9.1f}"
          f"{b['data_wait_fraction'] * 100:>10.1f}%{b['teacher_fraction'] * 100:>8.1f}%"
          f"{b['comm_wait_fraction'] * 100:>10.1f}%{load:>7.2f}")
print("img/s: all ranks together; shares of the step, mean over ranks: data wait (inside Loader::next),")
print("teacher (its forward pass), comm wait (inside GradientReducer::finish); load: 1-min load average at start")
PY
