#!/usr/bin/env bash
# Starts a single-node Slurm on this machine for CI (run as root): munge for authentication,
# slurmctld (the controller) and slurmd (the node's daemon), with a slurm.conf written here for
# this one machine. It must work in a container, where systemd and cgroups are not ours to use:
# processes are tracked by their parent ids (proctrack/linuxproc), tasks are not bound or
# confined (task/none), and no job accounting runs. `--mem` is still counted by the scheduler
# (select/cons_tres with CR_Core_Memory), which is what the array script's request needs.
set -euo pipefail

# Whether the daemon whose pid file is $1 runs (no pgrep: a slim image may lack procps).
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node=$(hostname -s)
spool=/var/spool/slurm-ci
logs=/var/log/slurm-ci
mkdir -p "$spool/ctld" "$spool/d" "$logs" /etc/slurm

# munge: the Debian package makes a key; a bare image may not have one.
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
fi
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
running /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
munge -n | unmunge >/dev/null

# The node line (CPUs, sockets, cores, RealMemory) as slurmd measures this machine.
node_line=$(slurmd -C | head -n 1)
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=hetsimci
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
StateSaveLocation=$spool/ctld
SlurmdSpoolDir=$spool/d
SlurmctldPidFile=/run/slurmctld-ci.pid
SlurmdPidFile=/run/slurmd-ci.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
$node_line State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

running /run/slurmctld-ci.pid || slurmctld
running /run/slurmd-ci.pid || slurmd
for _ in $(seq 60); do
  state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
  case "$state" in
    idle|mixed|allocated) echo "slurm up: node $node $state"; exit 0 ;;
  esac
  sleep 1
done
echo "slurm did not come up; last state: ${state:-none}" >&2
tail -n 20 "$logs/slurmctld.log" "$logs/slurmd.log" >&2 || true
exit 1
