#!/usr/bin/env bash
# The documented Slurm recipe on a real (single-node) Slurm: scripts/slurm/sweep_array.sbatch
# over a reduced shipped sweep as a 3-task array, scripts/slurm/sweep_merge.sbatch after it
# (--dependency=afterok), one task stopped once as `--signal=B:TERM@…` stops it before a time
# limit (it must requeue itself and resume), and the merged summary.csv compared byte for byte
# with the same sweep run unsharded. Byte for byte because it can be: the same binary on the
# same machine, backend and precision pinned, and the tables do not depend on the thread count,
# the shard or a resume (tests/cli_users.rs, tests/sweep.rs). Needs a running Slurm
# (.ci/slurm_up.sh) and target/release/hetsim.
set -euo pipefail
cd "$(dirname "$0")/.."
export HETSIM="$PWD/target/release/hetsim"
work=$(mktemp -d /tmp/hetsim-slurm.XXXXXX)
sweep=configs/timescale_sweep.yaml
# 6 points × 2 rules × 1 seed, 20 s simulated each: a few seconds a shard.
options=(--seeds 1 --duration "20 s")

jid=$(sbatch --parsable --array=0-2 --cpus-per-task=1 --mem=1G --time=10 \
  --output="$work/slurm-%A_%a.out" scripts/slurm/sweep_array.sbatch "$sweep" "$work/ts" "${options[@]}")
merge=$(sbatch --parsable --dependency="afterok:$jid" --mem=1G --time=10 \
  --output="$work/merge-%j.out" scripts/slurm/sweep_merge.sbatch "$work/ts")
echo "array job $jid, merge job $merge"

# Stop task 0 once, as the time-limit warning would (--signal=B:USR1@120: SIGUSR1 to its batch
# shell alone); it requeues itself, and is let start again at once (a requeued job otherwise
# waits two minutes).
signalled=no
for _ in $(seq 600); do
  state=$(squeue -h -j "${jid}_0" -o %T 2>/dev/null || true)
  if [ "$state" = RUNNING ]; then
    sleep 1
    if scancel --batch --signal=USR1 "${jid}_0" 2>/dev/null; then signalled=yes; fi
    break
  fi
  [ -z "$state" ] && break
  sleep 0.1
done
echo "task 0 stopped by SIGUSR1: $signalled"
if [ "$signalled" = yes ]; then
  for _ in $(seq 300); do
    if scontrol show job "${jid}_0" | grep -q "JobState=PENDING"; then
      scontrol update JobId="${jid}_0" StartTime=now
      break
    fi
    sleep 0.1
  done
fi

# Meanwhile, the reference: the same sweep unsharded.
"$HETSIM" sweep "$sweep" --backend cpu --precision f64 --no-plots --quiet "${options[@]}" \
  --out "$work/whole" >/dev/null

for _ in $(seq 600); do
  [ -z "$(squeue -h -j "$jid,$merge" -o %i 2>/dev/null)" ] && break
  sleep 0.5
done
for f in "$work"/*.out; do echo "--- $f"; cat "$f"; done
scontrol show job "$merge" | grep -q "JobState=COMPLETED" || {
  echo "the merge job did not complete:" >&2
  scontrol show job "$merge" >&2
  exit 1
}
if [ "$signalled" = yes ]; then
  scontrol show job "${jid}_0" | grep -q "Restarts=1" || {
    echo "task 0 was stopped but not requeued:" >&2
    scontrol show job "${jid}_0" >&2
    exit 1
  }
fi
cmp "$work/ts/merged/summary.csv" "$work/whole/summary.csv"

# scancel (SIGTERM to the task) must cancel it, not requeue it as the time-limit warning does.
cancelled=$(sbatch --parsable --array=0-0 --cpus-per-task=1 --mem=1G --time=10 \
  --output="$work/cancelled-%A_%a.out" scripts/slurm/sweep_array.sbatch "$sweep" "$work/cancel" \
  --seeds 1 --duration "1000 s")
for _ in $(seq 600); do
  [ "$(squeue -h -j "${cancelled}_0" -o %T 2>/dev/null)" = RUNNING ] && break
  sleep 0.1
done
sleep 1
scancel "$cancelled"
for _ in $(seq 600); do
  [ -z "$(squeue -h -j "$cancelled" -o %i 2>/dev/null)" ] && break
  sleep 0.2
done
scontrol show job "${cancelled}_0" | grep -q "JobState=CANCELLED" || {
  echo "scancel did not leave the task cancelled:" >&2
  scontrol show job "${cancelled}_0" >&2
  exit 1
}
scontrol show job "${cancelled}_0" | grep -q "Restarts=0" || {
  echo "scancel requeued the task:" >&2
  scontrol show job "${cancelled}_0" >&2
  exit 1
}
echo "slurm: merged summary.csv of $(($(wc -l <"$work/whole/summary.csv") - 1)) rows equals the unsharded sweep's"
