#!/bin/bash
# A failure on one rank must end the whole job, non-zero, within a minute, naming the rank; the
# other ranks say they were stopped by it, and no Open MPI banner is printed (mpirun quiet, as the
# executors run it).
# usage: abort_test.sh <mpiexec> <abort_probe>
set -u
export OMPI_MCA_orte_execute_quiet=1
mpiexec=$1
probe=$2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failures=0

run_mode() {  # mode, then patterns the output must hold; ranks in $RANKS (0: no launcher)
  local mode=$1; shift
  if [ "${RANKS:-2}" -eq 0 ]; then
    timeout 60 "$probe" "$mode" >"$log" 2>&1
  else
    timeout 60 "$mpiexec" --allow-run-as-root --oversubscribe -np "${RANKS:-2}" "$probe" "$mode" \
      >"$log" 2>&1
  fi
  local rc=$? missing=""
  for pattern in "$@"; do grep -q -- "$pattern" "$log" || missing=$pattern; done
  if [ "$rc" -eq 124 ]; then
    echo "FAIL $mode: the job did not end within 60 s"; failures=$((failures + 1))
  elif [ "$rc" -eq 0 ]; then
    echo "FAIL $mode: the job exited 0"; failures=$((failures + 1))
  elif [ -n "$missing" ]; then
    echo "FAIL $mode: output lacks '$missing'"; failures=$((failures + 1))
  elif grep -q -e MPI_ABORT -e ORTE_ERROR_LOG -e '^-----' "$log"; then
    echo "FAIL $mode: Open MPI's banner is printed"; failures=$((failures + 1))
  else
    echo "ok   $mode: exit $rc"; return
  fi
  sed 's/^/    /' "$log"
}

run_mode exit
run_mode kill
run_mode throw "rank 1: error: planted failure at iteration 5" \
  "rank 0: stopped: rank 1 failed (its error is printed by it)"
RANKS=3 run_mode throw "rank 1: error: planted failure at iteration 5" \
  "rank 0: stopped: rank 1 failed" "rank 2: stopped: rank 1 failed"
run_mode hang "rank 0: error: MPI_Iallreduce timed out after 3 s on rank 0"
# Every rank failing alike, and a process alone (no launcher): one line each, no banner.
run_mode throw-all "rank 0: error: planted failure at iteration 5" \
  "rank 1: error: planted failure at iteration 5"
RANKS=0 run_mode throw-all "abort_probe: error: planted failure at iteration 5"
exit $((failures > 0))
