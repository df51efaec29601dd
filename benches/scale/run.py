#!/usr/bin/env python3
"""Scale: shiftlog on a large log, each step a separate `shiftlog` process, with its wall
time and peak memory (RSS).

    python3 benches/scale/run.py                                   # ~10M events: 1,000 places x 500 actors, 24 months
    python3 benches/scale/run.py --places 100 --events 1000000     # smaller
    python3 benches/scale/run.py --input LOG.ndjson

Steps: bulk append (`append --batch 100000`), store size on disk, opening the store (a
command that opens it and reads one event), one snapshot at a late date (cold: the place's
checkpoints are built on first use; then warm), the month-end evolution of one place and of
every place. Targets (issue 8): open < 1 s, snapshot < 50 ms, peak RSS < 2 GiB, store
within 3x the NDJSON. Results go to stdout and target/scale/results.md.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "target" / "scale"


def run(cmd, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (seconds, peak RSS in bytes)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}")
    return secs, usage.ru_maxrss * 1024


def check_generator(fast: Path):
    """Fails unless gen_fast.py writes exactly what the reference generator writes."""
    ref = ROOT.parent / "shared" / "datasets" / "gen_inquiry.py"
    if not ref.exists():
        sys.exit(f"the reference generator {ref} is missing; pass --input")
    args = ["--places", "7", "--actors", "60", "--events", "40000", "--seed", "11"]
    a = subprocess.run([sys.executable, str(ref), *args], capture_output=True, check=True).stdout
    b = subprocess.run([sys.executable, str(fast), *args], capture_output=True, check=True).stdout
    if a != b:
        sys.exit("gen_fast.py no longer matches gen_inquiry.py byte for byte")


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--places", type=int, default=1000)
    ap.add_argument("--actors", type=int, default=500)
    ap.add_argument("--months", type=int, default=24)
    # The generator's --events counts steps; about 62% of them make an event at 500 actors
    # per place, so 16.2M steps give about 10M events.
    ap.add_argument("--events", type=int, default=16_200_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--input")
    ap.add_argument("--exe", help="a shiftlog binary to measure (default: build this checkout's release)")
    ap.add_argument("--place", default=None, help="the place for single-place steps (default: the middle one)")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.input:
        log = Path(args.input).resolve()
    else:
        log = WORK / f"inquiry-{args.places}-{args.actors}-{args.months}-{args.events}-{args.seed}.ndjson"
        if not log.exists():
            # The project's byte-identical port of gen_inquiry.py (the reference takes
            # over an hour for 10M events); checked against the reference first.
            gen = ROOT / "benches" / "scale" / "gen_fast.py"
            check_generator(gen)
            tmp = log.with_suffix(".partial")
            with open(tmp, "w") as out:
                subprocess.run([sys.executable, str(gen), "--places", str(args.places), "--actors", str(args.actors),
                                "--months", str(args.months), "--events", str(args.events), "--seed", str(args.seed)],
                               stdout=out, check=True)
            tmp.rename(log)
    if args.exe:
        exe = args.exe
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "shiftlog-cli"], cwd=ROOT, check=True)
        exe = str(ROOT / "target" / "release" / "shiftlog")
    store = WORK / "store"
    shutil.rmtree(store, ignore_errors=True)
    d = ["--data-dir", str(store)]
    place = args.place or "place-%03d" % (args.places // 2)

    rows = []
    secs, rss = run([exe, *d, "append", "--batch", "100000", str(log)])
    with open(log, "rb") as f:
        events = sum(1 for _ in f)
    rows.append(("bulk append (`append --batch 100000`)", f"{secs:.0f} s = {events / secs:,.0f} events/s", rss))
    ndjson, stored = log.stat().st_size, size_of(store)
    rows.append(("store size on disk", f"{stored / 1e9:.2f} GB = {stored / ndjson:.2f}x the NDJSON ({ndjson / 1e9:.2f} GB)", None))
    secs, rss = run([exe, *d, "log", "--limit", "1"])
    rows.append(("open the store and read one event", f"{secs * 1e3:.0f} ms", rss))
    for label in ("cold: builds the place's checkpoints", "warm"):
        secs, rss = run([exe, *d, "snapshot", "--place", place, "--at", "2024-12-01"])
        rows.append((f"one snapshot at a late date ({label})", f"{secs * 1e3:.0f} ms (process included)", rss))
    secs, rss = run([exe, *d, "evolve", "--every", "month", "--place", place])
    rows.append(("month-end evolution of one place", f"{secs:.2f} s", rss))
    secs, rss = run([exe, *d, "evolve", "--every", "month"])
    rows.append(("month-end evolution of every place", f"{secs:.1f} s", rss))

    stats = json.loads(subprocess.run([exe, *d, "stats", "--json"], capture_output=True, check=True).stdout)
    lines = [f"Scale: {events:,} events, {stats['places']:,} places, {stats['actors']:,} actor memberships "
             f"({log.name}); single-place steps on {place}.", "",
             "| step | result | peak RSS |", "|---|---|---|"]
    for name, result, rss in rows:
        lines.append(f"| {name} | {result} | {'' if rss is None else f'{rss / 2**20:,.0f} MiB'} |")
    text = "\n".join(lines)
    print(text)
    (WORK / "results.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
