#!/usr/bin/env bash
# The transfer profile, smallest budgets, end to end: two disjoint class-split stores, per seed
# (two) the source task's learngene and pre-trained models and the target sweeps of every
# initialiser (those from the source with a fresh head), and the report's transfer section with
# the means and spreads over the seeds and its verdict. Also: a learngene of another task is
# refused without --new-head, with a message naming it.
# usage: transfer_test.sh TLEG SOURCE_DIR
set -u
tleg=$1 source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
checks=0
pass() { checks=$((checks + 1)); }

"$source/experiments/run.sh" --tleg "$tleg" --out "$work/out" transfer-smoke >"$work/log" 2>&1 ||
  { tail -50 "$work/log"; fail "the smoke transfer failed"; }
report=$work/out/report
methods="tleg scratch mimetic prefin subset weight-selection heur-lg auto-lg"
for method in $methods; do
  for depth in 3 6; do
    for seed in 0 1; do
      [ -f "$work/out/seed-$seed/target/$method/depth-$depth/run.json" ] || fail "no $method at depth $depth, seed $seed"
    done
    # runs.csv: method, depth, then the number of seeds averaged
    grep -Eq "^$method,$depth,2," "$report/runs.csv" || { cat "$report/runs.csv"; fail "$method at depth $depth is not the mean of 2 seeds"; }
    pass
  done
done
# Every initialiser but scratch and mimetic is a transfer from the source store, recorded in
# run.json; those of the source's deepest model name it.
source_fp=$(sed -n 's/.*fingerprint \([0-9a-f]*-5\)$/\1/p' <("$tleg" prepare fashion-mnist --classes 0,2,4,6,8 --out "$work/again.h5"))
[ -n "$source_fp" ] || fail "no fingerprint printed by prepare"
target=$work/out/seed-1/target
for method in tleg prefin subset weight-selection heur-lg auto-lg; do
  grep -q "\"transfer_fingerprint\": \"$source_fp\"" "$target/$method/depth-3/run.json" ||
    fail "$method/depth-3/run.json does not record the transfer from $source_fp"
  pass
done
for method in weight-selection heur-lg auto-lg; do
  grep -q "seed-1/source/sweep/prefin-pretrain/depth-6/model.h5" "$target/$method/depth-3/run.json" ||
    fail "$method does not start from seed 1's deepest pre-trained source model"
  pass
done
for method in scratch mimetic; do
  grep -q '"transfer_from": ""' "$target/$method/depth-3/run.json" || fail "$method recorded as a transfer"
done
grep -q "fresh head" "$target/tleg/depth-3/run.json" || fail "tleg's init does not say fresh head"
pass
grep -q "^## Transfer" "$report/report.md" || fail "no transfer section in report.md"
grep -q "Source task: 'fashion-mnist\[0,2,4,6,8\]' (fingerprint $source_fp)" "$report/report.md" ||
  { sed -n '/^## Transfer/,$p' "$report/report.md"; fail "the source is not named"; }
grep -Eq "^\*\*Verdict: (holds|does not hold)\.\*\* TLEG beats every other initialiser" "$report/report.md" ||
  { sed -n '/^## Transfer/,$p' "$report/report.md"; fail "no verdict"; }
# a depth-6 row: mean ± std of the eight initialisers, then TLEG's margin with its seed spread
cell='[0-9.]+ ± [0-9.]+'
grep -Eq "^\| 6 \|( $cell \|){8} [-+][0-9.]+ \([A-Za-z -]+; seed std ≤ [0-9.]+\) \|$" "$report/report.md" ||
  { sed -n '/^## Transfer/,$p' "$report/report.md"; fail "no depth-6 row with eight methods over 2 seeds"; }
[ -s "$report/transfer.md" ] || fail "no transfer.md"
pass; pass; pass; pass

# Without --new-head the source's learngene is refused on the target (same class count, other
# classes), with the fix named.
if "$tleg" finetune --data.store "$work/out/data/target.h5" --data.val-split "" --init tleg \
     --learngene "$work/out/seed-0/source/aux/learngene.h5" --depth 2 --optim.epochs 1 \
     --optim.steps-per-epoch 1 --optim.batch 8 --run.dir "$work/refused" >"$work/refused.log" 2>&1; then
  fail "a learngene of another task was inherited with its head"
fi
grep -q "pass --new-head" "$work/refused.log" || { cat "$work/refused.log"; fail "the refusal does not name --new-head"; }
pass
grep -q "^transfer-smoke finished in" "$work/log" || fail "no closing line"
pass

# A variant profile (BASE=transfer) is the base's plan with only its own keys changed: seed 0 of
# transfer-seeds runs exactly the transfer profile's commands. A BASE after other keys, or one
# that names no profile, is refused with the line.
plan=$source/experiments/plan.sh
diff <("$plan" --tleg "$tleg" --out "$work/p" transfer | grep -v '^plan of' | grep -v '^  ') \
     <("$plan" --tleg "$tleg" --out "$work/p" --seeds 0 transfer-seeds | grep -v '^plan of' | grep -v '^  ') ||
  fail "transfer-seeds with seed 0 is not the transfer profile's plan"
printf 'OUT=x\nBASE=transfer\n' >"$work/late.env"
"$plan" "$work/late.env" >"$work/late.log" 2>&1 && fail "a BASE after other keys was accepted"
grep -q "late.env:2: BASE must come before every other key" "$work/late.log" || { cat "$work/late.log"; fail "no reason for the late BASE"; }
printf 'BASE=transfr\n' >"$work/typo.env"
"$plan" "$work/typo.env" >"$work/typo.log" 2>&1 && fail "a BASE naming no profile was accepted"
grep -q "typo.env:1: BASE: no profile .*transfr.env" "$work/typo.log" || { cat "$work/typo.log"; fail "no reason for the missing BASE"; }
pass; pass; pass
echo "$checks passed, 0 failed"
