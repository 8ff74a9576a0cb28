#!/usr/bin/env bash
# The stage-1 distillation step on 2 ranks, C++ (distill_bench) against eager PyTorch
# (distill_bench.py: DDP over gloo, a DataLoader worker, the teacher as timm's
# VisionTransformer), each in fp32 and in bf16 (C++: --precision=bf16; PyTorch: CPU autocast),
# side by side in one run: images/s, the share of the step spent waiting for data, for the
# teacher and for the gradient all-reduce, and the student's training FLOP rate as a fraction of
# the machine's matrix-product peak of the mode's dtype (step_bench's peak/matmul, 1 thread
# times the ranks, measured in the same run), on a real Fashion-MNIST store with a tleg teacher,
# live (its forward pass in every step) and stored (its logits read from a `tleg logits` store
# with the stored views, as the demo's stage 1 runs).
# usage: bench/run_distill.sh BUILD_DIR
#   env: RANKS=2, RUNS=2 (one table row per run and mode), ARGS="--steps=40" (passed to both
#        programs' --steps/--warmup as given), PRECISIONS="fp32 bf16", TEACHERS="live stored",
#        TLEG_VENV=..., WORK=BUILD_DIR/bench-distill (keeps the store, the teacher and its
#        logits between calls)
# The store comes from `tleg prepare fashion-mnist`; the teacher is `tleg teacher` with the
# pipeline's teacher.ini trained for 5 steps: its forward pass costs what a fully trained one
# costs, which is all the benchmark needs of it; its logits are `tleg logits` over 1 view of
# every training image with seed 0 (distill_bench's loader seed).
set -euo pipefail
build=${1:?usage: bench/run_distill.sh BUILD_DIR}
binary=$build/bench/distill_bench tleg=$build/launcher/tleg peak_binary=$build/bench/step_bench
for program in "$binary" "$tleg" "$peak_binary"; do
  [[ -x $program ]] || { echo "run_distill.sh: $program not built" >&2; exit 1; }
done
here=$(cd "$(dirname "$0")" && pwd)
config=$here/../experiments/fashion-mnist
ranks=${RANKS:-2} runs=${RUNS:-2} precisions=${PRECISIONS:-fp32 bf16}
teachers=${TEACHERS:-live stored}
python=${TLEG_VENV:-$HOME/.cache/tleg/venv}/bin/python
work=${WORK:-$build/bench-distill}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
store=$work/fashion-mnist.h5 teacher=$work/teacher/model.h5 logits=$work/logits
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
if [[ $teachers == *stored* && ! -f $logits/index.h5 ]]; then
  echo "run_distill: tleg logits (1 view per image) -> $logits" >&2
  mpirun -np "$ranks" "$tleg" logits --config "$config/common.ini" --config "$config/aux.ini" \
    --data.store "$store" --distill.teacher "$teacher" --distill.views 1 --run.seed 0 \
    --run.threads 1 --out "$logits" \
    >"$results/logits.log" 2>&1 || { cat "$results/logits.log" >&2; exit 1; }
fi

steps=40 warmup=5
for arg in ${ARGS:-}; do
  case $arg in --steps=*) steps=${arg#--steps=} ;; --warmup=*) warmup=${arg#--warmup=} ;; esac
done
echo "run_distill: matmul peaks" >&2
"$peak_binary" --benchmark_filter="^peak/.*/threads:1/" --benchmark_out="$results/peak.json" \
  --benchmark_out_format=json >/dev/null 2>"$results/stderr.log" || { cat "$results/stderr.log" >&2; exit 1; }
for ((run = 1; run <= runs; ++run)); do
  for mode in $teachers; do
    case $mode in
      live) source_cpp=(--teacher="$teacher") source_py=(--teacher "$teacher") ;;
      stored) source_cpp=(--teacher_logits="$logits") source_py=(--teacher-logits "$logits") ;;
      *) echo "run_distill.sh: TEACHERS holds $mode; use live and/or stored" >&2; exit 2 ;;
    esac
    for precision in $precisions; do
      echo "run_distill: run $run of $runs, $ranks ranks, $mode teacher, $precision" >&2
      tag=$mode.$precision.$run
      cut -d' ' -f1 /proc/loadavg >"$results/load.cpp.$tag"
      # shellcheck disable=SC2086  # ARGS is a list of flags
      mpirun -np "$ranks" "$binary" --store="$store" "${source_cpp[@]}" --precision="$precision" \
        ${ARGS:-} --benchmark_out="$results/cpp.$tag.json" --benchmark_out_format=json \
        >/dev/null 2>"$results/stderr.log" || { cat "$results/stderr.log" >&2; exit 1; }
      cut -d' ' -f1 /proc/loadavg >"$results/load.py.$tag"
      mpirun -np "$ranks" "$python" "$here/distill_bench.py" --store "$store" "${source_py[@]}" \
        --precision "$precision" --steps "$steps" --warmup "$warmup" \
        >"$results/py.$tag.json" 2>"$results/stderr.log" || { cat "$results/stderr.log" >&2; exit 1; }
    done
  done
done

"$python" - "$results" "$runs" "$precisions" "$ranks" "$teachers" <<'PY'
import json, sys
results, runs, precisions, ranks = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), int(sys.argv[4])
teachers = sys.argv[5].split()
peak = {b["name"].split("/")[2]: b["items_per_second"]
        for b in json.load(open(f"{results}/peak.json"))["benchmarks"]}
print(f"matmul peak, 1 thread: fp32 {peak['fp32'] / 1e9:.0f}, bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s"
      f" (x{ranks} ranks below)")
print(f"{'run':>4}{'teacher':>8}{'side':>5}{'prec':>6}{'ranks':>6}{'batch':>6}{'img/s':>9}"
      f"{'% peak':>8}{'data wait':>11}{'teacher':>9}{'comm wait':>11}{'load':>7}")
rows = []
for run in range(1, runs + 1):
    for mode in teachers:
        for precision in precisions:
            tag = f"{mode}.{precision}.{run}"
            (b,) = json.load(open(f"{results}/cpp.{tag}.json"))["benchmarks"]
            flops = b["flops_per_image"]
            seconds = b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
            batch = int(b["batch_per_rank"])
            rows.append((run, mode, "C++", precision, int(b["ranks"]), batch,
                         batch * int(b["ranks"]) / seconds, b["data_wait_fraction"],
                         b["teacher_fraction"], b["comm_wait_fraction"],
                         float(open(f"{results}/load.cpp.{tag}").read())))
            p = json.loads(open(f"{results}/py.{tag}.json").read().strip().splitlines()[-1])
            rows.append((run, mode, "Py", precision, p["ranks"], p["batch_per_rank"],
                         p["images_per_s"], p["data_wait_fraction"], p["teacher_fraction"],
                         float("nan"), float(open(f"{results}/load.py.{tag}").read())))
for run, mode, side, precision, r, batch, rate, data, teacher, comm, load in rows:
    fraction = rate * flops / (peak[precision] * r) * 100
    print(f"{run:>4}{mode:>8}{side:>5}{precision:>6}{r:>6}{batch:>6}{rate:>9.1f}{fraction:>7.1f}%"
          f"{data * 100:>10.1f}%{teacher * 100:>8.1f}%{comm * 100:>10.1f}%{load:>7.2f}")
for mode in teachers:
    best = lambda side, precision=None: max(
        (row[6] for row in rows if row[1] == mode and row[2] == side
         and precision in (None, row[3])), default=float("nan"))
    print(f"{mode} teacher: best C++ / PyTorch fp32: {best('C++') / best('Py', 'fp32'):.2f}; "
          f"best C++ / best PyTorch: {best('C++') / best('Py'):.2f}")
print("img/s: all ranks together; % peak: the student's training FLOPs (teacher not counted) per"
      " second over the mode's dtype peak; shares of the step, mean over ranks: data wait, teacher"
      " (its forward pass; 0 with stored logits), comm wait (C++: inside GradientReducer::finish);"
      " load: 1-min load average")
PY
