"""Retrieval benchmark: the textbook LangChain build vs plain BM25 vs qa, on the same questions,
in one process.

  textbook  RecursiveCharacterTextSplitter(1000, 200) + all-MiniLM-L6-v2 + Chroma
            similarity_search (with and without an as-of date filter)
  bm25      BM25 (tantivy) over qa's chunks, as-of filtered, no fusion and no time prior
  qa        qa's hybrid retrieval (dense + BM25, RRF, time prior, per-article cap)

Each question is asked as of its `asked_on` date. A system "finds" the answer at rank r when the
normalised gold answer occurs in its r-th passage. Indexes are cached in --cache and reused.

    python bench/retrieval.py --dataset ../shared/data/realtimeqa-2023h1 --cache .bench-cache
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.dates import parse_date  # noqa: E402
from qa.evaluate import KS, first_hit, load_questions  # noqa: E402


def build_textbook(articles_path: Path, folder: Path, model: str):
    """The obvious LangChain build: split raw text, embed, Chroma.from_documents."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from qa.embeddings import langchain_embeddings

    emb = langchain_embeddings(model)
    if (folder / "DONE").exists():
        return Chroma(collection_name="textbook", embedding_function=emb, persist_directory=str(folder))
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    store = Chroma(collection_name="textbook", embedding_function=emb, persist_directory=str(folder))
    batch: list[Document] = []
    t0 = time.perf_counter()
    n = 0
    with open(articles_path) as f:
        for line in f:
            rec = json.loads(line)
            pub = parse_date(rec.get("published_at"))
            meta = {"title": rec.get("title", ""), "url": rec.get("url", ""),
                    "published_day": pub.toordinal() if pub else -1}
            for d in splitter.create_documents([rec["text"]], metadatas=[meta]):
                batch.append(d)
            if len(batch) >= 2000:
                store.add_documents(batch)
                n += len(batch)
                batch = []
                print(f"  textbook: {n} chunks, {n / (time.perf_counter() - t0):.1f}/s", file=sys.stderr)
    if batch:
        store.add_documents(batch)
    (folder / "DONE").write_text(str(time.perf_counter() - t0))
    return store


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=Path("../shared/data/realtimeqa-2023h1"))
    ap.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--qa-index", type=Path, default=None, help="qa index to use (default: CACHE/qa-index)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from qa.assistant import Assistant
    from qa.ingest import ingest
    from qa.retrieve import SearchFilters
    from qa.settings import Settings

    articles = args.dataset / "articles.jsonl"
    questions = load_questions(args.dataset / "questions.jsonl", args.limit)
    args.cache.mkdir(parents=True, exist_ok=True)
    settings = Settings(index=args.qa_index or args.cache / "qa-index")
    t0 = time.perf_counter()
    report = ingest([str(articles)], settings)
    print(f"qa index: {report.documents} documents, {report.chunks} chunks ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    textbook = build_textbook(articles, args.cache / "textbook", "all-MiniLM-L6-v2")
    bot = Assistant(settings)
    lexical = bot.reader.lexical

    def run_textbook(q, filtered: bool) -> list[str]:
        flt = {"published_day": {"$lte": q.asked_on.toordinal()}} if filtered else None
        return [d.page_content for d in textbook.similarity_search(q.question, k=args.k, filter=flt)]

    def run_bm25(q) -> list[str]:
        ids = [cid for cid, _ in lexical.search(q.question, args.k, SearchFilters(as_of=q.asked_on))]
        got = {cid: text for cid, text, _, _ in bot.reader.vectors.get(ids)} if ids else {}
        return [got[i] for i in ids]

    def run_qa(q) -> list[str]:
        return [p.text for p in bot.search(q.question, args.k, as_of=q.asked_on)]

    systems = {
        "textbook": lambda q: run_textbook(q, False),
        "textbook+asof": lambda q: run_textbook(q, True),
        "bm25": run_bm25,
        "qa": run_qa,
    }
    for fn in systems.values():  # warm up
        fn(questions[0])
    hits: dict[str, dict[str, list[int | None]]] = {s: defaultdict(list) for s in systems}
    lat: dict[str, list[float]] = {s: [] for s in systems}
    for q in questions:
        month = q.asked_on.strftime("%Y-%m")
        for name, fn in systems.items():
            t = time.perf_counter()
            texts = fn(q)
            lat[name].append(time.perf_counter() - t)
            rank = first_hit(q.answer, texts)
            hits[name][month].append(rank)
            hits[name]["all"].append(rank)

    def metrics(ranks: list[int | None]) -> dict[str, float]:
        n = max(len(ranks), 1)
        out = {f"R@{k}": sum(1 for r in ranks if r and r <= k) / n for k in KS}
        out["MRR@10"] = sum(1.0 / r for r in ranks if r and r <= 10) / n
        return out

    table = {name: {m: metrics(r) for m, r in by.items()} for name, by in hits.items()}
    latency = {name: {"p50_ms": 1000 * statistics.median(v), "p95_ms": 1000 * percentile(v, 0.95)} for name, v in lat.items()}
    result = {"questions": len(questions), "k": args.k, "metrics": table, "latency": latency,
              "index": {"documents": report.documents, "chunks": report.chunks}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    months = sorted(m for m in table["qa"] if m != "all") + ["all"]
    print(f"\n{len(questions)} questions, k={args.k}; AnswerRecall@5 (R@1 / R@10 / MRR@10 in the JSON)")
    print(f"{'month':8} " + " ".join(f"{s:>14}" for s in systems) + f" {'qa - textbook':>14} {'qa - bm25':>10}")
    for m in months:
        vals = {s: table[s][m]["R@5"] for s in systems}
        print(f"{m:8} " + " ".join(f"{vals[s]:>14.3f}" for s in systems)
              + f" {vals['qa'] - vals['textbook+asof']:>+14.3f} {vals['qa'] - vals['bm25']:>+10.3f}")
    print("\noverall:")
    for s in systems:
        a = table[s]["all"]
        print(f"  {s:14} R@1 {a['R@1']:.3f}  R@5 {a['R@5']:.3f}  R@10 {a['R@10']:.3f}  MRR@10 {a['MRR@10']:.3f}"
              f"  warm query p50 {latency[s]['p50_ms']:.1f} ms  p95 {latency[s]['p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
