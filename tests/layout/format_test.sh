#!/usr/bin/env bash
# Every C++ file of the project is as clang-format (.clang-format) writes it.
# usage: format_test.sh SOURCE_DIR      (skips, exit 77, without clang-format)
set -u
source=$1
command -v clang-format >/dev/null || { echo "SKIP: no clang-format (setup/install-deps.sh installs it)"; exit 77; }
cd "$source" || exit 1
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu')
else
  mapfile -t files < <(find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' \) -print)
fi
[ ${#files[@]} -gt 100 ] || { echo "FAIL: found only ${#files[@]} C++ files in $source"; exit 1; }
if ! output=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
  echo "$output" | grep -E "^[^ ].*: (error|warning)" | head -20
  echo "FAIL: $(grep -cE ': (error|warning)' <<<"$output") place(s) differ from clang-format; run: clang-format -i FILE"
  exit 1
fi
echo "${#files[@]} files as clang-format writes them ($(clang-format --version | grep -o 'version [0-9.]*'))"
