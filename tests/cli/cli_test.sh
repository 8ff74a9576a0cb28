#!/usr/bin/env bash
# The command line's contract: help lists every command and option with defaults; a wrong option
# or a missing file gives one line on stderr and a non-zero exit, never a stack trace.
set -u
tleg=$1
failures=0
total=0  # checks run, counted by each checking function
check() {  # check NAME EXPECTED_STATUS REGEX -- COMMAND...
  local name=$1 want=$2 regex=$3; shift 4
  local output status
  total=$((total + 1))
  output=$("$@" 2>&1); status=$?
  if [ "$status" != "$want" ] || ! grep -Eq -- "$regex" <<<"$output"; then
    echo "FAIL $name: status $status (want $want), output:"; echo "$output"; failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}
one_line() {  # one_line NAME -- COMMAND...: fails with exactly one line of output
  local name=$1; shift 2
  local lines
  total=$((total + 1))
  lines=$("$@" 2>&1 | wc -l)
  if [ "$lines" != 1 ]; then echo "FAIL $name: $lines lines"; "$@"; failures=$((failures + 1)); else echo "ok   $name"; fi
}

check overview 0 "inspect .*" -- "$tleg" --help
check overview-lists-expand 0 "expand " -- "$tleg" --help
check no-command 2 "usage: tleg" -- "$tleg"
check expand-help 0 "--learngene" -- "$tleg" expand --help
check expand-help-depth 0 "--depth" -- "$tleg" expand --help
check unknown-command 2 "unknown command 'frobnicate'" -- "$tleg" frobnicate
check unknown-option 2 "unrecognised option '--bogus'|unrecognized option '--bogus'" -- "$tleg" inspect --bogus x
check missing-required 2 "learngene" -- "$tleg" expand --depth 3 --out x.h5
check missing-file 1 "/nonexistent/lg.h5" -- "$tleg" inspect /nonexistent/lg.h5
check bad-config 1 "cannot read config file /nonexistent.ini" -- "$tleg" inspect --config /nonexistent.ini x
# --check: options, config files and input files (opened, their kind checked), nothing run;
# --check-plan (what the executors run before any stage) leaves inputs that do not exist yet.
text_file=$(mktemp --suffix .h5)
echo "not a store" >"$text_file"
check check-missing-input 1 "--data.store /nonexistent.h5: no such file \(it should be a dataset store" -- \
  "$tleg" finetune --check --data.store /nonexistent.h5 --run.dir r
check check-text-as-store 1 "--data.store $text_file is not a dataset store \(tleg prepare\): " -- \
  "$tleg" finetune --check --data.store "$text_file" --run.dir r
check check-text-as-teacher 1 "--distill.teacher $text_file is not a teacher" -- \
  "$tleg" distill --check-plan --data.store /nonexistent.h5 --run.dir r --distill.teacher "$text_file"
check check-text-as-learngene 1 "--learngene $text_file is not a learngene" -- \
  "$tleg" finetune --check-plan --data.store /nonexistent.h5 --run.dir r --init tleg --learngene "$text_file"
check check-text-as-model 1 "--model $text_file is not a trained model" -- \
  "$tleg" evaluate --check-plan --data.store /nonexistent.h5 --model "$text_file"
rm -f "$text_file"
check check-valid 0 "tleg distill: options valid" -- "$tleg" distill --check-plan --data.store /nonexistent.h5 \
  --run.dir /nonexistent --distill.teacher t.pt --optim.epochs 3
check check-typo 2 "unrecognised option '--optim.epohcs'|unrecognized option '--optim.epohcs'" -- \
  "$tleg" distill --check --data.store x.h5 --run.dir r --optim.epohcs 3
check check-missing-required 2 "run.dir" -- "$tleg" teacher --check --data.store x.h5
# Options match exactly (no prefix guessing), on the command line and in INI files alike: a near
# miss is refused naming the option meant; every unknown one is listed, INI keys with file:line.
check exact-not-prefix 2 "unrecognised option '--optim.ep' \(did you mean --optim.epochs\?\)" -- \
  "$tleg" finetune --check --data.store x.h5 --run.dir r --optim.ep 1
check near-miss-all-listed 2 "unrecognised option '--optim.epoch' \(did you mean --optim.epochs\?\); unrecognised option '--aug.scale-mni' \(did you mean --aug.scale-min\?\)" -- \
  "$tleg" finetune --check --data.store x.h5 --run.dir r --optim.epoch 1 --aug.scale-mni 0.5
check other-commands-option 2 "unrecognised option '--distill.tau' \(an option of tleg distill, not of tleg finetune\)" -- \
  "$tleg" finetune --check --data.store x.h5 --run.dir r --distill.tau 2
ini=$(mktemp --suffix .ini)
printf '[optim]\nepochs = 3\n# a comment\nepoch = 2\n\n[aug]\nscale-mni = 0.5\n' >"$ini"
check ini-near-miss 2 "$ini:4: unrecognised key 'optim.epoch' \(did you mean optim.epochs\?\); $ini:7: unrecognised key 'aug.scale-mni' \(did you mean aug.scale-min\?\)" -- \
  "$tleg" finetune --check --data.store x.h5 --run.dir r --config "$ini"
rm -f "$ini"
one_line unknown-option-one-line -- "$tleg" inspect --bogus x
one_line missing-file-one-line -- "$tleg" inspect /nonexistent/lg.h5
# tleg logits names its options as distill does; an old name is refused with the new one.
check logits-renamed 2 "unrecognised option '--data' \(renamed: --data.store\); unrecognised option '--teacher' \(renamed: --distill.teacher\)" -- \
  "$tleg" logits --check --data x.h5 --teacher t.pt --out o
# An error inside a training command's MPI world: as many lines as ranks fail (one alone), each
# naming the file, and no Open MPI banner (mpirun quiet, as the executors run it); an option
# error, the same on every rank, is said once, by rank 0.
errors_are() {  # errors_are NAME COUNT REGEX -- COMMAND...
  local name=$1 count=$2 regex=$3; shift 4
  local output found
  total=$((total + 1))
  output=$("$@" 2>&1)
  found=$(grep -Ec -- "$regex" <<<"$output")
  if [ "$found" != "$count" ] || grep -Eq -e 'MPI_ABORT|ORTE_ERROR_LOG|^-----' <<<"$output"; then
    echo "FAIL $name: $found lines match (want $count), or a banner; output:"; echo "$output"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}
run_dir=$(mktemp -d)
errors_are world-error-alone 1 "^tleg finetune: error: /nonexistent.h5: not a readable dataset store" -- \
  "$tleg" finetune --data.store /nonexistent.h5 --run.dir "$run_dir/r" --optim.epochs 1
two_ranks=(env OMPI_MCA_orte_execute_quiet=1 mpiexec --allow-run-as-root --oversubscribe -np 2)
errors_are world-error-two-ranks 2 "^rank [01]: error: /nonexistent.h5: not a readable dataset store" -- \
  "${two_ranks[@]}" "$tleg" finetune --data.store /nonexistent.h5 --run.dir "$run_dir/r" --optim.epochs 1
errors_are option-error-two-ranks 1 "unrecognised option '--optim.epoch'" -- \
  "${two_ranks[@]}" "$tleg" finetune --data.store /nonexistent.h5 --run.dir "$run_dir/r" --optim.epoch 1
rm -rf "$run_dir"
check version 0 "^tleg [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}|unknown)" -- "$tleg" --version
check version-libraries 0 "^MPI: .*; NCCL" -- "$tleg" --version
check version-bf16 0 "^bf16: (native|emulated) on this CPU .*auto picks (bf16|fp32) here" -- "$tleg" --version
check prepare-help 0 "--max-bad-fraction arg \(=0.01\)" -- "$tleg" prepare --help
check prepare-needs-src 1 "prepare imagenet needs --src" -- "$tleg" prepare imagenet --out x.h5
check prepare-missing-src 1 "/nonexistent/imagenet: no such folder \(pass --src" -- \
  "$tleg" prepare imagenet --src /nonexistent/imagenet --out /nonexistent/x.h5
one_line prepare-missing-src-one-line -- "$tleg" prepare folder --src /nonexistent/f --out x.h5

# The shipped recipe files parse (an unknown key would exit 2); the run then stops at the
# missing dataset store, named.
experiments=$(cd "$(dirname "$0")/../../experiments" && pwd)
for size in ti s b; do
  check "recipe-aux-$size" 1 "/nonexistent/imagenet.h5" -- "$tleg" distill \
    --config "$experiments/imagenet/common.ini" --config "$experiments/imagenet/aux-$size.ini" \
    --data.store /nonexistent/imagenet.h5 --distill.teacher t.pt --run.dir /tmp/x
  check "recipe-des-$size" 1 "/nonexistent/imagenet.h5" -- "$tleg" sweep --depths 3-12 --init scratch \
    --config "$experiments/imagenet/common.ini" --config "$experiments/imagenet/des-$size.ini" \
    --data.store /nonexistent/imagenet.h5 --run.dir /tmp/x
done
for stage in teacher aux des; do
  case $stage in
    teacher) command=(teacher) ;;
    aux) command=(distill --distill.teacher t.h5) ;;
    des) command=(finetune --init scratch) ;;
  esac
  check "recipe-fashion-mnist-$stage" 1 "/nonexistent/fm.h5" -- "$tleg" "${command[@]}" \
    --config "$experiments/fashion-mnist/common.ini" --config "$experiments/fashion-mnist/$stage.ini" \
    --data.store /nonexistent/fm.h5 --run.dir /tmp/x
done
check recipe-fashion-mnist-teacher-cnn 1 "/nonexistent/fm.h5" -- "$tleg" teacher \
  --config "$experiments/fashion-mnist/common.ini" --config "$experiments/fashion-mnist/teacher-cnn.ini" \
  --data.store /nonexistent/fm.h5 --run.dir /tmp/x
# The CNN teacher's options: a ViT option on the command line with --model.arch cnn (and the
# reverse) is refused naming it; an unknown architecture or bad widths are named.
check teacher-cnn-vit-option 1 "--model.dim applies to a ViT but --model.arch is cnn" -- \
  "$tleg" teacher --check --data.store x.h5 --run.dir r --model.arch cnn --model.dim 64
check teacher-vit-cnn-option 1 "--model.cnn-widths applies to the CNN but --model.arch is vit" -- \
  "$tleg" teacher --check --data.store x.h5 --run.dir r --model.cnn-widths 8,16
check teacher-unknown-arch 1 "model.arch must be vit or cnn, got 'resnet'" -- \
  "$tleg" teacher --check --data.store x.h5 --run.dir r --model.arch resnet
check teacher-bad-widths 1 "model.cnn-widths must be comma-separated positive channel counts" -- \
  "$tleg" teacher --check --data.store x.h5 --run.dir r --model.arch cnn --model.cnn-widths 8,,16
check teacher-help-arch 0 "--model.arch arg \(=vit\)" -- "$tleg" teacher --help
# tleg evaluate: one of --model and --learngene, a depth with a learngene
check evaluate-needs-model 1 "evaluate needs exactly one of --model FILE and --learngene FILE --depth D" -- \
  "$tleg" evaluate --check --data.store x.h5
check evaluate-needs-depth 1 "--learngene needs --depth D" -- \
  "$tleg" evaluate --check --data.store x.h5 --learngene lg.h5
check evaluate-missing-model 1 "/nonexistent/m.h5" -- "$tleg" evaluate --model /nonexistent/m.h5 --data.store x.h5
check evaluate-renamed 2 "unrecognised option '--data' \(renamed: --data.store\); unrecognised option '--precision' \(renamed: --run.precision\)" -- \
  "$tleg" evaluate --model m.h5 --data x.h5 --precision fp32

echo "$((total - failures)) passed, $failures failed"
[ "$failures" = 0 ]
