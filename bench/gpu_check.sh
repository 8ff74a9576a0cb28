#!/usr/bin/env bash
# Every GPU check of tleg in one go, on a GPU machine with CUDA and PyTorch 2.11 (cu130) but no
# MPI/HDF5/Boost/OpenCV, from what bench/gpu_bundle.sh prepared (binaries of the CUDA build made
# on the CPU machine, their libraries, Open MPI's runtime, Fashion-MNIST's test images):
#   1. the NCCL backend's tests (world of one);
#   2. the training-step benchmark on the GPU, C++ and eager PyTorch side by side;
#   3. tleg teacher and tleg distill on Fashion-MNIST on the GPU: loader with pinned memory and
#      non-blocking copies, bf16 autocast, the NCCL gradient reducer, a live teacher.
# usage: bench/gpu_check.sh CARRY_DIR OUT_DIR
set -uo pipefail
carry=${1:?usage: bench/gpu_check.sh CARRY_DIR OUT_DIR}
out=${2:?usage: bench/gpu_check.sh CARRY_DIR OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
mkdir -p "$out"
tar -C "$root" -xJf "$carry/runtime.tar.xz"

python=${PYTHON:-python3}
torch_lib=$("$python" -c "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")
nvidia_libs=$("$python" -c "
import os, nvidia
print(':'.join(os.path.join(p, d, 'lib') for p in nvidia.__path__ for d in sorted(os.listdir(p))
               if os.path.isdir(os.path.join(p, d, 'lib'))))")
export LD_LIBRARY_PATH=$root/lib:$torch_lib:$nvidia_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Open MPI relocated under $root/openmpi; a single process needs no launcher daemon.
export OPAL_PREFIX=$root/openmpi OMPI_MCA_ess_singleton_isolated=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_MCA_mca_base_component_show_load_errors=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tleg=$root/bin/tleg
status=0
section() { echo; echo "== $*"; }

section "GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
missing=$(ldd "$tleg" "$root/bin/dist_nccl_tests" | grep "not found" | sort -u)
[ -n "$missing" ] && { echo "missing libraries:"; echo "$missing"; }

section "NCCL backend tests (world of one)"
"$root/bin/dist_nccl_tests" 2>&1 | tee "$out/nccl_tests.log" | tail -20
[ "${PIPESTATUS[0]}" = 0 ] || status=1

section "training step: C++ and eager PyTorch on the GPU"
STEP_BINARY=$root/bin/step_bench PYTHON=$python DEVICE=cuda STEPS=20 WARMUP=5 THREADS=1 \
  "$here/run_step.sh" "$root" 2>&1 | tee "$out/step_bench.log" | tail -20
[ "${PIPESTATUS[0]}" = 0 ] || status=1

section "tleg teacher and distill on Fashion-MNIST (10,000 images as both splits)"
mnist=$root/fashion-mnist
mkdir -p "$mnist"
for kind in images-idx3 labels-idx1; do
  cp "$carry/fashion-mnist/t10k-$kind-ubyte.gz" "$mnist/"
  cp "$carry/fashion-mnist/t10k-$kind-ubyte.gz" "$mnist/train-$kind-ubyte.gz"
done
"$tleg" prepare fashion-mnist --src "$mnist" --out "$root/fm.h5" || status=1
config=$here/../experiments/fashion-mnist
common=(--config "$config/common.ini" --data.store "$root/fm.h5" --data.threads 8 --optim.batch 256
        --run.log-interval 10)
"$tleg" teacher "${common[@]}" --config "$config/teacher.ini" --optim.epochs 3 \
  --run.dir "$out/teacher" 2>&1 | tee "$out/teacher.log" | tail -8
[ "${PIPESTATUS[0]}" = 0 ] || status=1
"$tleg" distill "${common[@]}" --config "$config/aux.ini" --optim.epochs 2 \
  --distill.teacher "$out/teacher/model.h5" --run.dir "$out/aux" 2>&1 | tee "$out/distill.log" | tail -6
[ "${PIPESTATUS[0]}" = 0 ] || status=1
rm -f "$out"/*/checkpoints/*.pt "$out"/*/model.h5  # keep the logs and run.json, not the weights

section "done: status $status"
exit $status
