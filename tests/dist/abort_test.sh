#!/bin/bash
# A failure on one rank must end the whole job, non-zero, within a minute, naming the rank.
# usage: abort_test.sh <mpiexec> <abort_probe>
set -u
mpiexec=$1
probe=$2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failures=0

run_mode() {  # mode, then a pattern the output must hold ("" for none)
  local mode=$1 pattern=$2
  timeout 60 "$mpiexec" --allow-run-as-root --oversubscribe -np 2 "$probe" "$mode" >"$log" 2>&1
  local rc=$?
  if [ "$rc" -eq 124 ]; then
    echo "FAIL $mode: the job did not end within 60 s"; failures=$((failures + 1))
  elif [ "$rc" -eq 0 ]; then
    echo "FAIL $mode: the job exited 0"; failures=$((failures + 1))
  elif [ -n "$pattern" ] && ! grep -q "$pattern" "$log"; then
    echo "FAIL $mode: output lacks '$pattern'"; failures=$((failures + 1))
  else
    echo "ok   $mode: exit $rc"; return
  fi
  sed 's/^/    /' "$log"
}

run_mode exit ""
run_mode kill ""
run_mode throw "rank 1: error: planted failure at iteration 5"
run_mode hang "rank 0: error: MPI_Iallreduce timed out after 3 s on rank 0"
exit $((failures > 0))
