# The two commands of the README:
#   make test   installs what is missing, builds, and runs every test (unit, mpi, integration)
#   make demo   installs what is missing, builds, and runs the Fashion-MNIST pipeline
# Everything else here is a step of those two.
BUILD ?= build
JOBS ?= $(shell nproc)
TLEG_VENV ?= $(HOME)/.cache/tleg/venv
export TLEG_VENV

PROFILE ?= default
OUT ?= runs/fashion-mnist-$(PROFILE)

.PHONY: setup configure build test demo bench clean

setup:
	@setup/install-deps.sh

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DTLEG_PYTHON=$(TLEG_VENV)/bin/python --log-level=WARNING >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# PROFILE: a profile of experiments/profiles/ (smoke, default, full, transfer, ...); PRECISION=fp32
# or bf16 overrides the profile's (auto: chosen by the hardware).
demo: build
	@experiments/run.sh --tleg $(BUILD)/launcher/tleg --out $(OUT) \
	  $(if $(PRECISION),--precision $(PRECISION)) $(PROFILE)

bench: build
	@bench/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD)
