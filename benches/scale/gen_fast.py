#!/usr/bin/env python3
"""A faster, byte-identical port of ../shared/datasets/gen_inquiry.py for large logs.

The reference generator recounts every relationship's degree and every active actor on each
step, which makes a 10M-event log take well over an hour. This port keeps those counts
incrementally and makes exactly the same random draws in the same order, so for the same
arguments it writes the same bytes (`benches/scale/run.py --check-generator` compares the two
on a small log before a scale run trusts it).

    gen_fast.py --places 1000 --actors 500 --months 24 --events 10100000 --seed 3 > log.ndjson
"""
import argparse, json, random, sys
from datetime import datetime, timedelta, timezone

SECTORS = ["public", "vcse", "health", "community", "business", "academic", "faith"]
KINDS = ["organisation", "person", "group"]
REL_KINDS = ["collaboration", "information", "funding", "trust", "accountability"]
DOMAINS = ["agenda_setting", "budget", "service_design", "evaluation"]
THEMES = ["goals_paradigms_perspectives", "structures_actors_networks",
          "power_participation_relationships", "learning_journey", "roles_functions"]
ABSENT = ["disabled young adults", "people with mental health challenges", "social housing tenants",
          "faith communities", "young carers", "recent migrants", "older people living alone"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--places", type=int, default=10)
    ap.add_argument("--actors", type=int, default=100, help="actors per place")
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--events", type=int, default=50000, help="approximate total")
    ap.add_argument("--late", type=float, default=0.05, help="share recorded late")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--start", default="2023-01-01")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    t0 = datetime.fromisoformat(a.start).replace(tzinfo=timezone.utc)
    span = timedelta(days=30 * a.months)
    out = sys.stdout
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    seq = 0
    pending = []
    late = a.late
    random_ = rng.random

    def emit(ev):
        nonlocal seq
        seq += 1
        ev["id"] = "ev-%d" % seq
        line = dumps(ev)
        if random_() < late and ev["type"] not in ("place_registered", "actor_joined"):
            pending.append((seq + rng.randint(50, 5000), line))
        else:
            out.write(line + "\n")
        if pending and seq % 64 == 0:
            keep = []
            for rs, l in pending:
                (out.write(l + "\n") if rs <= seq else keep.append((rs, l)))
            pending[:] = keep

    def iso(t):
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    funders = ["funder-%d" % i for i in range(max(1, a.places // 10))]
    funder_set = set(funders)
    state = []
    for p in range(a.places):
        place = "place-%03d" % p
        emit({"type": "place_registered", "place": place, "occurred_at": iso(t0),
              "name": "Place %d" % p, "region": "region-%d" % (p % 9)})
        # acts: the active actors in join order (the reference's
        # `[x for x in actors if x not in left]`); deg: relationship count per actor.
        state.append({"place": place, "actors": [], "acts": [], "edges": {}, "deg": {}, "power": {}})
    for f in funders:
        for st in state:
            if random_() < 0.5:
                emit({"type": "actor_joined", "place": st["place"], "actor": f, "occurred_at": iso(t0),
                      "name": f.replace("-", " ").title(), "kind": "organisation", "sector": "funder",
                      "roles": ["funder"], "power": {"budget": 1.0}})
                st["actors"].append(f)
                st["acts"].append(f)
                st["power"][f] = {"budget": 1.0}
    steps = a.events
    n_places = a.places
    max_actors = a.actors
    for step in range(steps):
        st = state[rng.randrange(n_places)]
        place = st["place"]
        frac = step / steps
        t = t0 + span * frac
        r = random_()
        acts = st["acts"]
        edges = st["edges"]
        deg = st["deg"]
        if len(acts) < max_actors and (r < 0.08 or len(acts) < 3):
            n = len(st["actors"])
            actor = "%s-a%04d" % (place, n)
            kind = rng.choice(KINDS)
            ev = {"type": "actor_joined", "place": place, "actor": actor, "occurred_at": iso(t),
                  "name": "Actor %d of %s" % (n, place), "kind": kind, "sector": rng.choice(SECTORS)}
            if n == 0:
                ev["roles"] = ["learning_partner"]
            elif n == 1:
                ev["roles"] = ["associate"]
            if ev["sector"] in ("public", "health") and random_() < 0.5:
                ev["power"] = {d: round(rng.uniform(0.2, 1.0), 2) for d in rng.sample(DOMAINS, rng.randint(1, 3))}
            emit(ev)
            st["actors"].append(actor)
            acts.append(actor)
            st["power"][actor] = dict(ev.get("power", {}))
        elif r < 0.55 and len(acts) >= 2:
            w = [deg.get(x, 0) + 1 for x in acts]
            u = rng.choices(acts, weights=w)[0]
            v = rng.choice(acts)
            if u == v:
                continue
            k = rng.choice(REL_KINDS)
            key = (u, v, k)
            if key in edges:
                s = round(min(1.0, max(0.05, edges[key] + rng.uniform(-0.3, 0.3))), 2)
                edges[key] = s
                emit({"type": "relationship_changed", "place": place, "from": u, "to": v, "kind": k,
                      "strength": s, "occurred_at": iso(t)})
            else:
                s = round(rng.uniform(0.1, 0.9), 2)
                edges[key] = s
                deg[u] = deg.get(u, 0) + 1
                deg[v] = deg.get(v, 0) + 1
                emit({"type": "relationship_formed", "place": place, "from": u, "to": v, "kind": k,
                      "strength": s, "occurred_at": iso(t)})
        elif r < 0.70 and edges:
            key = rng.choice(list(edges))
            s = round(min(1.0, max(0.05, edges[key] + rng.uniform(-0.3, 0.3))), 2)
            edges[key] = s
            emit({"type": "relationship_changed", "place": place, "from": key[0], "to": key[1],
                  "kind": key[2], "strength": s, "occurred_at": iso(t)})
        elif r < 0.78 and edges:
            key = rng.choice(list(edges))
            del edges[key]
            deg[key[0]] -= 1
            deg[key[1]] -= 1
            emit({"type": "relationship_ended", "place": place, "from": key[0], "to": key[1],
                  "kind": key[2], "occurred_at": iso(t)})
        elif r < 0.86 and len(acts) >= 2:
            d = rng.choice(DOMAINS)
            power = st["power"]
            holders = [x for x in acts if power.get(x, {}).get(d, 0) > 0.01]
            if not holders:
                continue
            u = rng.choices(holders, weights=[power[x][d] for x in holders])[0]
            v = rng.choice(acts)
            if u == v:
                continue
            amt = round(power[u][d] * rng.uniform(0.05, 0.3), 3)
            if amt <= 0:
                continue
            power[u][d] -= amt
            power.setdefault(v, {})[d] = power.get(v, {}).get(d, 0) + amt
            emit({"type": "power_shifted", "place": place, "from": u, "to": v, "domain": d,
                  "amount": amt, "occurred_at": iso(t),
                  "tags": rng.sample(["power_dynamics", "delegated_power", "partnership", "consultation"], 1)})
        elif r < 0.92 and len(acts) >= 3:
            sid = "%s-s%d" % (place, step)
            parts = rng.sample(acts, min(len(acts), rng.randint(3, 12)))
            emit({"type": "session_held", "place": place, "session": sid, "occurred_at": iso(t),
                  "title": "Sensemaking session", "participants": parts,
                  "absent_voices": rng.sample(ABSENT, rng.randint(0, 2))})
        elif r < 0.97 and acts:
            emit({"type": "learning_recorded", "place": place, "occurred_at": iso(t),
                  "text": "Observation %d: relationships moving at the speed of trust" % step,
                  "themes": rng.sample(THEMES, rng.randint(1, 2)),
                  "actors": rng.sample(acts, min(len(acts), 2))})
        elif len(acts) > 5 and random_() < 0.3:
            x = rng.choice(acts)
            if x in funder_set:
                continue
            acts.remove(x)
            st["power"].pop(x, None)
            for key in [k for k in edges if x in k[:2]]:
                del edges[key]
                deg[key[0]] -= 1
                deg[key[1]] -= 1
            emit({"type": "actor_left", "place": place, "actor": x, "occurred_at": iso(t)})
    for _, l in sorted(pending):
        out.write(l + "\n")


if __name__ == "__main__":
    main()
