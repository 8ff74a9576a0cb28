#!/usr/bin/env bash
# The README's main command, smallest profile, end to end: prepare, teacher, logits, distill, the
# four sweeps, the linearity and the report. Checks that the report holds every method at every depth, its plots
# and every verdict, and that the expansion and the inheritance work (the descendants before
# fine-tuning).
# usage: pipeline_test.sh TLEG SOURCE_DIR
set -u
tleg=$1 source=$2
work=$(mktemp -d)
# KEEP=1 keeps the runs and the report for a look (their folder is printed).
trap '[ -n "${KEEP:-}" ] && echo "kept: $work" || rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$source/experiments/run.sh" --tleg "$tleg" --out "$work/out" smoke >"$work/log" 2>&1 ||
  { tail -50 "$work/log"; fail "the smoke pipeline failed"; }
report=$work/out/report
[ -f "$report/report.md" ] || fail "no report.md"
checks=0
# Every method at every depth of the smoke profile: scratch at B and scratch-long told apart,
# mimetic (scratch's competitor without pre-trained weights) beside them.
for method in tleg scratch scratch-long prefin mimetic; do
  for depth in 3 12; do
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
done < <(find "$work/out" -name run.json ! -path "*/logits/*")
[ "$runs" -gt 0 ] || fail "no run.json"
checks=$((checks + 1))
# The teacher-logits job trains nothing: no accuracy (null, never 0), none in the report.
logits_run=$(find "$work/out" -path "*/logits/run.json" | head -1)
grep -q '"top1": null' "$logits_run" || fail "$logits_run: top1 is not null"
grep -q '^| teacher-logits | - | 1 | no evaluation |' "$report/runs.md" ||
  fail "runs.md does not show the teacher-logits job as unevaluated"
checks=$((checks + 1))
# The expansion and the inheritance: the depth-12 descendant as inherited is the auxiliary net
# itself (L = 12, layer l of both at theta_B + l/12 theta_A), so before its first step it scores
# exactly the aux net's top-1 on the same evaluation views; every descendant scores above chance.
python3 - "$work/out/seed-0" <<'PY' || fail "the descendants before fine-tuning"
import json, sys
root = sys.argv[1]
aux = json.load(open(f"{root}/aux/run.json"))
chance = 1 / aux["classes"]
for depth in (3, 12):
    run = json.load(open(f"{root}/sweep/tleg/depth-{depth}/run.json"))
    initial = run["initial_top1"]
    assert initial is not None, f"depth {depth}: no initial_top1 in run.json"
    assert initial > chance, f"depth {depth}: {initial} before fine-tuning, not above chance {chance}"
    if depth == 12:
        assert initial == aux["top1"], f"depth 12 before fine-tuning {initial} != aux {aux['top1']}"
    print(f"depth {depth} before fine-tuning: top-1 {initial:.4f} (aux {aux['top1']:.4f}, chance {chance})")
for depth in (3, 12):
    run = json.load(open(f"{root}/sweep/prefin/depth-{depth}/run.json"))
    assert run["extra"].get("pretrained_method") == "scratch-long", run["extra"]
PY
checks=$((checks + 3))
grep -A3 "^| top-1 %" "$report/report.md" | grep -Eq "^\| TLEG before fine-tuning.*\| [0-9.]+ \| [0-9.]+ \|$" ||
  { cat "$report/report.md"; fail "no row 'TLEG before fine-tuning' with both depths"; }
grep -q "the teacher's stored logits (tleg logits)" "$report/totals.md" || fail "stage 1 does not count the logits pass"
grep -q "scratch-long runs reused as Pre-Fin's pre-training" "$report/totals.md" ||
  fail "the report does not say that Pre-Fin's pre-training is the scratch-long runs"
checks=$((checks + 3))
# One verdict per claim, each decided, in verdicts.md, at the end of report.md and of the output.
claims=("(a) accuracy" "(a) training cost of the family: scratch-long vs TLEG, teacher's training excluded"
        "(a) training cost of the family: scratch-long vs TLEG, teacher's training included"
        "(b) parameters stored" "(b) pre-training cost" "(b) accuracy" "(c) parameters stored"
        "(d) gain at equal budget")
for claim in "${claims[@]}"; do
  for file in "$report/verdicts.md" "$report/report.md" "$work/log"; do
    grep -F -- "$claim" "$file" | grep -Eq "(holds here|does not hold here)$" ||
      { cat "$report/verdicts.md"; fail "no decided verdict '$claim' in $file"; }
  done
  checks=$((checks + 1))
done
[ "$(grep -c "^- (" "$report/verdicts.md")" -eq ${#claims[@]} ] || fail "verdicts.md holds other than ${#claims[@]} verdicts"
tail -n 2 "$report/report.md" | grep -Eq "(holds here|does not hold here)$" || fail "report.md does not end with the verdicts"
grep -q "TLEG vs Pre-Fin: parameters stored" "$report/totals.md" || fail "no Pre-Fin ratio"
grep -q "^smoke finished in" "$work/log" || fail "no closing line"
# Every trained model evaluated alone (the README's form: no view or precision option) gives the
# top-1 its run.json recorded, to the last digit: the file records how its run evaluated it.
store=$work/out/data/fashion-mnist.h5
evaluated=0
while IFS= read -r run; do
  folder=$(dirname "$run")
  [ -f "$folder/model.h5" ] || continue
  "$tleg" evaluate --model "$folder/model.h5" --data.store "$store" --out "$folder/evaluate.json" \
    >"$folder/evaluate.log" 2>&1 || { cat "$folder/evaluate.log"; fail "evaluate $folder/model.h5"; }
  python3 -c "import json, sys
run, alone = (json.load(open(p)) for p in sys.argv[1:])
sys.exit(0 if run['top1'] == alone['top1'] else f'{sys.argv[2]}: evaluate {alone[\"top1\"]} != run.json {run[\"top1\"]}')" \
    "$run" "$folder/evaluate.json" || fail "evaluate differs from the run"
  evaluated=$((evaluated + 1))
done < <(find "$work/out" -name run.json)
[ "$evaluated" -ge 9 ] || fail "only $evaluated models evaluated alone (teacher and 8 fine-tuned, expected)"
checks=$((checks + 1))
# A learngene's descendant written by tleg expand carries its evaluation view: evaluated alone it
# gives what evaluate --learngene --depth gives, without a warning about a missing view.
learngene=$work/out/seed-0/aux/learngene.h5
"$tleg" expand --learngene "$learngene" --depth 3 --out "$work/d3.h5" >/dev/null || fail "expand"
"$tleg" evaluate --model "$work/d3.h5" --data.store "$store" >"$work/expanded.log" 2>&1 ||
  { cat "$work/expanded.log"; fail "evaluate an expanded model"; }
"$tleg" evaluate --learngene "$learngene" --depth 3 --data.store "$store" >"$work/direct.log" 2>&1 ||
  { cat "$work/direct.log"; fail "evaluate --learngene"; }
[ "$(grep -o 'top-1 [0-9.]*%' "$work/expanded.log")" = "$(grep -o 'top-1 [0-9.]*%' "$work/direct.log")" ] &&
  ! grep -q "does not record" "$work/expanded.log" ||
  { cat "$work/expanded.log" "$work/direct.log"; fail "an expanded model evaluates otherwise"; }
checks=$((checks + 1))
# An evaluation says how far it is (every batch here; every 10 s by default), ending at the split.
"$tleg" evaluate --model "$folder/model.h5" --data.store "$store" --run.progress-seconds 0 \
  >"$work/progress.log" 2>&1 || { cat "$work/progress.log"; fail "evaluate with progress"; }
grep -Eq "^evaluating: [0-9,]+ of ([0-9,]+) images \([0-9]+%\)" "$work/progress.log" &&
  grep -Eq "^evaluating: ([0-9,]+) of \1 images \(100%\)" "$work/progress.log" ||
  { cat "$work/progress.log"; fail "evaluate shows no progress"; }
checks=$((checks + 1))
# run.json's command is a shell command line: run again (with --check, which reads every option
# and INI file and runs nothing), it is accepted as it stands.
for run in "$work/out/seed-0/teacher/run.json" "$work/out/seed-0/sweep/tleg/depth-3/run.json"; do
  command=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['command'])" "$run")
  [[ $command == "tleg "* && $command != *";"* && $command == *"--config "* ]] ||
    fail "$run: command is not a shell command line: $command"
  (cd "$source" && eval "\"$tleg\" ${command#tleg } --check") >"$work/again.log" 2>&1 ||
    { cat "$work/again.log"; fail "$run: its command does not run again: $command"; }
  grep -q "options valid" "$work/again.log" || { cat "$work/again.log"; fail "no 'options valid'"; }
  # and config.ini beside it holds every option: with a new folder alone, it is the same run
  # (tests/launcher/options_test.cpp checks option by option that it records the same).
  name=$(awk '{print $2}' <<<"$command")
  (cd "$source" && "$tleg" "$name" --config "$(dirname "$run")/config.ini" --run.dir "$work/again" --check) \
    >"$work/again.log" 2>&1 || { cat "$work/again.log"; fail "$(dirname "$run")/config.ini does not run again"; }
done
checks=$((checks + 1))
# A teacher is checked against the data it will see before anything runs: with the store there,
# --check runs it on one image of the store's shape; before the store exists (a cluster's
# prepare job has yet to run), the plan does so for the dataset it names.
teacher=$work/out/seed-0/teacher/model.h5
fm=$source/experiments/fashion-mnist
"$tleg" logits --check --config "$fm/common.ini" --config "$fm/aux.ini" --data.store "$store" \
  --distill.teacher "$teacher" --out "$work/x" >"$work/check.log" 2>&1 ||
  { cat "$work/check.log"; fail "a fitting teacher refused by --check"; }
# without the recipe's image size (28 px), the 224-px views the teacher cannot take are refused
"$tleg" logits --check --data.store "$store" --distill.teacher "$teacher" --out "$work/x" \
  >"$work/check.log" 2>&1 &&
  fail "a teacher that cannot take 224-px views passes --check"
grep -q "cannot take 1x224x224 images" "$work/check.log" || { cat "$work/check.log"; fail "no reason given"; }
mkdir -p "$work/imagenet"
if (cd "$source" && experiments/run.sh --dry-run --tleg "$tleg" --out "$work/imagenet-run" \
  --data-src "$work/imagenet" --teacher "$teacher" imagenet-ti) >"$work/check.log" 2>&1 ||
  ! grep -q "TEACHER: .*cannot take 3x224x224 images" "$work/check.log"; then
  cat "$work/check.log"; fail "a 28-px Fashion-MNIST teacher passes the ImageNet plan's check"
fi
checks=$((checks + 3))
echo "$((checks + 4)) passed, 0 failed"
