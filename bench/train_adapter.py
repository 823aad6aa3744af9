"""A query adapter for the dense search, fitted on the training set: tried for issue #18, not
adopted (bench/README.md, "Learned ranking": no gain on the held-out months).

The adapter is a learned linear map applied to the question's vector before the dense search
(the chunks' vectors stay as indexed): quiz-style questions ("Which company announced this
week ...?") and the news passages that answer them sit apart in all-MiniLM-L6-v2's space, and a
map fitted on the training set's questions and their evidence passages could move the question
towards what answers it, with no index rebuilt. The whole-pipeline figures were measured with
the wiring kept on the branch exp-query-adapter (QA_QUERY_ADAPTER_FILE); `dense` below
measures the dense list alone with this script only.

Steps:

  data    chunk the training set's articles as qa does, and for every question (as of its date)
          keep the positives (chunks that hold the gold answer and >= 30 % of the content words of
          the question's evidence, published within --days of the question) and BM25's best other
          chunks as hard negatives; embed them with qa's own encoder
          python bench/train_adapter.py data --dataset ../shared/data/realtimeqa-2024 \
              --index DEV_INDEX --out /work/cache/adapter-train.npz
  train   week-grouped cross-validation on the training set (MRR of the positives among each
          question's candidates, raw vs adapted), then the map fitted on all of it with the
          best figures (--out)
          python bench/train_adapter.py train --data /work/cache/adapter-train.npz \
              --epochs 1 2 3 --decay 0.003 0.03 --out /work/cache/adapter.npz
  dense   the dense list alone on a qa index, raw vs adapted question vectors, per month
          (AnswerRecall@1/5/10/50 with the as-of filter, gold label as `qa eval` counts)
          python bench/train_adapter.py dense --dataset ../shared/data/realtimeqa-2023h1 --index DEV_INDEX \
              --adapter /work/cache/adapter.npz

Only the training set is used to fit or choose anything in `data` and `train`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from qa.evaluate import load_questions  # noqa: E402
from qa.text import STOPWORDS, normalize_answer  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def _evidence(dataset: Path) -> dict[str, str]:
    out = {}
    for line in (dataset / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            out[q["id"]] = q.get("evidence") or ""
    return out


def _articles(dataset: Path) -> Path:
    plain = dataset / "articles.jsonl"
    if plain.exists():
        return plain
    import gzip
    import shutil
    out = Path("/tmp") / f"{dataset.name}-articles.jsonl"
    if not out.exists():
        with gzip.open(dataset / "articles.jsonl.gz", "rb") as f, open(out, "wb") as g:
            shutil.copyfileobj(f, g)
    return out


def chunk_corpus(dataset: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(embedding text, chunk text, publication day ordinal) of every chunk, as qa ingests them."""
    from qa.ingest.plan import chunks
    from qa.ingest.chunk import embedding_text
    from qa.ingest.read import read_articles
    from qa.ingest.report import IngestReport
    from qa.settings import Settings

    settings = Settings()
    report = IngestReport()
    emb, texts, days = [], [], []
    for article in read_articles([str(_articles(dataset))], settings, report):
        day = article.published_at.toordinal() if article.published_at else 0
        for chunk in chunks(article, settings):
            emb.append(embedding_text(article, chunk))
            texts.append(chunk.text)
            days.append(day)
    return emb, texts, np.array(days, dtype=np.int64)


def bm25_matrix(texts: list[str]):  # noqa: ANN201 - scipy sparse
    from scipy import sparse

    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    lengths = np.zeros(len(texts))
    for i, t in enumerate(texts):
        counts = Counter(_words(t))
        lengths[i] = sum(counts.values())
        for w, c in counts.items():
            rows.append(i)
            cols.append(vocab.setdefault(w, len(vocab)))
            vals.append(c)
    tf = sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(vocab)), dtype=np.float64)
    df = np.bincount(tf.indices, minlength=len(vocab))
    idf = np.log(1 + (len(texts) - df + 0.5) / (df + 0.5))
    k1, b = 1.2, 0.75
    norm = k1 * (1 - b + b * lengths / lengths.mean())
    tf = tf.tocoo()
    weighted = tf.data * (k1 + 1) / (tf.data + norm[tf.row]) * idf[tf.col]
    return sparse.csr_matrix((weighted, (tf.row, tf.col)), shape=tf.shape).T.tocsr(), vocab


def cmd_data(args: argparse.Namespace) -> None:
    from qa.embeddings import get_index_encoder
    from qa.rank.features import TermMatcher, question_terms

    t0 = time.perf_counter()
    emb, texts, days = chunk_corpus(args.dataset)
    norm = [f" {normalize_answer(t)} " for t in texts]
    print(f"{len(texts)} chunks in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    by_word, vocab = bm25_matrix(emb)
    evidence = _evidence(args.dataset)
    questions = load_questions(args.dataset / "questions.jsonl", args.limit)
    order = np.argsort(days)
    sorted_days = days[order]
    items = []  # (question index, positives, negatives) as chunk indexes
    for qi, q in enumerate(questions):
        asked = q.asked_on.toordinal()
        lo, hi = np.searchsorted(sorted_days, [asked - args.days, asked + 1])
        recent = order[lo:hi]
        gold = normalize_answer(q.answer)
        terms = question_terms(evidence.get(q.id, ""))
        matcher = TermMatcher(terms) if terms else None
        pos = []
        if gold:
            for i in recent:
                if f" {gold} " in norm[i]:
                    share = len({t for t, _, _ in matcher.find(texts[i].lower())}) / len(terms) if matcher else 1.0
                    if share >= args.evidence_share:
                        pos.append(int(i))
        if not pos:
            continue
        ids = [vocab[w] for w in dict.fromkeys(_words(q.question)) if w in vocab]
        scores = np.asarray(by_word[ids].sum(axis=0)).ravel() if ids else np.zeros(len(texts))
        scores[days > asked] = -1  # as of the question's day
        best = np.argpartition(-scores, args.negatives * 3)[: args.negatives * 3]
        best = best[np.argsort(-scores[best])]
        gold_pad = f" {gold} "
        neg = [int(i) for i in best if scores[i] > 0 and gold_pad not in norm[i]][: args.negatives]
        items.append((qi, pos[: args.max_positives], neg))
    used = sorted({i for _, p, n in items for i in p + n})
    print(f"{len(items)} of {len(questions)} questions have a positive; {len(used)} chunks to embed", file=sys.stderr)
    encoder = get_index_encoder(MODEL, args.index, chunks=True)
    t1 = time.perf_counter()
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    step = 2000
    for s in range(0, len(used), step):
        part = used[s : s + step]
        vectors[part] = encoder.encode([emb[i] for i in part])
        print(f"  {s + len(part)}/{len(used)} embedded, {(s + len(part)) / (time.perf_counter() - t1):.1f}/s", file=sys.stderr)
    from qa.retrieve import retrieval_query
    from qa.temporal import question_time

    qtexts = [retrieval_query(questions[qi].question, question_time(questions[qi].question, questions[qi].asked_on)) for qi, _, _ in items]
    qvec = encoder.encode(qtexts)
    remap = {c: j for j, c in enumerate(used)}
    np.savez_compressed(
        args.out,
        chunk_vectors=vectors[used].astype(np.float32),
        question_vectors=qvec.astype(np.float32),
        asked_on=np.array([questions[qi].asked_on.toordinal() for qi, _, _ in items]),
        positives=np.array(json.dumps([[remap[i] for i in p] for _, p, _ in items])),
        negatives=np.array(json.dumps([[remap[i] for i in n] for _, _, n in items])),
        ids=np.array(json.dumps([questions[qi].id for qi, _, _ in items])),
    )
    print(f"→ {args.out} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


# ------------------------------------------------------------------ train


def _load(path: Path) -> dict:
    z = np.load(path)
    return {
        "C": z["chunk_vectors"], "Q": z["question_vectors"], "asked": z["asked_on"],
        "pos": json.loads(str(z["positives"])), "neg": json.loads(str(z["negatives"])),
    }


def fit(data: dict, rows: list[int], *, epochs: int, decay: float, temp: float, lr: float, rank: int,
        seed: int = 0) -> np.ndarray:
    """The map M (d x d): question vector q → normalise(q @ M). Fitted with a softmax over each
    question's positives, its hard negatives and every other question's chunks in the batch,
    starting at the identity and pulled back towards it by ``decay``."""
    import torch

    torch.manual_seed(seed)
    C = torch.from_numpy(data["C"])
    Q = torch.from_numpy(data["Q"])
    d = Q.shape[1]
    if rank:
        U = torch.nn.Parameter(torch.zeros(d, rank))
        V = torch.nn.Parameter(torch.randn(rank, d) * 0.01)
        params = [U, V]
        delta = lambda: U @ V  # noqa: E731
    else:
        W = torch.nn.Parameter(torch.zeros(d, d))
        params = [W]
        delta = lambda: W  # noqa: E731
    opt = torch.optim.Adam(params, lr=lr)
    eye = torch.eye(d)
    rng = np.random.default_rng(seed)
    batch = 32
    for _ in range(epochs):
        rng.shuffle(rows := list(rows))
        for s in range(0, len(rows), batch):
            b = rows[s : s + batch]
            cand = sorted({c for r in b for c in data["pos"][r] + data["neg"][r]})
            where = {c: j for j, c in enumerate(cand)}
            M = eye + delta()
            q = torch.nn.functional.normalize(Q[b] @ M, dim=1)
            logits = q @ C[cand].T / temp
            loss = 0.0
            for k, r in enumerate(b):
                p = torch.tensor([where[c] for c in data["pos"][r]])
                loss = loss + torch.logsumexp(logits[k], 0) - torch.logsumexp(logits[k, p], 0)
            loss = loss / len(b) + decay * (delta() ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return (eye + delta()).detach().numpy().astype(np.float32)


def mrr(data: dict, rows: list[int], M: np.ndarray | None) -> tuple[float, float]:
    """Among each question's own candidates: MRR of its first positive, and R@1."""
    rr, r1 = [], []
    for r in rows:
        q = data["Q"][r]
        if M is not None:
            q = q @ M
            q = q / np.linalg.norm(q)
        cands = data["pos"][r] + data["neg"][r]
        s = data["C"][cands] @ q
        order = np.argsort(-s)
        first = next(i for i, j in enumerate(order) if j < len(data["pos"][r]))
        rr.append(1 / (first + 1))
        r1.append(first == 0)
    return float(np.mean(rr)), float(np.mean(r1))


def cmd_train(args: argparse.Namespace) -> None:
    data = _load(args.data)
    n = len(data["Q"])
    weeks = data["asked"] // 7
    folds = {w: i % args.folds for i, w in enumerate(sorted(set(weeks.tolist())))}
    fold = np.array([folds[w] for w in weeks.tolist()])
    results = []
    for epochs in args.epochs:
        for decay in args.decay:
            for rank in args.rank:
                raw, new = [], []
                for f in range(args.folds):
                    tr = [i for i in range(n) if fold[i] != f]
                    te = [i for i in range(n) if fold[i] == f]
                    M = fit(data, tr, epochs=epochs, decay=decay, temp=args.temp, lr=args.lr, rank=rank)
                    raw.append(mrr(data, te, None))
                    new.append(mrr(data, te, M))
                r = {"epochs": epochs, "decay": decay, "rank": rank,
                     "raw_mrr": float(np.mean([x[0] for x in raw])), "mrr": float(np.mean([x[0] for x in new])),
                     "raw_r1": float(np.mean([x[1] for x in raw])), "r1": float(np.mean([x[1] for x in new]))}
                results.append(r)
                print(json.dumps(r), flush=True)
    if args.out:
        best = max(results, key=lambda r: r["mrr"])
        M = fit(data, list(range(n)), epochs=best["epochs"], decay=best["decay"], temp=args.temp, lr=args.lr, rank=best["rank"])
        from qa.embeddings import canonical_model_name

        np.savez_compressed(args.out, matrix=M.astype(np.float16), info=np.array(json.dumps({
            "model": canonical_model_name(MODEL), "cv": results, "chosen": best, "questions": n,
            "temp": args.temp, "lr": args.lr, "data": str(args.data)})))
        print(f"chosen {best} → {args.out}")


# ------------------------------------------------------------------ dense


def cmd_dense(args: argparse.Namespace) -> None:
    from qa.assistant import Assistant
    from qa.evaluate import first_hit
    from qa.index.filters import SearchFilters
    from qa.retrieve import Retriever, retrieval_query
    from qa.settings import Settings
    from qa.temporal import question_time

    M = None
    if args.adapter:
        M = np.load(args.adapter)["matrix"].astype(np.float32)
    questions = load_questions(args.dataset / "questions.jsonl", args.limit)
    settings = Settings(index=args.index)
    bot = Assistant(settings)
    ks = (1, 5, 10, 50)
    tallies: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    with bot.reading() as reader:
        retriever = Retriever(reader, settings)
        dense = reader.dense
        for q in questions:
            text = retrieval_query(q.question, question_time(q.question, q.asked_on))
            v = retriever.encoder.encode_query(text)
            keep = dense.mask(SearchFilters(as_of=q.asked_on))
            for name, vec in (("raw", v), ("adapted", None if M is None else v @ M)):
                if vec is None:
                    continue
                vec = vec / np.linalg.norm(vec)
                hits = dense.top(dense.similarities(vec), 50, keep)
                got = {cid: t for cid, (t, _) in dense.texts([h for h, _ in hits])[0].items()}
                hit = first_hit(q.answer, [got.get(cid, "") for cid, _ in hits])
                for part in (q.month, "Jan-Mar" if q.asked_on.month <= 3 else "Apr-Jun", "all"):
                    tallies[part][name].append(hit or 10**6)
    for part, by in sorted(tallies.items()):
        line = [part]
        for name, hits in by.items():
            h = np.array(hits)
            line.append(name + " " + " ".join(f"R@{k} {np.mean(h <= k):.3f}" for k in ks))
        print(" | ".join(line))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("--dataset", type=Path, required=True)
    d.add_argument("--index", type=Path, required=True, help="any qa index: its ONNX export encodes")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--limit", type=int)
    d.add_argument("--days", type=int, default=60)
    d.add_argument("--negatives", type=int, default=20)
    d.add_argument("--max-positives", type=int, default=4)
    d.add_argument("--evidence-share", type=float, default=0.3)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--folds", type=int, default=4)
    t.add_argument("--epochs", type=int, nargs="+", default=[5])
    t.add_argument("--decay", type=float, nargs="+", default=[0.01])
    t.add_argument("--rank", type=int, nargs="+", default=[0])
    t.add_argument("--temp", type=float, default=0.05)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--out", type=Path)
    e = sub.add_parser("dense")
    e.add_argument("--dataset", type=Path, required=True)
    e.add_argument("--index", type=Path, required=True)
    e.add_argument("--adapter", type=Path)
    e.add_argument("--limit", type=int)
    args = ap.parse_args()
    {"data": cmd_data, "train": cmd_train, "dense": cmd_dense}[args.cmd](args)


if __name__ == "__main__":
    main()
