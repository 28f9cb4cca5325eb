#!/usr/bin/env bash
# umpire side by side with what a user would otherwise run, on the same
# machine in one invocation:
#   1-4  simulations: `umpire run --threads 1` vs hand-vectorised NumPy
#        (bench/peers/*.py), the same work (bench/scenarios/*.toml);
#   5-6  serving: `umpire serve` vs a bare axum server with the same routes
#        and compute (bench/peers/axum-bare), both driven by wrk;
#   7    load generation: `umpire load` vs wrk, both against the bare server;
#   then latency at half of capacity: `umpire load`, paced (open model), at
#        half of wrk's rate on `umpire serve` in rows 5 and 6, p50/p99/p99.9.
# It prints Markdown tables of medians over RUNS runs and writes every
# run's raw figures as JSON lines. See bench/peers/README.md.
#
# usage: scripts/bench-vs-peers.sh [--runs N] [--duration S] [--quick] [--out FILE]
#   --runs N      runs per measurement; the table shows medians (default 2)
#   --duration S  seconds of each HTTP measurement (default 10)
#   --quick       much smaller sizes and 2 s HTTP runs: a smoke test (~1 min)
#   --out FILE    the raw results (JSON lines; default: in a temp dir)
#
# It builds umpire and axum-bare (release), installs wrk with apt-get if it
# is missing, and creates bench/peers/.venv from bench/peers/requirements.txt.
# Servers listen on 127.0.0.1 at free ports, and every process it starts is
# stopped when it exits. Run it on a quiet machine: the figures are rates.
set -Eeuo pipefail

RUNS=2
DURATION=10
QUICK=0
OUT=""

# The header comment above, without its `# `.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() {
    echo "bench-vs-peers: $*" >&2
    exit 1
}
bad_usage() {
    echo "bench-vs-peers: $* (see --help)" >&2
    exit 2
}

while [[ $# -gt 0 ]]; do
    case "$1" in
    --runs)
        [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || bad_usage "--runs needs a positive integer"
        RUNS=$2
        shift 2
        ;;
    --duration)
        [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || bad_usage "--duration needs a positive number of seconds"
        DURATION=$2
        shift 2
        ;;
    --quick)
        QUICK=1
        shift
        ;;
    --out)
        [[ -n "${2:-}" ]] || bad_usage "--out needs a file"
        OUT=$2
        shift 2
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) bad_usage "unknown argument $1" ;;
    esac
done

# --out is relative to where the script was called from.
[[ -n $OUT && $OUT != /* ]] && OUT=$PWD/$OUT
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# Sizes: the benchmark's, or a smoke test's.
PER_UNIT_USERS=10000 PER_UNIT_REPS=100000
AGG_REPS=10000000
BANDIT_REPS=1000 BANDIT_HORIZON=10000
if [[ $QUICK == 1 ]]; then
    PER_UNIT_REPS=5000
    AGG_REPS=1000000
    BANDIT_REPS=100
    DURATION=2
fi
CONNECTIONS=32

WORK=$(mktemp -d "${TMPDIR:-/tmp}/umpire-peers.XXXXXX")
OUT=${OUT:-$WORK/results.jsonl}
mkdir -p "$WORK/bin" "$WORK/out" "$WORK/logs" "$(dirname "$OUT")"
: >"$OUT"
LOG=$WORK/logs

PIDS=()
CHILD=""
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    [[ -n $CHILD ]] && stop_pid "$CHILD"
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'echo "bench-vs-peers: failed at line $LINENO: $BASH_COMMAND (logs in $LOG)" >&2' ERR

step() { echo "== $*" >&2; }
# run_child CMD...: in the background, waited for, so that a signal to this script
# is handled at once (bash defers traps while a foreground child runs) and
# the exit trap stops the child.
run_child() {
    local rc=0
    "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}
# The last lines of a log, after a failure.
show() {
    echo "--- last lines of $1" >&2
    tail -n 20 "$1" >&2 || true
}

# --- Tools --------------------------------------------------------------

step "build: cargo build --release -p umpire -p axum-bare"
if ! run_child cargo build --release -p umpire -p axum-bare >"$LOG/build.log" 2>&1; then
    show "$LOG/build.log"
    die "the release build failed"
fi
# Copies, so that a rebuild in the work tree cannot swap a binary mid-run.
cp target/release/umpire target/release/axum-bare "$WORK/bin/"
UMPIRE=$WORK/bin/umpire
BARE=$WORK/bin/axum-bare

if ! command -v wrk >/dev/null; then
    step "install wrk (apt-get)"
    [[ $(id -u) == 0 ]] || die "wrk is missing; install it (apt-get install wrk) or run as root"
    { run_child apt-get update -qq && run_child apt-get install -y -qq wrk; } >"$LOG/apt.log" 2>&1 ||
        { show "$LOG/apt.log"; die "apt-get install wrk failed"; }
fi
command -v curl >/dev/null || die "curl is missing (apt-get install curl)"
command -v python3 >/dev/null || die "python3 is missing"

VENV=bench/peers/.venv
REQ=bench/peers/requirements.txt
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    step "venv: $VENV from $REQ"
    rm -rf "$VENV"
    run_child python3 -m venv "$VENV" >"$LOG/venv.log" 2>&1 ||
        { show "$LOG/venv.log"; die "python3 -m venv failed (Debian: apt-get install python3-venv)"; }
    run_child "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" >>"$LOG/venv.log" 2>&1 ||
        { show "$LOG/venv.log"; die "pip install -r $REQ failed"; }
    echo "$want" >"$VENV/.requirements.sha256"
fi
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE tune old OpenBLAS builds and slow a
# current NumPy's: unset for NumPy only. One thread, as umpire's --threads 1.
NUMPY=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    MKL_NUM_THREADS=1 "$VENV/bin/python")
RESULTS=(python3 bench/peers/results.py)

now() { date +%s.%N; }

# --- Simulations (rows 1-4) ----------------------------------------------

# umpire_sim ROW RUN UNITS SCENARIO ARGS...: time `umpire run` (process
# start included) and record units / wall time.
umpire_sim() {
    local row=$1 run=$2 units=$3 scenario=$4
    shift 4
    local cmd=("$UMPIRE" run "bench/scenarios/$scenario.toml" --threads 1 --out "$WORK/out" "$@")
    local log=$LOG/$row-umpire-$run.log t0 t1
    step "[$run/$RUNS] $row, umpire: ${cmd[*]}"
    t0=$(now)
    run_child timeout 900 "${cmd[@]}" >"$log" 2>&1 || { show "$log"; die "$row: umpire run failed"; }
    t1=$(now)
    "${RESULTS[@]}" umpire-sim "$row" "$run" "$units" "$t0" "$t1" "$WORK/out/$scenario.json" "${cmd[@]}" >>"$OUT"
}

# numpy_sim ROW RUN SCRIPT ARGS...: the script measures its own loop.
numpy_sim() {
    local row=$1 run=$2 script=$3
    shift 3
    local cmd=("${NUMPY[@]}" "bench/peers/$script" "$@")
    local log=$LOG/$row-numpy-$run.log t0 t1
    step "[$run/$RUNS] $row, NumPy: ${cmd[*]}"
    t0=$(now)
    run_child timeout 900 "${cmd[@]}" >"$log" 2>"$log.err" ||
        { show "$log.err"; show "$log"; die "$row: $script failed"; }
    t1=$(now)
    "${RESULTS[@]}" numpy "$row" "$run" "$t0" "$t1" "${cmd[@]}" <"$log" >>"$OUT"
}

# pair RUN A B: A then B on odd runs, B then A on even ones.
pair() {
    if (($1 % 2)); then eval "$2"; eval "$3"; else eval "$3"; eval "$2"; fi
}

# --- HTTP (rows 5-7) -------------------------------------------------------

cat >"$WORK/assign.lua" <<'EOF'
-- GET /v1/assign for unit ids user-0 .. user-99999 in turn (umpire load's
-- default 100,000 units), so the servers hash many distinct ids.
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/assign/checkout_button?unit=user-" .. (i % 100000))
end
EOF
cat >"$WORK/decide.lua" <<'EOF'
-- POST /v1/decide/{bandit} with a JSON body.
wrk.method = "POST"
wrk.body = '{"unit":"user-17"}'
wrk.headers["Content-Type"] = "application/json"
EOF

# start_server NAME CMD...: start it, read its `listening on URL` line, wait
# for GET /healthz; sets SERVER_URL and SERVER_PID.
start_server() {
    local name=$1 i
    shift
    # Created here: the background job's redirections may not have run yet
    # when the loop below first reads them.
    : >"$LOG/$name.out"
    : >"$LOG/$name.err"
    "$@" >>"$LOG/$name.out" 2>>"$LOG/$name.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_URL=""
    for ((i = 0; i < 200; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { show "$LOG/$name.err"; die "$name exited on start: $*"; }
        SERVER_URL=$(sed -n 's/^listening on //p' "$LOG/$name.out" | head -n 1)
        [[ -n $SERVER_URL ]] && break
        sleep 0.1
    done
    [[ -n $SERVER_URL ]] || { show "$LOG/$name.err"; die "$name did not say where it listens within 20 s"; }
    for ((i = 0; i < 200; i++)); do
        curl -fsS -o /dev/null --max-time 1 "$SERVER_URL/healthz" 2>/dev/null && return 0
        sleep 0.1
    done
    show "$LOG/$name.err"
    die "$name: $SERVER_URL/healthz did not answer within 20 s"
}

# wrk_run ROW RUN SIDE URL [LUA]
wrk_run() {
    local row=$1 run=$2 side=$3 url=$4 lua=${5:-}
    local cmd=(wrk -t2 "-c$CONNECTIONS" "-d${DURATION}s" --timeout 5s)
    [[ -n $lua ]] && cmd+=(-s "$lua")
    cmd+=("$url")
    local log=$LOG/$row-$side-$run.wrk
    step "[$run/$RUNS] $row, $side: ${cmd[*]}"
    run_child timeout $((DURATION + 30)) "${cmd[@]}" >"$log" 2>&1 || { show "$log"; die "$row: wrk failed"; }
    "${RESULTS[@]}" wrk "$row" "$run" "$side" "${cmd[@]}" <"$log" >>"$OUT"
}

# half_run ROW RUN URL SCENARIO CAPACITY_ROW: `umpire load` paced at half of
# the rate wrk reached on umpire serve in this run's CAPACITY_ROW.
half_run() {
    local row=$1 run=$2 host=$3 scenario=$4 capacity=$5 rc=0 rate
    rate=$("${RESULTS[@]}" rate "$OUT" "$capacity" "$run" umpire)
    rate=$((rate / 2))
    local cmd=("$UMPIRE" load "bench/scenarios/$scenario.toml" --host "$host" --rate "$rate"
        --duration "$DURATION" --out "$WORK/out")
    local log=$LOG/$row-umpire-$run.log
    step "[$run/$RUNS] $row, umpire load at half of capacity: ${cmd[*]}"
    run_child timeout $((DURATION + 60)) "${cmd[@]}" >"$log" 2>&1 || rc=$?
    # 1 (an SLO or check failed) and 3 (inconclusive) still measured latency.
    [[ $rc == 0 || $rc == 1 || $rc == 3 ]] || { show "$log"; die "$row: umpire load failed (exit $rc)"; }
    "${RESULTS[@]}" latency "$row" "$run" "$rc" "$rate" "$WORK/out/$scenario.json" "${cmd[@]}" >>"$OUT"
}

load_run() {
    local row=$1 run=$2 host=$3 rc=0
    local cmd=("$UMPIRE" load bench/scenarios/load_assign.toml --host "$host" --duration "$DURATION"
        --out "$WORK/out")
    local log=$LOG/$row-umpire-$run.log
    step "[$run/$RUNS] $row, umpire load: ${cmd[*]}"
    run_child timeout $((DURATION + 60)) "${cmd[@]}" >"$log" 2>&1 || rc=$?
    # 1 (a check failed) and 3 (inconclusive) still measured the generator.
    [[ $rc == 0 || $rc == 1 || $rc == 3 ]] || { show "$log"; die "$row: umpire load failed (exit $rc)"; }
    "${RESULTS[@]}" load "$row" "$run" "$rc" "$WORK/out/load_assign.json" "${cmd[@]}" >>"$OUT"
}

# --- The runs ----------------------------------------------------------------

for ((run = 1; run <= RUNS; run++)); do
    q=()
    [[ $QUICK == 1 ]] && q=(--replications "$PER_UNIT_REPS")
    pair "$run" \
        'umpire_sim aa_per_unit $run $((PER_UNIT_USERS * PER_UNIT_REPS)) aa_per_unit --per-unit "${q[@]}"' \
        'numpy_sim aa_per_unit $run aa_per_unit.py --users $PER_UNIT_USERS --replications $PER_UNIT_REPS'
    [[ $QUICK == 1 ]] && q=(--replications "$AGG_REPS")
    pair "$run" \
        'umpire_sim aa_aggregate $run $AGG_REPS aa_aggregate "${q[@]}"' \
        'numpy_sim aa_aggregate $run aa_aggregate.py --replications $AGG_REPS'
    [[ $QUICK == 1 ]] && q=(--replications "$BANDIT_REPS")
    for policy in thompson ucb1; do
        pair "$run" \
            'umpire_sim $policy $run $((BANDIT_REPS * BANDIT_HORIZON)) $policy "${q[@]}"' \
            'numpy_sim $policy $run $policy.py --replications $BANDIT_REPS --horizon $BANDIT_HORIZON'
    done

    start_server "umpire-serve-$run" "$UMPIRE" serve bench/scenarios/serve_peers.toml --addr 127.0.0.1:0
    U_URL=$SERVER_URL U_PID=$SERVER_PID
    start_server "axum-bare-$run" "$BARE" --port 0 --seed 1 --experiment checkout_button \
        --bandit thompson10 --bandit-arms 10
    B_URL=$SERVER_URL B_PID=$SERVER_PID
    pair "$run" \
        'wrk_run serve_assign $run umpire "$U_URL" "$WORK/assign.lua"' \
        'wrk_run serve_assign $run peer "$B_URL" "$WORK/assign.lua"'
    pair "$run" \
        'wrk_run serve_decide $run umpire "$U_URL/v1/decide/thompson10" "$WORK/decide.lua"' \
        'wrk_run serve_decide $run peer "$B_URL/v1/decide/thompson10" "$WORK/decide.lua"'
    half_run half_assign "$run" "$U_URL" load_half_assign serve_assign
    half_run half_decide "$run" "$U_URL" load_half_decide serve_decide
    stop_pid "$U_PID"
    load_run load_generator "$run" "$B_URL"
    stop_pid "$B_PID"
done

# Row 7's peer is wrk against the bare server: row 5's peer runs.
python3 - "$OUT" <<'EOF'
import json, sys
path = sys.argv[1]
lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
extra = []
for l in lines:
    if l["row"] == "serve_assign" and l["side"] == "peer":
        extra.append(dict(l, row="load_generator", reused_from="serve_assign"))
with open(path, "a", encoding="utf-8") as f:
    for l in extra:
        f.write(json.dumps(l) + "\n")
EOF

echo
flags=()
[[ $QUICK == 1 ]] && flags=(--quick)
"${RESULTS[@]}" table "$OUT" "${flags[@]}"
echo
echo "raw results: $OUT"
echo "logs and result files: $WORK"
