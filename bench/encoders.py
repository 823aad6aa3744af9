"""Chunk-encoding throughput and agreement: sentence-transformers (torch) against ONNX Runtime.

On qa's own chunk texts of the first N articles of a dataset, in one process and one run:

  torch        SentenceTransformer.encode (what `qa ingest` used before), batch 32
  onnx         qa's ONNX export (mean pooling and normalisation in the graph), batches in input order
  onnx-sorted  the same, batches of similar length (sentence-transformers sorts by length too)
  int8         the export after ONNX Runtime's dynamic INT8 quantisation, length-sorted batches
  previous     with --previous-export FILE: another export of the same model (e.g. one an older
               qa made in an index's models/ folder), length-sorted batches

For each: chunks/s (median of --repeats), and cosine to the torch vectors (mean and minimum).
`recall` re-encodes every chunk of an existing index with the INT8 variant into a copy (its
exact-search matrix, and the export questions are encoded with), then runs `qa eval --no-answers`
on both: the whole retrieval (fusion and learned ranker), per part of the development set.

    python bench/encoders.py --dataset ../shared/data/realtimeqa-2023h1 --articles 300 \
        [--previous-export OLD_INDEX/models/sentence-transformers_all-MiniLM-L6-v2.onnx]
    python bench/encoders.py recall --index DEV_INDEX --out /tmp/int8-index
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def chunk_texts(articles: Path, n_articles: int | None = None) -> list[str]:
    """The texts qa embeds for the first ``n_articles`` articles (all if None) of a JSONL file,
    chunked as qa chunks them."""
    from qa.ingest.chunk import chunk_article, embedding_text
    from qa.ingest.loaders import load_path
    from qa.ingest.read import to_article
    from qa.settings import Settings

    s = Settings()
    texts: list[str] = []
    read = 0
    for raw in load_path(articles, max_bytes=s.max_file_bytes):
        if n_articles is not None and read >= n_articles:
            break
        if not hasattr(raw, "text"):
            continue
        read += 1
        article = to_article(raw, published_at=None, source=None)
        for c in chunk_article(article, target_chars=s.chunk_chars, overlap_sentences=s.chunk_overlap_sentences):
            texts.append(embedding_text(article, c))
    return texts


def quantize_int8(onnx_file: Path) -> Path:
    """ONNX Runtime's dynamic INT8 quantisation of an export, written beside it (``*.int8.onnx``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = onnx_file.with_name(onnx_file.stem + ".int8.onnx")
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    quantize_dynamic(str(onnx_file), str(tmp), weight_type=QuantType.QInt8)
    os.replace(tmp, out)
    return out



def timed(fn, texts: list[str], repeats: int) -> tuple[float, object]:
    secs = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(texts)
        secs.append(time.perf_counter() - t)
    return statistics.median(secs), out


def recall(index: Path, out: Path, dataset: Path) -> dict:
    """AnswerRecall of qa's retrieval with FP32 vectors (``index`` as built) and INT8 ones (a copy)."""
    import shutil
    import subprocess

    import numpy as np

    from qa.embeddings import model_location
    from qa.index.catalog import Catalog
    from qa.index.dense import DENSE_DIR, MANIFEST
    from qa.index.generations import Generations
    from qa.index.records import chunk_id
    from qa.ingest.chunk import chunk_article, embedding_text
    from qa.onnx_encoder import MODELS_DIR, OnnxEncoder, export, paths
    from qa.settings import DEFAULT_MODEL, Settings

    s = Settings()
    gen = Generations(index).current()
    assert gen is not None, f"no index at {index}"
    if not (out / "CURRENT").exists():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        shutil.copytree(gen, out / gen.name, copy_function=shutil.copy2)
        (out / MODELS_DIR).mkdir()
        assert export(model_location(DEFAULT_MODEL), out / "fp32", DEFAULT_MODEL)
        onnx_file, tok_file = paths(out / "fp32", DEFAULT_MODEL)
        int8 = quantize_int8(onnx_file)
        target_onnx, target_tok = paths(out, "sentence-transformers/" + DEFAULT_MODEL)
        shutil.copy(int8, target_onnx)
        shutil.copy(tok_file, target_tok)
        texts = {}
        for a in Catalog(gen).articles():
            for c in chunk_article(a, target_chars=s.chunk_chars, overlap_sentences=s.chunk_overlap_sentences):
                texts[chunk_id(a.key, c.index)] = embedding_text(a, c)
        enc = OnnxEncoder(DEFAULT_MODEL, target_onnx, target_tok)
        folder = out / gen.name / DENSE_DIR
        manifest = json.loads((folder / MANIFEST).read_text())
        t = time.perf_counter()
        done = 0
        for part in manifest["parts"]:
            ids = json.loads((folder / f"{part}.ids.json").read_text())
            old = np.load(folder / f"{part}.vec.npy")
            new = old.copy()
            known = [i for i, cid in enumerate(ids) if cid in texts]
            if len(known) < len(ids):
                print(f"  {len(ids) - len(known)} rows of {part} not re-created", file=sys.stderr)
            for k in range(0, len(known), 2048):
                rows = known[k : k + 2048]
                new[rows] = enc.encode([texts[ids[i]] for i in rows])
                done += len(rows)
                print(f"  re-encoded {done} chunks, {done / (time.perf_counter() - t):.1f}/s", file=sys.stderr, flush=True)
            (folder / f"{part}.vec.npy").unlink()  # a copy, but never write through a shared inode
            np.save(folder / f"{part}.vec.npy", new)
        (out / "CURRENT").write_text(gen.name + "\n")
    report = {}
    for name, root in (("fp32", index), ("int8", out)):
        res = subprocess.run(
            [sys.executable, "-m", "qa", "eval", str(dataset), "--index", str(root), "--no-answers", "--json"],
            capture_output=True, text=True, check=True,
        )
        report[name] = json.loads(res.stdout)
    return report


def main() -> None:
    if sys.argv[1:2] == ["recall"]:
        ap = argparse.ArgumentParser(prog="encoders.py recall")
        ap.add_argument("--index", type=Path, required=True)
        ap.add_argument("--out", type=Path, required=True)
        ap.add_argument("--dataset", type=Path, default=Path("../shared/data/realtimeqa-2023h1"))
        a = ap.parse_args(sys.argv[2:])
        json.dump(recall(a.index, a.out, a.dataset), sys.stdout, indent=2)
        print()
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=Path("../shared/data/realtimeqa-2023h1"))
    ap.add_argument("--articles", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--previous-export", type=Path, default=None, help="another ONNX export of the model to compare")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from qa.embeddings import model_location
    from qa.onnx_encoder import OnnxEncoder, export, paths
    from qa.settings import DEFAULT_MODEL

    texts = chunk_texts(args.dataset / "articles.jsonl", args.articles)
    location = model_location(DEFAULT_MODEL)
    work = Path(tempfile.mkdtemp(prefix="qa-bench-enc-"))
    assert export(location, work, DEFAULT_MODEL)
    onnx_file, tok_file = paths(work, DEFAULT_MODEL)
    int8_file = quantize_int8(onnx_file)

    st = SentenceTransformer(location, device="cpu")
    fp32 = OnnxEncoder(DEFAULT_MODEL, onnx_file, tok_file, sort_by_length=False)
    fp32_sorted = OnnxEncoder(DEFAULT_MODEL, onnx_file, tok_file)
    int8 = OnnxEncoder(DEFAULT_MODEL, int8_file, tok_file)
    variants = {
        "torch": lambda xs: st.encode(xs, batch_size=32, normalize_embeddings=True, convert_to_numpy=True),
        "onnx": fp32.encode,
        "onnx-sorted": fp32_sorted.encode,
        "int8": int8.encode,
    }
    if args.previous_export:
        variants["previous"] = OnnxEncoder(DEFAULT_MODEL, args.previous_export, tok_file).encode
    for fn in variants.values():  # warm every variant once
        fn(texts[:64])
    rows = {}
    ref = None
    for name, fn in variants.items():
        secs, vecs = timed(fn, texts, args.repeats)
        vecs = np.asarray(vecs, dtype=np.float32)
        if ref is None:
            ref = vecs
        cos = np.sum(ref * vecs, axis=1)
        rows[name] = {"chunks_per_s": round(len(texts) / secs, 1), "seconds": round(secs, 2),
                      "cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5)}
    base = rows["torch"]["chunks_per_s"]
    for r in rows.values():
        r["vs_torch"] = round(r["chunks_per_s"] / base, 2)
    report = {"chunks": len(texts), "articles": args.articles, "variants": rows}
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    print(f"{len(texts)} chunks of {args.articles} articles")
    print(f"{'variant':<12} {'chunks/s':>9} {'x torch':>8} {'cos mean':>9} {'cos min':>8}")
    for name, r in rows.items():
        print(f"{name:<12} {r['chunks_per_s']:>9} {r['vs_torch']:>8} {r['cosine_mean']:>9} {r['cosine_min']:>8}")


if __name__ == "__main__":
    main()
