#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm.py (root, Debian or Ubuntu): installs
# slurm-wlm and munge if missing, writes /etc/slurm/slurm.conf (marked as this script's; an existing
# file of anyone else's is left alone and the script stops), starts munged, slurmctld and slurmd, and
# waits until the node is idle. Idempotent: a running cluster of ours is left running. The node's CPUs
# and memory are read from the machine. Stop it with tests/slurm/stop_cluster.sh.
set -euo pipefail
MARK="# Written by DBC-Bench tests/slurm/start_cluster.sh; removed by stop_cluster.sh."
CONF=/etc/slurm/slurm.conf
STATE=/var/spool/dbc-bench-slurm   # this cluster's state, spool and logs

if [ "$(id -u)" != 0 ]; then
    echo "start_cluster.sh: needs root (it installs and starts the SLURM and munge daemons)" >&2
    exit 1
fi
if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    echo "start_cluster.sh: $CONF exists and was not written by this script; not touching it" >&2
    exit 1
fi
if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null || ! command -v munged > /dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge > /dev/null
fi

HOST=$(hostname -s)
CPUS=$(nproc)
# Memory for jobs: the machine's, less 1 GiB for the system.
MEMORY_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024))
mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$STATE/log"
NEW_CONF=$(mktemp)
cat > "$NEW_CONF" << CONF
$MARK
ClusterName=dbcbench
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
# Finished jobs stay visible to squeue for 10 minutes: the executor reads their state from it.
MinJobAge=600
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
NodeName=$HOST CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
changed=1
if [ -e "$CONF" ] && cmp -s "$NEW_CONF" "$CONF"; then changed=0; fi
mv "$NEW_CONF" "$CONF"
chmod 644 "$CONF"

# munge: the package made its key; its run directory may be missing where no init system runs.
mkdir -p /run/munge && chown munge:munge /run/munge
if ! pgrep -x munged > /dev/null; then
    runuser -u munge -- /usr/sbin/munged
    touch "$STATE/started-munged" # so that stop_cluster.sh stops only a munged of ours
fi
# A configuration change restarts the daemons (they read it at start).
if [ "$changed" = 1 ]; then
    pkill -x slurmctld || true
    pkill -x slurmd || true
    for _ in $(seq 40); do
        pgrep -x slurmctld > /dev/null || pgrep -x slurmd > /dev/null || break
        sleep 0.5
    done
fi
pgrep -x slurmctld > /dev/null || /usr/sbin/slurmctld
pgrep -x slurmd > /dev/null || /usr/sbin/slurmd

for _ in $(seq 60); do
    state=$(sinfo -h -n "$HOST" -o %T 2> /dev/null || true)
    case "$state" in
        idle | mixed | allocated)
            echo "SLURM cluster up: node $HOST ($CPUS CPUs, $MEMORY_MB MB), partition debug ($state)"
            exit 0
            ;;
    esac
    sleep 1
done
echo "start_cluster.sh: the node did not become idle in 60 s (state: ${state:-unknown}); see $STATE/log/" >&2
exit 1
