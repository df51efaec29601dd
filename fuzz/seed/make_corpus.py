#!/usr/bin/env python3
"""Writes the seed corpus of the `event_json` fuzz target from the conformance file and a
small generated inquiry log (every event type), one NDJSON file per seed. Run from the
repository root; `fuzz/seed/main.rs` then encodes the seeds as records for
`record_decode`."""
import json, subprocess, sys, hashlib
from pathlib import Path

root = Path(__file__).resolve().parents[2]
out = root / "fuzz" / "corpus" / "event_json"
out.mkdir(parents=True, exist_ok=True)
seeds = []
conf = json.loads((root / "tests" / "data" / "conformance.json").read_text())
for case in conf["cases"]:
    seeds.append("".join(json.dumps(e) + "\n" for e in case["log"]))
for rej in conf["rejections"]:
    seeds.append("".join(json.dumps(e) + "\n" for e in rej["accepted_first"] + rej["input"]))
    seeds.append(json.dumps(rej["input"]))  # the JSON array form
gen = root.parent / "shared" / "datasets" / "gen_inquiry.py"
lines = subprocess.run([sys.executable, str(gen), "--places", "1", "--actors", "8", "--events", "400", "--seed", "5"],
                       capture_output=True, text=True, check=True).stdout.splitlines()
by_type = {}
for line in lines:
    by_type.setdefault(json.loads(line)["type"], []).append(line)
for t, ls in sorted(by_type.items()):
    seeds.extend(l + "\n" for l in ls[:3])
for s in seeds:
    (out / hashlib.sha1(s.encode()).hexdigest()).write_text(s)
print(f"{len(seeds)} seeds in {out}")
