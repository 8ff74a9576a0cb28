# Sourced by run_pipeline.sh and run_transfer.sh: how both run tleg's stages on this machine.
# Needs $tleg and $ranks set by the caller.

# Open MPI on one machine: shared memory and loopback only, no warnings about absent
# high-speed networks; root is allowed (containers, CI).
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run() { mpirun -np "$ranks" "$tleg" "$@"; }
step() { echo; echo "== $*"; }
# A stage's budget: (epochs, steps per epoch; 0 = whole epochs).
budget() { echo "--optim.epochs $1 --optim.steps-per-epoch $2"; }
