#!/usr/bin/env bash
# Scale-out on a real scheduler: bring up a one-node Slurm cluster on this
# machine, run umpire's sharded studies and load workers on it as array jobs,
# check the results, and tear everything down.
#
#   scripts/slurm-e2e.sh            # as root (it installs packages and runs the daemons)
#
# What it checks:
#   1. A study split into array tasks (`umpire run --shard I/N`, scripts/slurm/
#      shard.sbatch) and merged by a dependent job (scripts/slurm/merge.sbatch)
#      is byte-identical (`cmp`) to the single-process run: an experiment with
#      looks, a bandit study and a sweep.
#   2. N load workers (scripts/slurm/load-worker.sbatch) drive one
#      `umpire serve`; a dependent job merges their results; the merged
#      request count is the sum of the workers', and the merged verdict is
#      printed (pass, or inconclusive on a machine too busy to keep the pace;
#      never fail).
#
# Idempotent and bounded: every wait has a timeout, a trap tears down on any
# exit, and a run killed with SIGKILL is cleaned up by the next one (every
# process it starts carries UMPIRE_SLURM_E2E=<root> in its environment, by
# which the next run finds and ends it). On failure the daemons' and jobs'
# log tails are printed.
#
# Side effects outside the root: the packages it installs, and execute
# permission for others on each parent directory of the root that lacks it
# (munged needs it; the default root, under /tmp, needs none). On a host
# with systemd, installing the packages may start the distribution's own
# daemons on ports 6817/6818: the port check then says which to set.
#
# Settings (environment):
#   UMPIRE_SLURM_ROOT      working root (default /tmp/umpire-slurm-e2e; wiped at start)
#   UMPIRE_SLURM_CTLD_PORT slurmctld's port (default 6817)
#   UMPIRE_SLURM_SLURMD_PORT slurmd's port (default 6818)
#   UMPIRE_SLURM_SHARDS    array tasks per study (default 4)
#   UMPIRE_SLURM_WORKERS   load workers (default 3)
#   UMPIRE                 the umpire binary (default target/release/umpire, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

ROOT=${UMPIRE_SLURM_ROOT:-/tmp/umpire-slurm-e2e}
CTLD_PORT=${UMPIRE_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${UMPIRE_SLURM_SLURMD_PORT:-6818}
SHARDS=${UMPIRE_SLURM_SHARDS:-4}
WORKERS=${UMPIRE_SLURM_WORKERS:-3}
UMPIRE=${UMPIRE:-$REPO/target/release/umpire}
NODE=umpire-e2e
MARK_NAME=UMPIRE_SLURM_E2E
MARK="$MARK_NAME=$ROOT"

# A Slurm job's own variables (when this runs inside one) would confuse the
# client commands and leak into the jobs submitted here.
while read -r v; do unset "$v"; done < <(compgen -v SLURM_ || true)

if [[ $(id -u) != 0 ]]; then
    echo "slurm-e2e: needs root: it installs packages and runs slurmd, which starts jobs" >&2
    exit 1
fi

started=$SECONDS
log() { printf '%s slurm-e2e: %s\n' "$(date +%T)" "$*"; }

show_logs() {
    local f
    for f in "$ROOT"/log/*.log "$ROOT"/jobs/*.out "$ROOT"/log/jobcomp.txt; do
        [[ -s $f ]] || continue
        echo "---- last lines of $f"
        tail -n 30 "$f"
    done
}

# Fail; the EXIT trap prints the log tails (for any failure, this or not).
die() {
    log "FAIL: $*"
    exit 1
}

# wait_for DESCRIPTION SECONDS COMMAND…: poll COMMAND every 0.2 s until it
# succeeds, or fail after SECONDS.
wait_for() {
    local what=$1 limit=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@"; do
        ((SECONDS < deadline)) || die "timed out after ${limit} s waiting for $what"
        sleep 0.2
    done
}

# The PIDs of processes of this root (started by this script or by an
# earlier run of it with the same root): those carrying its mark, and job
# step daemons (slurmd clears their environment) with a file open under it.
marked_pids() {
    local p
    for p in /proc/[0-9]*; do
        [[ ${p#/proc/} == "$$" ]] && continue
        if is_marked "${p#/proc/}"; then
            echo "${p#/proc/}"
        elif [[ $(cat "$p/comm" 2>/dev/null) == slurmstepd ]] &&
            [[ -n $(find "$p/fd" -lname "$ROOT/*" -print -quit 2>/dev/null) ]]; then
            echo "${p#/proc/}"
        fi
    done
}

# Does process PID carry this root's mark? (Read whole, then matched: a
# pipe into `grep -q` could lose the answer to SIGPIPE under pipefail.)
is_marked() {
    local env
    env=$(tr '\0' '\n' 2>/dev/null <"/proc/$1/environ") || return 1
    grep -qxF "$MARK" <<<"$env"
}

# Send TERM to PIDS, then KILL to any still alive after 5 s.
end_pids() {
    (($# > 0)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    local deadline=$((SECONDS + 5)) p alive
    while ((SECONDS < deadline)); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
}

pid_of() { [[ -s $ROOT/run/$1.pid ]] && cat "$ROOT/run/$1.pid"; }

teardown() {
    local code=$?
    trap - EXIT INT TERM
    if [[ -n ${SLURM_CONF:-} ]] && [[ -n $(pid_of slurmctld) ]] && kill -0 "$(pid_of slurmctld)" 2>/dev/null; then
        # Stopping slurmd does not end running job steps: cancel them while
        # the controller is up.
        timeout 10 scancel --full --quiet --partition=e2e 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while ((SECONDS < deadline)) && [[ -n $(timeout 5 squeue -h -o %i 2>/dev/null) ]]; do
            sleep 0.2
        done
    fi
    local d
    # By PID file, in this order, and only while the PID is still ours
    # (a daemon that died may have left its PID to another process).
    local pid
    for d in serve slurmd slurmctld munged; do
        pid=$(pid_of "$d") || continue
        if is_marked "$pid"; then end_pids "$pid"; fi
    done
    # Anything else of ours: job steps, their children.
    # shellcheck disable=SC2046 # one PID per word
    end_pids $(marked_pids)
    local left
    left=$(marked_pids)
    if [[ -n $left ]]; then
        log "processes left behind: $left"
        ((code == 0)) && code=1
    fi
    if ((code == 0)); then
        rm -rf "$ROOT"
        log "passed in $((SECONDS - started)) s; nothing left running"
    else
        show_logs
        log "failed (exit $code); logs kept in $ROOT/log and $ROOT/jobs"
    fi
    exit "$code"
}

# ---------------------------------------------------------------------------
log "cleaning up any earlier run under $ROOT"
# shellcheck disable=SC2046 # one PID per word
end_pids $(marked_pids)
rm -rf "$ROOT"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
    ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurmctld, slurmd, slurm-client and munge"
    t=$SECONDS
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
        slurmctld slurmd slurm-client munge >/dev/null
    log "installed in $((SECONDS - t)) s"
fi
if [[ ! -x $UMPIRE ]]; then
    [[ $UMPIRE == "$REPO/target/release/umpire" ]] || die "UMPIRE=$UMPIRE is not an executable"
    log "building umpire (release)"
    timeout 1800 cargo build --release --bin umpire
fi
command -v python3 >/dev/null || die "python3 is needed to read result JSON"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$CTLD_PORT" "$SLURMD_PORT"; do
    port_free "$port" || die "port $port is in use: set UMPIRE_SLURM_CTLD_PORT / UMPIRE_SLURM_SLURMD_PORT"
done

trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$ROOT"/{etc,log,run,munge,state,spool,jobs,out}
# munged's socket directory and every parent must be searchable by others.
chmod 0755 "$ROOT" "$ROOT/munge"
up=$ROOT
while [[ $up != / ]]; do
    up=$(dirname "$up")
    [[ $(stat -c %A "$up") == *x ]] || chmod o+x "$up"
done

# ---------------------------------------------------------------------------
log "starting munged"
SOCKET=$ROOT/munge/munge.socket
umask 077
head -c 1024 /dev/urandom >"$ROOT/etc/munge.key"
umask 022
env "$MARK" munged --foreground --force --socket="$SOCKET" --key-file="$ROOT/etc/munge.key" \
    --log-file="$ROOT/log/munged.log" --pid-file="$ROOT/run/munged.pid.unused" \
    --seed-file="$ROOT/run/munged.seed" >/dev/null 2>>"$ROOT/log/munged.log" &
echo $! >"$ROOT/run/munged.pid"
wait_for "munged's socket" 10 test -S "$SOCKET"

export SLURM_CONF=$ROOT/etc/slurm.conf
# slurmctld runs only on the host its config names; the address beside the
# name spares a name lookup.
CTLD_HOST=$(hostname -s)
cat >"$SLURM_CONF" <<EOF
ClusterName=umpiree2e
SlurmctldHost=$CTLD_HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/run/slurmctld.pid.unused
SlurmdPidFile=$ROOT/run/slurmd.pid.unused
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobCompType=jobcomp/filetxt
JobCompLoc=$ROOT/log/jobcomp.txt
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
# The node offers more CPUs than the machine has, so that every load worker
# runs at once beside the server; config_overrides lets slurmd accept that.
SlurmdParameters=config_overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=8 RealMemory=1024 State=UNKNOWN
PartitionName=e2e Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

log "starting slurmctld and slurmd"
t=$SECONDS
env "$MARK" slurmctld -D -i -f "$SLURM_CONF" >>"$ROOT/log/slurmctld.log" 2>&1 &
echo $! >"$ROOT/run/slurmctld.pid"
env "$MARK" slurmd -D -N "$NODE" -f "$SLURM_CONF" >>"$ROOT/log/slurmd.log" 2>&1 &
echo $! >"$ROOT/run/slurmd.pid"
node_idle() { [[ $(timeout 5 sinfo -h -n "$NODE" -o %t 2>/dev/null) == idle ]]; }
wait_for "the node to be idle" 30 node_idle
log "cluster up in $((SECONDS - t)) s"

# ---------------------------------------------------------------------------
# submit ARGS…: sbatch in the repository, the job's output under jobs/, the
# mark and the binary in its environment; prints the job id.
submit() {
    timeout 30 sbatch --parsable --chdir="$REPO" --output="$ROOT/jobs/%x-%A_%a.out" \
        --export="ALL,$MARK,UMPIRE=$UMPIRE" "$@"
}

# job_state ID: the final state jobcomp recorded for job ID (empty while it runs).
job_state() {
    sed -n "s/.*JobId=$1 .*JobState=\([A-Z_]*\).*/\1/p" "$ROOT/log/jobcomp.txt" 2>/dev/null | tail -n 1
}

# wait_jobs SECONDS ID…: wait until the jobs (and array tasks) have ended.
wait_jobs() {
    local limit=$1
    shift
    local ids
    ids=$(IFS=,; echo "$*")
    # A failed squeue is not an empty queue.
    jobs_done() {
        local queued
        queued=$(timeout 5 squeue -h -j "$ids" -o %i 2>/dev/null) || return 1
        [[ -z $queued ]]
    }
    wait_for "jobs $ids" "$limit" jobs_done
}

# Each study: scenario, replications. Small, so the run stays short; the
# byte identity does not depend on the size.
STUDIES=(
    "scenarios/sequential_power.toml 400"
    "scenarios/bandit_bernoulli_10arms.toml 24"
    "scenarios/power_curve_sequential.toml 200"
)

t=$SECONDS
declare -A MERGE_JOB
for study in "${STUDIES[@]}"; do
    read -r scenario reps <<<"$study"
    name=$(basename "$scenario" .toml)
    # Exit 1 (an expectation missed at this small size) still writes the
    # result; the comparison is of the bytes, verdicts included.
    code=0
    timeout 600 "$UMPIRE" run "$scenario" --replications "$reps" --out "$ROOT/out/single" \
        >/dev/null || code=$?
    ((code <= 1)) || die "single-process run of $scenario failed (exit $code)"
    array=$(submit --array="0-$((SHARDS - 1))" scripts/slurm/shard.sbatch \
        "$scenario" "$ROOT/out/shards" --replications "$reps")
    MERGE_JOB[$name]=$(submit --dependency="afterok:$array" --kill-on-invalid-dep=yes \
        scripts/slurm/merge.sbatch "$ROOT/out/$name.merged.json" \
        "$ROOT/out/shards/$name.shard-*-of-$SHARDS.json")
    log "$name: array job $array ($SHARDS tasks), merge job ${MERGE_JOB[$name]}"
done
wait_jobs 300 "${MERGE_JOB[@]}"
for study in "${STUDIES[@]}"; do
    read -r scenario _ <<<"$study"
    name=$(basename "$scenario" .toml)
    state=$(job_state "${MERGE_JOB[$name]}")
    [[ $state == COMPLETED ]] || die "$name: merge job ${MERGE_JOB[$name]} ended $state"
    cmp "$ROOT/out/single/$name.json" "$ROOT/out/$name.merged.json" ||
        die "$name: the merged result differs from the single-process run"
    log "$name: cmp: merged $SHARDS shards = single-process run ($(wc -c <"$ROOT/out/$name.merged.json") bytes)"
done
log "studies done in $((SECONDS - t)) s"

# ---------------------------------------------------------------------------
t=$SECONDS
log "starting umpire serve and $WORKERS load workers"
env "$MARK" "$UMPIRE" serve scenarios/serve_reference.toml --addr 127.0.0.1:0 \
    >"$ROOT/log/serve.log" 2>&1 &
echo $! >"$ROOT/run/serve.pid"
listening() { grep -q '^listening on ' "$ROOT/log/serve.log"; }
wait_for "umpire serve to listen" 30 listening
BASE=$(sed -n 's/^listening on //p' "$ROOT/log/serve.log" | head -n 1)
workers=$(submit --array="0-$((WORKERS - 1))" scripts/slurm/load-worker.sbatch \
    scripts/slurm/load.toml "$BASE" "$ROOT/out/load")
merge=$(submit --dependency="afterany:$workers" --kill-on-invalid-dep=yes \
    scripts/slurm/merge.sbatch "$ROOT/out/load/merged.json" "$ROOT/out/load/worker-*/load.json")
log "load: array job $workers against $BASE, merge job $merge"
wait_jobs 180 "$merge"
state=$(job_state "$merge")
[[ $state == COMPLETED ]] || die "load merge job $merge ended $state"
python3 - "$ROOT/out/load" "$WORKERS" <<'EOF' || die "the merged load result does not add up"
import glob, json, sys
out, workers = sys.argv[1], int(sys.argv[2])
parts = sorted(glob.glob(f"{out}/worker-*/load.json"))
assert len(parts) == workers, f"{len(parts)} worker results, expected {workers}"
def overall(doc):
    return next(e for e in doc["endpoints"] if e["endpoint"] == "overall")["count"]
counts = [overall(json.load(open(p))) for p in parts]
merged = json.load(open(f"{out}/merged.json"))
assert merged["workers"] == workers, merged["workers"]
assert overall(merged) == sum(counts), (overall(merged), counts)
assert all(c > 0 for c in counts), counts
print(f"load: merged {overall(merged)} requests = sum of workers' {counts}; "
      f"merged verdict: {merged['verdict']}")
for m in merged["messages"]:
    print(f"  {m}")
assert merged["verdict"] in ("pass", "inconclusive"), merged["verdict"]
EOF
log "load done in $((SECONDS - t)) s"
