"""Ingest throughput against the encoder's limit, re-ingest cost, the textbook build, peak memory.

On the first N articles of a dataset (default: the development set), in one run:

  limit      SentenceTransformer.encode over exactly the texts qa embeds (qa's chunks), model loaded
  qa         `qa ingest` end to end into a fresh index (read, clean, dedupe, chunk, embed, store)
  reingest   `qa ingest` of the same, unchanged input again
  textbook   RecursiveCharacterTextSplitter(1000, 200) + Chroma.from_documents on the same articles
  half       `qa ingest` of the first N/2 articles (peak memory must not grow with the corpus)
  qa-onnx    `qa ingest` into a fresh index that already holds the model's ONNX export (what
             every ingest after an index's first one encodes with)
  baseline   with --baseline SRC: `qa ingest` end to end with another qa source tree (e.g. a
             `git worktree` of the previous commit), same articles, same run

--only-first: just the first ingests into fresh indexes, interleaved twice: qa on a machine where
qa never ran (it makes the model's ONNX export), qa-cached on one where it did (the export is
copied from the machine-wide cache, QA_MODEL_CACHE), --baseline, textbook.

Every phase runs in its own process; its peak RSS is reported.

    python bench/ingest.py --dataset ../shared/data/realtimeqa-2023h1 --articles 300
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def phase_limit(index: Path) -> dict:
    """Re-create qa's chunk texts from the ingested catalog and time the bare encoder on them."""
    from qa.index.catalog import Catalog
    from sentence_transformers import SentenceTransformer

    from qa.embeddings import model_location
    from qa.index.generations import Generations
    from qa.ingest.chunk import chunk_article, embedding_text
    from qa.settings import DEFAULT_MODEL, Settings

    s = Settings()
    cat = Catalog(Generations(index).current())
    texts = [
        embedding_text(a, c)
        for a in cat.articles()
        for c in chunk_article(a, target_chars=s.chunk_chars, overlap_sentences=s.chunk_overlap_sentences)
    ]
    model = SentenceTransformer(model_location(DEFAULT_MODEL), device="cpu")
    model.encode(texts[:32], batch_size=32)  # warm
    t = time.perf_counter()
    model.encode(texts, batch_size=s.embed_batch_size, normalize_embeddings=True)
    secs = time.perf_counter() - t
    return {"chunks": len(texts), "seconds": secs, "chunks_per_s": len(texts) / secs}


def phase_qa(articles: Path, index: Path) -> dict:
    from qa.cli import app

    t = time.perf_counter()
    try:
        app(["ingest", str(articles), "--index", str(index), "--json"], standalone_mode=False)
    except SystemExit:
        pass
    secs = time.perf_counter() - t
    from qa.settings import Settings
    from qa.index.reader import IndexReader, folder_size

    reader = IndexReader(Settings(index=index))
    stats = reader.catalog.stats()
    return {"chunks": stats["chunks"], "documents": stats["documents"], "seconds": secs,
            "chunks_per_s": int(stats["chunks"]) / secs, "disk_bytes": folder_size(reader.gen)}


def phase_textbook(articles: Path, folder: Path) -> dict:
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from qa.embeddings import langchain_embeddings

    t = time.perf_counter()
    emb = langchain_embeddings("all-MiniLM-L6-v2")
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs: list[Document] = []
    for line in articles.read_text().splitlines():
        rec = json.loads(line)
        docs += splitter.create_documents([rec["text"]], metadatas=[{"title": rec.get("title", "")}])
    Chroma.from_documents(docs, emb, collection_name="textbook", persist_directory=str(folder))
    secs = time.perf_counter() - t
    return {"chunks": len(docs), "seconds": secs, "chunks_per_s": len(docs) / secs}


def phase_qa_onnx(articles: Path, index: Path, exported_from: Path) -> dict:
    """`qa ingest` into a fresh index given the ONNX export another index made (no torch)."""
    shutil.copytree(exported_from / "models", index / "models")
    return phase_qa(articles, index)


_SCRATCH: list[Path] = []  # the run's work folder (main), where the phases' empty caches go


def run_phase(name: str, *args: str, src: Path | None = None, cache: Path | None = None) -> dict:
    """One phase in its own process. ``cache``: the machine-wide export cache it sees (default: a
    new empty one, as on a machine where qa never ran; never the user's own)."""
    import os

    env = {**os.environ, "QA_MODEL_CACHE": str(cache or tempfile.mkdtemp(prefix="cache-", dir=_SCRATCH[0]))}
    if src:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run([sys.executable, __file__, "--phase", name, *args], stdout=subprocess.PIPE, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=Path("../shared/data/realtimeqa-2023h1"))
    ap.add_argument("--articles", type=int, default=300)
    ap.add_argument("--baseline", type=Path, help="another qa source tree (…/src) to time `qa ingest` with")
    ap.add_argument("--only-onnx", action="store_true",
                    help="only the qa-onnx phase, for this checkout and --baseline (a quick A/B of ingest code)")
    ap.add_argument("--only-first", action="store_true",
                    help="only first ingests into fresh indexes: this checkout, --baseline and the textbook build, "
                         "interleaved twice (chunks/s against the textbook's)")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        fn = {"limit": phase_limit, "qa": phase_qa, "textbook": phase_textbook, "qa-onnx": phase_qa_onnx}[args.phase]
        result = fn(*[Path(a) for a in args.args])
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="qa-bench-ingest-"))
    _SCRATCH.append(work)
    try:
        lines = (args.dataset / "articles.jsonl").read_text().splitlines()[: args.articles]
        full, half = work / "articles.jsonl", work / "half.jsonl"
        full.write_text("\n".join(lines) + "\n")
        half.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
        r = {}
        if args.only_onnx:
            exported = work / "exported"
            run_phase("qa", str(half), str(exported))  # any index with the export
            for rnd in range(2):  # interleaved, twice
                for name, src in (("qa-onnx", None), ("baseline-onnx", args.baseline)):
                    if name == "baseline-onnx" and src is None:
                        continue
                    got = run_phase("qa-onnx", str(full), str(work / f"{name}-{rnd}"), str(exported), src=src)
                    r.setdefault(name, []).append(round(got["seconds"], 1))
            print(json.dumps(r))
            return
        if args.only_first:
            warm = work / "cache-warm"  # a machine where qa made an export once already
            one = work / "one.jsonl"
            one.write_text(lines[0] + "\n")
            run_phase("qa", str(one), str(work / "primer"), cache=warm)
            for rnd in range(2):  # interleaved, twice
                for name, phase, src, cache in (("qa", "qa", None, None), ("qa-cached", "qa", None, warm),
                                                ("baseline", "qa", args.baseline, None),
                                                ("textbook", "textbook", None, None)):
                    if name == "baseline" and src is None:
                        continue
                    got = run_phase(phase, str(full), str(work / f"{name}-{rnd}"), src=src, cache=cache)
                    r.setdefault(name, []).append({k: round(got[k], 2) for k in ("seconds", "chunks_per_s")})
            for name in r:
                ratios = [a["chunks_per_s"] / t["chunks_per_s"] for a, t in zip(r[name], r["textbook"])]
                print(f"{name:9} seconds {[a['seconds'] for a in r[name]]}  chunks/s {[a['chunks_per_s'] for a in r[name]]}"
                      f"  ÷ textbook {[round(x, 3) for x in ratios]}")
            return
        r["qa"] = run_phase("qa", str(full), str(work / "index"))
        r["reingest"] = run_phase("qa", str(full), str(work / "index"))
        r["limit"] = run_phase("limit", str(work / "index"))
        r["textbook"] = run_phase("textbook", str(full), str(work / "textbook"))
        r["half"] = run_phase("qa", str(half), str(work / "index-half"))
        r["qa-onnx"] = run_phase("qa-onnx", str(full), str(work / "index-onnx"), str(work / "index"))
        if args.baseline:
            r["baseline"] = run_phase("qa", str(full), str(work / "index-baseline"), src=args.baseline)
        print(json.dumps(r), file=sys.stderr)
        lim = r["limit"]["chunks_per_s"]
        print(f"{len(lines)} articles → {r['qa']['documents']} documents, {r['qa']['chunks']} qa chunks; textbook {r['textbook']['chunks']} chunks")
        print(f"{'phase':10} {'seconds':>8} {'chunks/s':>9} {'÷ limit':>8} {'peak RSS MB':>12}")
        for name in ("limit", "qa", "qa-onnx", "baseline", "textbook", "reingest", "half"):
            if name not in r:
                continue
            p = r[name]
            print(f"{name:10} {p['seconds']:>8.1f} {p.get('chunks_per_s', 0):>9.1f} {p.get('chunks_per_s', 0) / lim:>8.2f} {p['peak_rss_mb']:>12.0f}")
        print(f"qa ingest / encoder limit: {r['qa']['chunks_per_s'] / lim:.2f}")
        for name in ("qa", "qa-onnx", "baseline"):
            if name in r:
                print(f"{name} / textbook build (chunks/s): {r[name]['chunks_per_s'] / r['textbook']['chunks_per_s']:.2f}")
        print(f"first ingest / unchanged re-ingest: {r['qa']['seconds'] / r['reingest']['seconds']:.0f}x")
        print(f"disk: {r['qa']['disk_bytes'] / r['qa']['chunks'] * 1000 / 1e6:.1f} MB per 1,000 chunks")
        print(f"peak RSS, N/2 vs N articles: {r['half']['peak_rss_mb']:.0f} vs {r['qa']['peak_rss_mb']:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
