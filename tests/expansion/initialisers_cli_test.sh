#!/usr/bin/env bash
# The initialisers that start from nothing or from a pre-trained model, from the command line:
# tleg finetune and tleg sweep with --init mimetic, weight-selection, heur-lg and auto-lg (the
# last three with --from) train and record the initialiser in run.json; a source that cannot
# serve is refused naming what differs; the old --pretrained is refused naming --from.
# usage: initialisers_cli_test.sh TLEG PYTHON
set -u
tleg=$1 python=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
json() { "$python" -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

"$tleg" prepare fashion-mnist --out "$work/fm.h5" >/dev/null || fail "prepare"
data=(--data.store "$work/fm.h5" --data.mean 0.2860 --data.std 0.3530 --data.threads 1
      --data.val-split "" --model.heads 2 --model.image 28
      --optim.batch 16 --optim.epochs 1 --optim.steps-per-epoch 2 --optim.warmup-epochs 0
      --run.log-interval 1000 --run.seed 4)
# The pre-trained source: a depth-4, dim-32 ViT.
"$tleg" teacher "${data[@]}" --model.patch 7 --model.dim 32 --model.depth 4 --run.dir "$work/source" \
  >"$work/source.log" 2>&1 || { cat "$work/source.log"; fail "train the source"; }
source=$work/source/model.h5

# finetune RUN INIT_ARGS...: a depth-2 run, its run.json's method and init on one line.
finetune() {
  local run=$1; shift
  "$tleg" finetune "${data[@]}" --model.patch 7 --depth 2 --run.dir "$work/$run" "$@" >"$work/$run.log" 2>&1 ||
    { cat "$work/$run.log"; fail "finetune $*"; }
  echo "$(json "$work/$run/run.json" "['method']") | $(json "$work/$run/run.json" "['init']")"
}
recorded=$(finetune mimetic --model.dim 32 --init mimetic)
[[ "$recorded" == "mimetic | mimetic (seed 4;"* ]] || fail "mimetic recorded as: $recorded"
recorded=$(finetune ws --model.dim 16 --init weight-selection --from "$source")
[ "$recorded" = "weight-selection | weight selection from $source, fresh head" ] ||
  fail "weight selection recorded as: $recorded"
recorded=$(finetune heur --model.dim 32 --init heur-lg --from "$source")
[ "$recorded" = "heur-lg | heur-lg: the last 1 of the 4 blocks (those that fit a shallower model) and the patch and position embeddings of $source, fresh head" ] ||
  fail "heur-lg recorded as: $recorded"
echo "finetune: mimetic, weight-selection and heur-lg recorded in run.json"

# tleg sweep: auto-lg takes the first 2 of the 4 blocks, so depths 2 and 3 can hold them.
"$tleg" sweep "${data[@]}" --model.patch 7 --model.dim 32 --init auto-lg --from "$source" --depths 2,3 \
  --run.dir "$work/sweep" >"$work/sweep.log" 2>&1 || { cat "$work/sweep.log"; fail "sweep auto-lg"; }
for depth in 2 3; do
  [ "$(json "$work/sweep/auto-lg/depth-$depth/run.json" "['method']")" = auto-lg ] ||
    fail "sweep depth $depth: method not recorded"
  [[ "$(json "$work/sweep/auto-lg/depth-$depth/run.json" "['init']")" == "auto-lg: the first 2 of the 4 blocks "* ]] ||
    fail "sweep depth $depth: init not recorded"
done
echo "sweep: auto-lg at depths 2 and 3 recorded in run.json"

# refuse NAME REGEX ARGS...: finetune fails with an error line matching REGEX.
refuse() {
  local name=$1 regex=$2; shift 2
  local output patch=(--model.patch 7)
  [[ " $* " != *" --model.patch "* ]] || patch=()
  output=$("$tleg" finetune "${data[@]}" "${patch[@]}" --run.dir "$work/refused" "$@" 2>&1) &&
    fail "$name: accepted"
  grep -Eq -- "^tleg finetune: .*$regex" <<<"$output" || fail "$name: $output"
}
refuse narrower "$source: weight selection needs .*: dim 32 \(this model: 64\)" \
  --depth 2 --model.dim 64 --init weight-selection --from "$source"
refuse other-patch "$source: weight selection needs .*: patch 7 \(this model: 4\)" \
  --depth 2 --model.dim 16 --model.patch 4 --init weight-selection --from "$source"
refuse other-dim "$source: the pre-trained model does not fit this one: dim 32 \(this model: 16\)" \
  --depth 2 --model.dim 16 --init heur-lg --from "$source"
refuse no-source "--init heur-lg needs a source file \(--from\)" --depth 2 --model.dim 32 --init heur-lg
refuse renamed "unrecognised option '--pretrained' \(renamed: --from\)" \
  --depth 2 --model.dim 32 --init subset --pretrained "$source"
output=$("$tleg" sweep "${data[@]}" --model.patch 7 --model.dim 32 --init weight-selection --depths 1 \
  --run.dir "$work/refused-sweep" 2>&1) && fail "a sweep without --from: accepted"
grep -q -- "--init weight-selection needs --from" <<<"$output" || fail "sweep without --from: $output"
echo "refused: a narrower source, another patch size, another dim, no --from (finetune, sweep), --pretrained"
echo "4 passed, 0 failed"
