#!/usr/bin/env python3
"""Import of a large survey wave: a 10,000-row relationships sheet over 2,000 actors (CSV),
into a fresh store, then a second wave changing a tenth of it, then the same wave again.
Each step is one `shiftlog` process (opening the store included); wall times are printed.

    python3 benches/import/survey.py [--rows 10000] [--actors 2000] [--exe target/release/shiftlog]
"""
import argparse, random, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["collaboration", "information", "funding", "trust", "accountability"]


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    secs = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out}{err}")
    return secs, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--actors", type=int, default=2_000)
    ap.add_argument("--exe")
    args = ap.parse_args()
    exe = args.exe
    if not exe:
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "shiftlog-cli"], cwd=ROOT, check=True)
        exe = str(ROOT / "target" / "release" / "shiftlog")
    rng = random.Random(5)
    work = Path(tempfile.mkdtemp(prefix="shiftlog-import-bench-"))
    actors = work / "actors.csv"
    with open(actors, "w") as f:
        f.write("id,name,kind,sector\n")
        for a in range(args.actors):
            f.write(f"a{a},Actor {a},organisation,vcse\n")
    rows = {}
    while len(rows) < args.rows:
        a, b = rng.randrange(args.actors), rng.randrange(args.actors)
        if a != b:
            rows[(a, b, rng.choice(KINDS))] = (rng.randint(1, 10) / 10, rng.randint(1, 10) / 10)

    def wave(path, rows):
        with open(path, "w") as f:
            f.write("from,to,kind,strength,trust\n")
            for (a, b, k), (s, t) in rows.items():
                f.write(f"a{a},a{b},{k},{s},{t}\n")
    wave(work / "wave-1.csv", rows)
    changed = dict(rows)
    for key in rng.sample(sorted(changed), len(changed) // 10):
        changed[key] = (changed[key][0], round(1.0 - changed[key][1] + 0.05, 2) if changed[key][1] < 0.9 else 0.5)
    wave(work / "wave-2.csv", changed)
    store = work / "store"
    place = work / "place.ndjson"
    place.write_text('{"type":"place_registered","id":"p0","occurred_at":"2024-01-01","place":"p","name":"P"}\n')
    run([exe, "--data-dir", str(store), "append", str(place)])
    d = [exe, "--data-dir", str(store), "import", "survey", "--place", "p"]
    steps = [
        ("wave 1, dry run", [*d, "--wave", "2024-03-31", "--actors", str(actors), "--dry-run", str(work / "wave-1.csv")]),
        ("wave 1 (every actor joins, every relationship forms)", [*d, "--wave", "2024-03-31", "--actors", str(actors), str(work / "wave-1.csv")]),
        ("wave 2 (a tenth of the trust scores changed)", [*d, "--wave", "2024-09-30", str(work / "wave-2.csv")]),
        ("wave 2 again (nothing to record)", [*d, "--wave", "2024-09-30", str(work / "wave-2.csv")]),
    ]
    print(f"Survey import: {args.rows:,} relationship rows over {args.actors:,} actors (CSV)\n")
    print("| step | wall time | said |\n|---|---|---|")
    for name, cmd in steps:
        secs, out = run(cmd)
        first = out.splitlines()[0] if out else ""
        said = first.split(": ", 1)[-1] if "wave of" in first else first
        print(f"| {name} | {secs:.2f} s | {said} |")


if __name__ == "__main__":
    main()
