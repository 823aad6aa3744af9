"""Search latency, small-ingest cost, disk and memory at 10k / 100k / 1M chunks (synthetic).

Texts are drawn from a Zipf-distributed vocabulary and vectors are random unit vectors, written
through qa's real IndexWriter (Chroma + exact-search matrix + tantivy BM25), so everything but
the embedding model is the real store. Each size runs in its own process (peak memory is per
size). For every size it reports, in the same run:

  search  warm `Retriever.search` p50/p95 with an as-of filter (query encoding included), for
          dense_search=exact (qa's default, learned ranker on), the same with the learned ranker
          off (fusion only), and dense_search=hnsw (Chroma's own index + where)
  parts   p50 of each part of the exact path: encode, dense matrix, BM25, Chroma text fetch
  ingest  a 100-chunk ingest into the built index, split into generation copy and the rest
  disk    bytes per 1,000 chunks; peak RSS of the process

    python bench/scale.py --folder .bench-cache/scale --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

CHUNKS_PER_DOC = 10
WORDS = 400  # ~ characters per chunk / 2.5


def vocabulary(n: int = 20_000) -> list[str]:
    rng = np.random.default_rng(1)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=int(rng.integers(3, 10)))) for _ in range(n)]


def build(index: Path, n_chunks: int, dim: int = 384, batch_docs: int = 400, **settings: object) -> float:
    """Write n_chunks synthetic chunks (``settings``: e.g. chroma_url); returns chunks/s of the
    store (no embedding)."""
    from qa.settings import Settings
    from qa.index.records import chunk_id
    from qa.index.writer import IndexWriter
    from qa.types import Article, Chunk

    vocab = np.array(vocabulary())
    rng = np.random.default_rng(7)
    zipf = 1.0 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()
    start = date(2023, 1, 1)
    t0 = time.perf_counter()
    n_docs = n_chunks // CHUNKS_PER_DOC
    with IndexWriter(Settings(index=index, **settings)) as w:
        for first in range(0, n_docs, batch_docs):
            items = []
            n = 0
            for d in range(first, min(first + batch_docs, n_docs)):
                words = rng.choice(vocab, size=(CHUNKS_PER_DOC, WORDS // 4), p=zipf)
                chunk_texts = [" ".join(ws) + "." for ws in words]
                body = " ".join(chunk_texts)
                art = Article(
                    doc_id=f"syn-{d}",
                    text=body,
                    title=" ".join(words[0][:6]),
                    source=f"site{d % 20}",
                    published_at=start + timedelta(days=int(rng.integers(0, 365))),
                )
                chunks, pos = [], 0
                for i, t in enumerate(chunk_texts):
                    chunks.append(Chunk(chunk_id(art.key, i), art.doc_id, i, t, pos, pos + len(t)))
                    pos += len(t) + 1
                items.append((art, chunks))
                n += len(chunks)
            vec = rng.normal(size=(n, dim)).astype(np.float32)
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            w.write(items, vec)
            done = min(first + batch_docs, n_docs) * CHUNKS_PER_DOC
            print(f"  {done:,} chunks, {done / (time.perf_counter() - t0):,.0f}/s", file=sys.stderr, end="\r")
        w.commit()
    print(file=sys.stderr)
    return n_chunks / (time.perf_counter() - t0)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def measure(index: Path, n_chunks: int, queries: int) -> dict:
    from qa.retrieve import Retriever, SearchFilters
    from qa.settings import Settings
    from qa.index.reader import IndexReader, folder_size

    build_rate = None
    if not (index / "CURRENT").exists():
        build_rate = build(index, n_chunks)
    vocab = vocabulary()
    rng = np.random.default_rng(3)
    qs = [" ".join(rng.choice(vocab[:3000], size=6)) for _ in range(queries)]
    filters = SearchFilters(as_of=date(2023, 9, 1))
    out: dict = {"chunks": n_chunks, "store_write_chunks_per_s": build_rate}
    configs = {"exact": {"dense_search": "exact"}, "exact_fusion": {"dense_search": "exact", "learned_ranking": False},
               "hnsw": {"dense_search": "hnsw"}}
    for engine, overrides in configs.items():
        settings = Settings(index=index, **overrides)
        reader = IndexReader(settings)
        r = Retriever(reader, settings)
        r.search("warm up", filters=filters)
        times = []
        for q in qs:
            t = time.perf_counter()
            r.search(q, filters=filters)
            times.append((time.perf_counter() - t) * 1000)
        out[f"search_{engine}_ms"] = {"p50": pct(times, 50), "p95": pct(times, 95)}
        if engine == "exact":
            from qa.rank.features import extract
            from qa.temporal import question_time

            parts: dict[str, list[float]] = {"encode": [], "dense": [], "bm25": [], "fetch": [], "rank_features": []}
            for q in qs:
                t = time.perf_counter(); v = r.encoder.encode_query(q); parts["encode"].append(time.perf_counter() - t)
                t = time.perf_counter(); hits, _ = reader.dense.search(v, 50, reader.dense.mask(filters)); parts["dense"].append(time.perf_counter() - t)
                t = time.perf_counter(); lex = reader.lexical.search(q, 50, filters); parts["bm25"].append(time.perf_counter() - t)
                t = time.perf_counter(); reader.vectors.texts([c for c, _ in hits] + [c for c, _ in lex]); parts["fetch"].append(time.perf_counter() - t)
                qtime = question_time(q, filters.as_of)
                _, scored, _ = r.pool(q, 10, filters, qtime)
                t = time.perf_counter(); extract(q, qtime, [c for _, c in scored]); parts["rank_features"].append(time.perf_counter() - t)
            out["exact_parts_p50_ms"] = {k: statistics.median(v) * 1000 for k, v in parts.items()}
        reader.close()
    gen = IndexReader(Settings(index=index)).gen
    size = folder_size(gen)
    out["disk_bytes_per_1000_chunks"] = size / n_chunks * 1000
    out["disk_by_part_mb"] = {p.name: round(folder_size(p) / 1e6, 1) if p.is_dir() else round(p.stat().st_size / 1e6, 1) for p in gen.iterdir()}
    out["small_ingest"] = small_ingest(index)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def components(folder: Path, n_chunks: int, queries: int, dim: int = 384) -> dict:
    """The two parts whose cost grows with the index, without Chroma (whose write rate, ~400
    chunks/s here, makes a 1M-chunk store a 45-minute build): exact dense search over memory-mapped
    parts and tantivy BM25, both filtered as of a date; then a 100-chunk update of each, against
    building the BM25 index from scratch (what a non-incremental lexical index pays per ingest)."""
    import shutil

    from qa.index import dense, lexical
    from qa.index.filters import SearchFilters
    from qa.index.records import ChunkRecord

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    vocab = np.array(vocabulary())
    rng = np.random.default_rng(7)
    zipf = 1.0 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()
    dw, lw = dense.DenseWriter(folder), lexical.LexicalWriter(folder, heap_bytes=256_000_000)
    t0 = time.perf_counter()
    batch = 20_000
    for first in range(0, n_chunks, batch):
        n = min(batch, n_chunks - first)
        ids = [f"c{first + i}" for i in range(n)]
        days = (738_521 + rng.integers(0, 365, size=n)).tolist()
        vec = rng.normal(size=(n, dim)).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        dw.add(ids, vec, days, ["wire"] * n, [(f"text of {cid}", ChunkRecord(cid, 0, 0, 0, published_day=d)) for cid, d in zip(ids, days)])
        words = rng.choice(vocab, size=(n, WORDS // 4), p=zipf)
        lw.add((cid, f"d{(first + i) // CHUNKS_PER_DOC}", d, "wire", " ".join(ws)) for i, (cid, d, ws) in enumerate(zip(ids, days, words)))
        print(f"  {first + n:,} chunks", file=sys.stderr, end="\r")
    dw.commit()
    t = time.perf_counter()
    lw.commit()
    full_build = time.perf_counter() - t0
    di, li = dense.DenseIndex(folder), lexical.LexicalIndex(folder)
    as_of_filter = SearchFilters(as_of=date.fromordinal(738_521 + 240))
    qs = [" ".join(rng.choice(vocab[:3000], size=6)) for _ in range(queries)]
    qv = rng.normal(size=(queries, dim)).astype(np.float32)
    d_times, l_times = [], []
    for q, v in zip(qs, qv):
        t = time.perf_counter(); di.search(v, 50, di.mask(as_of_filter)); d_times.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter(); li.search(q, 50, as_of_filter); l_times.append((time.perf_counter() - t) * 1000)
    as_of = 738_521 + 240  # the new rows' day (the filter's as-of day); was undefined here, a NameError
    t = time.perf_counter()
    dw2, lw2 = dense.DenseWriter(folder), lexical.LexicalWriter(folder)
    ids = [f"new{i}" for i in range(100)]
    vec = rng.normal(size=(100, dim)).astype(np.float32)
    dw2.add(ids, vec, [as_of] * 100, ["wire"] * 100, [(f"text of {cid}", ChunkRecord(cid, 0, 0, 0, published_day=as_of)) for cid in ids])
    lw2.add((cid, "dnew", as_of, "wire", "harbour ferry storm") for cid in ids)
    dw2.commit()
    lw2.commit()
    update = time.perf_counter() - t
    return {
        "chunks": n_chunks, "dense_exact_ms": {"p50": pct(d_times, 50), "p95": pct(d_times, 95)},
        "bm25_ms": {"p50": pct(l_times, 50), "p95": pct(l_times, 95)},
        "build_dense_and_bm25_s": full_build, "update_100_chunks_s": update,
        "full_rebuild_over_update": full_build / update,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def small_ingest(index: Path) -> dict:
    """Ingest 10 new 10-chunk articles into the big index; time the generation copy separately."""
    import qa.index.generations as generations
    from qa.ingest import ingest
    from qa.settings import Settings
    from qa.types import Article

    copy_time = [0.0]
    original = generations._copy_tree

    def timed_copy(src: Path, dst: Path) -> None:
        t = time.perf_counter()
        original(src, dst)
        copy_time[0] += time.perf_counter() - t

    generations._copy_tree = timed_copy
    stamp = time.time_ns()
    vocab = vocabulary()
    rng = np.random.default_rng(stamp % 2**32)
    arts = [  # distinct texts (similar ones would be folded as near-duplicates)
        Article(doc_id=f"small-{stamp}-{i}", title=f"Harbour report {i}", published_at=date(2023, 6, 1),
                text=" ".join(" ".join(rng.choice(vocab, size=12)).capitalize() + "." for _ in range(60)))
        for i in range(10)
    ]
    t = time.perf_counter()
    report = ingest(None, Settings(index=index), articles=arts)
    total = time.perf_counter() - t
    generations._copy_tree = original
    return {"articles": report.added, "total_s": total, "generation_copy_s": copy_time[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=Path(".bench-cache/scale"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size
    ap.add_argument("--components", type=int, nargs="*", default=[], help="sizes measured without Chroma (e.g. 1000000)")
    args = ap.parse_args()
    if args.components:
        for n in args.components:
            print(json.dumps(components(args.folder / f"components-{n}", n, args.queries)))
        return
    if args.one:
        print(json.dumps(measure(args.folder / f"n{args.one}", args.one, args.queries)))
        return
    results = []
    for n in args.sizes:
        print(f"{n:,} chunks …", file=sys.stderr)
        proc = subprocess.run(
            [sys.executable, __file__, "--folder", str(args.folder), "--queries", str(args.queries), "--one", str(n)],
            stdout=subprocess.PIPE, text=True, check=True,
        )
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    print(f"{'chunks':>10} {'exact p50/p95 ms':>18} {'no ranker p50/p95':>18} {'hnsw p50/p95 ms':>18} {'hnsw/exact':>10} {'dense':>7} {'bm25':>7} {'fetch':>7} {'encode':>7} {'features':>8} {'KB/1k':>8} {'peak MB':>8} {'ingest s':>9} {'copy s':>7}")
    for r in results:
        e, f, h, p = r["search_exact_ms"], r["search_exact_fusion_ms"], r["search_hnsw_ms"], r["exact_parts_p50_ms"]
        print(f"{r['chunks']:>10,} {e['p50']:>8.1f} / {e['p95']:<7.1f} {f['p50']:>8.1f} / {f['p95']:<7.1f} {h['p50']:>8.1f} / {h['p95']:<7.1f} {h['p50'] / e['p50']:>10.1f}"
              f" {p['dense']:>7.1f} {p['bm25']:>7.1f} {p['fetch']:>7.1f} {p['encode']:>7.1f} {p['rank_features']:>8.1f}"
              f" {r['disk_bytes_per_1000_chunks'] / 1024:>8.0f} {r['peak_rss_mb']:>8.0f}"
              f" {r['small_ingest']['total_s']:>9.2f} {r['small_ingest']['generation_copy_s']:>7.2f}")


if __name__ == "__main__":
    main()
