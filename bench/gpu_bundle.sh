#!/usr/bin/env bash
# Prepares what the GPU check needs on a bare GPU machine that has CUDA and PyTorch but no MPI,
# HDF5, Boost, OpenCV or libjpeg-turbo: the CUDA build's binaries from BUILD_DIR, every shared
# library they need that is neither LibTorch, CUDA nor the C runtime, Open MPI's runtime
# (plugins and help files, relocated with OPAL_PREFIX), and a small part of Fashion-MNIST.
# usage: bench/gpu_bundle.sh BUILD_DIR [OUT=.devcarry]   then run bench/gpu_check.sh there.
set -euo pipefail
build=${1:?usage: bench/gpu_bundle.sh BUILD_DIR [OUT]}
out=${2:-.devcarry}
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/openmpi"
binaries=("$build/launcher/tleg" "$build/tests/dist_nccl_tests" "$build/bench/step_bench")
cp "${binaries[@]}" "$out/bin/"

# LibTorch and CUDA come from the GPU machine's own PyTorch (the same 2.11 cu130 build).
provided='libtorch|libc10|libcuda|libcudnn|libnccl|libcublas|libcufft|libcurand|libcusolver|libcusparse|libnvrtc|libnvJitLink|libcupti|libnvshmem|libcufile|libnvToolsExt|libgomp|libc\.so|libm\.so|libgcc_s|libstdc\+\+|ld-linux|linux-vdso|libpthread|libdl\.so|librt\.so'
ompi=/usr/lib/x86_64-linux-gnu/openmpi
libraries() { ldd "$@" 2>/dev/null | awk '/=> \// {print $3}' | grep -Ev "/($provided)" | sort -u; }
for lib in $(libraries "${binaries[@]}" "$ompi"/lib/openmpi3/mca_{ess_singleton,ess_hnp,ess_env,pml_ob1,btl_self,btl_vader,bml_r2,coll_basic,coll_libnbc,coll_self,coll_tuned,osc_sm,plm_rsh,routed_direct,schizo_ompi,state_app,grpcomm_direct,rml_oob,oob_tcp,errmgr_default_app,odls_default,rmaps_round_robin,ras_simulator,filem_raw,iof_hnp,iof_orted,regx_naive,pmix_pmix3x}.so /usr/bin/orted); do
  cp -L "$lib" "$out/lib/"
done
# Open MPI finds its plugins, helpers and help texts under OPAL_PREFIX with Debian's layout.
mkdir -p "$out/openmpi/lib/x86_64-linux-gnu/openmpi/lib" "$out/openmpi/share" "$out/openmpi/bin"
cp -rL "$ompi/lib/openmpi3" "$out/openmpi/lib/x86_64-linux-gnu/openmpi/lib/"
cp -rL /usr/share/openmpi "$out/openmpi/share/"
cp -L /usr/bin/orted /usr/bin/orterun "$out/openmpi/bin/"
cp -rL /usr/lib/x86_64-linux-gnu/pmix2 "$out/lib/" 2>/dev/null || true

# Fashion-MNIST's 10,000 test images, small enough to carry; gpu_check.sh makes a store of
# them (as both splits) there.
mkdir -p "$out/fashion-mnist"
cp /usr/share/datasets/fashion-mnist/t10k-*-ubyte.gz "$out/fashion-mnist/"
# The libraries compress about 4x; the device call carries at most 64 MiB.
tar -C "$out" -cJf "$out/runtime.tar.xz" bin lib openmpi
rm -rf "$out/bin" "$out/lib" "$out/openmpi"
du -sh "$out"
