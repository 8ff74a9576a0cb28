#!/usr/bin/env bash
# TLEG's transfer to a new task on Fashion-MNIST with 2 MPI ranks: the classes are split in two
# disjoint halves; on the source half tleg trains the teacher, the auxiliary net (the learngene)
# and a pre-trained model of every depth; on the target half it fine-tunes every depth from the
# learngene (tleg), from random values (scratch), from the source's pre-trained model of that
# depth (prefin) and from layers of the source's deepest one (subset), each initialiser from the
# source with a fresh head, all with one fine-tuning budget; then the report's transfer section.
# usage: run_transfer.sh [smoke|default] [OUT]   (TLEG=path/to/tleg, RANKS=2, PRECISION=auto|fp32|bf16,
#        DEPTHS=3,6 to run fewer depths than the profile's)
#
# The halves: source = the even classes (T-shirt/top, Pullover, Coat, Shirt, Bag), target = the
# odd ones (Trouser, Dress, Sandal, Sneaker, Ankle boot). The source holds the four tops that
# are hardest to tell apart, so it has to learn fine garment features; the target shares no
# class with it and is mostly footwear, so whatever helps there came from general features the
# initialisation carried, not from knowing its classes.
set -euo pipefail
profile=${1:-default}
out=${2:-runs/fashion-mnist-transfer-$profile}
here=$(cd "$(dirname "$0")" && pwd)
tleg=${TLEG:-$here/../build/launcher/tleg}
ranks=${RANKS:-2}
config=$here/fashion-mnist
source_classes=0,2,4,6,8
target_classes=1,3,5,7,9

# Budgets per profile (steps per epoch capped): those of run_pipeline.sh's default profile before
# it took the paper's proportions (a ViT teacher 2 x 300 steps, the auxiliary net 3 x 300,
# pre-training and fine-tuning 250 steps each), over depths 3-12; what the transfer claim needs
# is the same fine-tuning budget for every initialiser on the target, which this gives.
case $profile in
  smoke)   depths=3,6;  teacher=(1 20);  aux=(1 20);  des=(1 10);  pre=(1 10) ;;
  default) depths=3-12; teacher=(2 300); aux=(3 300); des=(1 250); pre=(1 250) ;;
  *) echo "unknown profile '$profile': smoke or default" >&2; exit 2 ;;
esac
depths=${DEPTHS:-$depths}
deepest=$(echo "$depths" | tr ',-' '\n\n' | sort -n | tail -1)
# run, step, budget and the Open MPI settings for one machine.
source "$here/local_mpi.sh"

started=$(date +%s)
mkdir -p "$out/data"
for half in source target; do
  store=$out/data/$half.h5
  classes=$source_classes; [ $half = target ] && classes=$target_classes
  [ -f "$store" ] || { step "prepare: Fashion-MNIST classes $classes -> $store";
                       "$tleg" prepare fashion-mnist --classes "$classes" --out "$store"; }
done
common=(--config "$config/common.ini" ${PRECISION:+--run.precision "$PRECISION"} --run.seed 0)
src=(--data.store "$out/data/source.h5")
tgt=(--data.store "$out/data/target.h5")
dir=$out/source

# The source task: teacher, auxiliary net, and each depth pre-trained (Pre-Fin's and the
# subset's starting points), laid out as a prefin sweep lays out its own pre-training.
[ -f "$dir/teacher/run.json" ] || {
  step "source: teacher"
  run teacher "${common[@]}" "${src[@]}" --config "$config/teacher.ini" $(budget "${teacher[@]}") \
    --run.dir "$dir/teacher" --resume; }
[ -f "$dir/aux/run.json" ] || {
  step "source: distill the auxiliary net, L = 12"
  run distill "${common[@]}" "${src[@]}" --config "$config/aux.ini" $(budget "${aux[@]}") \
    --distill.teacher "$dir/teacher/model.h5" --run.dir "$dir/aux" --resume; }
learngene=$dir/aux/learngene.h5
step "source: pre-train depths $depths"
run sweep "${common[@]}" "${src[@]}" --config "$config/des.ini" --depths "$depths" \
  --learngene "$learngene" --init scratch --run.method prefin-pretrain $(budget "${pre[@]}") \
  --run.dir "$dir/sweep" --resume

# The target task: every initialiser with the same fine-tuning budget.
sweep=(sweep "${common[@]}" "${tgt[@]}" --config "$config/des.ini" --depths "$depths"
       --learngene "$learngene" --run.dir "$out/target" --resume $(budget "${des[@]}"))
step "target: depths $depths from the source's learngene, fresh head"
run "${sweep[@]}" --init tleg --new-head
step "target: depths $depths from scratch"
run "${sweep[@]}" --init scratch
step "target: depths $depths from the source's pre-trained models (Pre-Fin), fresh head"
run "${sweep[@]}" --init prefin --prefin-from "$dir/sweep/prefin-pretrain" --new-head
step "target: depths $depths from layers of the source's depth-$deepest model, fresh head"
run "${sweep[@]}" --init subset --pretrained "$dir/sweep/prefin-pretrain/depth-$deepest/model.h5" \
  --new-head

step "report"
"$tleg" report "$out/target" --out "$out/report"
echo
sed -n '/^## Transfer/,$p' "$out/report/report.md"
echo
echo "transfer '$profile' finished in $(( $(date +%s) - started )) s; report: $out/report/report.md"
