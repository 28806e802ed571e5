#!/usr/bin/env bash
# Stop the one-node cluster of start_cluster.sh: its jobs, slurmd and slurmctld (and munged if that
# script started it), its configuration and state. The installed packages stay. Idempotent.
set -euo pipefail
MARK="# Written by DBC-Bench tests/slurm/start_cluster.sh; removed by stop_cluster.sh."
CONF=/etc/slurm/slurm.conf
STATE=/var/spool/dbc-bench-slurm
if [ ! -e "$CONF" ] || ! grep -qF "$MARK" "$CONF"; then
    echo "stop_cluster.sh: no cluster of start_cluster.sh here"
    exit 0
fi
scancel --user="$(id -un)" 2> /dev/null || true
pkill -x slurmd || true
pkill -x slurmctld || true
for _ in $(seq 20); do
    pgrep -x slurmd > /dev/null || pgrep -x slurmctld > /dev/null || break
    sleep 0.5
done
if [ -e "$STATE/started-munged" ]; then pkill -x munged || true; fi
rm -f "$CONF"
rm -rf "$STATE"
echo "SLURM cluster stopped"
