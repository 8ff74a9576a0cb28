#!/usr/bin/env bash
# Every benchmark of tleg, one after the other (make bench). usage: bench/run_all.sh BUILD_DIR
# Add a line per benchmark script.
set -euo pipefail
build=${1:?usage: bench/run_all.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)

"$here/run_step.sh" "$build"
"$here/run_loader.sh" "$build"
"$here/run_allreduce.sh" "$build"
"$here/run_scaling.sh" "$build"
"$here/run_distill.sh" "$build"
