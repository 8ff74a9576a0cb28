#!/usr/bin/env bash
# Every #include "FOLDER/..." of a library folder is one its row of docs/design.md's table allows
# ("may include": the folders below it; the table is the one place the rules are written), so
# that no include runs back up the data flow.
# usage: include_rules_test.sh SOURCE_DIR
set -u
source=$1
fail() { echo "FAIL: $*"; exit 1; }
design=$source/docs/design.md
[ -f "$design" ] || fail "no $design"

# The table's rows: | `folder/` | library | may include | holds |; "all the above" is every
# folder of an earlier row.
declare -A allowed=()
above=""
while IFS='|' read -r _ folder _ may _; do
  folder=$(sed 's/[` /]//g' <<<"$folder")
  case "$may" in
    *"nothing of tleg"*) allowed[$folder]="" ;;
    *"all the above"*) allowed[$folder]=$above ;;
    *) allowed[$folder]=$(tr -d ' ' <<<"$may" | tr ',' ' ') ;;
  esac
  above="$above $folder"
done < <(sed -n '/^| folder | library | may include | holds |$/,/^$/p' "$design" | sed '1,2d;/^$/d')
[ ${#allowed[@]} -ge 12 ] || fail "read ${#allowed[@]} folders from the table in $design, expected 12"

checked=0 problems=()
for folder in "${!allowed[@]}"; do
  [ -d "$source/$folder" ] || fail "the table names $folder/, which does not exist"
  while IFS=: read -r file line text; do
    target=$(sed -E 's/^#include "([a-z_]+)\/.*/\1/' <<<"$text")
    [ "$target" = "$folder" ] && continue
    [[ " ${allowed[$folder]} " == *" $target "* ]] ||
      problems+=("${file#"$source"/}:$line includes $target/ (the table lets $folder/ include: ${allowed[$folder]:-nothing of tleg})")
    checked=$((checked + 1))
  done < <(grep -rnE '^#include "[a-z_]+/' "$source/$folder" --include=*.cpp --include=*.h)
done
if [ ${#problems[@]} -gt 0 ]; then
  printf 'FAIL: %s\n' "${problems[@]}"
  exit 1
fi
echo "$checked includes across ${#allowed[@]} folders follow docs/design.md's table"
