"""Every measure of docs/measures.md (and version 1's), computed independently with
networkx 3 from a snapshot's actors and relationships, compared with the engine's.

Usage: python3 measures.py CASES.json  (written by tests/networkx.rs). Exits 1 listing
every difference larger than 1e-9, 0 when all agree."""
import json
import sys

import networkx as nx

TOL = 1e-9


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def expected(case):
    actors = [a["id"] for a in case["actors"]]
    sector = {a["id"]: a["sector"] for a in case["actors"]}
    rels = case["relationships"]
    n = len(actors)
    U = nx.Graph()
    U.add_nodes_from(actors)
    D = nx.DiGraph()
    D.add_nodes_from(actors)
    kinds = {}
    for r in rels:
        U.add_edge(r["from"], r["to"])
        D.add_edge(r["from"], r["to"])
        kinds.setdefault(frozenset((r["from"], r["to"])), set()).add(r["kind"])
    m = {}
    m["actors"] = n
    m["relationships"] = len(rels)
    m["connected_actors"] = sum(1 for v in actors if U.degree(v) > 0)
    m["density"] = D.number_of_edges() / (n * (n - 1)) if n >= 2 else 0.0
    m["reciprocity"] = nx.overall_reciprocity(D) if D.number_of_edges() else 0.0
    m["components"] = sum(1 for c in nx.connected_components(U) if len(c) > 1)
    degrees = dict(U.degree())
    m["max_degree"] = max(degrees.values(), default=0)
    m["trust_mean"] = mean([r["trust"] for r in rels if r["trust"] is not None])
    m["value_mean"] = mean([r["value"] for r in rels if r["value"] is not None])
    m["degree_centralization"] = (
        sum(m["max_degree"] - d for d in degrees.values()) / ((n - 1) * (n - 2)) if n >= 3 else 0.0
    )
    m["transitivity"] = nx.transitivity(U)
    lengths = [d for u, row in nx.all_pairs_shortest_path_length(U) for v, d in row.items() if u < v]
    m["average_path_length"] = sum(lengths) / len(lengths) if lengths else 0.0
    m["diameter"] = max(lengths, default=0)
    e = i = 0
    for u, v in U.edges():
        if sector[u] is not None and sector[v] is not None:
            if sector[u] == sector[v]:
                i += 1
            else:
                e += 1
    m["ei_index"] = (e - i) / (e + i) if e + i else None
    m["multiplexity"] = (
        sum(1 for u, v in U.edges() if len(kinds[frozenset((u, v))]) >= 2) / U.number_of_edges()
        if U.number_of_edges()
        else 0.0
    )
    # Communities: the engine's own partition, scored by networkx, and held to 0.95 of
    # networkx's greedy partition.
    connected = [v for v in actors if U.degree(v) > 0]
    C = U.subgraph(connected)
    engine = {a["id"]: a["community"] for a in case["actors"]}
    if C.number_of_edges():
        groups = {}
        for v in connected:
            groups.setdefault(engine[v], set()).add(v)
        m["modularity"] = nx.community.modularity(C, list(groups.values()), resolution=1)
        m["communities"] = len(groups)
        greedy = nx.community.modularity(C, nx.community.greedy_modularity_communities(C), resolution=1)
        m["greedy_modularity"] = greedy
        # Numbered from 0 in order of each community's smallest actor id.
        firsts = sorted((min(g), c) for c, g in groups.items())
        m["numbering"] = [c for _, c in firsts] == list(range(len(groups)))
    else:
        m["modularity"] = 0.0
        m["communities"] = 0
        m["greedy_modularity"] = 0.0
        m["numbering"] = all(engine[v] is None for v in actors)
    per = {}
    harmonic = nx.harmonic_centrality(U)
    cores = nx.core_number(U)
    between = nx.betweenness_centrality(U, normalized=True)
    for v in actors:
        per[v] = {
            "degree": degrees[v],
            "closeness": harmonic[v] / (n - 1) if n >= 2 else 0.0,
            "core_number": cores[v],
            "betweenness": between[v],
            "trust_in": mean([r["trust"] for r in rels if r["to"] == v and r["trust"] is not None]),
            "trust_out": mean([r["trust"] for r in rels if r["from"] == v and r["trust"] is not None]),
            "value_in": mean([r["value"] for r in rels if r["to"] == v and r["value"] is not None]),
            "value_out": mean([r["value"] for r in rels if r["from"] == v and r["value"] is not None]),
        }
    return m, per


def actors_without_community(case):
    ends = {r["from"] for r in case["relationships"]} | {r["to"] for r in case["relationships"]}
    return [a["id"] for a in case["actors"] if (a["community"] is None) == (a["id"] in ends)]


def differs(want, got):
    if want is None or got is None:
        return want is not got
    return abs(want - got) > TOL


def main():
    cases = json.load(open(sys.argv[1]))
    problems = []
    for case in cases:
        want, want_per = expected(case)
        if want.pop("numbering") is not True:
            problems.append(f"{case['name']}: communities are not numbered by their smallest actor")
        greedy = want.pop("greedy_modularity")
        if case["metrics"]["modularity"] < 0.95 * greedy - TOL:
            problems.append(f"{case['name']}: modularity {case['metrics']['modularity']} is below 0.95 x greedy {greedy}")
        for v in actors_without_community(case):
            problems.append(f"{case['name']}: actor {v} has edges and no community, or none and one")
        for k, w in want.items():
            if differs(w, case["metrics"][k]):
                problems.append(f"{case['name']}: {k}: networkx {w}, engine {case['metrics'][k]}")
        for a in case["actors"]:
            for k, w in want_per[a["id"]].items():
                if differs(w, a[k]):
                    problems.append(f"{case['name']}: actor {a['id']}: {k}: networkx {w}, engine {a[k]}")
    for p in problems[:50]:
        print(p)
    print(f"{len(cases)} networks, {len(problems)} differences (networkx {nx.__version__})")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
