#!/usr/bin/env bash
# The Slurm test: a single-node Slurm cluster on this machine, its configuration and state in a temporary folder
# (SLURM_CONF; nothing in /etc is edited), the smoke pipeline submitted with `aecnn submit --slurm`, and every
# instance's outputs compared with a local `aecnn run` of the same pipeline. The cluster is stopped at the end by
# process id, and its folders removed (munge's key, socket and log sit in one of their own under /tmp, which the
# munge user can enter wherever the checkout is).
#
# Usage: scripts/slurm-test.sh [AECNN_BINARY]     (default: .build/debug/aecnn, as scripts/test.sh builds it)
# Needs root (munged runs as the munge user, slurmd as root); installs slurmctld, slurmd, slurm-client and munge
# through scripts/install-deps.sh when missing. Exits 0 with "skipped: …" when it cannot run here.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
aecnn=$(realpath "${1:-.build/debug/aecnn}")
pipeline=Pipelines/smoke.yaml

if [[ $(id -u) -ne 0 ]]; then
  echo "slurm-test: skipped: starting munged and slurmd needs root, and this runs as $(id -un)"
  exit 0
fi
if ! bash scripts/install-deps.sh --with-slurm; then
  echo "slurm-test: skipped: the Slurm packages are missing and could not be installed (see above)"
  exit 0
fi

# This folder plays the shared file system. On a one-node cluster every path is on the only node, so the
# submits below pass --allow-local-paths: the test works from a clone anywhere, /tmp included (the refusal of
# node-local paths without it is checked at the end).
mkdir -p .build
work=$(mktemp -d "$repo/.build/slurm-test.XXXXXX")
chmod 755 "$work"
keep=""
munge=""
stop_cluster() {
  for f in "$work/slurmd.pid" "$work/slurmctld.pid" ${munge:+"$munge/munged.pid"}; do
    [[ -s "$f" ]] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 1
  for f in "$work/slurmd.pid" "$work/slurmctld.pid" ${munge:+"$munge/munged.pid"}; do
    [[ -s "$f" ]] && kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  [[ -n "$munge" ]] && rm -rf "$munge"
  if [[ -n "$keep" ]]; then echo "slurm-test: the cluster's folder is kept for inspection: $work" >&2; else rm -rf "$work"; fi
}
trap stop_cluster EXIT

fail() {
  echo "slurm-test: FAILED: $*" >&2
  keep=1
  for log in "$work"/slurmctld.log "$work"/slurmd.log ${munge:+"$munge/munged.log"}; do [[ -f "$log" ]] && { echo "--- $log (last 20 lines)" >&2; tail -20 "$log" >&2; }; done
  exit 1
}

# A free TCP port on this host, from a random start.
free_port() {
  local p=$((20000 + RANDOM % 20000))
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

# munge: its own key, socket, pid and log, run as the munge user. They live in a folder of their own under /tmp
# rather than in the work folder, which the munge user cannot enter when the checkout is in a folder only its
# owner can (/root, a mktemp -d); the EXIT trap removes it.
munge=$(mktemp -d /tmp/aecnn-slurm-test-munge.XXXXXX)
dd if=/dev/urandom of="$munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$munge"
chmod 755 "$munge"   # munged wants its socket folder searchable by all
chmod 400 "$munge/munge.key"
runuser -u munge -- /usr/sbin/munged --socket="$munge/munge.socket" --key-file="$munge/munge.key" \
  --pid-file="$munge/munged.pid" --log-file="$munge/munged.log" --seed-file="$munge/munged.seed" \
  || fail "munged did not start"

host=$(hostname -s)
cpus=$(nproc)
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<EOF
ClusterName=aecnn-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
/usr/sbin/slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
/usr/sbin/slurmd -f "$SLURM_CONF" -N "$host" || fail "slurmd did not start"
for _ in $(seq 60); do
  state=$(sinfo -h -o %t 2>/dev/null || true)
  [[ "$state" == idle* ]] && break
  sleep 1
done
[[ "$state" == idle* ]] || fail "the node is not idle after 60 s (sinfo: ${state:-no answer})"
echo "slurm-test: single-node cluster up ($host, $cpus CPUs, Slurm $(sinfo -V | cut -d' ' -f2))"

# The same pipeline locally and through Slurm.
submit=("$aecnn" submit --pipeline "$pipeline" --checkpoints "$work/cluster" --slurm --allow-local-paths)
"$aecnn" run --pipeline "$pipeline" --checkpoints "$work/local" > "$work/local.log" 2>&1 || { tail -20 "$work/local.log"; fail "the local run failed"; }
"${submit[@]}" --time 00:30:00 --dry-run > "$work/dry-run.txt" || fail "submit --dry-run failed"
grep -q "^#SBATCH --dependency=afterok:" "$work/dry-run.txt" || fail "the dry run's scripts have no dependencies"
[[ ! -e "$work/cluster/smoke/submitted.json" ]] || fail "a dry run wrote submitted.json"
"${submit[@]}" --time 00:30:00 | tee "$work/submit.txt" || fail "submit failed"
[[ -s "$work/cluster/smoke/submitted.json" ]] || fail "submit wrote no submitted.json"

wait_for_jobs() {
  for _ in $(seq 1800); do
    [[ -z "$(squeue -h -o %i)" ]] && return 0
    sleep 1
  done
  squeue; fail "jobs still queued after 30 min"
}
wait_for_jobs
status=$("$aecnn" status --pipeline "$pipeline" --checkpoints "$work/cluster")
if grep -v "  done" <<<"$status" | grep -q .; then
  echo "$status"; for l in "$work"/cluster/smoke/.slurm/*.log; do echo "--- $l"; tail -5 "$l"; done; fail "not every instance is done after the jobs ended"
fi

# Every instance's outputs hash as in the local run, except compare's comparison.json, which also records
# each stage's wall time and the machine; its tables must be the same.
compared=0
while IFS= read -r result; do
  rel=${result#"$work/local/"}
  if [[ "$rel" == smoke/report/result.json ]]; then
    for table in comparison.md comparison.csv; do
      cmp -s "$work/local/smoke/report/$table" "$work/cluster/smoke/report/$table" || fail "report/$table differs between the local run and the cluster"
    done
    compared=$((compared + 1))
    continue
  fi
  [[ -f "$work/cluster/$rel" ]] || fail "$rel: missing in the cluster run"
  a=$(grep -o '"outputs_sha256" : "[0-9a-f]*"' "$result")
  b=$(grep -o '"outputs_sha256" : "[0-9a-f]*"' "$work/cluster/$rel")
  [[ -n "$a" && "$a" == "$b" ]] || fail "$rel: outputs differ between the local run ($a) and the cluster ($b)"
  compared=$((compared + 1))
done < <(find "$work/local/smoke" -name result.json | sort)
echo "slurm-test: $compared instances, outputs identical to the local run"

# Submitting again submits nothing; after losing two instances it resubmits exactly those.
"${submit[@]}" | grep -q "nothing to submit" || fail "a second submit did not say nothing to submit"
rm -rf "$work/cluster/smoke/report" "$work/cluster/smoke/evaluate"
# A lock left on the shared folder by a job on another node that has ended (here: the first job) is recovered.
first_job=$(grep -o '"job_id" : "[0-9]*"' "$work/cluster/smoke/submitted.json" | head -1 | grep -o '[0-9][0-9]*')
printf '4242\nanother-node\n2026-01-01T00:00:00Z\n%s\n' "$first_job" > "$work/cluster/smoke/.locks/evaluate.lock"
"${submit[@]}" > "$work/resubmit.txt" || fail "resubmit failed"
grep -q "^2 jobs submitted" "$work/resubmit.txt" || { cat "$work/resubmit.txt"; fail "resubmitting after losing evaluate and compare did not submit exactly 2 jobs"; }
wait_for_jobs
"$aecnn" status --pipeline "$pipeline" --checkpoints "$work/cluster" | grep -v "  done" | grep -q . && fail "not done after the resubmission"
# Without --allow-local-paths, checkpoints in a node-local place are refused before anything is submitted.
if "$aecnn" submit --pipeline "$pipeline" --checkpoints /tmp/aecnn-slurm-test-refused --slurm --dry-run > "$work/refused.txt" 2>&1; then
  fail "submit accepted checkpoints under /tmp without --allow-local-paths"
fi
grep -q -- "--allow-local-paths" "$work/refused.txt" || { cat "$work/refused.txt"; fail "the refusal of /tmp checkpoints does not name --allow-local-paths"; }
[[ ! -e /tmp/aecnn-slurm-test-refused ]] || fail "the refused submit wrote /tmp/aecnn-slurm-test-refused"
echo "slurm-test: passed"
