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

case "${1:-start}" in
stop)
    as_root pkill -x slurmd || true
    as_root pkill -x slurmctld || true
    exit 0
    ;;
start) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
# Tests start it concurrently: one at a time.
exec 9>/tmp/emoflow-slurm-local.lock
flock 9

if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null; }
fi

if ! pgrep -x munged >/dev/null; then
    [ -s /etc/munge/munge.key ] || as_root mungekey --create >/dev/null 2>&1 || \
        as_root sh -c 'dd if=/dev/urandom bs=1 count=1024 > /etc/munge/munge.key 2>/dev/null'
    as_root chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    as_root chmod 400 /etc/munge/munge.key
    as_root mkdir -p /run/munge && as_root chown munge:munge /run/munge 2>/dev/null || true
    as_root runuser -u munge -- munged 2>/dev/null || as_root munged --force
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
    as_root pkill -x slurmd || true
    as_root pkill -x slurmctld || true
    sleep 1
fi
pgrep -x slurmctld >/dev/null || as_root slurmctld
pgrep -x slurmd >/dev/null || as_root slurmd -N localhost
for _ in $(seq 1 30); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        exit 0
    fi
    as_root scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
    sleep 1
done
echo "slurm-local: the node did not become idle; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
