#!/usr/bin/env bash
# The transfer profile, smallest budgets, end to end: two disjoint class-split stores, the source
# task's learngene and pre-trained models, the target sweeps of every initialiser with a fresh
# head, and the report's transfer section with its verdict. Also: a learngene of another task is
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
for method in tleg scratch prefin subset; do
  for depth in 3 6; do
    grep -Eq "^$method,$depth," "$report/runs.csv" || { cat "$report/runs.csv"; fail "no $method at depth $depth"; }
    pass
  done
done
# Every initialiser but scratch is a transfer from the source store, recorded in run.json.
source_fp=$(sed -n 's/.*fingerprint \([0-9a-f]*-5\)$/\1/p' <("$tleg" prepare fashion-mnist --classes 0,2,4,6,8 --out "$work/again.h5"))
[ -n "$source_fp" ] || fail "no fingerprint printed by prepare"
for method in tleg prefin subset; do
  grep -q "\"transfer_fingerprint\": \"$source_fp\"" "$work/out/target/$method/depth-3/run.json" ||
    fail "$method/depth-3/run.json does not record the transfer from $source_fp"
  pass
done
grep -q '"transfer_from": ""' "$work/out/target/scratch/depth-3/run.json" || fail "scratch recorded as a transfer"
grep -q "fresh head" "$work/out/target/tleg/depth-3/run.json" || fail "tleg's init does not say fresh head"
pass
grep -q "^## Transfer" "$report/report.md" || fail "no transfer section in report.md"
grep -q "Source task: 'fashion-mnist\[0,2,4,6,8\]' (fingerprint $source_fp)" "$report/report.md" ||
  { sed -n '/^## Transfer/,$p' "$report/report.md"; fail "the source is not named"; }
grep -Eq "^\*\*Verdict: (holds|does not hold)\.\*\* TLEG beats every other initialiser" "$report/report.md" ||
  { sed -n '/^## Transfer/,$p' "$report/report.md"; fail "no verdict"; }
grep -Eq "^\| 6 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [-+][0-9.]+ \(" "$report/report.md" ||
  { sed -n '/^## Transfer/,$p' "$report/report.md"; fail "no depth-6 row with four methods"; }
[ -s "$report/transfer.md" ] || fail "no transfer.md"
pass; pass; pass; pass

# Without --new-head the source's learngene is refused on the target (same class count, other
# classes), with the fix named.
if "$tleg" finetune --data.store "$work/out/data/target.h5" --data.val-split "" --init tleg \
     --learngene "$work/out/source/aux/learngene.h5" --depth 2 --optim.epochs 1 \
     --optim.steps-per-epoch 1 --optim.batch 8 --run.dir "$work/refused" >"$work/refused.log" 2>&1; then
  fail "a learngene of another task was inherited with its head"
fi
grep -q "pass --new-head" "$work/refused.log" || { cat "$work/refused.log"; fail "the refusal does not name --new-head"; }
pass
grep -q "^transfer-smoke finished in" "$work/log" || fail "no closing line"
pass
echo "$checks passed, 0 failed"
