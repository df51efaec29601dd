#!/usr/bin/env python3
"""Scale: shiftlog on a large log, each step a separate `shiftlog` process, with its wall
time and peak memory (RSS).

    python3 benches/scale/run.py                                   # ~10M events: 1,000 places x 500 actors, 24 months
    python3 benches/scale/run.py --places 100 --events 1000000     # smaller
    python3 benches/scale/run.py --input LOG.ndjson

Steps: bulk append (`append --batch 100000`, which prepares every place's derived data
after writing), the first comparison of every place after it and a second one, store size
on disk, opening the store (a command that opens it and reads one event), one snapshot at
a late date (first, then again), snapshots with the store already open
(`shiftlog serve`, random places and late dates, over loopback HTTP), the month-end
evolution of one place and of every place, and the report on every place (`--skip-report`
leaves it out). Targets (issues 8 and 20): open < 1 s, snapshot < 50 ms, the first
comparison after the append < 10 s, peak RSS < 2 GiB at every step, store within 3x the
NDJSON. Results go to stdout and target/scale/results.md.
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


def served_snapshots(exe, store: Path, places: int, n: int = 30):
    """Snapshot times with the store already open: `shiftlog serve`, then n random places at
    random late dates, each asked twice (the first builds the place's checkpoints)."""
    import random
    import statistics
    import urllib.request
    server = subprocess.Popen([exe, "--data-dir", str(store), "serve", "--open", "--addr", "127.0.0.1:0"],
                              stderr=subprocess.PIPE, text=True)
    try:
        addr = server.stderr.readline().split("http://")[1].split()[0]
        rng = random.Random(7)
        first, again = [], []
        for _ in range(n):
            p = "place-%03d" % rng.randrange(places)
            at = "2024-%02d-%02dT12:00:00Z" % (rng.randint(7, 12), rng.randint(1, 28))
            for times in (first, again):
                start = time.perf_counter()
                with urllib.request.urlopen(f"http://{addr}/v1/places/{p}/snapshot?at={at}") as r:
                    r.read()
                times.append(time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait()

    def summary(ts):
        ts = sorted(ts)
        return f"median {statistics.median(ts) * 1e3:.1f} ms, p90 {ts[int(len(ts) * 0.9)] * 1e3:.1f} ms, max {ts[-1] * 1e3:.1f} ms"
    return [
        (f"one snapshot, store open (`serve`), {n} random places at late dates: first ask", summary(first), None),
        ("the same snapshots asked again", summary(again), None),
    ]


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--places", type=int, default=1000)
    ap.add_argument("--actors", type=int, default=500)
    ap.add_argument("--months", type=int, default=24)
    # The generator's --events counts steps; at 1,000 places x 500 actors about 99% of
    # them make an event (measured: 11.85M events from the first 74% of 16.2M steps), so
    # 10.1M steps give about 10M events.
    ap.add_argument("--events", type=int, default=10_100_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--input")
    ap.add_argument("--exe", help="a shiftlog binary to measure (default: build this checkout's release)")
    ap.add_argument("--place", default=None, help="the place for single-place steps (default: the middle one)")
    ap.add_argument("--reuse-store", action="store_true",
                    help="measure the store left by an earlier run (skips the append and its checkpoints' cold start)")
    ap.add_argument("--skip-report", action="store_true", help="leave out the report on every place (the longest step)")
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
    d = ["--data-dir", str(store)]
    place = args.place or "place-%03d" % (args.places // 2)

    rows = []
    with open(log, "rb") as f:
        events = sum(1 for _ in f)
    if not args.reuse_store:
        shutil.rmtree(store, ignore_errors=True)
        secs, rss = run([exe, *d, "append", "--batch", "100000", str(log)])
        rows.append(("bulk append (`append --batch 100000`)", f"{secs:.0f} s = {events / secs:,.0f} events/s", rss))
    # What a funder opens first after an import: every place compared at one date. The
    # append prepared every place's derived data, so the first costs what the second does.
    for label in ("first, just after the append", "again"):
        secs, rss = run([exe, *d, "compare", "--at", "2024-06-30"])
        rows.append((f"`compare --at 2024-06-30`, every place ({label}; process included)", f"{secs:.2f} s", rss))
    ndjson, stored = log.stat().st_size, size_of(store)
    rows.append(("store size on disk", f"{stored / 1e9:.2f} GB = {stored / ndjson:.2f}x the NDJSON ({ndjson / 1e9:.2f} GB)", None))
    for label in ("first", "again"):
        secs, rss = run([exe, *d, "log", "--limit", "1"])
        rows.append((f"open the store and read one event ({label}; process included)", f"{secs * 1e3:.0f} ms", rss))
    for label in ("first", "again"):
        secs, rss = run([exe, *d, "snapshot", "--place", place, "--at", "2024-12-01"])
        rows.append((f"one snapshot at a late date ({label})", f"{secs * 1e3:.0f} ms (process included)", rss))
    rows.extend(served_snapshots(exe, store, args.places))
    secs, rss = run([exe, *d, "evolve", "--every", "month", "--place", place])
    rows.append(("month-end evolution of one place", f"{secs:.2f} s", rss))
    secs, rss = run([exe, *d, "evolve", "--every", "month"])
    rows.append(("month-end evolution of every place", f"{secs:.1f} s", rss))
    if not args.skip_report:
        report = WORK / "report"
        shutil.rmtree(report, ignore_errors=True)
        secs, rss = run([exe, *d, "report", "--out", str(report)])
        pages = list(report.rglob("*.html"))
        largest = max(f.stat().st_size for f in pages)
        rows.append(("the report on every place (`report --out DIR`: a folder)",
                     f"{secs:.0f} s; {size_of(report) / 2**20:,.0f} MiB in {len(pages):,} pages, the overview "
                     f"{(report / 'index.html').stat().st_size / 2**20:.1f} MiB, the largest page {largest / 2**20:.1f} MiB", rss))

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
