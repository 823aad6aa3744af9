"""Which sentences the extractive answer quotes (issue #13: the sentence answer's containment).

The answer quotes up to three sentences of the passages retrieved for a question; the gold answer
is in the top 5 passages for about half of the development questions but in the quoted sentences
for a third. This dumps, for every question, each candidate sentence with the signals the scorer
reads and whether it holds the gold answer, so that scorers can be compared offline:

  python bench/sentence_select.py dump --index DEV_INDEX --dataset ../shared/data/realtimeqa-2023h1 --out s.json
  python bench/sentence_select.py score --dump s.json         # today's scorer vs the oracle, per part

Parts: tune = January–March (the only months settings may be chosen on), held = April–June.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any


def dump(args: argparse.Namespace) -> None:
    import numpy as np

    from qa.answer.extractive import (
        _ASKS_ENTITY,
        _answer_type_fit,
        _lexical,
        answer_type,
        candidates,
        choose,
        is_relevant,
        novelty,
        score_candidates,
    )
    from qa.assistant import Assistant
    from qa.evaluate import first_hit
    from qa.retrieve import Retriever
    from qa.settings import Settings
    from qa.temporal import question_time
    from qa.text import as_question, content_words

    months = set(args.months.split(",")) if args.months else None
    questions = [json.loads(x) for x in (Path(args.dataset) / "questions.jsonl").read_text().splitlines() if x.strip()]
    bot = Assistant(Settings(index=Path(args.index)))
    s = bot.settings
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    with bot.reading() as reader:
        retriever = Retriever(reader, s)
        for q in questions:
            asked = date.fromisoformat(q["asked_on"].replace("/", "-"))
            if months and asked.strftime("%Y-%m") not in months:
                continue
            question = as_question(q["question"])
            qtime = question_time(question, asked)
            from qa.assistant import _with_as_of

            passages, qvec = retriever.for_answer(question, s.k, _with_as_of(None, asked), qtime)
            relevant = is_relevant(question, passages, s.min_relevance)
            cands = candidates(relevant)
            window = qtime.evidence
            inside = [window is None or window.admits_sentence(c.passage.published_at, c.mentions) for c in cands]
            if cands:
                vecs = retriever.encoder.encode([c.text for c in cands])
                sims = vecs @ qvec
            else:
                sims = np.zeros(0)
            # today's choice, as extractive_answer makes it (first pass, shortlist, re-score)
            chosen_keys: list[tuple[str, int]] = []
            pool = [c for c, ok in zip(cands, inside) if ok]
            if pool:
                if len(pool) > s.answer_shortlist:
                    score_candidates(question, qvec, pool, None, qtime)
                    pool = sorted(pool, key=lambda c: c.score, reverse=True)[: s.answer_shortlist]
                idx = {id(c): i for i, c in enumerate(cands)}
                score_candidates(question, qvec, pool, np.stack([vecs[idx[id(c)]] for c in pool]), qtime)
                chosen_keys = [(c.passage.doc_id, c.start) for c in choose(pool, qtime, s.answer_sentences)]
            terms = set(content_words(question))
            qtype = answer_type(question)
            ranks = {id(p): r for r, p in enumerate(relevant)}
            feats = []
            for c, sim, ok in zip(cands, sims, inside):
                feats.append({
                    "text": c.text,
                    "doc": c.passage.doc_id,
                    "start": c.start,
                    "rank": ranks[id(c.passage)],
                    "pos": c.start - c.passage.start,
                    "in_article": c.start,
                    "sim": round(float(sim), 4),
                    "psim": round(float(c.passage.similarity), 4),
                    "pscore": round(float(c.passage.score), 4),
                    "lex": round(_lexical(terms, c.text), 4),
                    "ctx": round(_lexical(terms, f"{c.passage.title} {c.passage.text}"), 4),
                    "when": bool(qtime.asks_when and any(m.granularity in ("day", "week", "month") and not m.is_bound for m in c.mentions)),
                    "fit": _answer_type_fit(qtype, c.text),
                    "nov": novelty(question, c.text) if _ASKS_ENTITY.search(question) else 0.0,
                    "inside": ok,
                    "gold": first_hit(q["answer"], [c.text]) is not None,
                    "chosen": (c.passage.doc_id, c.start) in chosen_keys,
                })
            rows.append({
                "id": q["id"], "asked_on": asked.isoformat(), "question": question, "gold": q["answer"],
                "window": window is not None, "asks_when": qtime.asks_when, "recency": bool(qtime.recency),
                "top5_gold": first_hit(q["answer"], [p.text for p in passages[:5]]) is not None,
                "cands": feats,
            })
            print(f"\r{len(rows)} questions", end="", file=sys.stderr)
    Path(args.out).write_text(json.dumps(rows))
    print(f"\r{len(rows)} questions in {time.time() - t0:.0f} s → {args.out}", file=sys.stderr)


def part(row: dict[str, Any]) -> str:
    return "tune" if row["asked_on"][5:7] <= "03" else "held"


def score(args: argparse.Namespace) -> None:
    rows = json.loads(Path(args.dump).read_text())
    for name in ("tune", "held"):
        rs = [r for r in rows if part(r) == name]
        n = len(rs)
        if not n:
            continue
        today = sum(any(c["chosen"] and c["gold"] for c in r["cands"]) for r in rs)
        oracle = sum(any(c["gold"] and c["inside"] for c in r["cands"]) for r in rs)
        top5 = sum(r["top5_gold"] for r in rs)
        print(f"{name}: n={n} chosen-holds-gold {today / n:.3f}  any-candidate {oracle / n:.3f}  top5-passages {top5 / n:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--index", required=True)
    d.add_argument("--dataset", default="../shared/data/realtimeqa-2023h1")
    d.add_argument("--months", default="")
    d.add_argument("--out", required=True)
    s = sub.add_parser("score")
    s.add_argument("--dump", required=True)
    args = ap.parse_args()
    {"dump": dump, "score": score}[args.cmd](args)


if __name__ == "__main__":
    main()
