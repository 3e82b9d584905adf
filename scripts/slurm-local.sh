#!/usr/bin/env bash
# A single-node Slurm on 127.0.0.1 for the Slurm executor's test (and for
# trying `emoflow run --executor slurm` on one machine):
#   scripts/slurm-local.sh start    install (Debian: slurm-wlm, munge) if
#                                   missing, configure, start; idempotent
#   scripts/slurm-local.sh stop
# Root (or sudo) is needed to install and to run the daemons. Uses
# proctrack/linuxproc and task/none, so no cgroups are required.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# Stops a daemon and waits for it to be gone: one still shutting down
# would pass for running.
halt() {
    as_root pkill -x "$1" || return 0
    for _ in $(seq 1 30); do pgrep -x "$1" >/dev/null || return 0; sleep 1; done
    as_root pkill -9 -x "$1" || true
}

case "${1:-start}" in
stop)
    halt slurmd
    halt slurmctld
    exit 0
    ;;
start) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
# Tests start it concurrently: one at a time. The daemons must not inherit
# fd 9, or they would hold the lock for as long as they live.
exec 9>/tmp/emoflow-slurm-local.lock
flock -w 300 9 || { echo "slurm-local: another start has held /tmp/emoflow-slurm-local.lock for 300 s" >&2; exit 1; }

if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null; }
fi

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    [ -s /etc/munge/munge.key ] || as_root mungekey --create >/dev/null 2>&1 || \
        as_root sh -c 'dd if=/dev/urandom bs=1 count=1024 > /etc/munge/munge.key 2>/dev/null'
    as_root chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    as_root chmod 400 /etc/munge/munge.key
    as_root mkdir -p /run/munge && as_root chown munge:munge /run/munge 2>/dev/null || true
    # A munged that is still exiting holds its socket's lock: try again.
    for _ in $(seq 1 10); do
        as_root runuser -u munge -- munged 9>&- 2>/dev/null || as_root munged --force 9>&- 2>/dev/null || true
        munge_ok && break
        sleep 1
    done
    munge_ok || { echo "slurm-local: munged did not start (see /var/log/munge/munged.log)" >&2; exit 1; }
fi

cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
conf=/etc/slurm/slurm.conf
want=$(cat <<CONF
# Written by emoflow scripts/slurm-local.sh: one node on 127.0.0.1.
ClusterName=emoflow
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
)
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    as_root mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    echo "$want" | as_root tee "$conf" >/dev/null
    halt slurmd
    halt slurmctld
fi
started=
pgrep -x slurmctld >/dev/null || { as_root slurmctld 9>&-; started=1; }
pgrep -x slurmd >/dev/null || { as_root slurmd -N localhost 9>&-; started=1; }

diagnose() {
    echo "slurm-local: $1" >&2
    for cmd in "sinfo -N -l" "scontrol show node localhost" "squeue -l"; do
        echo "--- $cmd" >&2; $cmd >&2 2>&1 || true
    done
    for log in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log; do
        echo "--- tail $log" >&2; as_root tail -n 25 "$log" >&2 2>&1 || true
    done
    exit 1
}
# Ready when slurmd answers: `idle*` (a trailing `*`) means slurmctld has
# not heard from it, and jobs would wait for ever.
# slurmd retries a failed registration with a growing back-off, so one that
# has not registered within 20 s is restarted.
ready=
for i in $(seq 1 60); do
    case "$(sinfo -h -n localhost -o '%t' 2>/dev/null || true)" in
    idle|mix|alloc) ready=1; break ;;
    down|drain|drng) as_root scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
    esac
    if [ "$i" = 20 ]; then halt slurmd; as_root slurmd -N localhost 9>&-; started=1; fi
    sleep 1
done
[ -n "$ready" ] || diagnose "the node did not become idle"
# A fresh start proves itself with a job run to the end.
if [ -n "$started" ]; then
    timeout 120 sbatch --wait --quiet --chdir=/tmp --output=/dev/null --job-name=slurm-local-probe --wrap true \
        || diagnose "a probe job (sbatch --wait --wrap true) did not finish within 120 s"
fi
