"""Pick retrieval defaults by measurement: a small grid over fusion and time-prior settings on an
existing qa index, tuned on some months and checked on the others (held out).

    python bench/tune_retrieval.py --index .bench-cache/qa-index \
        --dataset ../shared/data/realtimeqa-2023h1 --tune-months 2023-01,2023-02,2023-03
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.evaluate import first_hit, load_questions  # noqa: E402

GRID = {
    "lexical_weight": [0.0, 0.7, 1.0, 1.5],
    "recency_boost": [0.0, 0.3, 0.8],
    "window_boost": [0.0, 0.5],
    "rrf_k": [20, 60],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--dataset", type=Path, default=Path("../shared/data/realtimeqa-2023h1"))
    ap.add_argument("--tune-months", default="2023-01,2023-02,2023-03")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--grid", type=json.loads, default=None, help='JSON {"setting": [values, ...]} instead of the default grid')
    args = ap.parse_args()
    grid = args.grid or GRID

    from qa.assistant import Assistant
    from qa.settings import Settings

    questions = load_questions(args.dataset / "questions.jsonl")
    tune = set(args.tune_months.split(","))
    bot = Assistant(Settings(index=args.index))
    bot.search("warm up", 5)
    from functools import lru_cache

    from qa.embeddings import Encoder

    Encoder.encode_query = lru_cache(maxsize=4096)(Encoder.encode_query)  # same questions every config
    rows = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        cfg = dict(zip(keys, values))
        if cfg.get("lexical_weight") == 0 and cfg.get("rrf_k", 60) != 60:
            continue
        for k, v in cfg.items():
            setattr(bot.settings, k, v)
        hit = {"tune": [], "held": []}
        t0 = time.perf_counter()
        for q in questions:
            texts = [p.text for p in bot.search(q.question, args.k, as_of=q.asked_on)]
            hit["tune" if q.month in tune else "held"].append(first_hit(q.answer, texts) is not None)
        row = {**cfg, **{f"R@{args.k} {part}": round(sum(v) / max(len(v), 1), 4) for part, v in hit.items()},
               "ms/query": round(1000 * (time.perf_counter() - t0) / len(questions), 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    best = max(rows, key=lambda r: r[f"R@{args.k} tune"])
    print("\nbest on the tuning months:", json.dumps(best))


if __name__ == "__main__":
    main()
