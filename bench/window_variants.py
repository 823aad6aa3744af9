"""Window ranking variants for issue #17, re-scored offline from one dump of candidate pools.

  # every question's whole-index and in-window candidates (100 per list), with their ranks
  python bench/window_variants.py dump --index IDX --out pools.json [--dataset …] [--months 2023-01,…]
  # R@1, R@5 and "top result in the window" per variant (January–March; --held adds April–June)
  python bench/window_variants.py score pools.json [--held]

Re-scoring reproduces `Retriever.search`'s fusion (reciprocal ranks of the lexical and dense lists,
the in-window lists at a weight, the time prior, the window's best first when relevant enough,
the per-article cap),
so a variant costs a second instead of a run. Choose on January–March only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

N = 100  # candidates per list in the dump (defaults use 50)


def dump(args: argparse.Namespace) -> None:
    from qa.assistant import Assistant
    from qa.evaluate import first_hit
    from qa.index.filters import SearchFilters
    from qa.retrieve import Retriever, in_window, retrieval_query, time_prior, window_filters
    from qa.settings import Settings
    from qa.temporal import question_time

    months = set(args.months.split(",")) if args.months else None
    questions = [json.loads(x) for x in (Path(args.dataset) / "questions.jsonl").read_text().splitlines() if x.strip()]
    bot = Assistant(Settings(index=Path(args.index)))
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    with bot.reading() as reader:
        retriever = Retriever(reader, bot.settings)
        dense, lexical = reader.dense, reader.lexical
        for q in questions:
            asked = date.fromisoformat(q["asked_on"].replace("/", "-"))
            if months and asked.strftime("%Y-%m") not in months:
                continue
            qtime = question_time(q["question"], asked)
            filters = SearchFilters(as_of=asked)
            text = retrieval_query(q["question"], qtime)
            vector = retriever.encoder.encode_query(text)
            pools = [("", filters)]
            window = qtime.evidence
            if window is not None:
                pools.append(("window ", window_filters(filters, window.published_from, window.published_to)))
            sims = dense.similarities(vector)
            lists = []
            for kind, pool in pools:
                lists.append((kind + "lexical", 1.0, lexical.search(text, N, pool)))
                lists.append((kind + "dense", 1.0, dense.top(sims, N, dense.mask(pool))))
            cands = retriever._fetch(vector, sims, lists, {})
            ranks: dict[str, dict[str, int]] = defaultdict(dict)
            for kind, _, hits in lists:
                for rank, (cid, _) in enumerate(hits, 1):
                    ranks[cid][kind] = rank
            no_window = replace(qtime, evidence=None)
            rows.append({
                "asked_on": asked.isoformat(), "window": window is not None,
                "from": window.published_from.toordinal() if window else None,
                "to": window.published_to.toordinal() if window else None,
                "cands": [{"doc": c.record.doc_id, "ranks": ranks[cid], "in": bool(in_window(c.record, qtime)),
                           "similarity": c.similarity,
                           "day": c.record.published_day, "recency": time_prior(c.record, no_window, bot.settings),
                           "hit": first_hit(q["answer"], [c.text]) is not None} for cid, c in cands.items()],
            })
            print(f"\r{len(rows)} questions", end="", file=sys.stderr)
    Path(args.out).write_text(json.dumps(rows))
    print(f"\r{len(rows)} questions in {time.time() - t0:.0f} s → {args.out}", file=sys.stderr)


def rescore(rows: list[dict[str, Any]], *, pool_weight: float = 0.5, boost: float = 0.0, lead: int = 1,
            floor: float = 0.30, rrf_k: int = 60, cap: int = 3, candidates: int = 50) -> dict[str, tuple[float, float, float]]:
    """(R@1, R@5, cued top result in the window) per part under one variant."""
    t: dict[str, float] = defaultdict(float)
    for q in rows:
        scored = []
        for c in q["cands"]:
            ranks = {kind: r for kind, r in c["ranks"].items() if r <= candidates}
            if not ranks:
                continue
            fused = sum((pool_weight if kind.startswith("window") else 1.0) / (rrf_k + r) for kind, r in ranks.items())
            scored.append((fused * c["recency"] * (1 + boost if q["window"] and c["in"] else 1), c))
        scored.sort(key=lambda pair: -pair[0])
        if lead and q["window"]:
            first = [pair for pair in scored if pair[1]["in"] and pair[1]["similarity"] >= floor][:lead]
            scored = first + [pair for pair in scored if pair not in first]
        seen: dict[str, int] = defaultdict(int)
        top: list[dict[str, Any]] = []
        for _, c in scored:
            if seen[c["doc"]] < cap:
                seen[c["doc"]] += 1
                top.append(c)
            if len(top) == 5:
                break
        part = "tune" if q["asked_on"][5:7] <= "03" else "held"
        t[part + " n"] += 1
        t[part + " r1"] += bool(top) and top[0]["hit"]
        t[part + " r5"] += any(c["hit"] for c in top)
        if q["window"]:
            t[part + " cued"] += 1
            t[part + " top in"] += bool(top) and q["from"] <= top[0]["day"] <= q["to"]
    return {p: (t[p + " r1"] / t[p + " n"], t[p + " r5"] / t[p + " n"], t[p + " top in"] / max(t[p + " cued"], 1))
            for p in ("tune", "held") if t[p + " n"]}


VARIANTS = {
    "no window candidates, boost 0.5 (the pre-#17 rule)": dict(pool_weight=0.0, boost=0.5, lead=0),
    "window candidates at weight 0.5, boost 0.5 (previous default)": dict(pool_weight=0.5, boost=0.5, lead=0),
    "window candidates at weight 0.5, boost 0": dict(pool_weight=0.5, boost=0.0, lead=0),
    "weight 1.0, boost 0, window's best first": dict(pool_weight=1.0, boost=0.0, lead=1),
    "weight 0.25, boost 0, window's best first": dict(pool_weight=0.25, boost=0.0, lead=1),
    "weight 0.5, boost 0, window's best first, any similarity": dict(pool_weight=0.5, boost=0.0, lead=1, floor=-1.0),
    "weight 0.5, boost 0, window's best first if similarity ≥ 0.30 (default)": dict(pool_weight=0.5, boost=0.0, lead=1),
    "same, similarity ≥ 0.35": dict(pool_weight=0.5, boost=0.0, lead=1, floor=0.35),
    "same, the window's best two first": dict(pool_weight=0.5, boost=0.0, lead=2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--index", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--dataset", default="../shared/data/realtimeqa-2023h1")
    d.add_argument("--months", default="")
    s = sub.add_parser("score")
    s.add_argument("pools")
    s.add_argument("--held", action="store_true", help="also April–June (report only, never choose on it)")
    args = parser.parse_args()
    if args.step == "dump":
        dump(args)
        return
    rows = json.loads(Path(args.pools).read_text())
    for name, variant in VARIANTS.items():
        res = rescore(rows, **variant)
        parts = ("tune", "held") if args.held else ("tune",)
        print(f"{name:75}", "  ".join(f"{p}: R@1 {res[p][0]:.3f} R@5 {res[p][1]:.3f} top in window {res[p][2]:.3f}"
                                      for p in parts if p in res))


if __name__ == "__main__":
    main()
