#!/usr/bin/env bash
# The README's main command, smallest profile, end to end: prepare, teacher, distill, the three
# sweeps and the report. Checks that the report holds every method at every depth and its plots.
# usage: pipeline_test.sh TLEG SOURCE_DIR
set -u
tleg=$1 source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

TLEG=$tleg "$source/experiments/run_pipeline.sh" smoke "$work/out" >"$work/log" 2>&1 ||
  { tail -50 "$work/log"; fail "the smoke pipeline failed"; }
report=$work/out/report
[ -f "$report/report.md" ] || fail "no report.md"
checks=0
for method in tleg scratch prefin; do
  for depth in 3 6; do
    grep -Eq "^$method,$depth," "$report/runs.csv" || { cat "$report/runs.csv"; fail "no $method at depth $depth"; }
    checks=$((checks + 1))
  done
done
for plot in accuracy_vs_depth accuracy_vs_cost cost_vs_models stored_parameters; do
  [ -s "$report/$plot.png" ] && [ -s "$report/$plot.svg" ] || fail "plot $plot missing"
  checks=$((checks + 1))
done
# Every evaluated run records its best epoch beside the last one, and best >= last.
runs=0
while IFS= read -r run; do
  field() { sed -n "s/^  \"$1\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$run"; }
  awk -v best="$(field best_top1)" -v last="$(field top1)" -v epoch="$(field best_epoch)" \
    'BEGIN { exit !(best != "" && best + 0 >= last + 0 && epoch + 0 >= 1) }' ||
    fail "$run: best_top1 $(field best_top1), top1 $(field top1), best_epoch $(field best_epoch)"
  runs=$((runs + 1))
done < <(find "$work/out" -name run.json)
[ "$runs" -gt 0 ] || fail "no run.json"
checks=$((checks + 1))
grep -q "TLEG vs Pre-Fin: parameters stored" "$report/totals.md" || fail "no Pre-Fin ratio"
grep -q "pipeline 'smoke' finished" "$work/log" || fail "no closing line"
echo "$((checks + 2)) passed, 0 failed"
