#!/usr/bin/env bash
# The whole TLEG pipeline on Fashion-MNIST with 2 MPI ranks on this machine:
# prepare -> teacher -> distill the auxiliary net -> sweep depths from the learngene, from
# scratch and pre-train-and-fine-tune -> report with plots.
# usage: run_pipeline.sh [smoke|default|full] [OUT]   (TLEG=path/to/tleg, RANKS=2, PRECISION=bf16)
set -euo pipefail
profile=${1:-default}
out=${2:-runs/fashion-mnist-$profile}
here=$(cd "$(dirname "$0")" && pwd)
tleg=${TLEG:-$here/../build/launcher/tleg}
ranks=${RANKS:-2}
config=$here/fashion-mnist

# Budgets per profile: steps per epoch are capped (0 = whole epochs of 60,000 images).
case $profile in
  smoke)   depths=3,6;          seeds=0;     teacher=(1 40);  aux=(1 40);  des=(1 20);  pre=(1 20) ;;
  default) depths=3,6,9,12;     seeds=0;     teacher=(2 300); aux=(3 300); des=(1 250); pre=(1 250) ;;
  full)    depths=3-12;         seeds="0 1 2"; teacher=(10 0); aux=(20 0);  des=(10 0);  pre=(10 0) ;;
  *) echo "unknown profile '$profile': smoke, default or full" >&2; exit 2 ;;
esac
budget() { echo "--optim.epochs $1 --optim.steps-per-epoch $2"; }

# Open MPI on one machine: shared memory and loopback only, no warnings about absent
# high-speed networks; root is allowed (containers, CI).
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run() { mpirun -np "$ranks" "$tleg" "$@"; }
step() { echo; echo "== $*"; }

started=$(date +%s)
mkdir -p "$out"
data=$out/data/fashion-mnist.h5
if [ ! -f "$data" ]; then
  step "prepare: Fashion-MNIST -> $data"
  mkdir -p "$out/data"
  "$tleg" prepare fashion-mnist --out "$data"
fi
# PRECISION=fp32|bf16 overrides common.ini's run.precision for every training stage.
common=(--config "$config/common.ini" --data.store "$data" ${PRECISION:+--run.precision "$PRECISION"})

for seed in $seeds; do
  dir=$out/seed-$seed
  [ -f "$dir/teacher/run.json" ] || {
    step "teacher (seed $seed)"
    run teacher "${common[@]}" --config "$config/teacher.ini" $(budget "${teacher[@]}") \
      --run.seed "$seed" --run.dir "$dir/teacher" --resume; }
  [ -f "$dir/aux/run.json" ] || {
    step "distill the auxiliary net, L = 12 (seed $seed)"
    run distill "${common[@]}" --config "$config/aux.ini" $(budget "${aux[@]}") \
      --distill.teacher "$dir/teacher/model.h5" --run.seed "$seed" --run.dir "$dir/aux" --resume; }
  sweep=(sweep "${common[@]}" --config "$config/des.ini" --depths "$depths"
         --learngene "$dir/aux/learngene.h5" --run.seed "$seed" --run.dir "$dir/sweep" --resume)
  step "sweep depths $depths from the learngene (seed $seed)"
  run "${sweep[@]}" --init tleg $(budget "${des[@]}")
  step "sweep depths $depths from scratch, same fine-tuning budget (seed $seed)"
  run "${sweep[@]}" --init scratch $(budget "${des[@]}")
  step "sweep depths $depths: pre-train each, then fine-tune (seed $seed)"
  run "${sweep[@]}" --init prefin $(budget "${des[@]}") --pretrain-epochs "${pre[0]}"
done

step "report"
"$tleg" report "$out"/seed-* --out "$out/report"
echo
python3 - "$out/report/runs.csv" "$out/report/ratios.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["method"] not in ("teacher", "aux")]
depths = sorted({int(r["depth"]) for r in rows})
methods = sorted({r["method"] for r in rows}, key=["tleg", "scratch", "prefin", "prefin-pretrain", "subset"].index)
print("top-1 (%), mean over seeds" + " " * 6 + "".join(f"{'d=' + str(d):>8}" for d in depths))
for m in methods:
    top1 = {int(r["depth"]): r["top1_percent_mean"] for r in rows if r["method"] == m}
    print(f"  {m:<30}" + "".join(f"{top1.get(d, '-'):>8}" for d in depths))
PY
grep -E "parameters stored|total training cost \(FLOPs\)|pre-training cost \(FLOPs\)" "$out/report/totals.md" |
  grep "^| TLEG" | cut -d'|' -f2,3 | sed 's/^ /  /; s/ *| */: /'
echo
echo "pipeline '$profile' finished in $(( $(date +%s) - started )) s; report: $out/report/report.md"
