#!/usr/bin/env bash
# A throwaway Slurm cluster on loopback, everything under one folder, for the Slurm tests: one
# node, or several virtual nodes (node1..nodeN, one slurmd each, all on this machine; Debian's
# slurmd takes its node name from -N).
#   local_cluster.sh start DIR [--nodes N] [--job-submit FILE.lua]
#       install slurm-wlm if missing, start slurmctld and N slurmd, wait until every node is idle;
#       writes DIR/etc/env.sh (SLURM_CONF) for the client commands. Two partitions hold the
#       nodes: debug (the default) and limited. --job-submit installs a site's submission
#       policy (JobSubmitPlugins=lua, DIR/etc/job_submit.lua).
#   local_cluster.sh stop DIR
#       cancel every job, stop the daemons by their pid files
# Root only (slurmd runs jobs as their user). auth/none: no munged, nothing shared with other
# clusters on the machine; acceptable only on a throwaway test machine.
set -euo pipefail

die() { echo "local_cluster: $*" >&2; exit 1; }
usage="usage: local_cluster.sh start DIR [--nodes N] [--job-submit FILE.lua] | stop DIR"
cmd=${1:-} dir=${2:-}
[ -n "$dir" ] || die "$usage"
shift 2
nodes=1 job_submit=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=${2:?--nodes needs a number}; shift 2 ;;
    --job-submit) job_submit=${2:?--job-submit needs a file}; shift 2 ;;
    *) die "$usage" ;;
  esac
done
[[ "$nodes" =~ ^[1-9]$ ]] || die "--nodes must be 1 to 9 (got '$nodes')"
case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
conf=$dir/etc/slurm.conf
export SLURM_CONF=$conf
# pid of a daemon from its pid file, if it is alive and is that program (pid files outlive pids)
alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(tr -dc 0-9 <"$1")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}
stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$1" 2>/dev/null || true
}

if [ "$cmd" = stop ]; then
  [ -f "$conf" ] || exit 0
  if alive "$dir/run/slurmctld.pid" slurmctld >/dev/null; then
    scancel --full --quiet --user=root 2>/dev/null || true
    for _ in $(seq 30); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for pidfile in "$dir"/run/slurmd-*.pid; do
    if pid=$(alive "$pidfile" slurmd); then stop_pid "$pid"; fi
  done
  if pid=$(alive "$dir/run/slurmctld.pid" slurmctld); then stop_pid "$pid"; fi
  # step daemons of this cluster that outlived their job hold its files open: end those only
  for proc in /proc/[0-9]*; do
    [ "$(cat "$proc/comm" 2>/dev/null)" = slurmstepd ] || continue
    for fd in "$proc"/fd/*; do
      case "$(readlink "$fd" 2>/dev/null)" in "$dir"/*) stop_pid "${proc#/proc/}"; break ;; esac
    done
  done
  exit 0
fi
[ "$cmd" = start ] || die "$usage"
[ "$(id -u)" = 0 ] || die "must run as root"

# 1. packages (the project's setup installs them; a bare machine gets them here)
missing=()
for pkg in slurm-wlm slurmctld slurmd slurm-client munge; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "local_cluster: installing ${missing[*]}" >&2
  # postinst scripts try to start the services; without systemd they only warn
  env -u SLURM_CONF DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2 ||
    { env -u SLURM_CONF apt-get update -qq >&2 &&
      env -u SLURM_CONF DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2; }
fi
# Slurm's mpi/pmix plugin dlopens the unversioned libpmix.so of libpmix-dev (libopenmpi-dev pulls it in)
pmix=/usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so
[ -e "$pmix" ] || die "$pmix missing: install libpmix-dev (srun --mpi=pmix needs it)"

# 2. free ports, the controller's and one per node, so that clusters of other developers or runs
# do not clash
port="" stride=$((nodes + 1))
for p in $(seq 16817 "$stride" 17800); do
  if ! command -v ss >/dev/null; then port=$((16817 + stride * ($$ % 90))); break; fi # no iproute2: guess
  if ! ss -Hltn | awk '{print $4}' | grep -Eq ":($(seq -s '|' "$p" $((p + nodes))))\$"; then
    port=$p
    break
  fi
done
[ -n "$port" ] || die "no $stride free ports in 16817-17800"

# 3. config; state starts empty, so no old job comes back
rm -rf "$dir"/{state,spool,tmp,run}
mkdir -p "$dir"/{etc,state,log,run}
for i in $(seq "$nodes"); do mkdir -p "$dir/spool/node$i" "$dir/tmp/node$i"; done
hw=$(slurmd -C | head -1)
get() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$hw"; }
host=$(hostname -s)
cat >"$conf" <<EOF
# throwaway test cluster written by local_cluster.sh: $nodes node(s) on loopback, all on $host
ClusterName=tlegtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
# no mail binary here; slurmctld refuses an invalid MailProg
MailProg=/bin/true
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
# mpi/pmix puts its per-step directory here; under /tmp the steps of two clusters, or of two
# virtual nodes of one job, would collide ("File exists", and every srun step fails)
TmpFS=$dir/tmp/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
# no systemd or cgroups on the test machines
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# every finished job (and array task) with its state, since there is no slurmdbd for sacct
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
# reject what can never run instead of leaving it pending forever
EnforcePartLimits=ALL
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# the default batch_sched_delay=3 starts short jobs only every 3 s
SchedulerParameters=batch_sched_delay=0,bf_interval=5
# DependencyParameters=kill_invalid_depend is deliberately NOT set: submit.sh's
# --kill-on-invalid-dep=yes must do that on clusters that lack it, and the test checks it does.
MpiDefault=pmix
ReturnToService=2
CommunicationParameters=NoInAddrAny
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
# finished jobs stay visible to scontrol show job for the checks
MinJobAge=900
EOF
# the lua plugin reads job_submit.lua next to slurm.conf
if [ -n "$job_submit" ]; then
  echo "JobSubmitPlugins=lua" >>"$conf"
  cp "$job_submit" "$dir/etc/job_submit.lua"
fi
# Every virtual node advertises the machine's CPUs (each slurmd sees them all) and a share of its
# memory.
for i in $(seq "$nodes"); do
  echo "NodeName=node$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((port + i))" \
    "CPUs=$(get CPUs) Boards=$(get Boards) SocketsPerBoard=$(get SocketsPerBoard)" \
    "CoresPerSocket=$(get CoresPerSocket) ThreadsPerCore=$(get ThreadsPerCore)" \
    "RealMemory=$(($(get RealMemory) * 8 / 10 / nodes)) State=UNKNOWN"
done >>"$conf"
{
  echo "PartitionName=debug Nodes=node[1-$nodes] Default=YES MaxTime=INFINITE State=UP"
  # the same nodes under another name, for a site policy that holds on one partition only
  echo "PartitionName=limited Nodes=node[1-$nodes] MaxTime=INFINITE State=UP"
} >>"$conf"
echo "export SLURM_CONF=$conf" >"$dir/etc/env.sh"

# 4. daemons (they daemonise; stdio to files so that no pipe of the caller is held open)
slurmctld -f "$conf" </dev/null >>"$dir/log/slurmctld.out" 2>&1 || die "slurmctld failed: $(tail -5 "$dir/log/slurmctld.log")"
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1; done
scontrol ping | grep -q 'is UP' || die "slurmctld not answering: $(tail -5 "$dir/log/slurmctld.log")"
for i in $(seq "$nodes"); do
  slurmd -f "$conf" -N "node$i" </dev/null >>"$dir/log/slurmd-node$i.out" 2>&1 ||
    die "slurmd node$i failed: $(tail -5 "$dir/log/slurmd-node$i.log")"
done
all_idle() { [ "$(sinfo -h -N -p debug -o '%N %t' 2>/dev/null | grep -c ' idle$')" = "$nodes" ]; }
for _ in $(seq 300); do all_idle && break; sleep 0.2; done
all_idle || die "nodes not idle: $(sinfo -N; tail -5 "$dir"/log/slurmd-node*.log)"
echo "local_cluster: up on 127.0.0.1:$port, $nodes node(s) of $(get CPUs) CPUs; source $dir/etc/env.sh" >&2
