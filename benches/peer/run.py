#!/usr/bin/env python3
"""The peer comparison, side by side in one run on this machine:

    python3 benches/peer/run.py [--places 20] [--actors 150] [--events 200000] [--runs 3]

1. generates the log with ../shared/datasets/gen_inquiry.py (or takes --input);
2. shiftlog (`cargo bench --bench peer`): bulk append, reopen, month-end evolution of every
   place, single snapshots at random dates; and the raw-sled floor for the same records;
   also the CLI end to end (`shiftlog append`, `shiftlog evolve --every month`, start-up
   included);
3. Raphtory (PyPI `raphtory`, in a virtual environment this script creates under
   target/peer/venv): the same replay into PersistentGraphs and the same month-end answers
   (benches/peer/raphtory_peer.py, written from the spec);
4. checks that both give the same relationships, connected actors, components and max
   degree for every place and month, and prints each figure with the ratio between them.

The results table is also written to target/peer/results.md.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "target" / "peer"
RAPHTORY = "raphtory==0.17.0"


def sh(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def venv_python():
    venv = WORK / "venv"
    py = venv / "bin" / "python"
    if not py.exists():
        sh([sys.executable, "-m", "venv", str(venv)])
    probe = subprocess.run([str(py), "-c", "import raphtory; print(raphtory.__version__)"], capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != RAPHTORY.split("==")[1]:
        sh([str(py), "-m", "pip", "install", "--quiet", RAPHTORY])
    return py


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--places", type=int, default=20)
    ap.add_argument("--actors", type=int, default=150)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--input", help="an NDJSON log to use instead of generating one")
    ap.add_argument("--runs", type=int, default=3, help="repeats of each timed step (the median is reported)")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)

    if args.input:
        log = Path(args.input).resolve()
    else:
        gen = ROOT.parent / "shared" / "datasets" / "gen_inquiry.py"
        if not gen.exists():
            sys.exit(f"no generator at {gen}: give --input LOG.ndjson")
        log = WORK / f"inquiry-{args.places}-{args.actors}-{args.events}-{args.seed}.ndjson"
        if not log.exists():
            with open(log, "w") as out:
                sh([sys.executable, str(gen), "--places", str(args.places), "--actors", str(args.actors),
                    "--events", str(args.events), "--seed", str(args.seed)], stdout=out)
    py = venv_python()

    sh(["cargo", "build", "--release", "--quiet", "-p", "shiftlog-cli"], cwd=ROOT)
    exe = ROOT / "target" / "release" / "shiftlog"

    shiftlog_runs, raphtory_runs, cli_append, cli_evolve = [], [], [], []
    for run in range(args.runs):
        answers = WORK / f"shiftlog-{run}.json"
        sh(["cargo", "bench", "--quiet", "--bench", "peer", "--", "--input", str(log), "--answers", str(answers)], cwd=ROOT)
        shiftlog_runs.append(json.loads(answers.read_text()))
        out = WORK / f"raphtory-{run}.json"
        sh([str(py), str(ROOT / "benches" / "peer" / "raphtory_peer.py"), "--input", str(log), "--out", str(out)])
        raphtory_runs.append(json.loads(out.read_text()))
        store = WORK / "cli-store"
        shutil.rmtree(store, ignore_errors=True)
        cli_append.append(timed([str(exe), "--data-dir", str(store), "append", str(log)]))
        cli_evolve.append(timed([str(exe), "--data-dir", str(store), "evolve", "--every", "month"]))

    # Agreement, on every run's answers.
    mismatches, compared = [], 0
    for s, r in zip(shiftlog_runs, raphtory_runs):
        if set(s["answers"]) != set(r["answers"]):
            sys.exit(f"the places differ: {sorted(set(s['answers']) ^ set(r['answers']))}")
        for place, rows in s["answers"].items():
            theirs = r["answers"][place]
            if len(rows) != len(theirs):
                mismatches.append((place, f"{len(rows)} months vs {len(theirs)}"))
                continue
            for ours, other in zip(rows, theirs):
                compared += 1
                if ours[0][:7] != other[0] or ours[1:] != other[1:]:
                    mismatches.append((place, ours, other))

    med = statistics.median
    s = {k: med(run[k] for run in shiftlog_runs) for k in ("append_s", "prepare_s", "open_s", "evolve_s", "floor_s", "log_read_s", "raw_sled_s")}
    snap = med(run["snapshot_ms"]["median"] for run in shiftlog_runs)
    snap90 = med(run["snapshot_ms"]["p90"] for run in shiftlog_runs)
    r = {k: med(run[k] for run in raphtory_runs) for k in ("replay_s", "evolve_s")}
    first = shiftlog_runs[0]
    events, steps = first["events"], raphtory_runs[0]["snapshots"]
    rows = [
        ("bulk append / replay of the log", f"{s['append_s']:.2f} s (durable, validated)",
         f"{r['replay_s']:.2f} s (in memory)", r["replay_s"] / s["append_s"]),
        ("  the same, CLI end to end", f"{med(cli_append):.2f} s", "", None),
        ("  raw sled, same records, batches of 10,000", f"{s['raw_sled_s']:.2f} s", "", None),
        (f"month-end evolution, all places ({steps} snapshots)", f"{s['evolve_s']:.3f} s",
         f"{r['evolve_s']:.2f} s", r["evolve_s"] / s["evolve_s"]),
        ("  the same, CLI end to end (start-up included)", f"{med(cli_evolve):.3f} s", "",
         r["evolve_s"] / med(cli_evolve)),
        ("single snapshot at a random date", f"median {snap:.2f} ms, p90 {snap90:.2f} ms", "", None),
        ("reopen the store", f"{s['open_s'] * 1e3:.0f} ms", "", None),
        ("  preparing every place after the append (index, checkpoints, fold-ready form)", f"{s['prepare_s']:.2f} s", "", None),
        ("  floor: reading every place's fold-ready form", f"{s['floor_s'] * 1e3:.0f} ms "
         f"(evolution {s['evolve_s'] / s['floor_s']:.1f}x it; from the log: {s['log_read_s'] * 1e3:.0f} ms)", "", None),
    ]
    lines = [
        f"Peer comparison: {events:,} events, {len(first['answers'])} places "
        f"({log.name}, {first['input_bytes'] / 1e6:.1f} MB NDJSON; shiftlog store {first['store_bytes'] / 1e6:.1f} MB).",
        f"Machine: {machine()}. Median of {args.runs} runs; Raphtory {raphtory_runs[0]['raphtory']}.",
        "",
        "| | shiftlog | Raphtory | Raphtory / shiftlog |",
        "|---|---|---|---|",
    ]
    for name, ours, theirs, ratio in rows:
        lines.append(f"| {name} | {ours} | {theirs} | {'' if ratio is None else f'{ratio:.1f}x'} |")
    lines.append("")
    lines.append(
        f"Answers compared (relationships, connected actors, components, max degree): "
        f"{compared} place-months over {args.runs} runs, {len(mismatches)} disagreements."
    )
    text = "\n".join(lines)
    print()
    print(text)
    (WORK / "results.md").write_text(text + "\n")
    if mismatches:
        for m in mismatches[:10]:
            print("disagreement:", m)
        sys.exit(1)


if __name__ == "__main__":
    main()
