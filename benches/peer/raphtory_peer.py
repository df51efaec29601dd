"""Raphtory's side of the peer comparison, written from the interchange format's rules
(spec/event-format.md), not from shiftlog's code.

Reads an NDJSON inquiry log, folds each place's events in (occurred_at, line) order with
the spec's rules for actors and relationships, replays the resulting edge additions and
deletions into one Raphtory PersistentGraph per place (one layer per relationship kind),
and answers, at every month end from each place's first to its last event: relationships
(active (from, to, kind) triples), connected actors (actors with an active relationship),
weakly connected components among them, and max degree (most distinct neighbours).

    python raphtory_peer.py --input LOG.ndjson --out raphtory.json
"""

import argparse
import json
import time
from collections import defaultdict
from datetime import datetime, timezone

import raphtory
from raphtory import algorithms


def millis(ts: str) -> int:
    """RFC 3339 or YYYY-MM-DD (midnight UTC) to Unix milliseconds."""
    if len(ts) == 10:
        ts += "T00:00:00Z"
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def month_ends(first_ms: int, last_ms: int):
    """The last millisecond of every month from first's month to last's month."""
    d = datetime.fromtimestamp(first_ms / 1000, tz=timezone.utc)
    y, m = d.year, d.month
    last = datetime.fromtimestamp(last_ms / 1000, tz=timezone.utc)
    out = []
    while (y, m) <= (last.year, last.month):
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        end = int(datetime(ny, nm, 1, tzinfo=timezone.utc).timestamp() * 1000) - 1
        out.append((f"{y:04d}-{m:02d}", end))
        y, m = ny, nm
    return out


def load(path):
    """Each place's events in fold order, retracted events and retractions removed."""
    events = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                events.append((line_no, json.loads(line)))
    retracted = {e["target"] for _, e in events if e["type"] == "event_retracted"}
    by_place = defaultdict(list)
    for line_no, e in events:
        if e["type"] in ("event_retracted", "actor_redacted") or e.get("id") in retracted:
            continue
        by_place[e["place"]].append((millis(e["occurred_at"]), line_no, e))
    for evs in by_place.values():
        evs.sort(key=lambda t: (t[0], t[1]))
    return by_place


def replay(evs):
    """The spec's fold, reduced to what the network needs: the edge additions and deletions
    (time, op, from, to, kind) it implies, in order."""
    active = set()
    rels = set()  # (from, to, kind)
    ops = []
    for t, _, e in evs:
        typ = e["type"]
        if typ == "actor_joined":
            active.add(e["actor"])
        elif typ == "actor_left":
            a = e["actor"]
            if a in active:
                active.discard(a)
                for r in sorted(r for r in rels if r[0] == a or r[1] == a):
                    rels.discard(r)
                    ops.append((t, "del", *r))
        elif typ in ("relationship_formed", "relationship_changed", "relationship_ended"):
            r = (e["from"], e["to"], e["kind"])
            if r[0] not in active or r[1] not in active:
                continue  # names an actor not active: does nothing
            if typ == "relationship_formed" and r not in rels:
                rels.add(r)
                ops.append((t, "add", *r))
            elif typ == "relationship_ended" and r in rels:
                rels.discard(r)
                ops.append((t, "del", *r))
    return ops


def component_id(state):
    """A node's component, whether the algorithm's result gives a number or a record."""
    return state["component_id"] if isinstance(state, dict) else state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    t0 = time.perf_counter()
    by_place = load(args.input)
    graphs, spans = {}, {}
    for place, evs in by_place.items():
        g = raphtory.PersistentGraph()
        for t, op, a, b, kind in replay(evs):
            if op == "add":
                g.add_edge(t, a, b, layer=kind)
            else:
                g.delete_edge(t, a, b, layer=kind)
        graphs[place] = g
        spans[place] = (evs[0][0], evs[-1][0])
    replay_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    answers = {}
    for place, g in sorted(graphs.items()):
        rows = []
        for label, end in month_ends(*spans[place]):
            # The persistent graph at an instant: the edges alive then.
            v = g.at(end)
            relationships = sum(1 for _ in v.edges.explode_layers())
            degrees = [d for d in v.nodes.degree() if d > 0]
            connected = len(degrees)
            if connected:
                comps = algorithms.weakly_connected_components(v)
                components = len({component_id(comps[n]) for n in v.nodes if n.degree() > 0})
            else:
                components = 0
            rows.append([label, relationships, connected, components, max(degrees, default=0)])
        answers[place] = rows
    answer_s = time.perf_counter() - t0

    with open(args.out, "w") as f:
        json.dump(
            {
                "raphtory": raphtory.__version__,
                "replay_s": replay_s,
                "evolve_s": answer_s,
                "snapshots": sum(len(r) for r in answers.values()),
                "answers": answers,
            },
            f,
        )
    print(
        f"raphtory {raphtory.__version__}: replay into PersistentGraphs {replay_s:.2f} s; "
        f"{sum(len(r) for r in answers.values())} month-end answers {answer_s:.2f} s"
    )


if __name__ == "__main__":
    main()
