"""The bookkeeping of scripts/bench-vs-peers.sh: turns each measurement
into one JSON line of the raw results file, and the file into the Markdown
table of medians. Standard library only (it runs on the system python3).

    results.py umpire-sim ROW RUN UNITS T0 T1 RESULT_JSON CMD...
    results.py numpy ROW RUN T0 T1 CMD...        (the script's JSON line on stdin)
    results.py wrk ROW RUN SIDE CMD...           (wrk's output on stdin)
    results.py load ROW RUN EXIT RESULT_JSON CMD...
    results.py latency ROW RUN EXIT ASKED RESULT_JSON CMD...
    results.py rate RESULTS.jsonl ROW RUN SIDE   (prints one run's rate)
    results.py table RESULTS.jsonl [--quick]
"""

import json
import re
import statistics
import sys

# Row id -> (label, unit of its rate, goal kind, goal value, goal text).
# kind "umpire": umpire's median rate must reach the value; "ratio": umpire
# over the peer.
ROWS = {
    "aa_per_unit": (
        "A/A per unit, {users} users × {replications} replications",
        "unit-events/s", "umpire", 700e6, "≥ 700 M/s",
    ),
    "aa_aggregate": (
        "A/A aggregate, {users} users, {replications} replications",
        "replications/s", "ratio", 2.0, "≥ 2× NumPy",
    ),
    "thompson": (
        "Thompson, 10 Bernoulli arms, {replications} × {horizon} pulls",
        "pulls/s", "umpire", 5.5e6, "≥ 5.5 M pulls/s",
    ),
    "ucb1": (
        "UCB1, 10 Bernoulli arms, {replications} × {horizon} pulls",
        "pulls/s", "umpire", 30e6, "≥ 30 M pulls/s",
    ),
    "serve_assign": (
        "`GET /v1/assign`: `umpire serve` / bare axum, wrk",
        "req/s", "ratio", 0.95, "≥ 0.95×",
    ),
    "serve_decide": (
        "`POST /v1/decide` (Thompson, 10 arms): `umpire serve` / bare axum, wrk",
        "req/s", "ratio", 0.9, "≥ 0.9×",
    ),
    "load_generator": (
        "generator: `umpire load` (32 users) / wrk (32 connections), assign on bare axum",
        "req/s", "ratio", 0.8, "≥ 0.8×",
    ),
}

UNITS = {row: spec[1] for row, spec in ROWS.items()}


def emit(line: dict) -> None:
    print(json.dumps(line), flush=True)


def umpire_sim(row, run, units, t0, t1, result, *cmd):
    wall = float(t1) - float(t0)
    line = {
        "row": row, "run": int(run), "side": "umpire", "tool": "umpire",
        "rate": float(units) / wall, "unit": UNITS[row], "wall_s": round(wall, 6),
        "units": float(units), "cmd": " ".join(cmd),
    }
    with open(result, encoding="utf-8") as f:
        r = json.load(f)
    if r.get("kind") == "experiment":
        c = r["methods"][0]["comparisons"][0]
        line["false_positive_rate"] = c["rejection_rate"]["value"]
        line["path"] = r.get("path")
    elif r.get("kind") == "bandit":
        line["mean_regret"] = r["policies"][0]["regret"]["mean"][-1]
    line["umpire_version"] = r.get("umpire_version")
    line["git_commit"] = r.get("git_commit")
    emit(line)


def numpy(row, run, t0, t1, *cmd):
    text = sys.stdin.read().strip().splitlines()
    if not text:
        sys.exit(f"results.py: {row}: the NumPy script printed nothing")
    line = json.loads(text[-1])
    out = {"row": row, "run": int(run), "side": "peer"}
    out.update(line)
    # The script's rate covers its timed part; the process's wall time
    # (interpreter start and imports included) is kept beside it.
    out["process_wall_s"] = round(float(t1) - float(t0), 6)
    out["cmd"] = " ".join(cmd)
    emit(out)


def wrk(row, run, side, *cmd):
    text = sys.stdin.read()
    m = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    if not m:
        sys.exit(f"results.py: {row}: no Requests/sec in wrk's output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    total = re.search(r"(\d+) requests in", text)
    emit({
        "row": row, "run": int(run), "side": side, "tool": "wrk",
        "rate": float(m.group(1)), "unit": "req/s",
        "requests": int(total.group(1)) if total else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
        "cmd": " ".join(cmd),
    })


def load(row, run, exit_code, result, *cmd):
    with open(result, encoding="utf-8") as f:
        r = json.load(f)
    g = r["generator"]
    overall = next(e for e in r["endpoints"] if e["endpoint"] == "overall")
    emit({
        "row": row, "run": int(run), "side": "umpire", "tool": "umpire load",
        "rate": g["achieved_rps"], "unit": "req/s",
        "requests": overall["count"], "errors": overall["errors"],
        "overall_rps": overall["rps"], "cpu_share": g.get("cpu_share"),
        "saturated": g.get("saturated"), "verdict": r.get("verdict"),
        "exit": int(exit_code), "cmd": " ".join(cmd),
    })


def latency(row, run, exit_code, asked, result, *cmd):
    """A paced run at half of capacity: its rates and latency percentiles."""
    with open(result, encoding="utf-8") as f:
        r = json.load(f)
    overall = next(e for e in r["endpoints"] if e["endpoint"] == "overall")
    emit({
        "row": row, "run": int(run), "side": "latency", "tool": "umpire load",
        "asked_rps": float(asked), "achieved_rps": r["generator"]["achieved_rps"],
        "requests": overall["count"], "errors": overall["errors"],
        "raw": overall["raw"], "corrected": overall["corrected"],
        "lag_p99_ms": r["generator"].get("lag_p99_ms"), "verdict": r.get("verdict"),
        "generator_bound": bool(r["generator"].get("generator_bound")),
        "exit": int(exit_code), "cmd": " ".join(cmd),
    })


def rate(path, row, run, side):
    with open(path, encoding="utf-8") as f:
        for raw in f:
            ln = json.loads(raw) if raw.strip() else None
            if ln and ln["row"] == row and ln["run"] == int(run) and ln["side"] == side:
                print(f"{ln['rate']:.0f}")
                return
    sys.exit(f"results.py: no {row} {side} run {run} in {path}")


# Latency rows: row id -> (label, the capacity row it halves).
LATENCY = {
    "half_assign": ("`GET /v1/assign` on `umpire serve`", "serve_assign"),
    "half_decide": ("`POST /v1/decide` (Thompson) on `umpire serve`", "serve_decide"),
}


def latency_table(lines):
    rows = [ln for ln in lines if ln.get("side") == "latency"]
    if not rows:
        return
    print()
    print("Latency at half of capacity: `umpire load`, paced (open model), 32 users, at half of "
          "the rate wrk reached on the same server in the same run; medians over runs, ms, "
          "corrected for coordinated omission.")
    print()
    print("| route | asked | achieved | p50 | p99 | p99.9 | generator |")
    print("|---|---|---|---|---|---|---|")
    med = statistics.median
    for row, (label, _) in LATENCY.items():
        rs = [ln for ln in rows if ln["row"] == row]
        if not rs:
            continue
        bad = sum(ln.get("errors") or 0 for ln in rs)
        cells = [
            label,
            human(med(ln["asked_rps"] for ln in rs), "req/s"),
            human(med(ln["achieved_rps"] for ln in rs), "req/s"),
            f"{med(ln['corrected']['p50_ms'] for ln in rs):.3g}",
            f"{med(ln['corrected']['p99_ms'] for ln in rs):.3g}",
            f"{med(ln['corrected']['p999_ms'] for ln in rs):.3g}",
            # umpire load's own judgement: fell short of the rate while its
            # threads had no CPU to spare, so the latency is partly its own.
            f"bound in {sum(ln['generator_bound'] for ln in rs)} of {len(rs)} runs"
            if any(ln["generator_bound"] for ln in rs) else "kept up",
        ]
        if bad:
            cells[2] += f" ({bad} errors)"
        print("| " + " | ".join(cells) + " |")


def human(x: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            v = x / scale
            return f"{v:.3g} {prefix} {unit}" if v < 100 else f"{v:.0f} {prefix} {unit}"
    return f"{x:.3g} {unit}"


def table(path, *flags):
    lines = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            if raw.strip():
                lines.append(json.loads(raw))
    rates = {}
    errors = {}
    for ln in lines:
        if ln["side"] == "latency":
            continue
        rates.setdefault((ln["row"], ln["side"]), []).append(ln["rate"])
        bad = (ln.get("non_2xx") or 0) + (ln.get("socket_errors") or 0) + (ln.get("errors") or 0)
        if bad:
            errors[(ln["row"], ln["side"])] = errors.get((ln["row"], ln["side"]), 0) + bad
    runs = max((ln["run"] for ln in lines), default=0)
    print("| workload | umpire | peer | ratio | goal |")
    print("|---|---|---|---|---|")
    for row, (label, unit, kind, goal, goal_text) in ROWS.items():
        u = rates.get((row, "umpire"))
        p = rates.get((row, "peer"))
        if not u and not p:
            continue
        mu = statistics.median(u) if u else None
        mp = statistics.median(p) if p else None
        ratio = mu / mp if mu and mp else None
        value = mu if kind == "umpire" else ratio
        met = "" if value is None else (" (met)" if value >= goal else " (missed)")
        sizes = next(
            ({k: f"{v:,}" for k, v in ln.items() if isinstance(v, int)}
             for ln in lines if ln["row"] == row and ln.get("tool") == "numpy"),
            {},
        )
        try:
            label = label.format(**sizes)
        except KeyError:
            label = label.split(",")[0]
        cells = [
            label,
            human(mu, unit) if mu else "–",
            human(mp, unit) if mp else "–",
            f"{ratio:.2f}×" if ratio else "–",
            goal_text + met,
        ]
        for i, side in ((1, "umpire"), (2, "peer")):
            if errors.get((row, side)):
                cells[i] += f" ({errors[(row, side)]} errors)"
        print("| " + " | ".join(cells) + " |")
    print()
    peers = [ln for ln in lines if ln.get("tool") == "numpy"]
    if peers:
        n = peers[0]
        print(
            f"Medians over {runs} run(s). NumPy {n.get('numpy')} on Python {n.get('python')}, "
            f"BLAS {n.get('internal_api')} {n.get('blas_version')} kernel {n.get('architecture')}, "
            f"{n.get('blas_threads')} thread; umpire with `--threads 1`, its wall time including "
            "process start; NumPy's rate over its timed loop (process wall time in the raw file)."
        )
    http = next((ln["cmd"] for ln in lines if ln.get("tool") == "wrk"), None)
    print(
        "Peers: rows 1–4 NumPy (bench/peers/*.py), rows 5–6 bench/peers/axum-bare, row 7 wrk "
        "(its figure is row 5's bare-axum run: the same command against the same server)."
        + (f" HTTP rows: `{' '.join(http.split()[:4])}`." if http else "")
    )
    latency_table(lines)
    if "--quick" in flags:
        print()
        print("**--quick**: reduced sizes and 2 s HTTP runs, a smoke test; the goals apply to full runs.")


def main() -> None:
    cmds = {
        "umpire-sim": umpire_sim, "numpy": numpy, "wrk": wrk, "load": load,
        "latency": latency, "rate": rate, "table": table,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
