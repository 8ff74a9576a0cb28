#!/usr/bin/env bash
# Installs what tleg needs to build and test, and nothing that is already there:
# Debian packages with apt-get, LibTorch (the PyPI torch wheel) and the Python reference
# packages into a virtual environment outside the source tree. Idempotent: a second run checks,
# installs nothing and says so in one line.
set -euo pipefail

VENV=${TLEG_VENV:-$HOME/.cache/tleg/venv}
TORCH_VERSION=2.11.0          # the CUDA 13 build, the version the GPU machines carry
TORCHVISION_VERSION=0.26.0    # the torchvision release paired with torch 2.11
TIMM_VERSION=1.0.31

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config python3-venv
  libopenmpi-dev openmpi-bin libhdf5-dev libboost-program-options-dev
  libjpeg62-turbo-dev libturbojpeg0-dev libpng-dev zlib1g-dev libdeflate-dev libopencv-imgproc-dev
  nlohmann-json3-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist gnuplot-nox procps clang-format
  slurm-wlm munge
)
TENSORBOARDX_VERSION=2.6.5    # report/metrics_to_tensorboard.py: writes TensorBoard's event files
# Python packages the tests and benchmarks use as references, and tensorboardX (event files
# without TensorFlow or the TensorBoard server: protobuf and numpy only). torch and torchvision are
# installed without their declared dependencies: the CUDA libraries they declare are
# installed below only when the system does not already provide them.
PYTHON_PACKAGES=(filelock typing-extensions "sympy>=1.13.3" networkx jinja2 fsspec "setuptools<82"
  numpy pillow h5py pyyaml safetensors huggingface_hub "tensorboardX==$TENSORBOARDX_VERSION")

# Requirement fingerprint: a venv made from another list is brought up to date.
STAMP_TEXT="torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION timm==$TIMM_VERSION ${PYTHON_PACKAGES[*]}"
STAMP="$VENV/.tleg-requirements"

log() { echo "setup: $*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing_debian_packages() {
  local pkg missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  echo "${missing[@]:-}"
}

# Maps a shared library that LibTorch needs to the PyPI package that provides it (the pins are
# those of torch 2.11.0's metadata). Only libraries the system lacks are installed from PyPI.
pip_package_for_library() {
  case "$1" in
    libcufile.so.*) echo "nvidia-cufile==1.15.1.6.*" ;;
    libcusparseLt.so.*) echo "nvidia-cusparselt-cu13==0.8.0" ;;
    libnvshmem_host.so.*) echo "nvidia-nvshmem-cu13==3.4.5" ;;
    libcudnn*.so.*) echo "nvidia-cudnn-cu13==9.19.0.56" ;;
    libnccl.so.*) echo "nvidia-nccl-cu13==2.28.9" ;;
    libcudart.so.*) echo "cuda-toolkit[cudart]==13.0.2" ;;
    libcublas*.so.*) echo "cuda-toolkit[cublas]==13.0.2" ;;
    libcufft*.so.*) echo "cuda-toolkit[cufft]==13.0.2" ;;
    libcurand.so.*) echo "cuda-toolkit[curand]==13.0.2" ;;
    libcusolver*.so.*) echo "cuda-toolkit[cusolver]==13.0.2" ;;
    libcusparse.so.*) echo "cuda-toolkit[cusparse]==13.0.2" ;;
    libcupti.so.*) echo "cuda-toolkit[cupti]==13.0.2" ;;
    libnvrtc*.so.*) echo "cuda-toolkit[nvrtc]==13.0.2" ;;
    libnvJitLink.so.*) echo "cuda-toolkit[nvjitlink]==13.0.2" ;;
    libnvToolsExt*.so.*|libnvtx*.so.*) echo "cuda-toolkit[nvtx]==13.0.2" ;;
    libcuda.so.*) ;;  # the driver: present only where a GPU is; LibTorch loads it lazily
    *) echo "unknown:$1" ;;
  esac
}

unresolved_torch_libraries() {
  local lib_dir="$1"
  ldd "$lib_dir"/libtorch_cuda.so "$lib_dir"/libtorch_cpu.so "$lib_dir"/libtorch_python.so 2>/dev/null |
    awk '/not found/ {print $1}' | sort -u
}

venv_is_current() {
  [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_TEXT" ] &&
    "$VENV/bin/python" -c "import torch, timm, torchvision, h5py, PIL" >/dev/null 2>&1
}

install_venv() {
  log "creating the Python environment in $VENV (torch $TORCH_VERSION, timm $TIMM_VERSION)"
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
  local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  "${pip[@]}" --no-deps "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "timm==$TIMM_VERSION"
  # pip warns that torch's declared CUDA wheels are absent: that is intended (see above).
  "${pip[@]}" "${PYTHON_PACKAGES[@]}" 2> >(grep -v -e "dependency resolver" -e "^torch .* requires" >&2)

  local torch_lib extra=() lib pkg
  torch_lib=$("$VENV/bin/python" -c "import os, importlib.util as u; print(os.path.join(os.path.dirname(u.find_spec('torch').origin), 'lib'))")
  for lib in $(unresolved_torch_libraries "$torch_lib"); do
    pkg=$(pip_package_for_library "$lib")
    case "$pkg" in
      "") ;;
      unknown:*) echo "setup: LibTorch needs $lib and no package is known for it; install it and rerun" >&2; exit 1 ;;
      *) extra+=("$pkg") ;;
    esac
  done
  if [ ${#extra[@]} -gt 0 ]; then
    mapfile -t extra < <(printf '%s\n' "${extra[@]}" | sort -u)
    log "the system lacks some CUDA libraries LibTorch links against; installing: ${extra[*]}"
    "${pip[@]}" --no-deps "${extra[@]}"
    # cuda-toolkit[...] is a meta package: its extras name the real wheels.
    if printf '%s\n' "${extra[@]}" | grep -q '^cuda-toolkit'; then "${pip[@]}" "${extra[@]}"; fi
  fi
  local still
  still=$(unresolved_torch_libraries "$torch_lib" | grep -v '^libcuda\.so' || true)
  if [ -n "$still" ]; then
    echo "setup: LibTorch still cannot find: $still" >&2
    exit 1
  fi
  echo "$STAMP_TEXT" >"$STAMP"
}

main() {
  local missing installed_any=0
  missing=$(missing_debian_packages)
  if [ -n "$missing" ]; then
    log "installing Debian packages: $missing"
    as_root apt-get update -qq
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    installed_any=1
  fi
  if ! venv_is_current; then
    install_venv
    installed_any=1
  fi
  if [ $installed_any = 0 ]; then
    log "all dependencies present (${#DEBIAN_PACKAGES[@]} Debian packages, Python environment $VENV); nothing installed"
  else
    log "done"
  fi
}

main "$@"
