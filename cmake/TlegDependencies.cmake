# Finds every dependency and defines the targets the libraries link against:
#   tleg::torch   LibTorch (with CUDA when the build has it)
#   tleg::nccl    NCCL (only when TLEG_HAVE_CUDA)
# and the variables TLEG_HAVE_CUDA, TLEG_TORCH_LIB_DIR.

# --- LibTorch, from the PyPI wheel in the Python environment --------------------------------
if(NOT Torch_DIR)
  if(NOT EXISTS "${TLEG_PYTHON}")
    message(FATAL_ERROR "TLEG_PYTHON=${TLEG_PYTHON} does not exist. Run setup/install-deps.sh "
                        "(or 'make setup') first, or pass -DTLEG_PYTHON=<python with torch>.")
  endif()
  execute_process(
    COMMAND "${TLEG_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path, end='')"
    OUTPUT_VARIABLE _torch_prefix RESULT_VARIABLE _torch_rc ERROR_VARIABLE _torch_err)
  if(NOT _torch_rc EQUAL 0)
    message(FATAL_ERROR "${TLEG_PYTHON} cannot import torch: ${_torch_err}\n"
                        "Run setup/install-deps.sh to create the environment.")
  endif()
  set(Torch_DIR "${_torch_prefix}/Torch")
endif()
get_filename_component(TLEG_TORCH_ROOT "${Torch_DIR}/../../.." ABSOLUTE)
set(TLEG_TORCH_LIB_DIR "${TLEG_TORCH_ROOT}/lib")

# CUDA is detected, not assumed: the toolkit (nvcc, cudart, NCCL) must be present.
set(TLEG_HAVE_CUDA OFF)
if(TLEG_WITH_CUDA)
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib)
  if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(TLEG_HAVE_CUDA ON)
  endif()
endif()

if(TLEG_HAVE_CUDA)
  # TorchConfig of a CUDA build looks for the toolkit itself and adds torch_cuda/c10_cuda. It
  # would also run a program to detect the GPUs, which fails on a build machine without one:
  # name the architectures instead (Ampere and Hopper; tleg has no kernels of its own).
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
  endif()
  unset(CMAKE_CUDA_ARCHITECTURES)  # Torch warns when it is set; it uses TORCH_CUDA_ARCH_LIST
  find_package(Torch REQUIRED)
  add_library(tleg_torch INTERFACE)
  target_link_libraries(tleg_torch INTERFACE torch)
  target_compile_definitions(tleg_torch INTERFACE TLEG_HAVE_CUDA=1)
  add_library(tleg_nccl INTERFACE)
  target_include_directories(tleg_nccl INTERFACE ${NCCL_INCLUDE_DIR})
  target_link_libraries(tleg_nccl INTERFACE ${NCCL_LIBRARY} CUDA::cudart)
  add_library(tleg::nccl ALIAS tleg_nccl)
  message(STATUS "tleg: CUDA build (toolkit ${CUDAToolkit_VERSION}, NCCL ${NCCL_LIBRARY})")
else()
  # Without a toolkit TorchConfig of the CUDA wheel refuses to configure, so link the CPU
  # libraries of the same wheel directly: no CUDA code path is compiled.
  find_library(TLEG_TORCH_CPU torch_cpu PATHS ${TLEG_TORCH_LIB_DIR} NO_DEFAULT_PATH REQUIRED)
  find_library(TLEG_TORCH torch PATHS ${TLEG_TORCH_LIB_DIR} NO_DEFAULT_PATH REQUIRED)
  find_library(TLEG_C10 c10 PATHS ${TLEG_TORCH_LIB_DIR} NO_DEFAULT_PATH REQUIRED)
  add_library(tleg_torch INTERFACE)
  target_include_directories(tleg_torch SYSTEM INTERFACE
    ${TLEG_TORCH_ROOT}/include ${TLEG_TORCH_ROOT}/include/torch/csrc/api/include)
  target_link_libraries(tleg_torch INTERFACE
    -Wl,--no-as-needed ${TLEG_TORCH} -Wl,--as-needed ${TLEG_TORCH_CPU} ${TLEG_C10})
  target_compile_definitions(tleg_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
  message(STATUS "tleg: CPU-only build (no CUDA toolkit with NCCL found, or TLEG_WITH_CUDA=OFF)")
endif()
# The PyPI libtorch.so is built with GCC 13 and carries copies of newer libstdc++ symbols
# (std::filesystem among them). Linked before libstdc++, it captures calls from code built by
# the system GCC and crashes (std::filesystem::remove_all jumped to 0). Putting libstdc++
# first in the NEEDED list makes our code bind to the system library it was compiled for.
target_link_options(tleg_torch INTERFACE "LINKER:--push-state,--no-as-needed" "-lstdc++"
                    "LINKER:--pop-state")
add_library(tleg::torch ALIAS tleg_torch)
# The executables find LibTorch where it was built against, without LD_LIBRARY_PATH.
set(CMAKE_BUILD_RPATH "${TLEG_TORCH_LIB_DIR}")
set(CMAKE_INSTALL_RPATH "${TLEG_TORCH_LIB_DIR}")

# --- MPI, HDF5, Boost, codecs --------------------------------------------------------------
set(MPI_CXX_SKIP_MPICXX ON)  # no Open MPI C++ bindings (they cause MPI::Comm link errors)
find_package(MPI REQUIRED COMPONENTS C)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(ZLIB REQUIRED)
# libdeflate's CRC-32 (zlib's polynomial, folded with PCLMULQDQ): every image read is checked,
# and zlib's table-driven crc32 halved the store's read rate (docs/benchmarks.md).
find_path(LIBDEFLATE_INCLUDE_DIR libdeflate.h REQUIRED)
find_library(LIBDEFLATE_LIBRARY deflate REQUIRED)
add_library(tleg_libdeflate INTERFACE)
target_include_directories(tleg_libdeflate INTERFACE ${LIBDEFLATE_INCLUDE_DIR})
target_link_libraries(tleg_libdeflate INTERFACE ${LIBDEFLATE_LIBRARY})
add_library(tleg::libdeflate ALIAS tleg_libdeflate)
find_package(PNG REQUIRED)  # libpng: ImageNet's train split holds a PNG among its JPEGs
find_package(nlohmann_json 3 REQUIRED)
# libjpeg-turbo's TurboJPEG API and OpenCV's imgproc (resampling). Debian ships OpenCV's CMake
# package only with the full libopencv-dev (200+ packages), so core and imgproc are found
# directly.
find_path(TURBOJPEG_INCLUDE_DIR turbojpeg.h REQUIRED)
find_library(TURBOJPEG_LIBRARY turbojpeg REQUIRED)
add_library(tleg_turbojpeg INTERFACE)
target_include_directories(tleg_turbojpeg INTERFACE ${TURBOJPEG_INCLUDE_DIR})
target_link_libraries(tleg_turbojpeg INTERFACE ${TURBOJPEG_LIBRARY})
add_library(tleg::turbojpeg ALIAS tleg_turbojpeg)
find_path(OPENCV_INCLUDE_DIR opencv2/imgproc.hpp PATH_SUFFIXES opencv4 REQUIRED)
find_library(OPENCV_CORE_LIBRARY opencv_core REQUIRED)
find_library(OPENCV_IMGPROC_LIBRARY opencv_imgproc REQUIRED)
add_library(tleg_opencv INTERFACE)
target_include_directories(tleg_opencv SYSTEM INTERFACE ${OPENCV_INCLUDE_DIR})
target_link_libraries(tleg_opencv INTERFACE ${OPENCV_IMGPROC_LIBRARY} ${OPENCV_CORE_LIBRARY})
add_library(tleg::opencv ALIAS tleg_opencv)

if(TLEG_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TLEG_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
